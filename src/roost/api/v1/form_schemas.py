"""Wire schemas of forms: `{form_id, name}` as seed 001 shows, plus the fields of our extension (CONVENTIONS §7)."""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import BaseModel, Field

from roost.api.v1.wire import Id, Name, V1Time, WireIn
from roost.form.types import FormView

TagIds = Annotated[list[Id], Field(max_length=100)]
RedirectUrl = Annotated[str, Field(max_length=2000)]
ConfirmationSubject = Annotated[str, Field(max_length=998)]
ConfirmationBody = Annotated[str, Field(max_length=1_000_000)]


CONFIRMATION_BODY_DOC = "HTML; `%confirmlink%` stands for the signed confirmation link."
DOUBLE_OPTIN_DOC = "Subscribers stay `unconfirmed` until they follow the link in the confirmation email."
TAGS_DOC = "Ids of the tags applied when a subscriber is confirmed."
SEQUENCE_DOC = "The sequence a subscriber joins when confirmed; null for none."
REDIRECT_DOC = (
    "Where a subscriber is sent after subscribing through the hosted form and after following the "
    "confirmation link (http or https); empty for our own page."
)


class ConfirmationIn(WireIn):
    """The confirmation email of a double opt-in form; empty texts fall back to the defaults."""

    subject: ConfirmationSubject = ""
    body: ConfirmationBody = Field(default="", description=CONFIRMATION_BODY_DOC)


class ConfirmationPatch(WireIn):
    subject: ConfirmationSubject | None = None
    body: ConfirmationBody | None = Field(default=None, description=CONFIRMATION_BODY_DOC)


class FormIn(WireIn):
    name: Name
    double_optin: bool = Field(default=True, description=DOUBLE_OPTIN_DOC)
    tags: TagIds = Field(default_factory=list, description=TAGS_DOC)
    sequence_id: Id | None = Field(default=None, description=SEQUENCE_DOC)
    redirect_url: RedirectUrl = Field(default="", description=REDIRECT_DOC)
    confirmation: ConfirmationIn | None = None

    def columns(self) -> dict[str, Any]:
        confirmation = self.confirmation or ConfirmationIn()
        return {
            "name": self.name,
            "double_optin": self.double_optin,
            "tag_ids": self.tags,
            "sequence_id": self.sequence_id,
            "redirect_url": self.redirect_url.strip(),
            "confirmation_subject": confirmation.subject,
            "confirmation_body": confirmation.body,
        }


class FormPatch(WireIn):
    """PATCH changes only what is given; `sequence_id: null` removes the sequence."""

    name: Name | None = None
    double_optin: bool | None = Field(default=None, description=DOUBLE_OPTIN_DOC)
    tags: TagIds | None = Field(default=None, description=TAGS_DOC)
    sequence_id: Id | None = Field(default=None, description=SEQUENCE_DOC)
    redirect_url: RedirectUrl | None = Field(default=None, description=REDIRECT_DOC)
    confirmation: ConfirmationPatch | None = None

    def columns(self) -> dict[str, Any]:
        confirmation = self.confirmation
        candidates: dict[str, Any] = {
            "name": self.name,
            "double_optin": self.double_optin,
            "tag_ids": self.tags,
            "redirect_url": self.redirect_url.strip() if self.redirect_url is not None else None,
            "confirmation_subject": confirmation.subject if confirmation else None,
            "confirmation_body": confirmation.body if confirmation else None,
        }
        columns = {key: value for key, value in candidates.items() if value is not None}
        if "sequence_id" in self.model_fields_set:
            columns["sequence_id"] = self.sequence_id
        return columns


class ConfirmationOut(BaseModel):
    subject: str
    body: str


class FormOut(BaseModel):
    form_id: int
    name: str
    double_optin: bool
    tags: list[int]
    sequence_id: int | None
    redirect_url: str
    confirmation: ConfirmationOut
    created_at: V1Time

    @classmethod
    def of(cls, view: FormView) -> FormOut:
        form = view.form
        return cls(
            form_id=form.id,
            name=form.name,
            double_optin=form.double_optin,
            tags=[tag.id for tag in view.tags],
            sequence_id=form.sequence_id,
            redirect_url=form.redirect_url,
            confirmation=ConfirmationOut(subject=form.confirmation_subject, body=form.confirmation_body),
            created_at=form.created_at,
        )
