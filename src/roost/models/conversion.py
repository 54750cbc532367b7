"""Conversions: value a contact brought, attributed to the email that led to it."""

from __future__ import annotations

from decimal import Decimal

from sqlalchemy import ForeignKey, Index, Numeric, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from roost.db import Base
from roost.models._types import AccountFk, BigId, IdPk, JsonObject, Timestamp


class Conversion(Base):
    """`contact_id` becomes NULL when the contact is deleted: aggregate stats stay (CONVENTIONS §7).

    `attribution` is `{}` or `{"type": "broadcast"|"sequence_email", "id": …}`: the email the
    contact last clicked within 7 days of converting, whose `conversion_value` counts this value.
    `event_id` is the pixel's deduplication key (an order number): one conversion per key and account.
    """

    __tablename__ = "conversions"
    __table_args__ = (
        Index("ix_conversions_contact_id", "contact_id"),
        UniqueConstraint("account_id", "event_id"),
    )

    id: Mapped[IdPk]
    account_id: Mapped[AccountFk]
    contact_id: Mapped[int | None] = mapped_column(BigId, ForeignKey("contacts.id", ondelete="SET NULL"))
    value: Mapped[Decimal] = mapped_column(Numeric(14, 2), default=Decimal(0))
    currency: Mapped[str] = mapped_column(String(3), default="USD")
    source: Mapped[str] = mapped_column(String(255), default="")
    attribution: Mapped[JsonObject]
    event_id: Mapped[str | None] = mapped_column(String(64))
    created_at: Mapped[Timestamp]
    updated_at: Mapped[Timestamp]
