"""The events an endpoint can subscribe to (CONVENTIONS §7), what each one's `data` holds, and payloads.

Event types are the names Roost records its events under (`events.record`), so an event reaches
webhooks under its own type; events outside the catalogue (internal bookkeeping) are never sent.
Every payload is `{type, timestamp, data}` (Standard Webhooks): `timestamp` is when the event
happened (RFC 3339, UTC); `data` is the event's own values plus, for an event about a contact,
`contact_id` and `contact`, the contact as it is when the event is handed to webhooks (moments
after it happened), or null once the contact is deleted.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import orjson

WILDCARD = "*"


@dataclass(frozen=True, slots=True)
class EventSpec:
    type: str
    description: str
    # The keys of `data` besides contact_id and contact, each with what it holds.
    data: Mapping[str, str]
    about_contact: bool = True


_EMAIL = {
    "message_id": "the email message (one recipient's copy)",
    "broadcast_id": "its broadcast, or null",
    "sequence_email_id": "its sequence email, or null",
}
_RECORD = "the contact's {kind} (GET /v1/contacts/{{contact_id}}/{kind}s/{{id}})"


def _records(kind: str) -> list[EventSpec]:
    key = f"{kind}_id"
    return [
        EventSpec(f"{kind}.{verb}", f"A {kind} of the contact was {verb}.", {key: _RECORD.format(kind=kind)})
        for verb in ("created", "updated", "deleted")
    ]


CATALOGUE: tuple[EventSpec, ...] = (
    EventSpec("contact.created", "A contact was created (through the API, a form or the Bird API).", {}),
    EventSpec("contact.updated", "A contact's email, fields or IP address changed.", {"changed": "what changed"}),
    EventSpec("contact.deleted", "A contact was deleted with its personal data; `contact` is null.", {}),
    EventSpec(
        "contact.subscribed",
        "A contact became an active, confirmed subscriber through a form.",
        {"form_id": "the form"},
    ),
    EventSpec("contact.unsubscribed", "A contact unsubscribed from all marketing mail.", {}),
    EventSpec("contact.bounced", "A contact's address bounced: no more mail goes to it.", {}),
    EventSpec("contact.complained", "A contact marked mail as spam: no more mail goes to it.", {}),
    EventSpec("tag.applied", "A tag came onto a contact.", {"tag_id": "the tag", "tag": "its name"}),
    EventSpec("tag.removed", "A tag left a contact.", {"tag_id": "the tag", "tag": "its name"}),
    EventSpec("sequence.subscribed", "A contact joined a sequence.", {"sequence_id": "the sequence"}),
    EventSpec(
        "sequence.unsubscribed",
        "A contact left a sequence (also when it unsubscribes, bounces or complains).",
        {"sequence_id": "the sequence"},
    ),
    EventSpec(
        "sequence.completed", "The last email of a sequence went out to a contact.", {"sequence_id": "the sequence"}
    ),
    EventSpec(
        "email.sent",
        "A broadcast or sequence email was accepted by the relay for a contact.",
        {**_EMAIL, "email": "the address it went to"},
    ),
    EventSpec("email.opened", "A contact opened an email (the first time).", _EMAIL),
    EventSpec(
        "email.clicked",
        "A contact clicked a link of an email (the first time for each link).",
        {**_EMAIL, "url": "the link"},
    ),
    EventSpec(
        "email.bounced",
        "An email bounced.",
        {
            **_EMAIL,
            "email": "the address",
            "type": "`hard` or `soft`",
            "status": "the DSN status (e.g. 5.1.1)",
            "diagnostic": "the reason given",
        },
    ),
    EventSpec(
        "email.complained",
        "The recipient of an email marked it as spam.",
        {
            **_EMAIL,
            "email": "the address",
            "type": "`complaint`",
            "status": "the report's status",
            "diagnostic": "its detail",
        },
    ),
    EventSpec(
        "conversion.created",
        "A conversion of a contact was recorded (the API, the pixel or a rule).",
        {"conversion_id": "the conversion", "value": "its value", "currency": "ISO 4217 code"},
    ),
    EventSpec(
        "conversion.updated",
        "A conversion changed.",
        {
            "conversion_id": "the conversion",
            "value": "its value",
            "currency": "ISO 4217 code",
            "changed": "what changed",
        },
    ),
    EventSpec(
        "conversion.deleted",
        "A conversion was deleted.",
        {"conversion_id": "the conversion", "value": "its value", "currency": "ISO 4217 code"},
    ),
    *_records("note"),
    *_records("task"),
    *_records("appointment"),
    EventSpec(
        "message.status",
        "A message sent through the Bird Channels API was accepted or changed status.",
        {
            "message_id": "the message (its UUID)",
            "channel_id": "its channel (UUID)",
            "status": "accepted, scheduled, sent, sending_failed or delivery_failed",
            "reference": "the client's reference, or null",
            "failure": "{code, description, source} when it failed, else null",
        },
        about_contact=False,
    ),
)
TYPES = frozenset(spec.type for spec in CATALOGUE)
BY_TYPE = {spec.type: spec for spec in CATALOGUE}


def wants(subscribed: Collection[str], event_type: str) -> bool:
    """Whether an endpoint subscribed to `subscribed` receives events of this type."""
    return WILDCARD in subscribed or event_type in subscribed


def timestamp(moment: datetime) -> str:
    """RFC 3339 in UTC, as Standard Webhooks payloads carry it."""
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


def payload(event_type: str, occurred_at: datetime, data: Mapping[str, Any]) -> str:
    """The body sent: compact JSON, made once so every attempt carries the same bytes."""
    return orjson.dumps({"type": event_type, "timestamp": timestamp(occurred_at), "data": dict(data)}).decode()
