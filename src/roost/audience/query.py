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

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import ColumnElement, Select, and_, exists, false, func, not_, or_, select, true

from roost.audience.types import TIMESTAMP_FORMAT
from roost.kit.paging import escape_like
from roost.models import Contact, ContactSequence, ContactTag, Segment

Condition = Mapping[str, Any]
BUILTIN_FIELD_COLUMNS = {"first_name": Contact.first_name, "last_name": Contact.last_name}
TIMESTAMP_COLUMNS = {"subscribed_at": Contact.subscribed_at, "confirmed_at": Contact.confirmed_at}


def _tagged(tag_id: int) -> ColumnElement[bool]:
    return exists().where(ContactTag.contact_id == Contact.id, ContactTag.tag_id == tag_id)


def _in_sequence(sequence_id: int) -> ColumnElement[bool]:
    return exists().where(ContactSequence.contact_id == Contact.id, ContactSequence.sequence_id == sequence_id)


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
    moment = datetime.strptime(value, TIMESTAMP_FORMAT).replace(tzinfo=UTC)
    compared = column < moment if operator == "before" else column > moment
    return and_(column.is_not(None), compared)


def segment_condition(condition: Condition) -> ColumnElement[bool]:
    """One stored segment condition as a predicate on the contact row."""
    kind, operator = condition["type"], condition["operator"]
    value: Any = condition.get("value")
    if kind == "tag":
        return _tagged(value) if operator == "has" else not_(_tagged(value))
    if kind == "sequence":
        return _in_sequence(value) if operator == "in" else not_(_in_sequence(value))
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


def segment_clause(match: str, conditions: Sequence[Condition]) -> ColumnElement[bool]:
    """A segment: every condition (`all`) or at least one (`any`)."""
    predicates = [segment_condition(condition) for condition in conditions]
    return and_(true(), *predicates) if match == "all" else or_(false(), *predicates)


def _recipient_condition(condition: Condition, segments: Mapping[int, Segment]) -> ColumnElement[bool]:
    kind, value = condition["type"], condition["value"]
    if kind == "tag":
        positive = _tagged(value)
    elif kind == "sequence":
        positive = _in_sequence(value)
    else:
        segment = segments.get(value)
        # A segment deleted after the broadcast was saved matches nobody.
        positive = segment_clause(segment.match, segment.conditions) if segment is not None else false()
    return not_(positive) if condition.get("operator") == "not_equal" else positive


def recipients_clause(groups: Sequence[Mapping[str, Any]], segments: Mapping[int, Segment]) -> ColumnElement[bool]:
    """Every non-exclude group holds (`any`: one condition, `all`: each) and no exclude condition does.

    `all` groups and exclusions are flattened into top-level conjuncts (NOT (a OR b) is written
    NOT a AND NOT b) so that the planner can turn each EXISTS into a join. No groups: true.
    """
    conjuncts: list[ColumnElement[bool]] = []
    for group in groups:
        predicates = [_recipient_condition(condition, segments) for condition in group["conditions"]]
        if group["match"] == "exclude":
            conjuncts += [not_(predicate) for predicate in predicates]
        elif group["match"] == "all":
            conjuncts += predicates
        else:
            conjuncts.append(or_(false(), *predicates))
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
