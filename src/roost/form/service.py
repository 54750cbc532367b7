"""Sign-up forms (CONVENTIONS §7: forms). Subscribing through one is the contact service's job."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any
from urllib.parse import urlsplit

from sqlalchemy.ext.asyncio import AsyncSession

from roost.errors import Invalid, NotFound
from roost.form.repository import FormRepository
from roost.form.types import FormView
from roost.kit.clock import utcnow_seconds
from roost.kit.paging import ListParams, Page
from roost.models import Form, Tag
from roost.sequence import service as sequence_service

SEARCH_BY = ("name",)
ORDER_BY = ("name", "created_at")
ORDER_ALIASES = {"created_by": "created_at"}  # the seed's spelling (CONVENTIONS §7)
DEFAULT_CONFIRMATION_SUBJECT = "Please confirm your subscription"
# %confirmlink% stands for the signed confirmation link the confirmation email carries.
DEFAULT_CONFIRMATION_BODY = (
    "<p>Thanks for signing up! Please confirm your subscription by following this link:</p>"
    '<p><a href="%confirmlink%">Yes, subscribe me</a></p>'
    "<p>If you did not sign up, ignore this email and you will not hear from us again.</p>"
)
# What a confirmation body without the link gets appended: the email exists for that link.
_MISSING_CONFIRM_LINK = '<p><a href="%confirmlink%">Confirm your subscription</a></p>'


def confirmation_email(form: Form) -> tuple[str, str]:
    """The subject and HTML of the form's confirmation email, which always carries `%confirmlink%`."""
    body = form.confirmation_body or DEFAULT_CONFIRMATION_BODY
    if "%confirmlink%" not in body and "%confirmlink|" not in body:
        body += _MISSING_CONFIRM_LINK
    return form.confirmation_subject or DEFAULT_CONFIRMATION_SUBJECT, body


def _views(repo_tags: Mapping[int, Tag], forms: Sequence[Form]) -> list[FormView]:
    return [FormView(form=form, tags=[repo_tags[i] for i in form.tag_ids if i in repo_tags]) for form in forms]


async def _view(repo: FormRepository, form: Form) -> FormView:
    return _views(await repo.tags_by_id(form.tag_ids), [form])[0]


async def list_page(session: AsyncSession, *, account_id: int, params: ListParams) -> Page[FormView]:
    """A page of the account's forms with their tags (two queries whatever the page size)."""
    repo = FormRepository(session, account_id)
    page = await repo.page(params)
    tags = await repo.tags_by_id(tag_id for form in page.items for tag_id in form.tag_ids)
    return Page(items=_views(tags, page.items), total=page.total, page=page.page, per_page=page.per_page)


async def _get_row(repo: FormRepository, form_id: int) -> Form:
    form = await repo.get(form_id)
    if form is None:
        raise NotFound()
    return form


async def get(session: AsyncSession, *, account_id: int, form_id: int) -> FormView:
    """One form, or NotFound."""
    repo = FormRepository(session, account_id)
    return await _view(repo, await _get_row(repo, form_id))


async def referenced(session: AsyncSession, *, account_id: int, form_id: int) -> FormView:
    """The form a request body names: 422 naming `form_id` when the account has no such form."""
    repo = FormRepository(session, account_id)
    form = await repo.get(form_id)
    if form is None:
        raise Invalid.field("form_id", "The selected form id is invalid.")
    return await _view(repo, form)


def _check_redirect_url(url: str) -> None:
    if not url:
        return
    try:
        parts = urlsplit(url)
        valid = parts.scheme in {"http", "https"} and bool(parts.hostname) and not any(c.isspace() for c in url)
    except ValueError:  # e.g. an unbalanced IPv6 bracket
        valid = False
    if not valid:
        raise Invalid.field("redirect_url", "The redirect url must be a valid http or https URL.")


async def _checked(repo: FormRepository, values: Mapping[str, Any]) -> dict[str, Any]:
    """Validate references and fill the confirmation defaults; the values to store."""
    checked = dict(values)
    if "tag_ids" in values:
        known = await repo.tags_by_id(values["tag_ids"])
        unknown = {
            f"tags.{index}": [f"The selected tags.{index} is invalid."]
            for index, tag_id in enumerate(values["tag_ids"])
            if tag_id not in known
        }
        if unknown:
            raise Invalid(unknown)
        checked["tag_ids"] = list(dict.fromkeys(values["tag_ids"]))
    if values.get("sequence_id") is not None:
        await sequence_service.check_exists(
            repo.session, account_id=repo.account_id, sequence_id=values["sequence_id"], path="sequence_id"
        )
    _check_redirect_url(values.get("redirect_url", ""))
    if "confirmation_subject" in values:
        checked["confirmation_subject"] = values["confirmation_subject"].strip() or DEFAULT_CONFIRMATION_SUBJECT
    if "confirmation_body" in values:
        checked["confirmation_body"] = values["confirmation_body"].strip() or DEFAULT_CONFIRMATION_BODY
    return checked


async def create(session: AsyncSession, *, account_id: int, values: Mapping[str, Any]) -> FormView:
    """Create a form; double opt-in unless told otherwise, default confirmation email when none is given."""
    repo = FormRepository(session, account_id)
    # Empty confirmation texts become the defaults in _checked.
    checked = await _checked(repo, {"confirmation_subject": "", "confirmation_body": "", **values})
    now = utcnow_seconds()
    form = repo.add(Form(account_id=account_id, created_at=now, updated_at=now, **checked))
    await session.flush()
    return await _view(repo, form)


async def update(session: AsyncSession, *, account_id: int, form_id: int, changes: Mapping[str, Any]) -> FormView:
    """Change what is given."""
    repo = FormRepository(session, account_id)
    form = await _get_row(repo, form_id)
    checked = await _checked(repo, changes)
    changed = {key: value for key, value in checked.items() if getattr(form, key) != value}
    for key, value in changed.items():
        setattr(form, key, value)
    if changed:
        form.updated_at = utcnow_seconds()
        await session.flush()
    return await _view(repo, form)


async def delete(session: AsyncSession, *, account_id: int, form_id: int) -> None:
    """Delete a form; contacts who subscribed through it are untouched."""
    repo = FormRepository(session, account_id)
    await repo.delete(await _get_row(repo, form_id))
