from __future__ import annotations

from dataclasses import dataclass

from roost.models import Rule
from roost.rule.steps import Step


@dataclass(frozen=True, slots=True)
class RuleView:
    """A rule with its steps in wire form (tags by current name)."""

    rule: Rule
    triggers: list[Step]
    actions: list[Step]
