"""The condition vocabulary of segments and broadcast recipients, and the input shapes services accept.

Conditions are stored as JSON in the form the API shows them, ids resolved:

* segment condition: `{"type", "operator", "value"}`, plus `"key"` for a `field` condition;
* recipient group: `{"match": "any"|"all"|"exclude", "conditions": [{"type", "operator", "value"}]}`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal, Protocol

# Bounds on the one recipient statement, in which each segment reference expands to the
# segment's own conditions: at most 50 + 3 x 20 predicates keeps PostgreSQL's planning time
# (superlinear in the number of EXISTS it turns into joins) well under a second and SQLite's
# expression tree under its depth limit of 1000.
MAX_GROUPS = 10
MAX_CONDITIONS = 20  # per recipient group, and per segment
MAX_RECIPIENT_CONDITIONS = 50  # across all groups
MAX_SEGMENT_REFERENCES = 3

SegmentMatch = Literal["all", "any"]
GroupMatch = Literal["any", "all", "exclude"]
RecipientType = Literal["tag", "sequence", "segment"]
RecipientOperator = Literal["equal", "not_equal"]
SegmentType = Literal["tag", "sequence", "field", "email_domain", "status", "subscribed_at", "confirmed_at"]
SegmentOperator = Literal[
    "has", "has_not", "in", "not_in", "equals", "not_equals", "contains", "empty", "not_empty", "before", "after"
]

# The operators each segment condition type takes; the first is the positive form.
SEGMENT_OPERATORS: dict[SegmentType, tuple[SegmentOperator, ...]] = {
    "tag": ("has", "has_not"),
    "sequence": ("in", "not_in"),
    "field": ("equals", "contains", "empty", "not_empty"),
    "email_domain": ("equals", "not_equals"),
    "status": ("equals", "not_equals"),
    "subscribed_at": ("before", "after"),
    "confirmed_at": ("before", "after"),
}
# Field operators that compare against no value.
VALUELESS_OPERATORS: frozenset[SegmentOperator] = frozenset({"empty", "not_empty"})


class SegmentConditionSpec(Protocol):
    """One condition of a segment as a client sends it (the API's wire model satisfies this)."""

    @property
    def type(self) -> SegmentType: ...
    @property
    def operator(self) -> SegmentOperator: ...
    @property
    def key(self) -> str | None: ...
    @property
    def value(self) -> int | str | None: ...


class RecipientConditionSpec(Protocol):
    @property
    def type(self) -> RecipientType: ...
    @property
    def operator(self) -> RecipientOperator: ...
    @property
    def value(self) -> int | str: ...


class RecipientGroupSpec(Protocol):
    @property
    def match(self) -> GroupMatch: ...
    @property
    def conditions(self) -> Sequence[RecipientConditionSpec]: ...
