"""A `compare` request, validated: the group's id and one `generate` message per (model, seed), in order.

Pure: no worker state. The job ids are derived from the group id (`<group_id>-<n>`, n from 1, models outer,
seeds inner), so a client knows them before it sends the request and a retry can never make new jobs.
"""

from __future__ import annotations

import random
import uuid
from dataclasses import dataclass
from typing import Any

from pixflow.errors import ErrorCode, RequestError
from pixflow.workflows.params import GenerateParams, parse_generate, parse_job_id

MAX_GROUP_ID_CHARS = 120  # leaves room for the `-<n>` of its job ids within the 128 of a job id
# `compare` takes the `generate` fields but these: the group's ids are derived, not chosen per job.
NOT_IN_COMPARE = ("id",)


@dataclass(frozen=True)
class GroupPlan:
    group_id: str
    jobs: tuple[tuple[str, GenerateParams], ...]  # (job id, params), in the grid's order


def _invalid(message: str) -> RequestError:
    return RequestError(ErrorCode.INVALID_PARAMS, message)


def group_job_id(group_id: str, index: int) -> str:
    """The id of the group's `index`-th job (from 1): the same on every retry."""
    return f"{group_id}-{index}"


def parse_group_id(message: dict[str, Any]) -> str | None:
    group_id = parse_job_id(message, "group_id")
    if group_id is not None and len(group_id) > MAX_GROUP_ID_CHARS:
        raise _invalid(f"'group_id' is {len(group_id)} characters; the limit is {MAX_GROUP_ID_CHARS}")
    return group_id


def _distinct_list(message: dict[str, Any], name: str, kind: type, single: str) -> list[Any] | None:
    values = message.get(name)
    if values is None:
        return None
    if message.get(single) is not None:
        raise _invalid(f"give '{single}' or '{name}', not both")
    if not isinstance(values, list) or not values:
        raise _invalid(f"'{name}' must be a non-empty list")
    for value in values:
        if isinstance(value, bool) or not isinstance(value, kind):
            raise _invalid(f"'{name}' must hold only {kind.__name__} values, got {value!r}")
    if len(set(values)) != len(values):
        raise _invalid(f"'{name}' lists a value twice")
    return values


def parse_compare(message: dict[str, Any], max_jobs: int, rng: random.Random | None = None) -> GroupPlan:
    """Validate every job of the group before any is made: a bad one rejects the whole request."""
    for name in NOT_IN_COMPARE:
        if message.get(name) is not None:
            raise _invalid(f"'{name}' is not a compare field: the group's job ids are '<group_id>-<n>'")
    models = _distinct_list(message, "models", str, "model")
    seeds = _distinct_list(message, "seeds", int, "seed")
    if models is None and seeds is None:
        raise _invalid("'compare' needs 'models' or 'seeds' (a list), or both")
    count = len(models or [None]) * len(seeds or [None])
    if count > max_jobs:
        raise _invalid(f"the group would have {count} jobs; the limit is {max_jobs} (max_group_jobs)")
    group_id = parse_group_id(message) or uuid.uuid4().hex
    base = {key: value for key, value in message.items() if key not in ("models", "seeds", "group_id")}
    if seeds is None:
        # One seed for the whole group, so that the models are compared on the same noise.
        seeds = [parse_generate(base, rng).seed]
    jobs: list[tuple[str, GenerateParams]] = []
    for model in models or [base.get("model")]:
        for seed in seeds:
            params = parse_generate({**base, "model": model, "seed": seed}, rng)
            jobs.append((group_job_id(group_id, len(jobs) + 1), params))
    return GroupPlan(group_id, tuple(jobs))
