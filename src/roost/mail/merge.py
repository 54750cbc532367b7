"""Merge tags (CONVENTIONS §8): parsed once per email, substituted per recipient.

`%contact.email%`, `%contact.<field key>%`, `%sender.name%`, `%sender.email%`,
`%sender.company%`, `%sender.address%` and `%unsubscribelink%`; any of them may carry a
fallback, `%contact.first_name|there%`, used when the value is empty or missing. An email may
know tags of its own besides (a confirmation email's `%confirmlink%`). Tags that are none of
these are left exactly as written.

The same engine cuts the Bird face's templates at their `{{name}}` variables (`VARIABLE_TAG`,
`parse_variables`): a plain substitution, never a template language run on user input.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Collection, Iterable, Mapping
from dataclasses import dataclass

CONTACT_EMAIL = "contact.email"
UNSUBSCRIBE_LINK = "unsubscribelink"
# The signed link of a double opt-in confirmation email (roost.form's default body uses it).
CONFIRM_LINK = "confirmlink"
SENDER_TAGS = ("sender.name", "sender.email", "sender.company", "sender.address")
_FIXED_TAGS = frozenset((CONTACT_EMAIL, UNSUBSCRIBE_LINK, *SENDER_TAGS))

# The name is matched loosely here and judged by is_known, so that `%contact.Nope%` is left as is.
_TAG = re.compile(r"%([a-z][a-z_]*(?:\.[A-Za-z0-9_]+)?)(?:\|([^%\r\n]*))?%")
# A Bird template variable, `{{firstName}}` or `{{ firstName }}`; group 1 is the name, and there is
# no fallback group (a declared variable's default stands in instead).
# A template variable's name; `{{ name }}` uses it, spaces inside the braces allowed.
VARIABLE_NAME = r"[A-Za-z_][A-Za-z0-9_.-]{0,63}"
VARIABLE_TAG = re.compile(r"\{\{\s*(" + VARIABLE_NAME + r")\s*\}\}")
# Field keys as the fields API accepts them.
_FIELD_KEY = re.compile(r"[a-z][a-z0-9_]{0,63}\Z")


def tag_recognizer(contact_fields: Collection[str] | None = None, extra: Collection[str] = ()) -> Callable[[str], bool]:
    """A test of tag names; with `contact_fields`, `%contact.x%` is known only for those keys (and email).

    `extra` names the tags an email knows besides the standard ones.
    """
    allowed = None if contact_fields is None else frozenset(contact_fields)
    fixed = _FIXED_TAGS | frozenset(extra)

    def is_known(name: str) -> bool:
        if name in fixed:
            return True
        namespace, _, key = name.partition(".")
        if namespace != "contact" or not _FIELD_KEY.match(key):
            return False
        return allowed is None or key in allowed

    return is_known


@dataclass(frozen=True, slots=True)
class Slot:
    """One merge tag in a template: the value's key, the fallback written after `|`, the tag as written."""

    key: str
    fallback: str
    source: str


@dataclass(frozen=True, slots=True)
class MergeTemplate:
    """Text cut at its merge tags: `literals[i]` comes before `slots[i]`, and one literal ends it."""

    literals: tuple[str, ...]
    slots: tuple[Slot, ...]

    @property
    def keys(self) -> frozenset[str]:
        """The value keys this template needs."""
        return frozenset(slot.key for slot in self.slots)

    @property
    def source(self) -> str:
        """The text with its remaining tags as written."""
        parts = [self.literals[0]]
        for slot, literal in zip(self.slots, self.literals[1:], strict=True):
            parts.append(slot.source)
            parts.append(literal)
        return "".join(parts)

    def render(self, values: Mapping[str, str]) -> str:
        """The text with every tag replaced by its value, or by its fallback when the value is empty."""
        parts = [self.literals[0]]
        for slot, literal in zip(self.slots, self.literals[1:], strict=True):
            parts.append(values.get(slot.key) or slot.fallback)
            parts.append(literal)
        return "".join(parts)

    def bind(self, values: Mapping[str, str]) -> MergeTemplate:
        """The template with the tags whose key is in `values` substituted for good (values known per email)."""
        literals = [self.literals[0]]
        slots: list[Slot] = []
        for slot, literal in zip(self.slots, self.literals[1:], strict=True):
            if slot.key in values:
                literals[-1] += (values[slot.key] or slot.fallback) + literal
            else:
                slots.append(slot)
                literals.append(literal)
        return MergeTemplate(tuple(literals), tuple(slots))


def concat(parts: Iterable[MergeTemplate | Slot]) -> MergeTemplate:
    """Templates and lone slots one after the other, as one template."""
    literals = [""]
    slots: list[Slot] = []
    for part in parts:
        if isinstance(part, Slot):
            slots.append(part)
            literals.append("")
            continue
        literals[-1] += part.literals[0]
        slots.extend(part.slots)
        literals.extend(part.literals[1:])
    return MergeTemplate(tuple(literals), tuple(slots))


def parse(text: str, is_known: Callable[[str], bool], *, pattern: re.Pattern[str] = _TAG) -> MergeTemplate:
    """Cut `text` at its known merge tags; unknown ones stay part of the literal text.

    `pattern` finds the tags: group 1 is the name and an optional group 2 the fallback.
    """
    literals: list[str] = []
    slots: list[Slot] = []
    has_fallback = pattern.groups >= 2
    start = 0  # where the current literal begins
    position = 0  # where to look for the next tag
    while (match := pattern.search(text, position)) is not None:
        if not is_known(match.group(1)):
            # Resume just after the opening character: in "%foo%contact.email%" a tag starts at the second %.
            position = match.start() + 1
            continue
        literals.append(text[start : match.start()])
        fallback = (match.group(2) or "") if has_fallback else ""
        slots.append(Slot(match.group(1), fallback, match.group(0)))
        start = position = match.end()
    literals.append(text[start:])
    return MergeTemplate(tuple(literals), tuple(slots))


def parse_variables(text: str, is_known: Callable[[str], bool] = lambda _name: True) -> MergeTemplate:
    """Cut `text` at its `{{name}}` variables (by default every well-formed one: `keys` then lists them)."""
    return parse(text, is_known, pattern=VARIABLE_TAG)
