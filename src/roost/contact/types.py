from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime

from roost.models import Contact
from roost.sequence.types import SequenceLink

# Custom field values by key; None clears a value.
FieldValues = Mapping[str, str | None]


@dataclass(frozen=True, slots=True)
class NewContact:
    """A contact to create, as a request gave it."""

    account_id: int
    email: str
    fields: FieldValues
    ipaddress: str | None = None


@dataclass(frozen=True, slots=True)
class TagLink:
    tag_id: int
    name: str
    tagged_at: datetime


@dataclass(frozen=True, slots=True)
class ContactView:
    """A contact with what its wire shapes show beside it."""

    contact: Contact
    tags: list[TagLink] = field(default_factory=list)
    sequences: list[SequenceLink] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class MessagedContact:
    """What sending a message to a contact needs to know of it."""

    id: int
    email: str
    status: str
