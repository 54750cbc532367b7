"""Drip sequences, their emails, and which contacts are in them (seed 001, CONVENTIONS §7)."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

from sqlalchemy import ForeignKey, Index, Integer, Numeric, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from roost.db import Base, UTCDateTime
from roost.models._types import LINK_COUNTED, AccountFk, BigId, IdPk, LinkCount, MaybeTimestamp, Timestamp

DELAY_UNITS = ("minute", "hour", "day", "week")


class Sender:
    """The From identity and postal footer every marketing email carries (CONVENTIONS §8)."""

    sender_email: Mapped[str] = mapped_column(String(254))
    sender_name: Mapped[str] = mapped_column(String(255))
    sender_company: Mapped[str] = mapped_column(String(255), default="")
    sender_address: Mapped[str] = mapped_column(String(1000))
    footer: Mapped[str] = mapped_column(Text, default="")


class EmailStats:
    """Counters kept by the delivery engine; `conversion_value` is the sum behind ltv/altv."""

    sent: Mapped[int] = mapped_column(Integer, default=0)
    opens: Mapped[int] = mapped_column(Integer, default=0)
    clicks: Mapped[int] = mapped_column(Integer, default=0)
    bounces: Mapped[int] = mapped_column(Integer, default=0)
    spams: Mapped[int] = mapped_column(Integer, default=0)
    unsubscribes: Mapped[int] = mapped_column(Integer, default=0)
    conversion_value: Mapped[Decimal] = mapped_column(Numeric(14, 2), default=Decimal(0))


class Sequence(Sender, Base):
    __tablename__ = "sequences"
    __mapper_args__ = LINK_COUNTED

    id: Mapped[IdPk]
    account_id: Mapped[AccountFk]
    name: Mapped[str] = mapped_column(String(255))
    description: Mapped[str] = mapped_column(Text, default="")
    notification: Mapped[str] = mapped_column(String(254), default="")
    active: Mapped[bool] = mapped_column(default=True)
    created_at: Mapped[Timestamp]
    updated_at: Mapped[Timestamp]
    contacts_count: Mapped[LinkCount]


class SequenceEmail(EmailStats, Base):
    """One step of a sequence; `position` orders the steps (the wire's `order`)."""

    __tablename__ = "sequence_emails"
    __table_args__ = (Index("ix_sequence_emails_sequence_id_position", "sequence_id", "position"),)

    id: Mapped[IdPk]
    account_id: Mapped[AccountFk]
    sequence_id: Mapped[int] = mapped_column(BigId, ForeignKey("sequences.id", ondelete="CASCADE"))
    subject: Mapped[str] = mapped_column(String(998))
    body: Mapped[str] = mapped_column(Text)
    delay: Mapped[int] = mapped_column(Integer, default=0)
    delay_unit: Mapped[str] = mapped_column(String(8), default="day")
    active: Mapped[bool] = mapped_column(default=True)
    position: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[Timestamp]
    updated_at: Mapped[Timestamp]


class ContactSequence(Base):
    """A contact's membership of a sequence.

    `current_step` is the number of emails sent so far (0 on joining); `next_due_at` is
    when the next step is due, kept by the delivery engine so that finding due work is an
    index range scan rather than a computation over every member.
    """

    __tablename__ = "contact_sequences"
    __table_args__ = (
        Index("ix_contact_sequences_sequence_id_contact_id", "sequence_id", "contact_id"),
        Index("ix_contact_sequences_next_due_at", "next_due_at"),
    )

    contact_id: Mapped[int] = mapped_column(BigId, ForeignKey("contacts.id", ondelete="CASCADE"), primary_key=True)
    sequence_id: Mapped[int] = mapped_column(BigId, ForeignKey("sequences.id", ondelete="CASCADE"), primary_key=True)
    account_id: Mapped[AccountFk]
    current_step: Mapped[int] = mapped_column(Integer, default=0)
    subscribed_at: Mapped[datetime] = mapped_column(UTCDateTime())
    confirmed_at: Mapped[MaybeTimestamp]
    last_sent_at: Mapped[MaybeTimestamp]
    next_due_at: Mapped[MaybeTimestamp]
    completed_at: Mapped[MaybeTimestamp]
