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


class ConfirmationIn(WireIn):
    """The confirmation email of a double opt-in form; empty texts fall back to the defaults."""

    subject: ConfirmationSubject = ""
    body: ConfirmationBody = ""


class ConfirmationPatch(WireIn):
    subject: ConfirmationSubject | None = None
    body: ConfirmationBody | None = None


class FormIn(WireIn):
    name: Name
    double_optin: bool = True
    tags: TagIds = Field(default_factory=list)
    sequence_id: Id | None = None
    redirect_url: RedirectUrl = ""
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
    double_optin: bool | None = None
    tags: TagIds | None = None
    sequence_id: Id | None = None
    redirect_url: RedirectUrl | None = None
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
