"""The trigger and action table of rules (seed 001: Create Rule; CONVENTIONS §7), as pure checks.

`check` reads the steps a client sent and returns them in their stored form, every error by
dotted path (`triggers.0.params.email_id`), and every reference the service must then find
in the account: tags by name, sequences, sequence emails and broadcasts. Params a step does
not take are dropped, as unknown properties are (CONVENTIONS §5).

Stored steps name tags by id (`tag_ids`), so that renaming a tag carries into its rules;
`present` turns them back into the wire's list of names.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol
from urllib.parse import urlsplit

from roost.kit.ids import MAX_ID

TriggerName = Literal[
    "tag_applied",
    "tag_removed",
    "email_opened",
    "link_clicked",
    "subscribed",
    "unsubscribed",
    "sequence_completed",
    "has_conversion",
    "has_conversion_value",
]
ActionName = Literal[
    "apply_tag",
    "remove_tag",
    "subscribe",
    "unsubscribe",
    "move_sequence",
    "add_conversion",
    "delete",
    "create_task",
]


class TriggerSpec(Protocol):
    """A trigger as the client sent it, its name already one of the table's (the API's wire model)."""

    @property
    def trigger(self) -> TriggerName: ...
    @property
    def params(self) -> Mapping[str, Any] | None: ...


class ActionSpec(Protocol):
    @property
    def action(self) -> ActionName: ...
    @property
    def params(self) -> Mapping[str, Any] | None: ...


MAX_STEPS = 20
MAX_TAGS = 20
MAX_NAME_LENGTH = 255
MAX_URL_LENGTH = 2048
MAX_DUE_IN_DAYS = 3650
MAX_VALUE = 999_999_999_999.99  # the largest conversion value the database keeps

Step = dict[str, Any]


@dataclass(frozen=True, slots=True)
class Ref:
    """An id a step names, with the path to blame when the account has no such row."""

    path: str
    id: int


@dataclass(frozen=True, slots=True)
class EmailRef(Ref):
    """A sequence email, which must belong to the sequence the same step names."""

    sequence_id: int


@dataclass(slots=True)
class Checked:
    """What `check` found: stored steps (tags still by name), errors and references."""

    triggers: list[Step] | None = None
    actions: list[Step] | None = None
    errors: dict[str, list[str]] = field(default_factory=dict)
    tag_names: list[str] = field(default_factory=list)
    sequences: list[Ref] = field(default_factory=list)
    emails: list[EmailRef] = field(default_factory=list)
    broadcasts: list[Ref] = field(default_factory=list)

    def fail(self, path: str, message: str) -> None:
        self.errors.setdefault(path, []).append(message)


class _Params:
    """One step's params, read key by key; failures and references are noted on `found`."""

    def __init__(self, raw: Mapping[str, Any], path: str, found: Checked) -> None:
        self.raw = raw
        self.path = f"{path}.params"
        self.found = found

    def at(self, key: str) -> str:
        return f"{self.path}.{key}"

    def given(self, key: str) -> bool:
        """Whether an optional param was given: null and "" mean it was not."""
        return self.raw.get(key) not in (None, "")

    def _present(self, key: str, *, when: tuple[str, str] | None = None) -> Any:
        """The value, or None after noting that it is required (`when`: the condition that made it so)."""
        value = self.raw.get(key)
        if value is None or value == "" or value == []:
            if when is None:
                self.found.fail(self.at(key), f"The {self.at(key)} field is required.")
            else:
                other, expected = when
                self.found.fail(
                    self.at(key), f"The {self.at(key)} field is required when {self.at(other)} is {expected}."
                )
            return None
        return value

    def choice(self, key: str, choices: tuple[str, ...]) -> str | None:
        value = self._present(key)
        if value is None:
            return None
        if value not in choices:
            self.found.fail(self.at(key), f"The selected {self.at(key)} is invalid.")
            return None
        return str(value)

    def _id(self, key: str, value: Any) -> int | None:
        if isinstance(value, bool) or not isinstance(value, int):
            self.found.fail(self.at(key), f"The {self.at(key)} must be an integer.")
            return None
        if not 1 <= value <= MAX_ID:
            self.found.fail(self.at(key), f"The selected {self.at(key)} is invalid.")
            return None
        return value

    def reference(self, key: str, refs: list[Ref], *, when: tuple[str, str] | None = None) -> int | None:
        """An id of a row the account must have; noted on `refs` for the service to look up."""
        value = self._present(key, when=when)
        ref_id = None if value is None else self._id(key, value)
        if ref_id is not None:
            refs.append(Ref(self.at(key), ref_id))
        return ref_id

    def email(self, key: str, sequence_id: int | None, *, when: tuple[str, str]) -> int | str | None:
        """A sequence email id, or "any" email of the sequence."""
        value = self._present(key, when=when)
        if value is None:
            return None
        if value == "any":
            return "any"
        email_id = self._id(key, value)
        if email_id is not None and sequence_id is not None:
            self.found.emails.append(EmailRef(self.at(key), email_id, sequence_id))
        return email_id

    def tags(self, key: str) -> list[str] | None:
        """A tag name or a list of them (CONVENTIONS §7), stripped, duplicates folded ignoring case."""
        value = self._present(key)
        if value is None:
            return None
        single = isinstance(value, str)
        names = [value] if single else value
        if not isinstance(names, list):
            self.found.fail(self.at(key), f"The {self.at(key)} must be a string or an array of strings.")
            return None
        if len(names) > MAX_TAGS:
            self.found.fail(self.at(key), f"The {self.at(key)} may not have more than {MAX_TAGS} items.")
            return None
        checked = [self._name(key if single else f"{key}.{index}", name) for index, name in enumerate(names)]
        folded: dict[str, str] = {}
        for name in checked:
            if name is not None:
                folded.setdefault(name.lower(), name)
        self.found.tag_names.extend(folded.values())
        return [*folded.values()]

    def _name(self, key: str, value: Any) -> str | None:
        if not isinstance(value, str):
            self.found.fail(self.at(key), f"The {self.at(key)} must be a string.")
            return None
        return self._bounded_text(key, value.strip(), MAX_NAME_LENGTH)

    def _bounded_text(self, key: str, value: str, limit: int) -> str | None:
        if not value:
            self.found.fail(self.at(key), f"The {self.at(key)} field is required.")
            return None
        if len(value) > limit:
            self.found.fail(self.at(key), f"The {self.at(key)} may not be greater than {limit} characters.")
            return None
        return value

    def text(self, key: str) -> str | None:
        value = self._present(key)
        return None if value is None else self._name(key, value)

    def url(self, key: str) -> str | None:
        """An absolute http(s) URL: only those links are tracked (CONVENTIONS §8)."""
        value = self.raw[key]
        if not isinstance(value, str):
            self.found.fail(self.at(key), f"The {self.at(key)} must be a string.")
            return None
        url = self._bounded_text(key, value.strip(), MAX_URL_LENGTH)
        if url is None:
            return None
        try:
            parts = urlsplit(url)
        except ValueError:
            parts = None
        if parts is None or parts.scheme.lower() not in ("http", "https") or not parts.hostname:
            self.found.fail(self.at(key), f"The {self.at(key)} must be a valid URL.")
            return None
        return url

    def number(self, key: str, *, whole: bool, maximum: float) -> int | float | None:
        """A number from 0 to `maximum`; `whole` demands an integer. Fractions are kept to the cent."""
        value = self._present(key)
        if value is None:
            return None
        # isfinite only for floats: a huge JSON integer cannot become a float.
        if (
            isinstance(value, bool)
            or not isinstance(value, int | float)
            or (isinstance(value, float) and not math.isfinite(value))
        ):
            self.found.fail(self.at(key), f"The {self.at(key)} must be a number.")
        elif not 0 <= value <= maximum:
            self.found.fail(self.at(key), f"The {self.at(key)} must be between 0 and {maximum}.")
        elif whole and value != int(value):
            self.found.fail(self.at(key), f"The {self.at(key)} must be an integer.")
        else:
            return int(value) if value == int(value) else round(value, 2)
        return None

    def integer(self, key: str, *, maximum: int) -> int | None:
        value = self.raw[key]
        if isinstance(value, bool) or not isinstance(value, int):
            self.found.fail(self.at(key), f"The {self.at(key)} must be an integer.")
        elif not 0 <= value <= maximum:
            self.found.fail(self.at(key), f"The {self.at(key)} must be between 0 and {maximum}.")
        else:
            return value
        return None


# Params of each kind ---------------------------------------------------------------------

ParamReader = Callable[[_Params], Step]


def _tag(p: _Params) -> Step:
    return {"tag": p.tags("tag")}


def _sequence(p: _Params) -> Step:
    return {"sequence_id": p.reference("sequence_id", p.found.sequences)}


def _conversions(*, whole: bool) -> ParamReader:
    # has_conversion counts conversions, has_conversion_value sums their value (CONVENTIONS §7).
    def read(p: _Params) -> Step:
        return {
            "operator": p.choice("operator", ("exceeds", "equals")),
            "value": p.number("value", whole=whole, maximum=MAX_VALUE),
        }

    return read


def _email_activity(*, with_url: bool) -> ParamReader:
    """email_opened and link_clicked: any email, one of a sequence (or any of it), or a broadcast."""

    def read(p: _Params) -> Step:
        kind = p.choice("type", ("any", "sequence", "broadcast"))
        params: Step = {"type": kind}
        if kind == "sequence":
            sequence_id = p.reference("sequence_id", p.found.sequences, when=("type", "sequence"))
            params["sequence_id"] = sequence_id
            params["email_id"] = p.email("email_id", sequence_id, when=("type", "sequence"))
        elif kind == "broadcast":
            params["broadcast_id"] = p.reference("broadcast_id", p.found.broadcasts, when=("type", "broadcast"))
        if with_url and p.given("url"):
            params["url"] = p.url("url")
        return params

    return read


def _move_sequence(p: _Params) -> Step:
    source = p.reference("from_sequence_id", p.found.sequences)
    target = p.reference("to_sequence_id", p.found.sequences)
    if source is not None and source == target:
        to, other = p.at("to_sequence_id"), p.at("from_sequence_id")
        p.found.fail(to, f"The {to} and {other} must be different.")
    return {"from_sequence_id": source, "to_sequence_id": target}


def _no_params(_: _Params) -> Step:
    return {}


def _create_task(p: _Params) -> Step:
    params: Step = {"title": p.text("title")}
    if p.given("due_in_days"):
        params["due_in_days"] = p.integer("due_in_days", maximum=MAX_DUE_IN_DAYS)
    return params


TRIGGER_PARAMS: dict[TriggerName, ParamReader] = {
    "tag_applied": _tag,
    "tag_removed": _tag,
    "email_opened": _email_activity(with_url=False),
    "link_clicked": _email_activity(with_url=True),
    "subscribed": _sequence,
    "unsubscribed": _sequence,
    "sequence_completed": _sequence,
    "has_conversion": _conversions(whole=True),
    "has_conversion_value": _conversions(whole=False),
}
ACTION_PARAMS: dict[ActionName, ParamReader] = {
    "apply_tag": _tag,
    "remove_tag": _tag,
    "subscribe": _sequence,
    "unsubscribe": _sequence,
    "move_sequence": _move_sequence,
    "add_conversion": _no_params,
    "delete": _no_params,
    "create_task": _create_task,
}


def _params(found: Checked, path: str, reader: ParamReader, params: Mapping[str, Any] | None) -> Step:
    return reader(_Params(params or {}, path, found))


def check(*, triggers: Sequence[TriggerSpec] | None, actions: Sequence[ActionSpec] | None) -> Checked:
    """Read the given step lists (None: not being changed) into their stored form."""
    found = Checked()
    if triggers is not None:
        found.triggers = [
            {"trigger": t.trigger, "params": _params(found, f"triggers.{i}", TRIGGER_PARAMS[t.trigger], t.params)}
            for i, t in enumerate(triggers)
        ]
    if actions is not None:
        found.actions = [
            {"action": a.action, "params": _params(found, f"actions.{i}", ACTION_PARAMS[a.action], a.params)}
            for i, a in enumerate(actions)
        ]
    return found


def store_tags(steps: Sequence[Step], tag_ids: Mapping[str, int]) -> list[Step]:
    """Replace tag names (`tag`) by the ids of those tags (`tag_ids`), keyed by lower-cased name."""
    stored: list[Step] = []
    for step in steps:
        params = dict(step["params"])
        if "tag" in params:
            params["tag_ids"] = [tag_ids[name.lower()] for name in params.pop("tag")]
        stored.append({**step, "params": params})
    return stored


def tag_ids_in(steps: Sequence[Step]) -> set[int]:
    return {tag_id for step in steps for tag_id in step["params"].get("tag_ids", ())}


def present(steps: Sequence[Step], tag_names: Mapping[int, str]) -> list[Step]:
    """The wire form of stored steps: tags by current name; a deleted tag no longer shows."""
    shown: list[Step] = []
    for step in steps:
        params = dict(step["params"])
        if "tag_ids" in params:
            params["tag"] = [tag_names[i] for i in params.pop("tag_ids") if i in tag_names]
        shown.append({**step, "params": params})
    return shown
