"""Notes, tasks and appointments of a contact (seed 002, CONVENTIONS §7)."""

from __future__ import annotations

from sqlalchemy import ForeignKey, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from roost.db import Base
from roost.models._types import AccountFk, BigId, IdPk, MaybeTimestamp, Timestamp

TASK_STATUSES = ("open", "completed")
APPOINTMENT_STATUSES = ("scheduled", "completed", "cancelled")


class _ContactChild:
    """Columns every contact record shares; deleting the contact deletes its records."""

    id: Mapped[IdPk]
    account_id: Mapped[AccountFk]
    contact_id: Mapped[int] = mapped_column(BigId, ForeignKey("contacts.id", ondelete="CASCADE"))
    created_at: Mapped[Timestamp]
    updated_at: Mapped[Timestamp]


class Note(_ContactChild, Base):
    __tablename__ = "notes"
    __table_args__ = (Index("ix_notes_contact_id_id", "contact_id", "id"),)

    body: Mapped[str] = mapped_column(Text)


class Task(_ContactChild, Base):
    __tablename__ = "tasks"
    __table_args__ = (Index("ix_tasks_contact_id_id", "contact_id", "id"),)

    title: Mapped[str] = mapped_column(String(255))
    description: Mapped[str] = mapped_column(Text, default="")
    status: Mapped[str] = mapped_column(String(16), default="open")
    due_at: Mapped[MaybeTimestamp]
    completed_at: Mapped[MaybeTimestamp]


class Appointment(_ContactChild, Base):
    __tablename__ = "appointments"
    __table_args__ = (Index("ix_appointments_contact_id_id", "contact_id", "id"),)

    title: Mapped[str] = mapped_column(String(255))
    starts_at: Mapped[MaybeTimestamp]
    ends_at: Mapped[MaybeTimestamp]
    location: Mapped[str] = mapped_column(String(500), default="")
    status: Mapped[str] = mapped_column(String(16), default="scheduled")
