"""Notes, tasks and appointments nested under a contact (seed 002, CONVENTIONS §7).

The three kinds share one lifecycle (list, get, create, update or replace, delete, each
recorded as `<kind>.<verb>` events); a RecordKind names what differs: the table, the
allowed list parameters and the invariants checked after every change.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from roost import events
from roost.contact import service as contact_service
from roost.crm.repository import AppointmentRepository, NoteRepository, TaskRepository
from roost.db.repository import ScopedRepository
from roost.errors import Invalid, NotFound
from roost.kit.clock import utcnow_seconds
from roost.kit.paging import ListParams, Page
from roost.models import Appointment, Task

Record = Any  # Note | Task | Appointment: they share the _ContactChild columns


@dataclass(frozen=True)
class RecordKind:
    name: str
    repository: type[ScopedRepository[Any]]
    search_by: tuple[str, ...]
    order_by: tuple[str, ...]
    check: Callable[[Record, Mapping[str, Any]], None]


def _no_rules(_record: Record, _changes: Mapping[str, Any]) -> None:
    pass


def _task_rules(task: Task, changes: Mapping[str, Any]) -> None:
    """Completing a task stamps completed_at; reopening clears it."""
    if "status" not in changes:
        return
    if task.status == "completed" and task.completed_at is None:
        task.completed_at = utcnow_seconds()
    elif task.status == "open":
        task.completed_at = None


def _appointment_rules(appointment: Appointment, _changes: Mapping[str, Any]) -> None:
    if appointment.starts_at and appointment.ends_at and appointment.ends_at < appointment.starts_at:
        raise Invalid.field("ends_at", "The ends at must be a date after or equal to starts at.")


NOTE = RecordKind("note", NoteRepository, ("body",), ("created_at", "updated_at"), _no_rules)
TASK = RecordKind("task", TaskRepository, ("title", "status"), ("due_at", "created_at", "title"), _task_rules)
APPOINTMENT = RecordKind(
    "appointment", AppointmentRepository, ("title", "location"), ("starts_at", "created_at"), _appointment_rules
)


async def _owned(session: AsyncSession, kind: RecordKind, account_id: int, contact_id: int, record_id: int) -> Record:
    """The record, looked up in the account under its contact: finding it proves the contact is there too."""
    repo = kind.repository(session, account_id)
    record = await session.scalar(repo.scoped().where(repo.model.id == record_id, repo.model.contact_id == contact_id))
    if record is None:
        raise NotFound()
    return record


def _record_event(session: AsyncSession, kind: RecordKind, verb: str, record: Record) -> None:
    events.record(
        session,
        account_id=record.account_id,
        type=f"{kind.name}.{verb}",
        contact_id=record.contact_id,
        data={f"{kind.name}_id": record.id},
    )


async def list_page(
    session: AsyncSession, *, kind: RecordKind, account_id: int, contact_id: int, params: ListParams
) -> Page[Record]:
    """A page of one contact's records of this kind."""
    await contact_service.check_exists(session, account_id=account_id, contact_id=contact_id)
    repo = kind.repository(session, account_id)
    return await repo.page(params, base=repo.scoped().where(repo.model.contact_id == contact_id))


async def get(session: AsyncSession, *, kind: RecordKind, account_id: int, contact_id: int, record_id: int) -> Record:
    """One record of the contact, or NotFound."""
    return await _owned(session, kind, account_id, contact_id, record_id)


async def create(
    session: AsyncSession, *, kind: RecordKind, account_id: int, contact_id: int, values: Mapping[str, Any]
) -> Record:
    """Add a record to a contact."""
    await contact_service.check_exists(session, account_id=account_id, contact_id=contact_id)
    now = utcnow_seconds()
    repo = kind.repository(session, account_id)
    record = repo.model(account_id=account_id, contact_id=contact_id, created_at=now, updated_at=now, **values)
    kind.check(record, values)
    repo.add(record)
    await session.flush()
    _record_event(session, kind, "created", record)
    return record


async def update(
    session: AsyncSession,
    *,
    kind: RecordKind,
    account_id: int,
    contact_id: int,
    record_id: int,
    values: Mapping[str, Any],
) -> Record:
    """Change a record: PATCH passes what was given, PUT passes every field (a full replace)."""
    record = await _owned(session, kind, account_id, contact_id, record_id)
    changes = {key: value for key, value in values.items() if getattr(record, key) != value}
    for key, value in changes.items():
        setattr(record, key, value)
    kind.check(record, changes)
    if changes:
        record.updated_at = utcnow_seconds()
        _record_event(session, kind, "updated", record)
    await session.flush()
    return record


async def delete(session: AsyncSession, *, kind: RecordKind, account_id: int, contact_id: int, record_id: int) -> None:
    """Delete a record."""
    record = await _owned(session, kind, account_id, contact_id, record_id)
    _record_event(session, kind, "deleted", record)
    await kind.repository(session, account_id).delete(record)
