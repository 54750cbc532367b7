"""The Bird Channels face (CONVENTIONS §10): email channels, the messages sent through them, templates, media."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Any

from sqlalchemy import BigInteger, ForeignKey, Index, Integer, String, Text, UniqueConstraint, Uuid
from sqlalchemy.orm import Mapped, mapped_column

from roost.db import Base, UTCDateTime
from roost.models._types import AccountFk, AccountFkLeading, BigId, IdPk, JsonDoc, JsonObject, MaybeTimestamp, Timestamp

PublicId = Annotated[uuid.UUID, mapped_column(Uuid(), unique=True, default=uuid.uuid4)]
JsonList = Annotated[list[Any], mapped_column(JsonDoc, default=list)]

CHANNEL_STATUSES = ("active", "inactive")
# A channel message's statuses (CONVENTIONS §10), forward only: accepted | scheduled -> sent ->
# delivered | delivery_failed; accepted | scheduled -> sending_failed.
CHANNEL_MESSAGE_STATUSES = ("accepted", "scheduled", "sent", "delivered", "sending_failed", "delivery_failed")
USE_CASES = ("marketing", "transactional")
RECEIVER_TYPES = ("to", "cc", "bcc")


class Channel(Base):
    """An email channel of a workspace: the sender identity its messages go out with."""

    __tablename__ = "channels"
    id: Mapped[IdPk]
    uuid: Mapped[PublicId]
    account_id: Mapped[AccountFk]
    name: Mapped[str] = mapped_column(String(200))
    platform: Mapped[str] = mapped_column(String(16), default="email")
    status: Mapped[str] = mapped_column(String(16), default="active")
    sender_email: Mapped[str] = mapped_column(String(254))
    sender_name: Mapped[str] = mapped_column(String(200), default="")
    reply_to: Mapped[str | None] = mapped_column(String(254))
    created_at: Mapped[Timestamp]
    updated_at: Mapped[Timestamp]


class ChannelMessage(Base):
    """One message accepted through a channel, as the client sent it and as it stands.

    Each receiver gets a `messages` row (kind `channel`) that the delivery engine sends like any
    other mail; this row keeps what the Bird face shows: the content as accepted, the receivers
    with their to/cc/bcc type, and the status those rows add up to. `id` orders the list (its
    page tokens are ids), `uuid` is the id clients see.
    """

    __tablename__ = "channel_messages"
    __table_args__ = (
        # Also the account's index: it starts with account_id.
        UniqueConstraint("account_id", "idempotency_key"),
        Index("ix_channel_messages_channel_id_id", "channel_id", "id"),
    )

    id: Mapped[IdPk]
    uuid: Mapped[PublicId]
    account_id: Mapped[AccountFkLeading]
    channel_id: Mapped[int] = mapped_column(BigId, ForeignKey("channels.id", ondelete="CASCADE"))
    status: Mapped[str] = mapped_column(String(24))
    reference: Mapped[str | None] = mapped_column(String(200))
    use_case: Mapped[str] = mapped_column(String(16), default="marketing")
    link_tracking: Mapped[bool] = mapped_column(default=False)
    # What goes out, resolved at acceptance: the template is rendered then, so a message never changes.
    subject: Mapped[str] = mapped_column(String(998), default="")
    from_email: Mapped[str] = mapped_column(String(254))
    from_name: Mapped[str] = mapped_column(String(200), default="")
    reply_to: Mapped[str | None] = mapped_column(String(254))
    html: Mapped[str | None] = mapped_column(Text)
    text: Mapped[str | None] = mapped_column(Text)
    # [{"mediaUrl", "filename", "inline"}] and [{"address", "type", "contactId"}], as accepted.
    attachments: Mapped[JsonList]
    receivers: Mapped[JsonList]
    tags: Mapped[JsonList]
    # The `body` or `template` object the client sent, echoed back by the read endpoints.
    content: Mapped[JsonObject]
    template_version_id: Mapped[int | None] = mapped_column(
        BigId, ForeignKey("template_versions.id", ondelete="SET NULL")
    )
    scheduled_for: Mapped[MaybeTimestamp]
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime())
    failure_code: Mapped[int | None] = mapped_column(Integer)
    failure_description: Mapped[str | None] = mapped_column(Text)
    idempotency_key: Mapped[str | None] = mapped_column(String(255))
    request_hash: Mapped[str | None] = mapped_column(String(64))
    created_at: Mapped[Timestamp]
    updated_at: Mapped[Timestamp]
    last_status_at: Mapped[Timestamp]


class ChannelMessageTag(Base):
    """A channel message's tags (the workspace's tags, created on use): what the list's `tag` filter reads."""

    __tablename__ = "channel_message_tags"
    __table_args__ = (Index("ix_channel_message_tags_tag_id_channel_message_id", "tag_id", "channel_message_id"),)

    channel_message_id: Mapped[int] = mapped_column(
        BigId, ForeignKey("channel_messages.id", ondelete="CASCADE"), primary_key=True
    )
    tag_id: Mapped[int] = mapped_column(BigId, ForeignKey("tags.id", ondelete="CASCADE"), primary_key=True)


class TemplateProject(Base):
    """A template a message names by `template.projectId`: a sequence of immutable versions."""

    __tablename__ = "template_projects"
    id: Mapped[IdPk]
    uuid: Mapped[PublicId]
    account_id: Mapped[AccountFk]
    name: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[Timestamp]
    updated_at: Mapped[Timestamp]


class TemplateVersion(Base):
    """A published version of a template project: never changed once made.

    `contents` maps a locale to {"subject", "html", "text"}; `variables` declares the names the
    contents use (`{{name}}`), each possibly with a default.
    """

    __tablename__ = "template_versions"
    __table_args__ = (UniqueConstraint("project_id", "number"),)

    id: Mapped[IdPk]
    uuid: Mapped[PublicId]
    account_id: Mapped[AccountFk]
    project_id: Mapped[int] = mapped_column(BigId, ForeignKey("template_projects.id", ondelete="CASCADE"))
    number: Mapped[int] = mapped_column(Integer)
    default_locale: Mapped[str] = mapped_column(String(35))
    contents: Mapped[JsonObject]
    variables: Mapped[JsonList]
    created_at: Mapped[Timestamp]


class Media(Base):
    """A file uploaded through a presigned upload (seed 004), kept on the media storage under `uuid`.

    Made `pending` when the upload is presigned, `uploaded` when the file arrives; a pending one
    whose `upload_expires_at` has passed can no longer be uploaded.
    """

    __tablename__ = "media"
    id: Mapped[IdPk]
    uuid: Mapped[PublicId]
    account_id: Mapped[AccountFk]
    channel_id: Mapped[int | None] = mapped_column(BigId, ForeignKey("channels.id", ondelete="SET NULL"))
    status: Mapped[str] = mapped_column(String(16), default="pending")
    content_type: Mapped[str] = mapped_column(String(255))
    filename: Mapped[str] = mapped_column(String(255), default="")
    size: Mapped[int | None] = mapped_column(BigInteger)
    upload_expires_at: Mapped[datetime] = mapped_column(UTCDateTime())
    created_at: Mapped[Timestamp]
    uploaded_at: Mapped[MaybeTimestamp]


__all__ = [
    "CHANNEL_MESSAGE_STATUSES",
    "CHANNEL_STATUSES",
    "RECEIVER_TYPES",
    "USE_CASES",
    "Channel",
    "ChannelMessage",
    "ChannelMessageTag",
    "Media",
    "TemplateProject",
    "TemplateVersion",
]
