"""Segment and recipient conditions composed into one SQL statement (SQLAlchemy Core).

Every condition is a predicate on the `contacts` row: tag and sequence membership are
correlated EXISTS / NOT EXISTS subqueries on `contact_tags` (PK contact_id, tag_id; index
tag_id, contact_id) and `contact_sequences`. ANDed at the top of the WHERE clause (an `all`
group, every `exclude` condition), PostgreSQL turns them into semi- and anti-joins that read
each tag's contact ids straight from the (tag_id, contact_id) index; SQLite probes the primary
key once per contact. Nothing here loops over contacts.

Every predicate is NULL-safe (never SQL NULL), so that NOT of a predicate, used by
`not_equal` and `exclude`, is exactly its complement.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

from sqlalchemy import ColumnElement, Select, and_, exists, false, func, not_, or_, select, true

from roost.kit.paging import escape_like
from roost.kit.timestamps import parse_utc
from roost.models import Contact, ContactSequence, ContactTag, Segment

Condition = Mapping[str, Any]
BUILTIN_FIELD_COLUMNS = {"first_name": Contact.first_name, "last_name": Contact.last_name}
MEMBERSHIP_COLUMNS = {
    "tag": (ContactTag.contact_id, ContactTag.tag_id),
    "sequence": (ContactSequence.contact_id, ContactSequence.sequence_id),
}
TIMESTAMP_COLUMNS = {"subscribed_at": Contact.subscribed_at, "confirmed_at": Contact.confirmed_at}


def _member(kind: str, ids: Sequence[int]) -> ColumnElement[bool]:
    """The contact has one of these tags (kind "tag") or is in one of these sequences ("sequence")."""
    contact, target = MEMBERSHIP_COLUMNS[kind]
    matches = target == ids[0] if len(ids) == 1 else target.in_(ids)
    return exists().where(contact == Contact.id, matches)


def _disjuncts(
    conditions: Sequence[Condition],
    membership: Callable[[Condition], tuple[str, int] | None],
    predicate: Callable[[Condition], ColumnElement[bool]],
) -> list[ColumnElement[bool]]:
    """Predicates whose OR is the OR of the conditions.

    The positive memberships of one kind merge into one EXISTS with IN: a single semi-join
    (or anti-join, negated) instead of one subquery probe per condition and contact.
    """
    merged: dict[str, list[int]] = {}
    others: list[ColumnElement[bool]] = []
    for condition in conditions:
        member = membership(condition)
        if member is None:
            others.append(predicate(condition))
        else:
            merged.setdefault(member[0], []).append(member[1])
    return [_member(kind, ids) for kind, ids in merged.items()] + others


def _field_text(key: str) -> ColumnElement[str]:
    """A field's value as text, '' when unset; first and last name are columns, the rest JSON."""
    column = BUILTIN_FIELD_COLUMNS.get(key)
    value = column if column is not None else Contact.fields[key].as_string()
    return func.coalesce(value, "")


def _field(key: str, operator: str, value: str | None) -> ColumnElement[bool]:
    text = _field_text(key)
    if operator == "empty":
        return text == ""
    if operator == "not_empty":
        return text != ""
    wanted = (value or "").lower()
    if operator == "contains":
        return func.lower(text).like(f"%{escape_like(wanted)}%", escape="\\")
    return func.lower(text) == wanted


def _timestamp(column: Any, operator: str, value: str) -> ColumnElement[bool]:
    moment = parse_utc(value)
    compared = column < moment if operator == "before" else column > moment
    return and_(column.is_not(None), compared)


def segment_condition(condition: Condition) -> ColumnElement[bool]:
    """One stored segment condition as a predicate on the contact row."""
    kind, operator = condition["type"], condition["operator"]
    value: Any = condition.get("value")
    if kind in ("tag", "sequence"):
        member = _member(kind, [value])
        return member if operator in ("has", "in") else not_(member)
    if kind == "field":
        return _field(condition["key"], operator, value)
    if kind == "email_domain":
        at_domain = func.lower(Contact.email).like(f"%@{escape_like(value)}", escape="\\")
        return at_domain if operator == "equals" else not_(at_domain)
    if kind == "status":
        same_status: ColumnElement[bool] = Contact.status == str(value)
        return same_status if operator == "equals" else not_(same_status)
    if kind in ("subscribed_at", "confirmed_at"):
        return _timestamp(TIMESTAMP_COLUMNS[kind], operator, value)
    raise ValueError(f"unknown segment condition type {kind!r}")


def _segment_membership(condition: Condition) -> tuple[str, int] | None:
    positive = (condition["type"], condition["operator"]) in (("tag", "has"), ("sequence", "in"))
    return (condition["type"], condition["value"]) if positive else None


def segment_clause(match: str, conditions: Sequence[Condition]) -> ColumnElement[bool]:
    """A segment: every condition (`all`) or at least one (`any`)."""
    if match == "all":
        return and_(true(), *(segment_condition(condition) for condition in conditions))
    return or_(false(), *_disjuncts(conditions, _segment_membership, segment_condition))


def _recipient_membership(condition: Condition) -> tuple[str, int] | None:
    positive = condition["type"] in ("tag", "sequence") and condition.get("operator") != "not_equal"
    return (condition["type"], condition["value"]) if positive else None


def _recipient_condition(condition: Condition, segments: Mapping[int, Segment]) -> ColumnElement[bool]:
    kind, value = condition["type"], condition["value"]
    if kind in ("tag", "sequence"):
        positive = _member(kind, [value])
    else:
        segment = segments.get(value)
        # A segment deleted after the broadcast was saved matches nobody.
        positive = segment_clause(segment.match, segment.conditions) if segment is not None else false()
    return not_(positive) if condition.get("operator") == "not_equal" else positive


def recipients_clause(groups: Sequence[Mapping[str, Any]], segments: Mapping[int, Segment]) -> ColumnElement[bool]:
    """Every non-exclude group holds (`any`: one condition, `all`: each) and no exclude condition does.

    `all` groups and exclusions are flattened into top-level conjuncts (NOT (a OR b) is written
    NOT a AND NOT b) so that the planner can turn each EXISTS into a join. A subquery is never
    written as IN under OR or NOT: PostgreSQL would scan it once per contact when its hash
    table outgrows work_mem. No groups: true.
    """
    conjuncts: list[ColumnElement[bool]] = []
    for group in groups:
        conditions = group["conditions"]
        if group["match"] == "all":
            conjuncts += [_recipient_condition(condition, segments) for condition in conditions]
            continue
        disjuncts = _disjuncts(
            conditions, _recipient_membership, lambda condition: _recipient_condition(condition, segments)
        )
        if group["match"] == "exclude":
            conjuncts += [not_(disjunct) for disjunct in disjuncts]
        else:
            conjuncts.append(or_(false(), *disjuncts))
    return and_(true(), *conjuncts)


def segment_ids(groups: Sequence[Mapping[str, Any]]) -> set[int]:
    """The segments that recipient groups refer to."""
    return {
        condition["value"] for group in groups for condition in group["conditions"] if condition["type"] == "segment"
    }


def matching_contacts(account_id: int, where: ColumnElement[bool], *, active_only: bool) -> Select[int]:
    """The ids of the account's contacts satisfying `where` (only `active` ones when asked)."""
    statement = select(Contact.id).where(Contact.account_id == account_id, where)
    return statement.where(Contact.status == "active") if active_only else statement
