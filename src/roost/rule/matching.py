"""Which trigger of a rule an event sets off (seed 001: Rules; CONVENTIONS §7), as pure functions.

Each trigger listens to one kind of event and matches when:

- `tag_applied`, `tag_removed` (`tag.applied`, `tag.removed`): the tag is one of the trigger's;
- `email_opened`, `link_clicked` (`email.opened`, `email.clicked`): the email is `any` email, the
  trigger's broadcast, or an email of its sequence (the one named, or `any`); with a `url`,
  `link_clicked` also needs that link;
- `subscribed`, `unsubscribed`, `sequence_completed` (`sequence.subscribed`, `.unsubscribed`,
  `.completed`): the sequence is the trigger's;
- `has_conversion`, `has_conversion_value` (`conversion.created`, `conversion.updated`): the
  contact's number of conversions, or their total value, `exceeds` or `equals` the trigger's `value`.

A contact leaves its sequences when it unsubscribes, bounces or complains, so `unsubscribed`
fires for each sequence it was in. Conversions are counted when the event is handled, so a
rule sees the contact's conversions as they are then. URLs compare without their fragment,
with the scheme and host in any case and an empty path equal to `/`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any
from urllib.parse import urlsplit

from roost.rule.steps import Step, TriggerName

TRIGGER_EVENTS: dict[TriggerName, tuple[str, ...]] = {
    "tag_applied": ("tag.applied",),
    "tag_removed": ("tag.removed",),
    "email_opened": ("email.opened",),
    "link_clicked": ("email.clicked",),
    "subscribed": ("sequence.subscribed",),
    "unsubscribed": ("sequence.unsubscribed",),
    "sequence_completed": ("sequence.completed",),
    "has_conversion": ("conversion.created", "conversion.updated"),
    "has_conversion_value": ("conversion.created", "conversion.updated"),
}
# Every event type some trigger listens to: others never start a rule.
EVENT_TYPES = frozenset(event for events in TRIGGER_EVENTS.values() for event in events)
_CONVERSION_TRIGGERS = frozenset({"has_conversion", "has_conversion_value"})


@dataclass(frozen=True, slots=True)
class Facts:
    """What matching needs beyond the event itself, read when the event is handled."""

    email_sequence_id: int | None = None  # the sequence of the event's sequence email
    conversions: int = 0  # the contact's number of conversions
    conversion_value: Decimal = Decimal(0)  # their total value


def listens(trigger: Step, event_type: str) -> bool:
    """Whether the trigger can match an event of this type at all."""
    return event_type in TRIGGER_EVENTS.get(trigger["trigger"], ())


def needs_email_sequence(triggers: Sequence[Step], event_type: str) -> bool:
    """Whether matching must know the sequence of the event's email (a `sequence` email trigger)."""
    return any(listens(t, event_type) and t["params"].get("type") == "sequence" for t in triggers)


def needs_conversions(triggers: Sequence[Step], event_type: str) -> bool:
    """Whether matching must know the contact's conversions."""
    return any(listens(t, event_type) and t["trigger"] in _CONVERSION_TRIGGERS for t in triggers)


def first_match(triggers: Sequence[Step], event_type: str, data: Mapping[str, Any], facts: Facts) -> Step | None:
    """The first trigger the event sets off (triggers are OR-ed), or None."""
    for trigger in triggers:
        if listens(trigger, event_type) and _matches(trigger, data, facts):
            return trigger
    return None


def _matches(trigger: Step, data: Mapping[str, Any], facts: Facts) -> bool:
    name, params = trigger["trigger"], trigger["params"]
    if name in ("tag_applied", "tag_removed"):
        return bool(data.get("tag_id") in params.get("tag_ids", ()))
    if name in ("subscribed", "unsubscribed", "sequence_completed"):
        return _same_id(data.get("sequence_id"), params.get("sequence_id"))
    if name in ("email_opened", "link_clicked"):
        if not _same_email(params, data, facts):
            return False
        return "url" not in params or same_url(params["url"], data.get("url"))
    if name == "has_conversion":
        return _compare(Decimal(facts.conversions), params)
    if name == "has_conversion_value":
        return _compare(facts.conversion_value, params)
    return False


def _same_email(params: Mapping[str, Any], data: Mapping[str, Any], facts: Facts) -> bool:
    kind = params.get("type")
    if kind == "any":
        return True
    if kind == "broadcast":
        return _same_id(data.get("broadcast_id"), params.get("broadcast_id"))
    if kind == "sequence":
        if data.get("sequence_email_id") is None or facts.email_sequence_id != params.get("sequence_id"):
            return False
        return params.get("email_id") == "any" or _same_id(params.get("email_id"), data.get("sequence_email_id"))
    return False


def _same_id(a: Any, b: Any) -> bool:
    return isinstance(a, int) and isinstance(b, int) and a == b


def _compare(actual: Decimal, params: Mapping[str, Any]) -> bool:
    expected = Decimal(str(params.get("value")))
    if params.get("operator") == "exceeds":
        return actual > expected
    if params.get("operator") == "equals":
        return actual == expected
    return False


def _url_key(url: str) -> tuple[str, str, str, str]:
    parts = urlsplit(url.strip())
    return parts.scheme.lower(), parts.netloc.lower(), parts.path or "/", parts.query


def same_url(expected: str, clicked: Any) -> bool:
    """Whether a clicked URL is the one a trigger names (fragments aside; scheme and host in any case)."""
    if not isinstance(clicked, str):
        return False
    try:
        return _url_key(expected) == _url_key(clicked)
    except ValueError:  # a URL urlsplit cannot read matches nothing
        return False
