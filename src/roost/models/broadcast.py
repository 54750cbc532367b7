"""One-off emails to a set of contacts chosen by condition groups (CONVENTIONS §7)."""

from __future__ import annotations

from typing import Annotated, Any

from sqlalchemy import Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from roost.db import Base
from roost.models._types import AccountFk, BigId, IdPk, JsonDoc, MaybeTimestamp, Timestamp
from roost.models.sequence import EmailStats, Sender

BROADCAST_STATUSES = ("draft", "scheduled", "sending", "sent", "cancelled")

# [{"match": "any"|"all"|"exclude", "conditions": [{"type", "operator", "value"}]}]
ConditionGroups = Annotated[list[dict[str, Any]], mapped_column(JsonDoc, default=list)]


class Broadcast(Sender, EmailStats, Base):
    __tablename__ = "broadcasts"
    __table_args__ = (
        # The scheduler's scan: broadcasts whose time has come.
        Index("ix_broadcasts_status_scheduled_at", "status", "scheduled_at"),
    )

    id: Mapped[IdPk]
    account_id: Mapped[AccountFk]
    name: Mapped[str] = mapped_column(String(255))
    subject: Mapped[str] = mapped_column(String(998))
    body: Mapped[str] = mapped_column(Text)
    recipients: Mapped[ConditionGroups]
    immediate: Mapped[bool] = mapped_column(default=False)
    scheduled_at: Mapped[MaybeTimestamp]
    schedule_timezone: Mapped[str] = mapped_column(String(64), default="")
    status: Mapped[str] = mapped_column(String(16), default="draft")
    sent_at: Mapped[MaybeTimestamp]
    # While `sending`: the contact id up to which recipients are queued, the rest still to come
    # (they are queued in chunks, in id order); None once every recipient has its message.
    resolved_through: Mapped[int | None] = mapped_column(BigId)
    created_at: Mapped[Timestamp]
    updated_at: Mapped[Timestamp]


class Segment(Base):
    """A saved condition set (ext): `match` all|any over `conditions`, counted live."""

    __tablename__ = "segments"

    id: Mapped[IdPk]
    account_id: Mapped[AccountFk]
    name: Mapped[str] = mapped_column(String(255))
    match: Mapped[str] = mapped_column(String(8), default="all")
    conditions: Mapped[Annotated[list[dict[str, Any]], mapped_column(JsonDoc, default=list)]]
    created_at: Mapped[Timestamp]
    updated_at: Mapped[Timestamp]
