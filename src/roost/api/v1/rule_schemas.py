"""Wire schemas of rules (seed 001: Rules; CONVENTIONS §7)."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, Field

from roost.api.v1.wire import Name, V1Time, WireIn
from roost.rule.steps import MAX_DUE_IN_DAYS, MAX_STEPS, MAX_TAGS, ActionName, TriggerName
from roost.rule.types import RuleView, RunView

TRIGGER_PARAMS = f"""Params by trigger (unknown ones are ignored):
- `tag_applied`, `tag_removed`: `tag`, a name or a list of up to {MAX_TAGS} names (missing tags are created).
- `has_conversion` (number of conversions, an integer), `has_conversion_value` (their total value):
  `operator` `exceeds` | `equals`, `value` a number >= 0.
- `subscribed`, `unsubscribed`, `sequence_completed`: `sequence_id`.
- `email_opened`, `link_clicked`: `type` `any` | `sequence` | `broadcast`; with `sequence`,
  `sequence_id` and `email_id` (an email of that sequence, or `"any"`); with `broadcast`,
  `broadcast_id`. `link_clicked` also takes an optional http(s) `url`."""

ACTION_PARAMS = f"""Params by action (unknown ones are ignored):
- `apply_tag`, `remove_tag`: `tag`, a name or a list of up to {MAX_TAGS} names (missing tags are created).
- `subscribe`, `unsubscribe`: `sequence_id`.
- `move_sequence`: `from_sequence_id`, `to_sequence_id` (different sequences).
- `add_conversion`, `delete`: none.
- `create_task` (ext): `title`, optional `due_in_days` (0 to {MAX_DUE_IN_DAYS})."""

StepParams = Annotated[dict[str, Any] | None, Field(max_length=20)]


class TriggerIn(WireIn):
    trigger: TriggerName
    params: StepParams = Field(default=None, description=TRIGGER_PARAMS)


class ActionIn(WireIn):
    action: ActionName
    params: StepParams = Field(default=None, description=ACTION_PARAMS)


Triggers = Annotated[list[TriggerIn], Field(min_length=1, max_length=MAX_STEPS, description="OR-ed.")]
Actions = Annotated[list[ActionIn], Field(min_length=1, max_length=MAX_STEPS, description="Run in order.")]


class RuleIn(WireIn):
    name: Name
    active: bool
    triggers: Triggers
    actions: Actions


class RulePatch(WireIn):
    """Only the properties given change; a step list given replaces the stored one."""

    name: Name | None = None
    active: bool | None = None
    triggers: Triggers | None = None
    actions: Actions | None = None


class TriggerOut(BaseModel):
    trigger: str
    params: dict[str, Any]


class ActionOut(BaseModel):
    action: str
    params: dict[str, Any] = Field(description="`tag` is always a list of names.")


class RuleOut(BaseModel):
    rule_id: int
    name: str
    active: bool
    triggers: list[TriggerOut]
    actions: list[ActionOut]
    created_at: V1Time
    last_run_at: V1Time

    @classmethod
    def of(cls, view: RuleView) -> RuleOut:
        rule = view.rule
        return cls(
            rule_id=rule.id,
            name=rule.name,
            active=rule.active,
            triggers=[TriggerOut(**step) for step in view.triggers],
            actions=[ActionOut(**step) for step in view.actions],
            created_at=rule.created_at,
            last_run_at=rule.last_run_at,
        )


class RunEventOut(BaseModel):
    """The event that set the rule off, and the chain it belongs to."""

    event_id: int
    type: str = Field(description="`tag.applied`, `email.clicked`, `conversion.created`, …")
    origin_id: int = Field(description="The event that started the chain (the event itself at depth 0).")
    depth: int = Field(description="How many rule actions led from the origin to this event.")


class RunActionOut(BaseModel):
    action: str
    params: dict[str, Any]
    status: Literal["done", "failed", "undone", "skipped", "not_run"] = Field(
        description=(
            "`done`; `failed` (the action that ended the run); `undone` (done, then undone because a later "
            "action failed: a run is all or nothing); `skipped` (after `delete`); `not_run`."
        )
    )


class RuleRunOut(BaseModel):
    run_id: int
    rule_id: int
    contact_id: int
    event: RunEventOut
    trigger: TriggerOut = Field(description="The trigger that matched, as the rule had it then.")
    status: Literal["done", "failed", "stopped"] = Field(
        description="`done`; `failed` (see `error`; nothing of the run stays); `stopped` (depth 10 reached)."
    )
    actions: list[RunActionOut]
    error: str | None
    created_at: V1Time

    @classmethod
    def of(cls, view: RunView) -> RuleRunOut:
        run = view.run
        return cls(
            run_id=run.id,
            rule_id=run.rule_id,
            contact_id=run.contact_id,
            event=RunEventOut(event_id=run.event_id, type=run.event_type, origin_id=run.origin_id, depth=run.depth),
            trigger=TriggerOut(**view.trigger),
            status=run.status,
            actions=[RunActionOut(**action) for action in view.actions],
            error=run.error,
            created_at=run.created_at,
        )
