"""Wire schemas of segments (ext) and of broadcast recipient groups (CONVENTIONS §7)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any

from pydantic import BaseModel, Field, PlainValidator

from roost.api.v1.wire import Name, V1Time, WireIn
from roost.audience.types import (
    MAX_CONDITIONS,
    MAX_GROUPS,
    GroupMatch,
    RecipientOperator,
    RecipientType,
    SegmentMatch,
    SegmentOperator,
    SegmentType,
)
from roost.kit.ids import MAX_ID
from roost.models import Segment


def _id_or_text(max_length: int) -> Callable[[Any], int | str]:
    def check(value: Any) -> int | str:
        if isinstance(value, bool) or not isinstance(value, int | str):
            raise ValueError("The {attr} must be an integer or a string.")
        if isinstance(value, int) and not 1 <= value <= MAX_ID:
            raise ValueError(f"The {{attr}} must be an id between 1 and {MAX_ID}.")
        if isinstance(value, str) and len(value) > max_length:
            raise ValueError(f"The {{attr}} may not be greater than {max_length} characters.")
        return value

    return check


# An id, or (for a tag) its name.
IdOrName = Annotated[int | str, PlainValidator(_id_or_text(255), json_schema_input_type=int | str)]
ConditionValue = Annotated[int | str, PlainValidator(_id_or_text(1000), json_schema_input_type=int | str)]


class CountOut(BaseModel):
    count: int


# Broadcast recipients -----------------------------------------------------------------------


class RecipientConditionIn(WireIn):
    """`tag`, `sequence` or `segment` by id (a tag also by name); `not_equal` negates it."""

    type: RecipientType
    operator: RecipientOperator = "equal"
    value: IdOrName


class RecipientGroupIn(WireIn):
    """`any`: at least one condition holds; `all`: every one does; `exclude`: none does."""

    match: GroupMatch = "any"
    conditions: list[RecipientConditionIn] = Field(min_length=1, max_length=MAX_CONDITIONS)


Recipients = Annotated[list[RecipientGroupIn], Field(max_length=MAX_GROUPS)]


class RecipientConditionOut(BaseModel):
    type: str
    operator: str
    value: int


class RecipientGroupOut(BaseModel):
    match: str
    conditions: list[RecipientConditionOut]


# Segments -----------------------------------------------------------------------------------


class SegmentConditionIn(WireIn):
    """One condition on a contact. `type`, the `operator`s it takes, and its `value`:

    | type | operator | value |
    | --- | --- | --- |
    | `tag` | `has`, `has_not` | tag id (or name) |
    | `sequence` | `in`, `not_in` | sequence id (membership) |
    | `field` (with `key`, a defined field key such as `first_name`) | `equals`, `contains` (both ignoring case), `empty`, `not_empty` | text; none for `empty`, `not_empty` |
    | `email_domain` | `equals`, `not_equals` | a domain, e.g. `example.com` |
    | `status` | `equals`, `not_equals` | a contact status (`active`, `unconfirmed`, `unsubscribed`, `bounced`, `complained`, `non_subscribed`) |
    | `subscribed_at`, `confirmed_at` | `before`, `after` | a UTC timestamp `YYYY-MM-DD HH:MM:SS` (or ISO 8601 with an offset); unset never matches |
    """  # noqa: E501

    type: SegmentType
    operator: SegmentOperator
    key: Annotated[str, Field(max_length=64)] | None = None
    value: ConditionValue | None = None


Conditions = Annotated[list[SegmentConditionIn], Field(min_length=1, max_length=MAX_CONDITIONS)]


class SegmentIn(WireIn):
    """A saved condition set: a contact matches when every condition holds (`all`) or one does (`any`)."""

    name: Name
    match: SegmentMatch = "all"
    conditions: Conditions


class SegmentPatch(WireIn):
    """Only what is given changes; `conditions` replace the old ones."""

    name: Name | None = None
    match: SegmentMatch | None = None
    conditions: Conditions | None = None


class SegmentConditionOut(BaseModel):
    type: str
    operator: str
    key: str | None = Field(description="The field key of a `field` condition; null otherwise.")
    value: int | str | None


class SegmentOut(BaseModel):
    segment_id: int
    name: str
    match: str
    conditions: list[SegmentConditionOut]
    created_at: V1Time
    updated_at: V1Time

    @classmethod
    def of(cls, segment: Segment) -> SegmentOut:
        return cls(
            segment_id=segment.id,
            name=segment.name,
            match=segment.match,
            conditions=[
                SegmentConditionOut(type=c["type"], operator=c["operator"], key=c.get("key"), value=c.get("value"))
                for c in segment.conditions
            ],
            created_at=segment.created_at,
            updated_at=segment.updated_at,
        )
