"""What a `generate` for one workflow is checked against, cached until a backend's capabilities change."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from pixflow.comfy.capabilities import Capabilities
from pixflow.workflows import Workflow
from pixflow.workflows.checks import Fitness, fitness
from pixflow.workflows.schema import FieldRule, ParamSchema, custom_schemas, field_rules


def known(pool: Iterable[tuple[str, Capabilities | None]]) -> list[Capabilities]:
    return [caps for _, caps in pool if caps is not None]


Pool = tuple[tuple[str, Capabilities | None], ...]


@dataclass(frozen=True)
class Rules:
    """What a `generate` for one workflow is checked against, over the backends as they are now."""

    workflow: Workflow
    pool: Pool
    caps: list[Capabilities]  # of the backends heard from
    fit: Fitness
    fields: list[FieldRule]
    custom: dict[str, ParamSchema]


class RuleCache:
    """Each workflow's rules, made again when the pool's capabilities change (a backend's /object_info read
    again, a backend added or removed). Making them merges every backend's input specs: with small jobs, that
    was a large share of a `generate`'s cost, for an answer that changes only when a backend does."""

    def __init__(self) -> None:
        self._rules: dict[str, Rules] = {}

    def rules(self, workflow: Workflow, pool: Pool) -> Rules:
        rules = self._rules.get(workflow.name)
        # Same objects as last time (a capabilities object is replaced, never changed, when it is read again).
        if rules is None or rules.workflow is not workflow or rules.pool != pool:
            caps = known(pool)
            custom = {schema.name: schema for schema in custom_schemas(workflow, caps)}
            rules = Rules(workflow, pool, caps, fitness(workflow, pool), field_rules(workflow, caps), custom)
            self._rules[workflow.name] = rules
        return rules
