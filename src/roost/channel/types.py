"""What the Bird face hands the channel message service, already parsed from its wire shapes."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from roost.models import ChannelMessage


@dataclass(frozen=True, slots=True)
class Receiver:
    """A receiver contact: by address or by contact id (one of them), shown in To, Cc or Bcc."""

    address: str | None
    contact_id: int | None
    type: str = "to"


@dataclass(frozen=True, slots=True)
class AttachmentRef:
    media_url: str
    filename: str
    inline: bool = False


@dataclass(frozen=True, slots=True)
class TemplateRef:
    project_id: str
    version: str | None
    locale: str | None
    variables: Mapping[str, object]


@dataclass(frozen=True, slots=True)
class NewMessage:
    """A message to accept: a body (html and/or text) or a template, and how to send it (CONVENTIONS §10).

    `content` is the `body` or `template` object as the client sent it, shown back by the reads;
    `request_hash` identifies a request that carries an Idempotency-Key, for its replays.
    """

    receivers: Sequence[Receiver]
    html: str | None = None
    text: str | None = None
    template: TemplateRef | None = None
    subject: str | None = None
    from_username: str | None = None
    from_display_name: str | None = None
    reply_to: str | None = None
    attachments: Sequence[AttachmentRef] = ()
    reference: str | None = None
    tags: Sequence[str] = ()
    scheduled_for: datetime | None = None
    validity: int | None = None
    use_case: str = "marketing"
    link_tracking: bool | None = None
    content: dict[str, Any] = field(default_factory=dict)
    request_hash: str | None = None


@dataclass(frozen=True, slots=True)
class Submission:
    """A request to send a message through a channel of the account (by the channel's public id)."""

    account_id: int
    channel_id: str
    new: NewMessage
    idempotency_key: str | None = None


@dataclass(frozen=True, slots=True)
class Accepted:
    """An accepted message; `replayed` when an earlier request with the same Idempotency-Key made it."""

    message: ChannelMessage
    replayed: bool = False


@dataclass(frozen=True, slots=True)
class MessageFilter:
    """The list's filters (seed 004); each list is matched as any-of, the lists together as all-of."""

    ids: Sequence[str] = ()
    start_at: datetime | None = None
    end_at: datetime | None = None
    senders: Sequence[str] = ()
    receivers: Sequence[str] = ()
    tags: Sequence[str] = ()
    statuses: Sequence[str] = ()
    subject: str | None = None
    incoming: bool = False


@dataclass(frozen=True, slots=True)
class MessagePage:
    messages: Sequence[ChannelMessage]
    next_page_token: str | None


@dataclass(frozen=True, slots=True)
class InteractionView:
    id: int
    type: str
    url: str
    created_at: datetime
    receiver: str
