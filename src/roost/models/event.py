from __future__ import annotations

from sqlalchemy import BigInteger, Index, Integer, String, text
from sqlalchemy.orm import Mapped, mapped_column

from roost.db import Base
from roost.models._types import AccountFk, IdPk, JsonObject, MaybeTimestamp, Timestamp


class Event(Base):
    """Something that happened, written in the transaction of the change itself.

    Rules and webhooks consume these rows later; `contact_id` is not a foreign key
    because the event outlives a deleted contact. `dispatched_at` stays NULL until the
    consumer has handled the event, so pending events are one partial-index scan.
    `origin_id` and `depth` follow a chain of rule actions back to the event that started
    it (a rule runs once per contact per origin; chains stop at a fixed depth).
    """

    __tablename__ = "events"
    __table_args__ = (
        Index("ix_events_account_id_id", "account_id", "id"),
        Index(
            "ix_events_pending",
            "id",
            sqlite_where=text("dispatched_at IS NULL"),
            postgresql_where=text("dispatched_at IS NULL"),
        ),
    )

    id: Mapped[IdPk]
    account_id: Mapped[AccountFk]
    type: Mapped[str] = mapped_column(String(64))
    contact_id: Mapped[int | None] = mapped_column(BigInteger())
    data: Mapped[JsonObject]
    origin_id: Mapped[int | None] = mapped_column(BigInteger())
    depth: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    occurred_at: Mapped[Timestamp]
    dispatched_at: Mapped[MaybeTimestamp]
