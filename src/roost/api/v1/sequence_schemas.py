"""Wire schemas of sequences and their emails: shapes follow seed 001's examples (CONVENTIONS §7)."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, Field

from roost.api.v1.mail_schemas import Body, SenderBody, SenderIn, SenderPatch, Subject, value_per_sent
from roost.api.v1.wire import Email, Name, V1Time, WireIn
from roost.models import Sequence, SequenceEmail
from roost.sequence import service as sequence_service


def _empty_is_none(value: Any) -> Any:
    return None if isinstance(value, str) and not value.strip() else value


Description = Annotated[str, Field(max_length=65535)]
# An empty notification address means "tell nobody" (seed 001 sends "").
Notification = Annotated[Email | None, BeforeValidator(_empty_is_none)]
DelayUnit = Literal["minute", "hour", "day", "week"]
# The per-unit bound (ten years a step) is the service's; this one keeps the integer sane.
Delay = Annotated[int, Field(ge=0, le=sequence_service.MAX_DELAY_SECONDS // 60, strict=True)]
Position = Annotated[int, Field(ge=1, le=2**31 - 1, strict=True)]


# Sequences ----------------------------------------------------------------------


NOTIFICATION_DOC = "An address told of each new member; empty or null: nobody."


class SequenceIn(SenderBody):
    name: Name
    description: Description = ""
    sender: SenderIn
    notification: Notification = Field(default=None, description=NOTIFICATION_DOC)
    active: bool = Field(default=True, description="An inactive sequence pauses its members.")

    def columns(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "description": self.description,
            **self.sender_columns(self.sender),
            "notification": self.notification or "",
            "active": self.active,
        }


class SequencePatch(SenderBody):
    """PATCH changes only what is given; a null notification, company or footer clears it."""

    name: Name | None = None
    description: Description | None = None
    sender: SenderPatch | None = None
    notification: Notification = Field(default=None, description=NOTIFICATION_DOC)
    active: bool | None = Field(default=None, description="An inactive sequence pauses its members.")

    def columns(self) -> dict[str, Any]:
        candidates: dict[str, Any] = {"name": self.name, "description": self.description, "active": self.active}
        columns = {key: value for key, value in candidates.items() if value is not None}
        columns |= self.sender_columns(self.sender)
        if "notification" in self.model_fields_set:
            columns["notification"] = self.notification or ""
        return columns


class SenderOut(BaseModel):
    email: str
    name: str
    company: str
    address: str
    footer: str


class SequenceOut(BaseModel):
    """`footer` appears top-level, as the seed's examples show, and inside `sender`, as its field tables do."""

    sequence_id: int
    name: str
    description: str
    sender: SenderOut
    footer: str
    notification: str | None
    active: bool
    created_at: V1Time

    @classmethod
    def of(cls, sequence: Sequence) -> SequenceOut:
        return cls(
            sequence_id=sequence.id,
            name=sequence.name,
            description=sequence.description,
            sender=SenderOut(
                email=sequence.sender_email,
                name=sequence.sender_name,
                company=sequence.sender_company,
                address=sequence.sender_address,
                footer=sequence.footer,
            ),
            footer=sequence.footer,
            notification=sequence.notification or None,
            active=sequence.active,
            created_at=sequence.created_at,
        )


# Sequence emails ----------------------------------------------------------------


DELAY_DOC = "How long after the previous step (after joining, for the first) the email is due; at most ten years."


class ScheduleIn(WireIn):
    delay: Delay = Field(description=DELAY_DOC)
    type: DelayUnit


class SchedulePatch(WireIn):
    delay: Delay | None = Field(default=None, description=DELAY_DOC)
    type: DelayUnit | None = None


class SequenceEmailIn(WireIn):
    subject: Subject
    body: Body
    schedule: ScheduleIn | None = None  # none: due right after the previous step
    active: bool = True

    def columns(self) -> dict[str, Any]:
        schedule = self.schedule or ScheduleIn(delay=0, type="day")
        return {
            "subject": self.subject,
            "body": self.body,
            "delay": schedule.delay,
            "delay_unit": schedule.type,
            "active": self.active,
        }


class SequenceEmailPatch(WireIn):
    """PATCH changes only what is given; `order` moves the email to that position."""

    subject: Subject | None = None
    body: Body | None = None
    schedule: SchedulePatch | None = None
    active: bool | None = Field(default=None, description="Inactive emails are skipped.")
    order: Position | None = Field(
        default=None,
        description="Move the email to this position (1 is first; past the end is last); the others follow 1..n.",
    )

    def columns(self) -> dict[str, Any]:
        schedule = self.schedule
        candidates = {
            "subject": self.subject,
            "body": self.body,
            "delay": schedule.delay if schedule else None,
            "delay_unit": schedule.type if schedule else None,
            "active": self.active,
        }
        return {key: value for key, value in candidates.items() if value is not None}


class ScheduleOut(BaseModel):
    delay: int
    type: str


class EmailStatsOut(BaseModel):
    sent: int
    opens: int
    clicks: int
    ltv: int | float = Field(description="Conversion value attributed to this email per email sent, to the cent.")
    bounces: int
    spams: int
    unsubscribes: int


class SequenceEmailOut(BaseModel):
    email_id: int
    sequence_id: int
    subject: str
    body: str
    schedule: ScheduleOut
    stats: EmailStatsOut
    order: int
    active: bool

    @classmethod
    def of(cls, email: SequenceEmail) -> SequenceEmailOut:
        return cls(
            email_id=email.id,
            sequence_id=email.sequence_id,
            subject=email.subject,
            body=email.body,
            schedule=ScheduleOut(delay=email.delay, type=email.delay_unit),
            stats=EmailStatsOut(
                sent=email.sent,
                opens=email.opens,
                clicks=email.clicks,
                ltv=value_per_sent(email.conversion_value, email.sent),
                bounces=email.bounces,
                spams=email.spams,
                unsubscribes=email.unsubscribes,
            ),
            order=email.position,
            active=email.active,
        )
