"""Wire schemas of email channels (CONVENTIONS §10)."""

from __future__ import annotations

import uuid
from typing import Annotated, Literal

from pydantic import BeforeValidator, Field

from roost.api.bird.wire import BirdIn, BirdOut, BirdTime
from roost.api.types import Email
from roost.models import Channel

_strip = BeforeValidator(lambda v: v.strip() if isinstance(v, str) else v)
ChannelName = Annotated[str, _strip, Field(min_length=1, max_length=200)]
DisplayName = Annotated[str, _strip, Field(max_length=200)]


class SenderIn(BirdIn):
    email: Email
    display_name: DisplayName = ""


class SenderPatch(BirdIn):
    email: Email | None = None
    display_name: DisplayName | None = None


class ChannelIn(BirdIn):
    name: ChannelName
    platform: Literal["email"] = "email"
    sender: SenderIn
    reply_to: Email | None = None


class ChannelPatch(BirdIn):
    name: ChannelName | None = None
    status: Literal["active", "inactive"] | None = None
    sender: SenderPatch | None = None
    reply_to: Email | None = None

    def changes(self) -> dict[str, object]:
        """The columns this patch sets: only what the client sent (`replyTo: null` clears it)."""
        sent = self.model_fields_set
        changes: dict[str, object] = {}
        if "name" in sent and self.name is not None:
            changes["name"] = self.name
        if "status" in sent and self.status is not None:
            changes["status"] = self.status
        if "reply_to" in sent:
            changes["reply_to"] = self.reply_to
        if self.sender is not None:
            if self.sender.email is not None:
                changes["sender_email"] = self.sender.email
            if self.sender.display_name is not None:
                changes["sender_name"] = self.sender.display_name
        return changes


class SenderOut(BirdOut):
    email: str
    display_name: str


class ChannelOut(BirdOut):
    id: uuid.UUID
    name: str
    platform: str
    status: str
    sender: SenderOut
    reply_to: str | None
    created_at: BirdTime
    updated_at: BirdTime

    @classmethod
    def of(cls, channel: Channel) -> ChannelOut:
        return cls(
            id=channel.uuid,
            name=channel.name,
            platform=channel.platform,
            status=channel.status,
            sender=SenderOut(email=channel.sender_email, display_name=channel.sender_name),
            reply_to=channel.reply_to,
            created_at=channel.created_at,
            updated_at=channel.updated_at,
        )


class ChannelListOut(BirdOut):
    results: list[ChannelOut]
