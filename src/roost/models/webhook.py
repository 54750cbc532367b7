"""Webhooks: endpoints, the messages made for them and every attempt to deliver one (CONVENTIONS §7)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from sqlalchemy import BigInteger, ForeignKey, Index, Integer, String, Text, UniqueConstraint, text
from sqlalchemy.orm import Mapped, mapped_column

from roost.db import Base, UTCDateTime
from roost.models._types import AccountFk, BigId, IdPk, JsonDoc, MaybeTimestamp, Timestamp

EventList = Annotated[list[str], mapped_column(JsonDoc, default=list)]
# Outbound message statuses: pending (to be sent, or retried) -> delivered | failed (retries ran out).
WEBHOOK_MESSAGE_STATUSES = ("pending", "delivered", "failed")
# Written out, not bound: a partial index serves only queries that repeat its condition literally.
PENDING = text("status = 'pending'")


class WebhookEndpoint(Base):
    """A URL that receives the account's events of the types in `events` (`*`: all of them).

    `secret` is the Standard Webhooks signing key (`whsec_` + base64); it is needed in clear to sign,
    so it is stored as given out. `disabled_reason` says why Roost switched the endpoint off (it
    answered 410 Gone); it is cleared when the account switches it on again.
    """

    __tablename__ = "webhook_endpoints"

    id: Mapped[IdPk]
    account_id: Mapped[AccountFk]
    url: Mapped[str] = mapped_column(String(2048))
    events: Mapped[EventList]
    active: Mapped[bool] = mapped_column(default=True)
    secret: Mapped[str] = mapped_column(String(64))
    disabled_reason: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[Timestamp]
    updated_at: Mapped[Timestamp]


class WebhookMessage(Base):
    """One event for one endpoint: made, once, when the event is dispatched; sent until it is delivered.

    Unique per (endpoint, event): the dispatcher's exactly-once hand-off makes at most one, the
    constraint holds it. `body` is the exact JSON sent, so every attempt carries the same bytes;
    `msg_<id>` is its `webhook-id`. A sender may claim a pending message once `next_attempt_at` has
    passed and no earlier message of the same endpoint and contact is pending (order per contact);
    claiming pushes `next_attempt_at` a lease ahead, so a dead sender's message is taken over.
    """

    __tablename__ = "webhook_messages"
    __table_args__ = (
        UniqueConstraint("endpoint_id", "event_id"),
        # The claim: due pending messages, oldest first.
        Index("ix_webhook_messages_due", "next_attempt_at", sqlite_where=PENDING, postgresql_where=PENDING),
        # Head of line: is an earlier message of this (endpoint, contact) still pending?
        Index(
            "ix_webhook_messages_pending_contact",
            "endpoint_id",
            "contact_id",
            "id",
            sqlite_where=PENDING,
            postgresql_where=PENDING,
        ),
    )

    id: Mapped[IdPk]
    account_id: Mapped[AccountFk]
    endpoint_id: Mapped[int] = mapped_column(BigId, ForeignKey("webhook_endpoints.id", ondelete="CASCADE"))
    event_id: Mapped[int] = mapped_column(BigInteger())
    event_type: Mapped[str] = mapped_column(String(64))
    contact_id: Mapped[int | None] = mapped_column(BigInteger())
    body: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(16), default="pending")
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    # Attempts counted against the retry schedule; a redelivery starts it over.
    scheduled_attempts: Mapped[int] = mapped_column(Integer, default=0)
    # Redelivery was asked for: the next attempt is a manual one.
    manual: Mapped[bool] = mapped_column(default=False)
    next_attempt_at: Mapped[datetime] = mapped_column(UTCDateTime())
    delivered_at: Mapped[MaybeTimestamp]
    created_at: Mapped[Timestamp]


class WebhookDelivery(Base):
    """One attempt to deliver a message: what the endpoint answered (or why nothing came back)."""

    __tablename__ = "webhook_deliveries"
    __table_args__ = (
        Index("ix_webhook_deliveries_endpoint_id_id", "endpoint_id", "id"),
        Index("ix_webhook_deliveries_message_id", "message_id"),
    )

    id: Mapped[IdPk]
    account_id: Mapped[AccountFk]
    endpoint_id: Mapped[int] = mapped_column(BigId, ForeignKey("webhook_endpoints.id", ondelete="CASCADE"))
    message_id: Mapped[int] = mapped_column(BigId, ForeignKey("webhook_messages.id", ondelete="CASCADE"))
    attempt: Mapped[int] = mapped_column(Integer)
    trigger: Mapped[str] = mapped_column(String(16))  # scheduled | manual
    succeeded: Mapped[bool]
    status_code: Mapped[int | None] = mapped_column(Integer)
    error: Mapped[str | None] = mapped_column(Text)
    response: Mapped[str] = mapped_column(Text, default="")
    latency_ms: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[Timestamp]
