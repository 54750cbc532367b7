"""Wire schemas of channel messages (seeds 003 and 004, CONVENTIONS §10).

Requests carry many properties for platforms other than email (WhatsApp, Telegram, push, …);
they are accepted and ignored, as the seeds' own examples send them. What email uses is read.
"""

from __future__ import annotations

import hashlib
import json
import uuid
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, AliasChoices, Field, field_validator, model_validator

from roost.api.bird.template_schemas import TemplateValuesIn
from roost.api.bird.wire import BirdIn, BirdOut, BirdTime, BirdTimeIn
from roost.api.types import check_email
from roost.channel import messages as channel_messages
from roost.channel.types import AttachmentRef, InteractionView, NewMessage, Receiver, TemplateRef
from roost.kit.ids import MAX_ID
from roost.models import ChannelMessage

MAX_HTML = 512 * 1024
Subject = Annotated[str, Field(max_length=998)]


class IdentifierIn(BirdIn):
    identifier_key: str = Field(default="emailaddress", max_length=64)
    identifier_value: str = Field(max_length=254)


class ReceiverContactIn(BirdIn):
    """A receiver: `identifierValue` (an address, with `identifierKey` emailaddress), `identifiers`, or `id`
    (a contact id of this workspace, as /v1 gives it); `type` to, cc or bcc."""

    id: Annotated[int, Field(ge=1, le=MAX_ID)] | Annotated[str, Field(max_length=64)] | None = None
    identifier_key: str | None = Field(default=None, max_length=64)
    identifier_value: str | None = Field(default=None, max_length=254)
    identifiers: list[IdentifierIn] | None = Field(default=None, max_length=10)
    type: Literal["to", "cc", "bcc"] = "to"

    @model_validator(mode="after")
    def _named(self) -> ReceiverContactIn:
        address = self.address()
        if self.id is None and address is None:
            raise ValueError("A receiver needs an identifierValue (an email address) or a contact id.")
        if address is not None:
            try:
                check_email(address)
            except ValueError:
                raise ValueError("The identifierValue must be a valid email address.") from None
        return self

    def address(self) -> str | None:
        if self.identifier_value is not None and (self.identifier_key or "emailaddress") == "emailaddress":
            return self.identifier_value
        for identifier in self.identifiers or ():
            if identifier.identifier_key == "emailaddress":
                return identifier.identifier_value
        return None


class ReceiverIn(BirdIn):
    contacts: list[ReceiverContactIn] = Field(min_length=1, max_length=channel_messages.MAX_RECEIVERS)


class AttachmentIn(BirdIn):
    media_url: str = Field(min_length=1, max_length=2048)
    filename: str = Field(min_length=1, max_length=255)
    inline: bool = False


class EmailFromIn(BirdIn):
    username: str | None = Field(default=None, max_length=64)
    display_name: str | None = Field(
        default=None, max_length=200, validation_alias=AliasChoices("displayName", "displayname", "display_name")
    )


def _check_headers(headers: dict[str, str] | None) -> dict[str, str] | None:
    """Reply-To is the one header an email message may set (seed 003); it must be an address."""
    for name, value in (headers or {}).items():
        if name.lower() == "reply-to":
            check_email(value)
    return headers


Headers = Annotated[dict[str, Annotated[str, Field(max_length=998)]] | None, AfterValidator(_check_headers)]


class BodyMetadataIn(BirdIn):
    subject: Subject | None = None
    headers: Headers = None
    email_from: EmailFromIn | None = Field(
        default=None, validation_alias=AliasChoices("emailFrom", "emailfrom", "email_from")
    )


class TextContentIn(BirdIn):
    text: str = Field(max_length=MAX_HTML)
    attachments: list[AttachmentIn] = Field(default_factory=list, max_length=20)
    metadata: BodyMetadataIn | None = None


class HtmlContentIn(BirdIn):
    html: str = Field(min_length=1, max_length=MAX_HTML)
    text: str | None = Field(default=None, max_length=MAX_HTML)
    attachments: list[AttachmentIn] = Field(default_factory=list, max_length=20)
    metadata: BodyMetadataIn | None = None


class BodyIn(BirdIn):
    type: Literal["text", "html"]
    text: TextContentIn | None = None
    html: HtmlContentIn | None = None

    @model_validator(mode="after")
    def _has_its_type(self) -> BodyIn:
        if self.type == "text" and self.text is None:
            raise ValueError("A body of type text needs body.text.")
        if self.type == "html" and self.html is None:
            raise ValueError("A body of type html needs body.html.")
        return self

    def content(self) -> TextContentIn | HtmlContentIn:
        content = self.text if self.type == "text" else self.html
        assert content is not None
        return content


class TemplateIn(TemplateValuesIn):
    project_id: str = Field(min_length=1, max_length=64)
    version: str | None = Field(default=None, max_length=64)
    locale: str | None = Field(default=None, max_length=35)
    attachments: list[AttachmentIn] = Field(default_factory=list, max_length=20)


class MetaEmailIn(BirdIn):
    subject: Subject | None = None
    headers: Headers = None
    from_: EmailFromIn | None = Field(default=None, alias="from")


class MetaIn(BirdIn):
    email: MetaEmailIn | None = None
    extra_information: dict[str, Any] | None = None

    @field_validator("extra_information")
    @classmethod
    def _known_use_case(cls, info: dict[str, Any] | None) -> dict[str, Any] | None:
        if (info or {}).get("useCase", "marketing") not in ("marketing", "transactional"):
            raise ValueError("The useCase must be marketing or transactional.")
        return info


class MessageIn(BirdIn):
    receiver: ReceiverIn
    body: BodyIn | None = None
    template: TemplateIn | None = None
    reference: str | None = Field(default=None, max_length=200)
    tags: list[Annotated[str, Field(min_length=1, max_length=255)]] = Field(
        default_factory=list, max_length=channel_messages.MAX_TAGS
    )
    scheduled_for: BirdTimeIn | None = None
    validity: int | None = Field(default=None, ge=1, le=2**31)
    meta: MetaIn | None = None
    enable_link_tracking: bool | None = None

    @model_validator(mode="after")
    def _one_content(self) -> MessageIn:
        if (self.body is None) == (self.template is None):
            raise ValueError("A message has either a body or a template.")
        return self

    @field_validator("tags")
    @classmethod
    def _lower(cls, tags: list[str]) -> list[str]:
        return [tag.lower() for tag in tags]

    def use_case(self) -> str:
        info = (self.meta.extra_information if self.meta else None) or {}
        return str(info.get("useCase", "marketing"))

    def to_new(self, *, keyed: bool) -> NewMessage:
        """The domain's view of the request; `keyed` (it carries an Idempotency-Key) adds a hash of its
        meaning, which tells a replay from another request with the same key."""
        sent = self.model_dump(mode="json", by_alias=True, exclude_unset=True)  # as the client wrote it
        metadata = self.body.content().metadata if self.body is not None else None
        meta_email = self.meta.email if self.meta else None
        email_from = (metadata.email_from if metadata else None) or (meta_email.from_ if meta_email else None)
        headers = {
            name.lower(): value
            for source in (meta_email.headers if meta_email else None, metadata.headers if metadata else None)
            for name, value in (source or {}).items()
        }
        receivers = [
            Receiver(address=contact.address(), contact_id=_contact_id(contact.id), type=contact.type)
            for contact in self.receiver.contacts
        ]
        html = text = None
        if self.body is not None:
            content = self.body.content()
            html = content.html if isinstance(content, HtmlContentIn) else None
            text = content.text
            attachments = content.attachments
        else:
            assert self.template is not None
            attachments = self.template.attachments
        return NewMessage(
            receivers=receivers,
            html=html,
            text=text,
            template=TemplateRef(
                project_id=self.template.project_id,
                version=self.template.version,
                locale=self.template.locale,
                variables=self.template.values(),
            )
            if self.template is not None
            else None,
            subject=(metadata.subject if metadata else None) or (meta_email.subject if meta_email else None),
            from_username=email_from.username if email_from else None,
            from_display_name=email_from.display_name if email_from else None,
            reply_to=headers.get("reply-to"),
            attachments=[AttachmentRef(a.media_url, a.filename, a.inline) for a in attachments],
            reference=self.reference,
            tags=self.tags,
            scheduled_for=self.scheduled_for,
            validity=self.validity,
            use_case=self.use_case(),
            link_tracking=self.enable_link_tracking,
            content={key: sent[key] for key in ("body", "template") if key in sent},
            # The standard library's json: template variables may hold integers of any size.
            request_hash=hashlib.sha256(json.dumps(sent, sort_keys=True).encode()).hexdigest() if keyed else None,
        )


def _contact_id(value: int | str | None) -> int | None:
    """A /v1 contact id, or -1 for anything that cannot be one (the service answers it with a 422)."""
    if value is None:
        return None
    if isinstance(value, str):
        value = int(value) if value.isdigit() and len(value) <= 19 else -1
    return value if 1 <= value <= MAX_ID else -1


# Responses -------------------------------------------------------------------


class ConnectorOut(BirdOut):
    id: uuid.UUID
    identifier_value: str
    annotations: dict[str, str]


class ParticipantOut(BirdOut):
    connector: ConnectorOut


class ReceiverContactOut(BirdOut):
    id: str
    identifier_key: str = "emailaddress"
    identifier_value: str
    type: str


class ReceiverOut(BirdOut):
    contacts: list[ReceiverContactOut]


class FailureSourceOut(BirdOut):
    code: str
    name: str


class FailureOut(BirdOut):
    code: int
    description: str
    source: FailureSourceOut


class MessageOut(BirdOut):
    id: uuid.UUID
    channel_id: uuid.UUID
    status: str
    direction: Literal["outgoing"] = "outgoing"
    reference: str | None
    sender: ParticipantOut
    receiver: ReceiverOut
    body: dict[str, Any] | None = None
    template: dict[str, Any] | None = None
    meta: dict[str, Any]
    tags: list[str]
    parts: list[dict[str, str]]
    failure: FailureOut | None = None
    scheduled_for: BirdTime = None
    last_status_at: BirdTime
    created_at: BirdTime
    updated_at: BirdTime

    @classmethod
    def of(cls, message: ChannelMessage, channel_id: uuid.UUID) -> MessageOut:
        failure = channel_messages.failure_of(message)
        return cls(
            id=message.uuid,
            channel_id=channel_id,
            status=message.status,
            reference=message.reference,
            sender=ParticipantOut(
                connector=ConnectorOut(
                    id=channel_id, identifier_value=message.from_email, annotations={"name": message.from_name}
                )
            ),
            receiver=ReceiverOut(
                contacts=[
                    ReceiverContactOut(id=str(r["contactId"]), identifier_value=r["address"], type=r["type"])
                    for r in message.receivers
                ]
            ),
            body=message.content.get("body"),
            template=message.content.get("template"),
            meta={
                "extraInformation": {"useCase": message.use_case},
                "email": {"subject": message.subject, **({"replyTo": message.reply_to} if message.reply_to else {})},
            },
            tags=list(message.tags),
            parts=[{"platformReference": f"<{message.uuid}>"}],
            failure=FailureOut.model_validate(failure) if failure else None,
            scheduled_for=message.scheduled_for,
            last_status_at=message.last_status_at,
            created_at=message.created_at,
            updated_at=message.updated_at,
        )


class MessageListOut(BirdOut):
    results: list[MessageOut]
    next_page_token: str | None = None


_INTERACTION_TYPES = {
    "open": "opened",
    "click": "clicked",
    "unsubscribe": "unsubscribed",
    "bounce": "bounced",
    "complaint": "complained",
}


class InteractionOut(BirdOut):
    id: str
    message_id: uuid.UUID
    channel_id: uuid.UUID
    type: str
    message_reference: str | None
    message_tags: list[str]
    receiver: dict[str, Any]
    created_at: BirdTime
    metadata: dict[str, Any]

    @classmethod
    def of(cls, interaction: InteractionView, message: ChannelMessage, channel_id: uuid.UUID) -> InteractionOut:
        kind = _INTERACTION_TYPES.get(interaction.type, interaction.type)
        return cls(
            id=str(uuid.uuid5(message.uuid, str(interaction.id))),
            message_id=message.uuid,
            channel_id=channel_id,
            type=kind,
            message_reference=message.reference,
            message_tags=list(message.tags),
            receiver={"connector": {"identifierValue": interaction.receiver}},
            created_at=interaction.created_at,
            metadata={"link": {"url": interaction.url}} if kind == "clicked" else {},
        )


class InteractionListOut(BirdOut):
    results: list[InteractionOut]
