from __future__ import annotations

from sqlalchemy import BigInteger, Index, String
from sqlalchemy.orm import Mapped, mapped_column

from roost.db import Base
from roost.models._types import AccountFk, IdPk, JsonObject, Timestamp


class Event(Base):
    """Something that happened, written in the transaction of the change itself.

    Rules and webhooks consume these rows later; `contact_id` is not a foreign key
    because the event outlives a deleted contact.
    """

    __tablename__ = "events"
    __table_args__ = (Index("ix_events_account_id_id", "account_id", "id"),)

    id: Mapped[IdPk]
    account_id: Mapped[AccountFk]
    type: Mapped[str] = mapped_column(String(64))
    contact_id: Mapped[int | None] = mapped_column(BigInteger())
    data: Mapped[JsonObject]
    occurred_at: Mapped[Timestamp]
