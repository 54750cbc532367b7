"""Outgoing mail as rows: every recipient is a message before any SMTP attempt (ARCHITECTURE: delivery shape)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Index, Integer, LargeBinary, String, Text, text
from sqlalchemy.orm import Mapped, mapped_column

from roost.db import Base, UTCDateTime
from roost.models._types import AccountFk, BigId, IdPk, MaybeTimestamp, Timestamp

MESSAGE_KINDS = ("broadcast", "sequence", "test", "confirmation", "notification", "channel")
# Marketing mail: sent only to active contacts, tracked, and counted in its email's stats.
# The rest is transactional: a test send, a form's confirmation email (to a contact waiting
# for its double opt-in), a sequence's notification (to the address told of new members). A
# `channel` message is one receiver of a Bird channel message; its use case decides how it is treated.
MARKETING_KINDS = frozenset({"broadcast", "sequence"})
# Statuses only move forward: queued -> sending -> sent -> (bounced | complained),
# queued -> cancelled, sending -> failed (a permanent SMTP refusal is "bounced").
MESSAGE_STATUSES = ("queued", "sending", "sent", "failed", "bounced", "complained", "cancelled")
INTERACTION_TYPES = ("open", "click", "unsubscribe", "bounce", "complaint")


_PENDING_CONFIRMATION = text("kind = 'confirmation' AND status IN ('queued', 'sending')")
# Written out, not bound: a partial index serves only queries that repeat its condition literally.
UNFINISHED = text("status IN ('queued', 'sending')")
_HAS_BROADCAST = text("broadcast_id IS NOT NULL")
_HAS_SEQUENCE_EMAIL = text("sequence_email_id IS NOT NULL")
# A broadcast's `broadcast_id = …` implies the NOT NULL, so both databases still use the index.
_UNFINISHED_BROADCAST = text("status IN ('queued', 'sending') AND broadcast_id IS NOT NULL")
_HAS_FORM = text("form_id IS NOT NULL")
_HAS_SEQUENCE = text("sequence_id IS NOT NULL")
_HAS_ABOUT_CONTACT = text("about_contact_id IS NOT NULL")
_HAS_CHANNEL_MESSAGE = text("channel_message_id IS NOT NULL")


class Message(Base):
    """One email to one address.

    Unique per (broadcast, contact) and per (sequence email, contact), so resolving
    recipients twice, or a worker dying halfway, never makes a second message; a form has
    at most one pending confirmation per contact. A sender
    may claim a queued or sending message once `due_at` has passed: claiming pushes it a
    lease ahead, a transient failure a back-off ahead, so a killed sender's messages are
    taken over and retries wait their turn without a status moving backwards. Links and
    the VERP return path name the message by its id, signed.

    `contact_id` is the contact the message is sent to (what comes back from it, bounces and
    unsubscribes, concerns that contact). A confirmation names its form; a notification names
    its sequence and, as `about_contact_id`, the new member it tells of. Those references are
    cleared when their row is deleted, and a message that lost one is cancelled, not sent.
    """

    __tablename__ = "messages"
    __table_args__ = (
        # Partial: a NULL never collides anyway, and a message of neither kind (a transactional one)
        # then has no entry to write in them.
        Index(
            "uq_messages_broadcast_id_contact_id",
            "broadcast_id",
            "contact_id",
            unique=True,
            sqlite_where=_HAS_BROADCAST,
            postgresql_where=_HAS_BROADCAST,
        ),
        Index(
            "uq_messages_sequence_email_id_contact_id",
            "sequence_email_id",
            "contact_id",
            unique=True,
            sqlite_where=_HAS_SEQUENCE_EMAIL,
            postgresql_where=_HAS_SEQUENCE_EMAIL,
        ),
        # The sender's claim: unfinished messages by due time, oldest first, then in id order. Sent
        # messages leave the index, so a claim reads the next batch and nothing else.
        Index("ix_messages_unfinished_due_at_id", "due_at", "id", sqlite_where=UNFINISHED, postgresql_where=UNFINISHED),
        # Whether a sending broadcast has anything left, without reading its sent messages.
        Index(
            "ix_messages_unfinished_broadcast_id",
            "broadcast_id",
            sqlite_where=_UNFINISHED_BROADCAST,
            postgresql_where=_UNFINISHED_BROADCAST,
        ),
        Index("ix_messages_contact_id", "contact_id"),
        # At most one unfinished confirmation per (form, contact): subscribing again does not spam.
        Index(
            "uq_messages_form_id_contact_id_pending",
            "form_id",
            "contact_id",
            unique=True,
            sqlite_where=_PENDING_CONFIRMATION,
            postgresql_where=_PENDING_CONFIRMATION,
        ),
        # Deleting a form, sequence or contact clears these references: an index finds the rows.
        Index("ix_messages_form_id", "form_id", sqlite_where=_HAS_FORM, postgresql_where=_HAS_FORM),
        Index("ix_messages_sequence_id", "sequence_id", sqlite_where=_HAS_SEQUENCE, postgresql_where=_HAS_SEQUENCE),
        Index(
            "ix_messages_about_contact_id",
            "about_contact_id",
            sqlite_where=_HAS_ABOUT_CONTACT,
            postgresql_where=_HAS_ABOUT_CONTACT,
        ),
        # A channel message's receivers: its status and the list's `to` filter read them.
        Index(
            "ix_messages_channel_message_id",
            "channel_message_id",
            sqlite_where=_HAS_CHANNEL_MESSAGE,
            postgresql_where=_HAS_CHANNEL_MESSAGE,
        ),
    )

    id: Mapped[IdPk]
    account_id: Mapped[AccountFk]
    kind: Mapped[str] = mapped_column(String(16))
    broadcast_id: Mapped[int | None] = mapped_column(BigId, ForeignKey("broadcasts.id", ondelete="CASCADE"))
    sequence_email_id: Mapped[int | None] = mapped_column(BigId, ForeignKey("sequence_emails.id", ondelete="CASCADE"))
    contact_id: Mapped[int | None] = mapped_column(BigId, ForeignKey("contacts.id", ondelete="CASCADE"))
    form_id: Mapped[int | None] = mapped_column(BigId, ForeignKey("forms.id", ondelete="SET NULL"))
    sequence_id: Mapped[int | None] = mapped_column(BigId, ForeignKey("sequences.id", ondelete="SET NULL"))
    about_contact_id: Mapped[int | None] = mapped_column(BigId, ForeignKey("contacts.id", ondelete="SET NULL"))
    channel_message_id: Mapped[int | None] = mapped_column(BigId, ForeignKey("channel_messages.id", ondelete="CASCADE"))
    to_address: Mapped[str] = mapped_column(String(254))
    status: Mapped[str] = mapped_column(String(16), default="queued")
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    due_at: Mapped[datetime] = mapped_column(UTCDateTime())
    smtp_code: Mapped[int | None] = mapped_column(Integer)
    last_error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[Timestamp]
    sent_at: Mapped[MaybeTimestamp]
    # When the relay reported the mail delivered to the recipient's mailbox (a success DSN, RFC 3464);
    # asked for channel messages only, and only relays that offer DSN ever report it.
    delivered_at: Mapped[MaybeTimestamp]
    opened_at: Mapped[MaybeTimestamp]
    clicked_at: Mapped[MaybeTimestamp]


class Interaction(Base):
    """Something a recipient did with a message: opened, clicked, unsubscribed, bounced, complained."""

    __tablename__ = "interactions"
    __table_args__ = (
        Index("ix_interactions_message_id_type", "message_id", "type"),
        # A conversion is attributed to the contact's latest click (CONVENTIONS §7: stats); deleting a
        # contact clears its interactions' contact_id through this index too.
        Index("ix_interactions_contact_id_type_created_at", "contact_id", "type", "created_at"),
    )

    id: Mapped[IdPk]
    account_id: Mapped[AccountFk]
    message_id: Mapped[int] = mapped_column(BigId, ForeignKey("messages.id", ondelete="CASCADE"))
    contact_id: Mapped[int | None] = mapped_column(BigId, ForeignKey("contacts.id", ondelete="SET NULL"))
    type: Mapped[str] = mapped_column(String(16))
    url: Mapped[str] = mapped_column(String(2000), default="")
    detail: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[Timestamp]


class CapturedMail(Base):
    """Mail kept instead of sent when no SMTP relay is configured; listed at /outbox."""

    __tablename__ = "captured_mail"
    __table_args__ = (Index("ix_captured_mail_account_id_id", "account_id", "id"),)

    id: Mapped[IdPk]
    account_id: Mapped[int | None] = mapped_column(BigId, ForeignKey("accounts.id", ondelete="CASCADE"))
    message_id: Mapped[int | None] = mapped_column(BigId, ForeignKey("messages.id", ondelete="SET NULL"))
    envelope_from: Mapped[str] = mapped_column(String(500))
    recipients: Mapped[str] = mapped_column(Text)
    subject: Mapped[str] = mapped_column(String(998), default="")
    raw: Mapped[bytes] = mapped_column(LargeBinary)
    created_at: Mapped[Timestamp]
