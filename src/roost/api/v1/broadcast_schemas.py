"""Wire schemas of broadcasts: responses as seed 001's examples, requests in both of its forms.

Requests take the examples' flat form (`schedule` a UTC timestamp, top-level `footer`) and
the field-list form (`schedule: {type, datetime, timezone}`, `sender.footer`).
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any

from pydantic import BaseModel, Field, model_validator

from roost.api.v1.audience_schemas import RecipientGroupOut, Recipients
from roost.api.v1.mail_schemas import Body, SenderBody, SenderIn, SenderPatch, Subject, value_per_sent
from roost.api.v1.wire import Email, Name, V1Time, WireIn
from roost.audience.types import MAX_CONDITIONS, MAX_GROUPS, MAX_RECIPIENT_CONDITIONS, MAX_SEGMENT_REFERENCES
from roost.broadcast.types import ScheduleType
from roost.models import Broadcast

MAX_TEST_ADDRESSES = 10


class ScheduleIn(WireIn):
    """`immediate` (send now), `scheduled` (at `datetime`) or `draft` (not scheduled).

    `datetime` without an offset is a wall-clock time in `timezone` (an IANA zone, the
    account's when omitted). Without `type`, a `datetime` means `scheduled`.
    """

    type: ScheduleType = "draft"
    datetime: dt.datetime | None = None
    timezone: Annotated[str, Field(max_length=64)] | None = None

    @model_validator(mode="before")
    @classmethod
    def _type_from_datetime(cls, data: Any) -> Any:
        if isinstance(data, dict) and data.get("type") is None and data.get("datetime") is not None:
            return {**data, "type": "scheduled"}
        return data


UNSCHEDULED = ScheduleIn(type="draft")


class EmailContentIn(WireIn):
    subject: Subject
    body: Body


class EmailContentPatch(WireIn):
    subject: Subject | None = None
    body: Body | None = None


class _BroadcastBody(SenderBody):
    immediate: bool | None = None
    schedule: Annotated[
        ScheduleIn | None,
        Field(
            description="A UTC timestamp `YYYY-MM-DD HH:MM:SS` (flat form), an object "
            "`{type, datetime, timezone}` (field-list form), or null for no schedule.",
            json_schema_extra={
                "anyOf": [{"type": "string"}, {"$ref": "#/components/schemas/ScheduleIn"}, {"type": "null"}]
            },
        ),
    ] = None
    recipients: Annotated[
        Recipients | None,
        Field(
            description="Condition groups: a recipient is an active contact that satisfies every `any`/`all` "
            "group and no condition of an `exclude` group; none: every active contact. At most "
            f"{MAX_GROUPS} groups of {MAX_CONDITIONS} conditions, {MAX_RECIPIENT_CONDITIONS} in all, "
            f"{MAX_SEGMENT_REFERENCES} of them segments.",
        ),
    ] = None

    @model_validator(mode="before")
    @classmethod
    def _flat_schedule(cls, data: Any) -> Any:
        # The flat form's timestamp is UTC like every /v1 timestamp (CONVENTIONS §5), so that
        # a schedule read from a response and sent back means the same instant.
        if isinstance(data, dict) and isinstance(data.get("schedule"), str):
            return {**data, "schedule": {"type": "scheduled", "datetime": data["schedule"], "timezone": "UTC"}}
        return data

    def schedule_change(self) -> ScheduleIn | None:
        """The schedule asked for; an explicit null unschedules, absence changes nothing."""
        if self.schedule is None and "schedule" in self.model_fields_set:
            return UNSCHEDULED
        return self.schedule

    def _content(
        self, name: str | None, email: EmailContentIn | EmailContentPatch | None, sender: SenderIn | SenderPatch | None
    ) -> dict[str, str]:
        """Content columns given: nulls of required values are ignored; null company or footer clears them."""
        values = {"name": name} | ({"subject": email.subject, "body": email.body} if email is not None else {})
        content = {column: value for column, value in values.items() if value is not None}
        return content | self.sender_columns(sender)


class BroadcastIn(_BroadcastBody):
    name: Name
    email: EmailContentIn
    sender: SenderIn

    def content(self) -> dict[str, str]:
        return self._content(self.name, self.email, self.sender)


class BroadcastPatch(_BroadcastBody):
    """Only what is given changes."""

    name: Name | None = None
    email: EmailContentPatch | None = None
    sender: SenderPatch | None = None

    def content(self) -> dict[str, str]:
        return self._content(self.name, self.email, self.sender)


class EmailContentOut(BaseModel):
    subject: str
    body: str


class SenderOut(BaseModel):
    email: str
    name: str
    company: str
    address: str


class StatsOut(BaseModel):
    altv: int | float = Field(
        description="Conversion value attributed to this email per email sent, to the cent (0 before any)."
    )
    clicks: int
    spams: int
    bounces: int
    sent: int
    opens: int
    unsubscribes: int


class BroadcastOut(BaseModel):
    broadcast_id: int
    name: str
    email: EmailContentOut
    immediate: bool
    stats: StatsOut
    schedule: V1Time = Field(description="When it is (or was) due, UTC; null for a draft.")
    footer: str
    recipients: list[RecipientGroupOut]
    sender: SenderOut
    status: str = Field(description="(ext) draft | scheduled | sending | sent | cancelled")
    sent_at: V1Time
    created_at: V1Time

    @classmethod
    def of(cls, broadcast: Broadcast) -> BroadcastOut:
        return cls(
            broadcast_id=broadcast.id,
            name=broadcast.name,
            email=EmailContentOut(subject=broadcast.subject, body=broadcast.body),
            immediate=broadcast.immediate,
            stats=StatsOut(
                altv=value_per_sent(broadcast.conversion_value, broadcast.sent),
                clicks=broadcast.clicks,
                spams=broadcast.spams,
                bounces=broadcast.bounces,
                sent=broadcast.sent,
                opens=broadcast.opens,
                unsubscribes=broadcast.unsubscribes,
            ),
            schedule=broadcast.scheduled_at,
            footer=broadcast.footer,
            recipients=[RecipientGroupOut.model_validate(group) for group in broadcast.recipients],
            sender=SenderOut(
                email=broadcast.sender_email,
                name=broadcast.sender_name,
                company=broadcast.sender_company,
                address=broadcast.sender_address,
            ),
            status=broadcast.status,
            sent_at=broadcast.sent_at,
            created_at=broadcast.created_at,
        )


class TestSendIn(WireIn):
    """Addresses that get the broadcast as it stands, outside its recipients and stats (ext)."""

    emails: Annotated[list[Email], Field(min_length=1, max_length=MAX_TEST_ADDRESSES)]


class TestSendOut(BaseModel):
    queued: int
