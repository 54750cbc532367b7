"""Segments (ext) and broadcast recipients (CONVENTIONS §7: broadcasts, segments).

Conditions are validated against the account when saved (every referenced tag, sequence,
segment and field must exist in it: 422 naming the path otherwise) and stored with ids
resolved. Who matches is always computed live, by one SQL statement (audience.query).
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Select
from sqlalchemy.ext.asyncio import AsyncSession

from roost.audience import query
from roost.audience.repository import AudienceRepository, SegmentRepository
from roost.audience.types import (
    MAX_RECIPIENT_CONDITIONS,
    MAX_SEGMENT_REFERENCES,
    SEGMENT_OPERATORS,
    VALUELESS_OPERATORS,
    RecipientGroupSpec,
    SegmentConditionSpec,
)
from roost.errors import Invalid, NotFound
from roost.field import service as field_service
from roost.kit.clock import utcnow_seconds
from roost.kit.ids import MAX_ID
from roost.kit.paging import ListParams, Page
from roost.kit.timestamps import format_utc, parse_utc
from roost.models import Segment
from roost.models.contact import CONTACT_STATUSES

SEARCH_BY = ("name",)
ORDER_BY = ("name", "created_at")
MAX_DOMAIN_LENGTH = 253

StoredConditions = list[dict[str, Any]]


# References: ids and tag names checked against the account, one query per kind --------------


def _as_id(value: int | str | None) -> int | None:
    """An id given as an integer or a string of digits, if it can be one."""
    if isinstance(value, str) and value.isascii() and value.isdigit():
        value = int(value)
    return value if isinstance(value, int) and not isinstance(value, bool) and 1 <= value <= MAX_ID else None


@dataclass
class _References:
    """What conditions refer to; `resolve` answers each reference's id in the account, or None."""

    tag_ids: set[int] = field(default_factory=set)
    tag_names: set[str] = field(default_factory=set)
    sequence_ids: set[int] = field(default_factory=set)
    segment_ids: set[int] = field(default_factory=set)
    names: dict[str, int] = field(default_factory=dict)
    segments: dict[int, Segment] = field(default_factory=dict)

    def want(self, kind: str, value: int | str | None) -> None:
        ident = _as_id(value)
        if kind == "tag" and isinstance(value, str):
            self.tag_names.add(value)
        if ident is not None:
            {"tag": self.tag_ids, "sequence": self.sequence_ids, "segment": self.segment_ids}[kind].add(ident)

    async def load(self, session: AsyncSession, account_id: int) -> None:
        repo = AudienceRepository(session, account_id)
        self.tag_ids = await repo.existing_tag_ids(self.tag_ids)
        self.names = await repo.tag_ids_by_name(self.tag_names)
        self.sequence_ids = await repo.existing_sequence_ids(self.sequence_ids)
        self.segments = await SegmentRepository(session, account_id).by_ids(self.segment_ids)

    def resolve(self, kind: str, value: int | str | None) -> int | None:
        ident = _as_id(value)
        if kind == "tag":
            # A tag may be named (CONVENTIONS §7); a name wins over digits read as an id.
            named = self.names.get(value.lower()) if isinstance(value, str) else None
            return named if named is not None else (ident if ident in self.tag_ids else None)
        if kind == "sequence":
            return ident if ident in self.sequence_ids else None
        return ident if ident in self.segments else None


def _invalid(path: str) -> str:
    return f"The selected {path} is invalid."


def _required(path: str) -> str:
    return f"The {path} field is required."


# Segment conditions -------------------------------------------------------------------------


def _text(value: int | str | None) -> str | None:
    return str(value) if isinstance(value, int | str) and not isinstance(value, bool) else None


def _domain(value: int | str | None) -> str | None:
    text = (_text(value) or "").strip().lower().removeprefix("@")
    if not text or len(text) > MAX_DOMAIN_LENGTH or "@" in text or any(c.isspace() for c in text):
        return None
    return text


def _timestamp(value: int | str | None) -> str | None:
    """A stored UTC "YYYY-MM-DD HH:MM:SS"; the input may be that (UTC) or ISO 8601 with an offset."""
    if not isinstance(value, str):
        return None
    try:
        return format_utc(parse_utc(value))
    except ValueError:
        return None


def _segment_value(
    condition: SegmentConditionSpec, path: str, refs: _References, field_keys: Collection[str]
) -> tuple[dict[str, Any], dict[str, list[str]]]:
    """One condition in its stored form, or the errors that keep it from being one."""
    kind, operator, value = condition.type, condition.operator, condition.value
    stored: dict[str, Any] = {"type": kind, "operator": operator}
    if operator not in SEGMENT_OPERATORS.get(kind, ()):
        return stored, {f"{path}.operator": [_invalid(f"{path}.operator")]}
    if kind == "field":
        if not condition.key:
            return stored, {f"{path}.key": [_required(f"{path}.key")]}
        if condition.key not in field_keys:
            return stored, {f"{path}.key": [f"The {path}.key field is not a defined custom field."]}
        stored["key"] = condition.key
        if operator in VALUELESS_OPERATORS:
            stored["value"] = None
            return stored, {}
    if value is None or value == "":
        return stored, {f"{path}.value": [_required(f"{path}.value")]}
    resolved: Any
    if kind in ("tag", "sequence"):
        resolved = refs.resolve(kind, value)
    elif kind == "field":
        resolved = _text(value)
    elif kind == "email_domain":
        resolved = _domain(value)
    elif kind == "status":
        resolved = value if value in CONTACT_STATUSES else None
    else:
        resolved = _timestamp(value)
    if resolved is None:
        return stored, {f"{path}.value": [_invalid(f"{path}.value")]}
    stored["value"] = resolved
    return stored, {}


async def _segment_conditions(
    session: AsyncSession, account_id: int, conditions: Sequence[SegmentConditionSpec]
) -> StoredConditions:
    refs = _References()
    for condition in conditions:
        if condition.type in ("tag", "sequence"):
            refs.want(condition.type, condition.value)
    await refs.load(session, account_id)
    field_keys: Collection[str] = ()
    if any(condition.type == "field" for condition in conditions):
        field_keys = await field_service.all_fields(session, account_id=account_id)
    stored: StoredConditions = []
    errors: dict[str, list[str]] = {}
    for index, condition in enumerate(conditions):
        one, problems = _segment_value(condition, f"conditions.{index}", refs, field_keys)
        stored.append(one)
        errors.update(problems)
    if errors:
        raise Invalid(errors)
    return stored


async def list_page(session: AsyncSession, *, account_id: int, params: ListParams) -> Page[Segment]:
    """A page of the account's segments."""
    return await SegmentRepository(session, account_id).page(params)


async def get(session: AsyncSession, *, account_id: int, segment_id: int) -> Segment:
    """One segment, or NotFound."""
    segment = await SegmentRepository(session, account_id).get(segment_id)
    if segment is None:
        raise NotFound()
    return segment


async def create(
    session: AsyncSession, *, account_id: int, name: str, match: str, conditions: Sequence[SegmentConditionSpec]
) -> Segment:
    """Save a condition set; every referenced tag, sequence and field must exist in the account."""
    stored = await _segment_conditions(session, account_id, conditions)
    now = utcnow_seconds()
    segment = SegmentRepository(session, account_id).add(
        Segment(account_id=account_id, name=name, match=match, conditions=stored, created_at=now, updated_at=now)
    )
    await session.flush()
    return segment


async def update(
    session: AsyncSession,
    *,
    account_id: int,
    segment_id: int,
    name: str | None = None,
    match: str | None = None,
    conditions: Sequence[SegmentConditionSpec] | None = None,
) -> Segment:
    """Change what is given; new conditions replace the old ones and apply to unsent broadcasts at once."""
    segment = await get(session, account_id=account_id, segment_id=segment_id)
    if conditions is not None:
        segment.conditions = await _segment_conditions(session, account_id, conditions)
    if name is not None:
        segment.name = name
    if match is not None:
        segment.match = match
    segment.updated_at = utcnow_seconds()
    await session.flush()
    return segment


async def delete(session: AsyncSession, *, account_id: int, segment_id: int) -> None:
    """Delete a segment, unless a broadcast not sent yet selects recipients by it (422 naming them)."""
    segment = await get(session, account_id=account_id, segment_id=segment_id)
    users = [
        broadcast_id
        for broadcast_id, groups in await AudienceRepository(session, account_id).unsent_broadcasts()
        if segment.id in query.segment_ids(groups)
    ]
    if users:
        listed = ", ".join(str(broadcast_id) for broadcast_id in users)
        raise Invalid.field(
            "segment_id",
            f"The segment is used by the recipients of broadcasts not sent yet ({listed}); change them first.",
        )
    await SegmentRepository(session, account_id).delete(segment)


async def count(session: AsyncSession, *, account_id: int, segment_id: int) -> int:
    """How many contacts match the segment now, whatever their status."""
    segment = await get(session, account_id=account_id, segment_id=segment_id)
    where = query.segment_clause(segment.match, segment.conditions)
    return await AudienceRepository(session, account_id).count(
        query.matching_contacts(account_id, where, active_only=False)
    )


# Broadcast recipients -----------------------------------------------------------------------


def _check_size(groups: Sequence[RecipientGroupSpec]) -> None:
    conditions = [condition for group in groups for condition in group.conditions]
    if len(conditions) > MAX_RECIPIENT_CONDITIONS:
        raise Invalid.field(
            "recipients", f"The recipients may not have more than {MAX_RECIPIENT_CONDITIONS} conditions in all."
        )
    if sum(condition.type == "segment" for condition in conditions) > MAX_SEGMENT_REFERENCES:
        raise Invalid.field(
            "recipients", f"The recipients may not refer to segments more than {MAX_SEGMENT_REFERENCES} times."
        )


async def check_recipients(
    session: AsyncSession, *, account_id: int, groups: Sequence[RecipientGroupSpec]
) -> StoredConditions:
    """Recipient groups in their stored form: every id checked in the account, tag names resolved to ids.

    An unknown reference is a 422 naming its path, e.g. `recipients.0.conditions.1.value`.
    """
    _check_size(groups)
    refs = _References()
    for group in groups:
        for condition in group.conditions:
            refs.want(condition.type, condition.value)
    await refs.load(session, account_id)
    stored: StoredConditions = []
    errors: dict[str, list[str]] = {}
    for g, group in enumerate(groups):
        conditions = []
        for c, condition in enumerate(group.conditions):
            resolved = refs.resolve(condition.type, condition.value)
            if resolved is None:
                path = f"recipients.{g}.conditions.{c}.value"
                errors[path] = [_invalid(path)]
            conditions.append({"type": condition.type, "operator": condition.operator, "value": resolved})
        stored.append({"match": group.match, "conditions": conditions})
    if errors:
        raise Invalid(errors)
    return stored


async def recipients(session: AsyncSession, *, account_id: int, groups: Sequence[Mapping[str, Any]]) -> Select[int]:
    """The statement selecting the ids of a broadcast's recipients now: active contacts its stored groups admit.

    One SQL statement, ready to count or to feed an INSERT … SELECT when sending starts.
    """
    segments = await SegmentRepository(session, account_id).by_ids(query.segment_ids(groups))
    return query.matching_contacts(account_id, query.recipients_clause(groups, segments), active_only=True)


async def count_recipients(session: AsyncSession, *, account_id: int, groups: Sequence[Mapping[str, Any]]) -> int:
    """How many contacts stored recipient groups admit now."""
    statement = await recipients(session, account_id=account_id, groups=groups)
    return await AudienceRepository(session, account_id).count(statement)
