"""Contacts (CONVENTIONS §7: contacts)."""

from __future__ import annotations

import ipaddress
from collections import defaultdict
from collections.abc import Mapping, Sequence
from typing import Any, Literal

from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession, async_sessionmaker

from roost import events
from roost.contact.repository import ContactRepository, contact_wire
from roost.contact.repository import linked_page as linked_page  # a search by tag name, for the routes
from roost.contact.repository import searches_links as searches_links
from roost.contact.types import ContactView, FieldValues, MessagedContact, NewContact
from roost.db import Gate
from roost.db.group_commit import GroupCommit
from roost.delivery import service as delivery_service
from roost.errors import DomainError, Invalid, NotFound
from roost.field import service as field_service
from roost.form import service as form_service
from roost.form.types import FormView
from roost.kit.clock import utcnow_seconds
from roost.kit.paging import ListParams, Page
from roost.models import Contact, ContactTag, CustomField, Tag
from roost.sequence import service as sequence_service
from roost.tag import service as tag_service

SEARCH_BY = ("name", "email", "sequence", "tag")
ORDER_BY = ("name", "email", "confirmed_at", "subscribed_at")
# Statuses of addresses that must get no mail at all (CONVENTIONS §9).
Undeliverable = Literal["bounced", "complained"]
UNDELIVERABLE: tuple[Undeliverable, ...] = ("bounced", "complained")
# Who a double opt-in confirmation is for: a contact waiting to confirm, or one that became active
# meanwhile (another form's link) and may still take this form's tags and sequence.
CONFIRMABLE = ("unconfirmed", "active")

ContactCreates = GroupCommit[NewContact, ContactView]


async def _views(repo: ContactRepository, contacts: Sequence[Contact]) -> list[ContactView]:
    """Contacts with their tags and sequences: two queries whatever the number of contacts."""
    ids = [contact.id for contact in contacts]
    tags = await repo.tags_of(ids)
    sequences = await sequence_service.memberships_of(repo.session, account_id=repo.account_id, contact_ids=ids)
    return [ContactView(contact=c, tags=tags.get(c.id, []), sequences=sequences.get(c.id, [])) for c in contacts]


async def _view(repo: ContactRepository, contact: Contact) -> ContactView:
    return (await _views(repo, [contact]))[0]


async def _get_row(repo: ContactRepository, contact_id: int) -> Contact:
    contact = await repo.get(contact_id)
    if contact is None:
        raise NotFound()
    return contact


def check_ipaddress(value: str | None) -> None:
    if value is None:
        return
    try:
        ipaddress.ip_address(value)
    except ValueError:
        raise Invalid.field("ipaddress", "The ipaddress must be a valid IP address.") from None


async def _check_unique_email(repo: ContactRepository, email: str, *, except_id: int | None = None) -> None:
    existing = await repo.by_email(email)
    if existing is not None and existing.id != except_id:
        raise _email_taken()


def _email_taken() -> Invalid:
    return Invalid.field("email", "The email has already been taken.")


def _check_fields(defined: Mapping[str, CustomField], values: FieldValues) -> None:
    """Every key must be a defined field (422 naming it); values are bounded by the field type."""
    errors: dict[str, list[str]] = {}
    for key, value in values.items():
        field = defined.get(key)
        if field is None:
            errors[f"fields.{key}"] = [f"The fields.{key} field is not a defined custom field."]
            continue
        limit = field_service.max_value_length(field)
        if value is not None and len(value) > limit:
            errors[f"fields.{key}"] = [f"The fields.{key} may not be greater than {limit} characters."]
    if errors:
        raise Invalid(errors)


def _apply_fields(contact: Contact, values: FieldValues) -> list[str]:
    """Merge values into the contact (None clears); the keys that really changed."""
    changed: list[str] = []
    custom = dict(contact.fields)
    for key, value in values.items():
        if key in field_service.BUILTIN_KEYS:
            if getattr(contact, key) != value:
                setattr(contact, key, value)
                changed.append(key)
        elif value is None:
            if custom.pop(key, None) is not None:
                changed.append(key)
        elif custom.get(key) != value:
            custom[key] = value
            changed.append(key)
    contact.fields = custom
    return changed


async def list_page(session: AsyncSession, *, account_id: int, params: ListParams) -> Page[str]:
    """A page of contacts as their wire JSON (as `ContactOut` shows them), written by the database.

    Any list, a search by tag or sequence name included; the route reads that one faster with
    `linked_page` (`searches_links`), from the links alone.
    """
    repo = ContactRepository(session, account_id)
    page = await repo.page(params)
    wires = await repo.wires([contact.id for contact in page.items])
    return Page(
        items=[wires[contact.id] for contact in page.items], total=page.total, page=page.page, per_page=page.per_page
    )


async def wire(connection: AsyncConnection, *, account_id: int, contact_id: int) -> str:
    """One contact's wire JSON, or NotFound; on a Core connection (the most called read)."""
    found = await contact_wire(connection, account_id=account_id, contact_id=contact_id)
    if found is None:
        raise NotFound()
    return found


async def check_exists(session: AsyncSession, *, account_id: int, contact_id: int) -> None:
    """NotFound unless the contact is the account's; for records nested under a contact (one light query)."""
    if not await ContactRepository(session, account_id).exists(contact_id):
        raise NotFound()


async def summaries(session: AsyncSession, *, account_id: int, contact_ids: Sequence[int]) -> dict[int, dict[str, Any]]:
    """`{contact_id, email, status, fields}` of each of these contacts that exists, by id (webhook payloads)."""
    return await ContactRepository(session, account_id).summaries(contact_ids)


async def for_messaging(
    session: AsyncSession,
    *,
    account_id: int,
    emails: Sequence[str],
    contact_ids: Sequence[int],
    announce_new: bool,
) -> tuple[dict[str, MessagedContact], dict[int, MessagedContact]]:
    """The contacts a message goes to, by lower-cased address and by id (CONVENTIONS §10).

    An address the account does not know becomes a contact with status `non_subscribed`: it can be
    mailed what it asked for but is never a broadcast recipient. Unknown ids are simply absent.
    Without `announce_new`, the new contacts' `contact.created` events are not recorded: the caller
    knows that nothing would hear them.
    """
    repo = ContactRepository(session, account_id)
    by_email = await repo.by_emails(emails)
    missing = list({email.lower(): email for email in emails if email.lower() not in by_email}.values())
    if missing:
        created = await repo.insert_missing(missing, status="non_subscribed")
        for contact in created:
            by_email[contact.email.lower()] = contact
        if announce_new:
            # One Core INSERT, as the contacts' own: an ORM event would cost a unit-of-work flush per send.
            await events.record_many(
                session, type="contact.created", entries=[(account_id, contact.id, {}) for contact in created]
            )
        if len(by_email) < len({email.lower() for email in emails}):  # created meanwhile by another request
            by_email.update(await repo.by_emails(missing))
    return by_email, await repo.by_ids(contact_ids)


def creates(sessionmaker: async_sessionmaker[AsyncSession], write_gate: Gate) -> ContactCreates:
    """Where a process creates contacts without a form: in batches, one transaction each (`create_many`)."""
    return GroupCommit(sessionmaker, write_gate, create_many, name="contact creates")


async def create_many(session: AsyncSession, wanted: Sequence[NewContact]) -> list[ContactView | DomainError]:
    """Create active, confirmed contacts (no form, CONVENTIONS §7) with a handful of statements for them
    all: each one's view, or why it was refused.

    A refused contact changes nothing. Of two with the same address, the first is created and the
    second refused, as if they had come one after the other.
    """
    by_account: dict[int, dict[int, NewContact]] = defaultdict(dict)
    for index, new in enumerate(wanted):
        by_account[new.account_id][index] = new
    outcomes: dict[int, ContactView | DomainError] = {}
    for account_id, batch in by_account.items():
        for index, outcome in (await _insert(session, account_id, batch, through_form=False)).items():
            outcomes[index] = outcome if isinstance(outcome, DomainError) else ContactView(contact=outcome)
    return [outcomes[index] for index in range(len(wanted))]


async def create_through_form(session: AsyncSession, *, new: NewContact, form_id: int) -> ContactView:
    """Create a contact through a form: a pending opt-in that the form then settles (CONVENTIONS §7)."""
    form = await form_service.referenced(session, account_id=new.account_id, form_id=form_id)
    outcome = (await _insert(session, new.account_id, {0: new}, through_form=True))[0]
    if isinstance(outcome, DomainError):
        raise outcome
    repo = ContactRepository(session, new.account_id)
    await _subscribe_through(session, repo, outcome, form)
    return await _view(repo, outcome)


async def _insert(
    session: AsyncSession, account_id: int, batch: Mapping[int, NewContact], *, through_form: bool
) -> dict[int, Contact | DomainError]:
    """Check and insert one account's new contacts, by their index; each one's row, or why it was refused.

    Four statements whatever their number: the fields, the addresses taken, the contacts and their
    contact.created events.
    """
    repo = ContactRepository(session, account_id)
    defined = await field_service.all_fields(session, account_id=account_id)
    defaults = {key: field.default for key, field in defined.items() if field.default and not field.builtin}
    taken = set(await repo.by_emails(new.email for new in batch.values()))
    now = utcnow_seconds()
    outcomes: dict[int, Contact | DomainError] = {}
    rows: dict[int, dict[str, Any]] = {}
    for index, new in batch.items():
        try:
            check_ipaddress(new.ipaddress)
            _check_fields(defined, new.fields)
            if new.email.lower() in taken:
                raise _email_taken()
        except DomainError as refusal:
            outcomes[index] = refusal
            continue
        taken.add(new.email.lower())
        values = {**defaults, **new.fields}
        rows[index] = {
            "email": new.email,
            "ipaddress": new.ipaddress,
            **{key: values.get(key) for key in field_service.BUILTIN_KEYS},
            "fields": {
                key: value
                for key, value in values.items()
                if key not in field_service.BUILTIN_KEYS and value is not None
            },
            # Through a form the contact starts as a pending opt-in that the form then settles.
            "status": "unconfirmed" if through_form else "active",
            "subscribed_at": now,
            "confirmed_at": None if through_form else now,
            "created_at": now,
            "updated_at": now,
        }
    contacts = await repo.insert_many(list(rows.values()))
    await events.record_many(
        session, type="contact.created", entries=[(account_id, contact.id, {}) for contact in contacts]
    )
    outcomes.update(zip(rows, contacts, strict=True))
    return outcomes


async def _change(
    session: AsyncSession,
    repo: ContactRepository,
    contact: Contact,
    *,
    email: str | None,
    fields: FieldValues | None,
    ipaddress: str | None,
    clear_ipaddress: bool,
) -> None:
    """Apply validated changes to a loaded contact and record contact.updated if anything changed."""
    changed: list[str] = []
    if fields:
        _check_fields(await field_service.all_fields(session, account_id=repo.account_id), fields)
        changed += _apply_fields(contact, fields)
    if email is not None and email != contact.email:
        await _check_unique_email(repo, email, except_id=contact.id)
        contact.email = email
        changed.append("email")
    if ipaddress is not None or clear_ipaddress:
        check_ipaddress(ipaddress)
        if contact.ipaddress != ipaddress:
            contact.ipaddress = ipaddress
            changed.append("ipaddress")
    if changed:
        contact.updated_at = utcnow_seconds()
        events.record(
            session,
            account_id=repo.account_id,
            type="contact.updated",
            contact_id=contact.id,
            data={"changed": changed},
        )
    await session.flush()


async def update(
    session: AsyncSession,
    *,
    account_id: int,
    contact_id: int,
    email: str | None = None,
    fields: FieldValues | None = None,
    ipaddress: str | None = None,
    clear_ipaddress: bool = False,
) -> ContactView:
    """Merge changes into a contact: only what is given changes, a null field value clears it."""
    repo = ContactRepository(session, account_id)
    contact = await _get_row(repo, contact_id)
    await _change(
        session, repo, contact, email=email, fields=fields, ipaddress=ipaddress, clear_ipaddress=clear_ipaddress
    )
    return await _view(repo, contact)


async def delete(session: AsyncSession, *, account_id: int, contact_id: int) -> None:
    """Delete a contact and its personal data; the event keeps only the id (CONVENTIONS §7)."""
    repo = ContactRepository(session, account_id)
    contact = await _get_row(repo, contact_id)
    await repo.delete(contact)
    events.record(session, account_id=account_id, type="contact.deleted", contact_id=contact_id)


async def _link_tags(
    session: AsyncSession, repo: ContactRepository, contact: Contact, tags: Sequence[Tag], *, exclusive: bool
) -> None:
    """Apply tags; with exclusive, also remove every other tag.

    Each tag that really comes or goes records tag.applied / tag.removed, so rules fire for the difference.
    """
    already = await repo.tag_ids_of(contact.id)
    added = [tag for tag in tags if tag.id not in already]
    removed_ids = already - {tag.id for tag in tags} if exclusive else set()
    await repo.lock_tags({tag.id for tag in added} | removed_ids)
    now = utcnow_seconds()
    for tag in added:
        repo.link_tag(ContactTag(contact_id=contact.id, tag_id=tag.id, account_id=repo.account_id, tagged_at=now))
        _tag_event(session, repo.account_id, "tag.applied", contact.id, tag.id, tag.name)
    for tag_id in sorted(removed_ids):
        removed = await tag_service.get(session, account_id=repo.account_id, tag_id=tag_id)
        await repo.unlink_tag(contact.id, tag_id)
        _tag_event(session, repo.account_id, "tag.removed", contact.id, tag_id, removed.name)
    await session.flush()


def _tag_event(session: AsyncSession, account_id: int, type: str, contact_id: int, tag_id: int, name: str) -> None:
    events.record(
        session, account_id=account_id, type=type, contact_id=contact_id, data={"tag_id": tag_id, "tag": name}
    )


async def apply_tags(session: AsyncSession, *, account_id: int, contact_id: int, names: Sequence[str]) -> ContactView:
    """Apply tags by name, creating missing ones; re-applying is a no-op (CONVENTIONS §7)."""
    repo = ContactRepository(session, account_id)
    contact = await _get_row(repo, contact_id)
    tags = await tag_service.get_or_create(session, account_id=account_id, names=names)
    await _link_tags(session, repo, contact, tags, exclusive=False)
    return await _view(repo, contact)


async def apply_tag_ids(session: AsyncSession, *, account_id: int, contact_id: int, tag_ids: Sequence[int]) -> None:
    """Apply tags the account has, by id (a rule's apply_tag); ids of tags deleted meanwhile are passed over."""
    repo = ContactRepository(session, account_id)
    contact = await _get_row(repo, contact_id)
    tags = await tag_service.existing(session, account_id=account_id, tag_ids=tag_ids)
    await _link_tags(session, repo, contact, tags, exclusive=False)


async def replace(
    session: AsyncSession,
    *,
    account_id: int,
    contact_id: int,
    email: str,
    fields: FieldValues,
    tags: Sequence[str] | None = None,
    ipaddress: str | None = None,
) -> ContactView:
    """PUT (seed 002): replace the email and every field value; with `tags`, the whole tag set too.

    Fields not given are cleared. The IP address is replaced only when given, since it
    records where the contact signed up rather than data a CRM owns.
    """
    repo = ContactRepository(session, account_id)
    contact = await _get_row(repo, contact_id)
    # Every built-in and stored key not given is cleared; _change validates the given ones.
    cleared: dict[str, str | None] = {key: None for key in (*field_service.BUILTIN_KEYS, *contact.fields)}
    await _change(
        session, repo, contact, email=email, fields={**cleared, **fields}, ipaddress=ipaddress, clear_ipaddress=False
    )
    if tags is not None:
        tag_set = await tag_service.get_or_create(session, account_id=account_id, names=tags)
        await _link_tags(session, repo, contact, tag_set, exclusive=True)
    return await _view(repo, contact)


async def remove_tag(session: AsyncSession, *, account_id: int, contact_id: int, tag_id: int) -> None:
    """Remove a tag from a contact; unknown tag: NotFound; not applied: nothing happens."""
    repo = ContactRepository(session, account_id)
    contact = await _get_row(repo, contact_id)
    tag = await tag_service.get(session, account_id=account_id, tag_id=tag_id)
    if await repo.unlink_tag(contact.id, tag.id):
        _tag_event(session, account_id, "tag.removed", contact.id, tag.id, tag.name)


async def unsubscribe(session: AsyncSession, *, account_id: int, contact_id: int) -> bool:
    """Stop all marketing mail to the contact; it leaves every sequence (CONVENTIONS §7: DELETE /unsubscribe).

    True when the contact's status changed. A bounced or complained contact already gets no
    mail and keeps that status: it says more.
    """
    repo = ContactRepository(session, account_id)
    contact = await _get_row(repo, contact_id)
    changed = contact.status not in ("unsubscribed", *UNDELIVERABLE)
    if changed:
        now = utcnow_seconds()
        contact.status = "unsubscribed"
        contact.unsubscribed_at = now
        contact.updated_at = now
        events.record(session, account_id=account_id, type="contact.unsubscribed", contact_id=contact.id)
    await sequence_service.leave_all(session, account_id=account_id, contact_id=contact.id)
    return changed


async def mark_undeliverable(session: AsyncSession, *, account_id: int, contact_id: int, status: Undeliverable) -> None:
    """The address bounced, or its owner complained: no more mail, and it leaves every sequence (CONVENTIONS §9).

    Records contact.bounced / contact.complained when the status changes. A complaint outranks a
    bounce, so a complained contact stays complained; nothing here makes a contact active again.
    """
    repo = ContactRepository(session, account_id)
    contact = await _get_row(repo, contact_id)
    if contact.status not in (status, "complained"):
        contact.status = status
        contact.updated_at = utcnow_seconds()
        events.record(session, account_id=account_id, type=f"contact.{status}", contact_id=contact.id)
    await sequence_service.leave_all(session, account_id=account_id, contact_id=contact.id)


# Sequences ----------------------------------------------------------------------


def _confirmed(contact: Contact) -> bool:
    return contact.status == "active" and contact.confirmed_at is not None


async def join_sequence(session: AsyncSession, *, account_id: int, contact_id: int, sequence_id: int) -> ContactView:
    """Put the contact at step 0 of a sequence; joining again changes nothing (idempotent, CONVENTIONS §7)."""
    repo = ContactRepository(session, account_id)
    contact = await _get_row(repo, contact_id)
    await _join(session, repo, contact, sequence_id, confirmed=_confirmed(contact))
    return await _view(repo, contact)


async def _join(
    session: AsyncSession, repo: ContactRepository, contact: Contact, sequence_id: int, *, confirmed: bool
) -> None:
    """Join a sequence; a new member is told to the sequence's notification address, if it has one (CONVENTIONS §7)."""
    sequence = await sequence_service.join(
        session, account_id=repo.account_id, contact_id=contact.id, sequence_id=sequence_id, confirmed=confirmed
    )
    if sequence is not None and sequence.notification:
        await delivery_service.queue_notification(
            session,
            account_id=repo.account_id,
            sequence_id=sequence.id,
            contact_id=contact.id,
            to_address=sequence.notification,
        )


async def leave_sequence(session: AsyncSession, *, account_id: int, contact_id: int, sequence_id: int) -> None:
    """Take the contact out of a sequence; unknown sequence: NotFound; not a member: nothing happens."""
    contact = await _get_row(ContactRepository(session, account_id), contact_id)
    await sequence_service.leave(session, account_id=account_id, contact_id=contact.id, sequence_id=sequence_id)


async def move_sequence(
    session: AsyncSession, *, account_id: int, contact_id: int, from_sequence_id: int, to_sequence_id: int
) -> bool:
    """Move a member of one sequence into another (the rules' move_sequence action); True when it moved.

    A contact that is not a member of `from_sequence_id` stays where it is: moving is for members.
    It joins the other sequence at step 0, as joining always does (or stays where it is there).
    """
    repo = ContactRepository(session, account_id)
    contact = await _get_row(repo, contact_id)
    if not await sequence_service.is_member(
        session, account_id=account_id, contact_id=contact.id, sequence_id=from_sequence_id
    ):
        return False
    await sequence_service.leave(session, account_id=account_id, contact_id=contact.id, sequence_id=from_sequence_id)
    await _join(session, repo, contact, to_sequence_id, confirmed=_confirmed(contact))
    return True


# Forms --------------------------------------------------------------------------

# Addresses that cannot take mail stay as they are: a form never makes them subscribers again.
_WHY_UNDELIVERABLE: dict[str, str] = {
    "bounced": "has bounced",
    "complained": "has reported our mail as spam",
}


def _check_mailable(contact: Contact) -> None:
    why = _WHY_UNDELIVERABLE.get(contact.status)
    if why is not None:
        raise Invalid.field("email", f"The email address {why}; it cannot be subscribed again.")


async def _subscribe_through(session: AsyncSession, repo: ContactRepository, contact: Contact, form: FormView) -> None:
    """Subscribe through a form: at once, or with double opt-in pending the confirmation link (CONVENTIONS §7).

    A contact already active and confirmed has nothing left to confirm, so the form applies at once. Otherwise
    contact.confirmation_requested is recorded and the form's confirmation email is queued, in this
    transaction; the contact stays unconfirmed until it follows the email's link (`confirm`).
    """
    _check_mailable(contact)
    if not form.form.double_optin or _confirmed(contact):
        await _confirm(session, repo, contact, form)
        return
    now = utcnow_seconds()
    contact.status = "unconfirmed"
    contact.subscribed_at = now
    contact.confirmed_at = None
    contact.updated_at = now
    await session.flush()
    events.record(
        session,
        account_id=repo.account_id,
        type="contact.confirmation_requested",
        contact_id=contact.id,
        data={"form_id": form.form.id},
    )
    await delivery_service.queue_confirmation(
        session, account_id=repo.account_id, contact_id=contact.id, form_id=form.form.id, to_address=contact.email
    )


async def _confirm(session: AsyncSession, repo: ContactRepository, contact: Contact, form: FormView) -> None:
    """Make the contact an active, confirmed subscriber and apply the form's tags and sequence (idempotent)."""
    if not _confirmed(contact):
        now = utcnow_seconds()
        if contact.status != "unconfirmed" or contact.subscribed_at is None:
            contact.subscribed_at = now  # a new opt-in rather than the end of a pending one
        contact.status = "active"
        contact.confirmed_at = now
        contact.updated_at = now
        await session.flush()
        events.record(
            session,
            account_id=repo.account_id,
            type="contact.subscribed",
            contact_id=contact.id,
            data={"form_id": form.form.id},
        )
        await sequence_service.confirm_memberships(session, account_id=repo.account_id, contact_id=contact.id)
    await _link_tags(session, repo, contact, form.tags, exclusive=False)
    if form.form.sequence_id is not None:
        await _join(session, repo, contact, form.form.sequence_id, confirmed=True)


async def subscribe(
    session: AsyncSession,
    *,
    account_id: int,
    contact_id: int,
    form_id: int,
    fields: FieldValues,
    ipaddress: str | None = None,
) -> ContactView:
    """Subscribe an existing contact through a form, merging the given field values (seed 001: POST /subscribe)."""
    repo = ContactRepository(session, account_id)
    contact = await _get_row(repo, contact_id)
    form = await form_service.referenced(session, account_id=account_id, form_id=form_id)
    await _change(session, repo, contact, email=None, fields=fields, ipaddress=ipaddress, clear_ipaddress=False)
    await _subscribe_through(session, repo, contact, form)
    return await _view(repo, contact)


async def confirm(session: AsyncSession, *, account_id: int, contact_id: int, form_id: int) -> ContactView:
    """The contact confirmed its subscription through a form (the signed link of the confirmation email).

    confirmed_at is set, the contact becomes active and the form's tags and sequence apply; confirming again
    changes nothing. An unknown contact or form is NotFound, and so is a contact that unsubscribed, bounced
    or complained since the email was sent: an old link does not undo that.
    """
    repo = ContactRepository(session, account_id)
    contact = await _get_row(repo, contact_id)
    form = await form_service.get(session, account_id=account_id, form_id=form_id)
    if contact.status not in CONFIRMABLE:
        raise NotFound()
    await _confirm(session, repo, contact, form)
    return await _view(repo, contact)
