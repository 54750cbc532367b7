from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKey, Index, String, func
from sqlalchemy.orm import Mapped, mapped_column

from roost.db import Base, UTCDateTime
from roost.models._types import AccountFk, BigId, IdPk, JsonObject, MaybeTimestamp, Timestamp

CONTACT_STATUSES = ("active", "unconfirmed", "unsubscribed", "bounced", "complained", "non_subscribed")


class Contact(Base):
    """A subscriber. first/last name are columns (searched, ordered); other field values live in `fields`."""

    __tablename__ = "contacts"
    __table_args__ = (Index("ix_contacts_account_id_status", "account_id", "status"),)

    id: Mapped[IdPk]
    account_id: Mapped[AccountFk]
    email: Mapped[str] = mapped_column(String(254))
    first_name: Mapped[str | None] = mapped_column(String(255))
    last_name: Mapped[str | None] = mapped_column(String(255))
    fields: Mapped[JsonObject]
    ipaddress: Mapped[str | None] = mapped_column(String(45))
    status: Mapped[str] = mapped_column(String(16), default="active")
    subscribed_at: Mapped[MaybeTimestamp]
    confirmed_at: Mapped[MaybeTimestamp]
    unsubscribed_at: Mapped[MaybeTimestamp]
    created_at: Mapped[Timestamp]
    updated_at: Mapped[Timestamp]

    def field_values(self) -> dict[str, Any]:
        return {"first_name": self.first_name, "last_name": self.last_name, **self.fields}


# Emails are unique per account ignoring case (CONVENTIONS §7).
Index("uq_contacts_account_id_lower_email", Contact.account_id, func.lower(Contact.email), unique=True)


class ContactTag(Base):
    __tablename__ = "contact_tags"
    __table_args__ = (Index("ix_contact_tags_tag_id_contact_id", "tag_id", "contact_id"),)

    contact_id: Mapped[int] = mapped_column(BigId, ForeignKey("contacts.id", ondelete="CASCADE"), primary_key=True)
    tag_id: Mapped[int] = mapped_column(BigId, ForeignKey("tags.id", ondelete="CASCADE"), primary_key=True)
    account_id: Mapped[AccountFk]
    tagged_at: Mapped[datetime] = mapped_column(UTCDateTime())
