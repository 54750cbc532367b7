"""The /v1 wire schemas: shapes follow seed 001's examples (CONVENTIONS §7)."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, Field

from roost.api.v1.wire import Email, FieldValue, Id, Name, V1Time, WireIn
from roost.contact.types import ContactView
from roost.models import Account, CustomField, Tag


class ErrorOut(BaseModel):
    message: str


class ValidationErrorOut(BaseModel):
    message: str = "The given data was invalid."
    errors: dict[str, list[str]]


# Account ------------------------------------------------------------------------


class AccountOut(BaseModel):
    account_id: int
    email: str
    first_name: str
    last_name: str
    timezone: str
    avatar_url: str
    joined_at: V1Time
    last_seen_at: V1Time

    @classmethod
    def of(cls, account: Account) -> AccountOut:
        return cls(
            account_id=account.id,
            email=account.email,
            first_name=account.first_name,
            last_name=account.last_name,
            timezone=account.timezone,
            avatar_url=account.avatar_url,
            joined_at=account.joined_at,
            last_seen_at=account.last_seen_at,
        )


# Tags ---------------------------------------------------------------------------


class TagIn(WireIn):
    name: Name


class TagPatch(WireIn):
    name: Name | None = None


class TagOut(BaseModel):
    tag_id: int
    name: str

    @classmethod
    def of(cls, tag: Tag) -> TagOut:
        return cls(tag_id=tag.id, name=tag.name)


# Custom fields ------------------------------------------------------------------

FieldType = Literal["text", "textarea"]
FieldKey = Annotated[str, Field(min_length=1, max_length=64)]
FieldDefault = Annotated[str, Field(max_length=1000)]


class FieldIn(WireIn):
    label: Name
    type: FieldType
    key: FieldKey
    default: FieldDefault = ""


class FieldPatch(WireIn):
    label: Name | None = None
    type: FieldType | None = None
    key: FieldKey | None = None
    default: FieldDefault | None = None


class FieldOut(BaseModel):
    field_id: int
    label: str
    type: str
    key: str
    default: str

    @classmethod
    def of(cls, field: CustomField) -> FieldOut:
        return cls(field_id=field.id, label=field.label, type=field.type, key=field.key, default=field.default)


# Contacts -----------------------------------------------------------------------

IpAddress = Annotated[str, Field(max_length=45)]


class ContactIn(WireIn):
    email: Email
    fields: dict[Annotated[str, Field(max_length=64)], FieldValue | None] = Field(default_factory=dict, max_length=200)
    ipaddress: IpAddress | None = None
    form_id: Id | None = None


class ContactPatch(WireIn):
    """PATCH merges: only the properties given change; a null field value clears it."""

    email: Email | None = None
    fields: dict[Annotated[str, Field(max_length=64)], FieldValue | None] | None = Field(default=None, max_length=200)
    ipaddress: IpAddress | None = None


class ContactReplace(WireIn):
    """PUT (seed 002): email and fields replace the stored ones; `tags`, when given, the tag set."""

    email: Email
    fields: dict[Annotated[str, Field(max_length=64)], FieldValue | None] = Field(default_factory=dict, max_length=200)
    tags: list[Name] | None = Field(default=None, max_length=100)
    ipaddress: IpAddress | None = None


class ContactTagsIn(WireIn):
    tags: list[Name] = Field(min_length=1, max_length=100)


class ContactSequenceIn(WireIn):
    sequence_id: Id


class ContactSubscribeIn(WireIn):
    """Subscribe through a form (seed 001); the field values given are merged into the contact's."""

    form_id: Id
    fields: dict[Annotated[str, Field(max_length=64)], FieldValue | None] = Field(default_factory=dict, max_length=200)
    ipaddress: IpAddress | None = None


class TagLinkOut(BaseModel):
    tag_id: int
    name: str
    tagged_at: V1Time


class SequenceLinkOut(BaseModel):
    sequence_id: int
    current_step: int
    name: str
    description: str
    subscribed_at: V1Time
    confirmed_at: V1Time


class ContactOut(BaseModel):
    contact_id: int
    email: str
    fields: dict[str, str | None]
    ipaddress: str | None
    tags: list[TagLinkOut]
    sequences: list[SequenceLinkOut]
    status: str
    subscribed_at: V1Time
    confirmed_at: V1Time
    created_at: V1Time
    updated_at: V1Time

    @classmethod
    def of(cls, view: ContactView) -> ContactOut:
        contact = view.contact
        return cls(
            contact_id=contact.id,
            email=contact.email,
            fields=contact.field_values(),
            ipaddress=contact.ipaddress,
            tags=[TagLinkOut(tag_id=t.tag_id, name=t.name, tagged_at=t.tagged_at) for t in view.tags],
            sequences=[
                SequenceLinkOut(
                    sequence_id=s.sequence_id,
                    current_step=s.current_step,
                    name=s.name,
                    description=s.description,
                    subscribed_at=s.subscribed_at,
                    confirmed_at=s.confirmed_at,
                )
                for s in view.sequences
            ],
            status=contact.status,
            subscribed_at=contact.subscribed_at,
            confirmed_at=contact.confirmed_at,
            created_at=contact.created_at,
            updated_at=contact.updated_at,
        )
