from __future__ import annotations

from dataclasses import dataclass

from roost.models import Rule, RuleRun
from roost.rule.steps import Step


@dataclass(frozen=True, slots=True)
class RuleView:
    """A rule with its steps in wire form (tags by current name)."""

    rule: Rule
    triggers: list[Step]
    actions: list[Step]


@dataclass(frozen=True, slots=True)
class ActiveRule:
    """An active rule as the engine applies it: plain values, steps in stored form (tags by id)."""

    id: int
    account_id: int
    name: str
    triggers: list[Step]
    actions: list[Step]


@dataclass(frozen=True, slots=True)
class RunView:
    """A run of a rule with its steps in wire form (tags by current name)."""

    run: RuleRun
    trigger: Step
    actions: list[Step]
