"""Each request's fields as a typed value, and the parser that makes it from the request's map (requests.py names
which one a request takes). Every field is checked for its type and range here, so that any value a client sends
gets `invalid_params`, never an exception deeper in (tests/test_fuzz_requests.py). A `generate`'s and a `compare`'s
job parameters are parsed by their handlers (pixflow/workflows/params.py), after their id is looked up: a known id
is answered as it is, whatever the other fields say.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from pixflow.errors import ErrorCode, RequestError
from pixflow.groups.plan import parse_group_id
from pixflow.vocabulary import JobState
from pixflow.workflows.params import MAX_SEED, parse_job_id

MAX_OFFSET = 2**62  # SQLite integers are 64-bit signed; anything near that is no real offset anyway
MAX_LIST_LIMIT = 1000  # jobs in one `list_jobs` page: a larger `limit` is served as this many (follow `next`)
MIN_THUMB_SIDE, MAX_THUMB_SIDE = 16, 4096  # fetch_output / fetch_preview `max_side` (read in serving/fetch.py)
MAX_OUTPUT_INDEX = 2**32 - 1  # what a client's u32 holds (clients/rust); an index past a job's images is not_found
MAX_STATE_FILTER = len(JobState)  # `state` lists at most every state once: each one is a variable of the query


def _invalid(message: str) -> RequestError:
    return RequestError(ErrorCode.INVALID_PARAMS, message)


def parse_states(message: dict[str, Any]) -> list[str] | None:
    """`state`: a state name or a list of them; absent or nil for all."""
    states = message.get("state")
    if states is None:
        return None
    if isinstance(states, str):
        states = [states]
    valid = [s.value for s in JobState]
    if isinstance(states, list) and len(states) > MAX_STATE_FILTER:
        raise _invalid(f"'state' lists {len(states)} states; at most {MAX_STATE_FILTER} (each state once)")
    # Check each item's type before comparing: a list or map in the list is unhashable and not a state.
    if not isinstance(states, list) or not all(isinstance(s, str) and s in valid for s in states):
        raise _invalid(f"'state' must be a state or a list of states from: {', '.join(valid)}")
    return list(dict.fromkeys(states))  # a state named twice filters the same


def parse_int(message: dict[str, Any], name: str, default: int | None, low: int, high: int) -> int | None:
    """An optional integer field within [low, high] (booleans are not integers on the wire)."""
    value = message.get(name)
    if value is None:
        return default
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise _invalid(f"'{name}' must be an integer from {low} to {high}, got {_short(value)}")
    return value


def parse_flag(message: dict[str, Any], name: str) -> bool:
    value = message.get(name)
    if value is None:
        return False
    if not isinstance(value, bool):
        raise _invalid(f"'{name}' must be true or false, got {_short(value)}")
    return value


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 40 else f"{text[:37]}..."


@dataclass(frozen=True)
class NoFields:
    """ping, list_models, list_workflows, pause, resume: nothing but the envelope."""


@dataclass(frozen=True)
class NewJob:
    """generate: the client's id for the job, if it chose one (the rest is parsed once the id is known to be new)."""

    job_id: str | None


@dataclass(frozen=True)
class NewGroup:
    """compare: the client's id for the group, if it chose one."""

    group_id: str | None


@dataclass(frozen=True)
class JobRef:
    job_id: str


@dataclass(frozen=True)
class Retry:
    job_id: str
    new_id: str | None  # `id`: the new job's, when the client chooses it
    seed: int | None  # None: the old job's seed
    new_seed: bool  # a fresh random seed (a re-roll)


@dataclass(frozen=True)
class OutputRef:
    """fetch_output: one job's image, or one of a sheet's files (`group_id`)."""

    job_id: str | None
    group_id: str | None


@dataclass(frozen=True)
class StatusOf:
    job_id: str | None  # None: the worker's status


@dataclass(frozen=True)
class JobPage:
    states: list[str] | None
    limit: int  # at most MAX_LIST_LIMIT
    offset: int
    group_id: str | None
    before: str | None


@dataclass(frozen=True)
class GroupRef:
    group_id: str


@dataclass(frozen=True)
class BackendRef:
    name: object  # anything but a configured backend's name is `not_found`, naming the known ones (scheduling/pool.py)


def no_fields(message: dict[str, Any]) -> NoFields:
    return NoFields()


def new_job(message: dict[str, Any]) -> NewJob:
    return NewJob(parse_job_id(message, "id"))


def new_group(message: dict[str, Any]) -> NewGroup:
    return NewGroup(parse_group_id(message))


def _required_job_id(message: dict[str, Any]) -> str:
    job_id = parse_job_id(message, "job_id")
    if job_id is None:
        raise _invalid("'job_id' is required")
    return job_id


def job_ref(message: dict[str, Any]) -> JobRef:
    return JobRef(_required_job_id(message))


def retry_of(message: dict[str, Any]) -> Retry:
    seed = parse_int(message, "seed", None, 0, MAX_SEED)
    new_seed = parse_flag(message, "new_seed")
    if seed is not None and new_seed:
        raise _invalid("give 'seed' or 'new_seed', not both")
    return Retry(_required_job_id(message), parse_job_id(message, "id"), seed, new_seed)


def output_ref(message: dict[str, Any]) -> OutputRef:
    job_id, group_id = parse_job_id(message, "job_id"), parse_group_id(message)
    if (job_id is None) == (group_id is None):
        raise _invalid("give 'job_id' (a job's image) or 'group_id' (a sheet's files), one of them")
    return OutputRef(job_id, group_id)


def status_of(message: dict[str, Any]) -> StatusOf:
    return StatusOf(parse_job_id(message, "job_id"))


def job_page(message: dict[str, Any]) -> JobPage:
    states = parse_states(message)
    limit = parse_int(message, "limit", 100, 0, MAX_OFFSET) or 0
    offset = parse_int(message, "offset", 0, 0, MAX_OFFSET) or 0
    group_id = parse_job_id(message, "group_id")  # only the jobs of this `compare` group
    before = parse_job_id(message, "before")  # the `next` of the page before
    return JobPage(states, min(limit, MAX_LIST_LIMIT), offset, group_id, before)


def group_ref(message: dict[str, Any]) -> GroupRef:
    group_id = parse_group_id(message)
    if group_id is None:
        raise _invalid("'group_id' is required")
    return GroupRef(group_id)


def backend_ref(message: dict[str, Any]) -> BackendRef:
    return BackendRef(message.get("backend"))
