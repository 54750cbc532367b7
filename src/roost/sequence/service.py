"""Sequences, their emails and their members (CONVENTIONS §7: sequences, sequence emails, sequence semantics)."""

from __future__ import annotations

import html
from collections.abc import Mapping
from collections.abc import Sequence as Seq
from dataclasses import replace
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from roost import events
from roost.errors import Invalid, NotFound
from roost.kit.clock import utcnow_seconds
from roost.kit.paging import ListParams, Page
from roost.models import ContactSequence, Sequence, SequenceEmail
from roost.sequence.repository import MembershipRepository, SequenceEmailRepository, SequenceRepository
from roost.sequence.types import SequenceLink

SEARCH_BY = ("name", "active")
ORDER_BY = ("name", "active", "created_at")
EMAIL_SEARCH_BY = ("subject", "active")
EMAIL_ORDER_BY = ("subject", "active")
DELAY_UNIT_SECONDS = {"minute": 60, "hour": 3600, "day": 86400, "week": 604800}
# Ten years per step: far beyond any real drip, and due times stay far from any datetime limit.
MAX_DELAY_SECONDS = 3650 * 86400
SCHEDULE_FIELDS = frozenset({"delay", "delay_unit", "active"})

# The footer a sequence gets when none is given (seed 001, PATCH example).
DEFAULT_FOOTER = (
    "<p>This email was sent to you (%contact.email%) because you opted in on our website and indicated "
    "you’d like to receive emails from us. If you no longer wish to receive such emails, please "
    '<a href="%unsubscribelink%" target="_blank">unsubscribe here</a></p>'
    "<p>To ensure you receive our emails, please add <strong>%sender.email%</strong> to your address book.</p>"
    "<p>Our postal address: %sender.address%</p>"
)
# What a footer missing a required merge tag gets appended, in this order (seed 001, create example).
_FOOTER_REQUIREMENTS = (
    ("%sender.address%", "<p>%sender.address%</p>"),
    ("%unsubscribelink%", '<p><a href="%unsubscribelink%">Unsubscribe here</a></p>'),
)


# The tag of a notification email that stands for the new member's address.
NEW_MEMBER_EMAIL = "member.email"


def notification_email(sequence: Sequence) -> tuple[str, str]:
    """The subject and HTML of the email telling the notification address of a new member (CONVENTIONS §7)."""
    name = html.escape(sequence.name)
    subject = f"New subscriber to {sequence.name}: %{NEW_MEMBER_EMAIL}%"
    body = (
        f"<p><strong>%{NEW_MEMBER_EMAIL}%</strong> has just joined your sequence <strong>{name}</strong>.</p>"
        "<p>You receive this email because this address is the sequence's notification address; "
        "clear it to stop these emails.</p>"
    )
    return subject, body


def complete_footer(footer: str) -> str:
    """The footer with the postal address and unsubscribe link every marketing email must carry (CONVENTIONS §8)."""
    footer = footer.strip()
    if not footer:
        return DEFAULT_FOOTER
    missing = "".join(part for tag, part in _FOOTER_REQUIREMENTS if tag not in footer)
    return f"{footer} {missing}" if missing else footer


def delay_of(email: SequenceEmail) -> timedelta:
    """How long after the previous step (or joining) this email is due."""
    return timedelta(seconds=email.delay * DELAY_UNIT_SECONDS[email.delay_unit])


async def active_steps(session: AsyncSession, *, account_id: int, sequence_id: int) -> list[SequenceEmail]:
    """The emails a member receives, in order: the active ones (CONVENTIONS §7: sequence semantics)."""
    return await SequenceEmailRepository(session, account_id).in_order(sequence_id, active_only=True)


def _check_schedule(email: SequenceEmail) -> None:
    limit = MAX_DELAY_SECONDS // DELAY_UNIT_SECONDS[email.delay_unit]
    if email.delay > limit:
        raise Invalid.field(
            "schedule.delay", f"The schedule.delay may not be greater than {limit} when the type is {email.delay_unit}."
        )


# Sequences ----------------------------------------------------------------------


async def list_page(session: AsyncSession, *, account_id: int, params: ListParams) -> Page[Sequence]:
    """A page of the account's sequences."""
    return await SequenceRepository(session, account_id).page(params)


async def get(session: AsyncSession, *, account_id: int, sequence_id: int) -> Sequence:
    """One sequence, or NotFound."""
    sequence = await SequenceRepository(session, account_id).get(sequence_id)
    if sequence is None:
        raise NotFound()
    return sequence


async def _referenced(session: AsyncSession, account_id: int, sequence_id: int, path: str) -> Sequence:
    sequence = await SequenceRepository(session, account_id).get(sequence_id)
    if sequence is None:
        raise Invalid.field(path, f"The selected {path.replace('_', ' ')} is invalid.")
    return sequence


async def check_exists(session: AsyncSession, *, account_id: int, sequence_id: int, path: str) -> None:
    """A sequence another resource refers to must exist in the account: 422 naming `path` otherwise."""
    await _referenced(session, account_id, sequence_id, path)


async def create(session: AsyncSession, *, account_id: int, values: Mapping[str, Any]) -> Sequence:
    """Create a sequence, active unless `active` is false; the footer is completed (CONVENTIONS §7)."""
    now = utcnow_seconds()
    sequence = Sequence(account_id=account_id, created_at=now, updated_at=now, **values)
    sequence.footer = complete_footer(values.get("footer", ""))
    SequenceRepository(session, account_id).add(sequence)
    await session.flush()
    return sequence


async def update(session: AsyncSession, *, account_id: int, sequence_id: int, changes: Mapping[str, Any]) -> Sequence:
    """Change what is given; a new footer is completed as on create."""
    sequence = await get(session, account_id=account_id, sequence_id=sequence_id)
    if "footer" in changes:
        changes = {**changes, "footer": complete_footer(changes["footer"])}
    changed = {key: value for key, value in changes.items() if getattr(sequence, key) != value}
    for key, value in changed.items():
        setattr(sequence, key, value)
    if changed:
        sequence.updated_at = utcnow_seconds()
        await session.flush()
    return sequence


async def delete(session: AsyncSession, *, account_id: int, sequence_id: int) -> None:
    """Delete a sequence with its emails and memberships; forms pointing at it keep no sequence."""
    sequence = await get(session, account_id=account_id, sequence_id=sequence_id)
    await SequenceRepository(session, account_id).delete(sequence)


# Sequence emails ----------------------------------------------------------------


async def _locked(session: AsyncSession, account_id: int, sequence_id: int) -> Sequence:
    """The sequence, locked while its emails change so that positions stay contiguous under concurrency."""
    sequence = await SequenceRepository(session, account_id).get_for_update(sequence_id)
    if sequence is None:
        raise NotFound()
    return sequence


async def list_emails(
    session: AsyncSession, *, account_id: int, sequence_id: int, params: ListParams
) -> Page[SequenceEmail]:
    """A page of a sequence's emails, by `order` unless another order is asked for (CONVENTIONS §6)."""
    await get(session, account_id=account_id, sequence_id=sequence_id)
    if params.order_by is None:
        params = replace(params, order_by="order", sort=params.sort or "asc")
    repo = SequenceEmailRepository(session, account_id)
    return await repo.page(params, repo.of_sequence(sequence_id))


async def get_email(session: AsyncSession, *, account_id: int, sequence_id: int, email_id: int) -> SequenceEmail:
    """One email of the sequence; an email of another sequence is NotFound."""
    email = await SequenceEmailRepository(session, account_id).get(email_id)
    if email is None or email.sequence_id != sequence_id:
        raise NotFound()
    return email


async def create_email(
    session: AsyncSession, *, account_id: int, sequence_id: int, values: Mapping[str, Any]
) -> SequenceEmail:
    """Add an email as the sequence's last step."""
    await _locked(session, account_id, sequence_id)
    repo = SequenceEmailRepository(session, account_id)
    now = utcnow_seconds()
    email = SequenceEmail(
        account_id=account_id,
        sequence_id=sequence_id,
        position=await repo.last_position(sequence_id) + 1,
        created_at=now,
        updated_at=now,
        **values,
    )
    _check_schedule(email)
    repo.add(email)
    await session.flush()
    await _replan(session, account_id, sequence_id)
    return email


async def update_email(
    session: AsyncSession,
    *,
    account_id: int,
    sequence_id: int,
    email_id: int,
    changes: Mapping[str, Any],
    order: int | None = None,
) -> SequenceEmail:
    """Change what is given; `order` moves the email to that position (the last one at most)."""
    await _locked(session, account_id, sequence_id)
    email = await get_email(session, account_id=account_id, sequence_id=sequence_id, email_id=email_id)
    changed = {key: value for key, value in changes.items() if getattr(email, key) != value}
    for key, value in changed.items():
        setattr(email, key, value)
    _check_schedule(email)
    moved = False
    if order is not None:
        steps = await SequenceEmailRepository(session, account_id).in_order(sequence_id)
        steps.remove(email)
        steps.insert(min(order, len(steps) + 1) - 1, email)
        moved = _renumber(steps)
    if changed or moved:
        email.updated_at = utcnow_seconds()
        await session.flush()
    if moved or SCHEDULE_FIELDS & changed.keys():
        await _replan(session, account_id, sequence_id)
    return email


async def delete_email(session: AsyncSession, *, account_id: int, sequence_id: int, email_id: int) -> None:
    """Delete an email; the later ones move up so that `order` stays 1..n."""
    await _locked(session, account_id, sequence_id)
    email = await get_email(session, account_id=account_id, sequence_id=sequence_id, email_id=email_id)
    repo = SequenceEmailRepository(session, account_id)
    await repo.delete(email)
    await session.flush()
    _renumber(await repo.in_order(sequence_id))
    await session.flush()
    await _replan(session, account_id, sequence_id)


def _renumber(steps: Seq[SequenceEmail]) -> bool:
    """Number the steps 1..n in the given order; True when a position changed."""
    renumbered = False
    for position, step in enumerate(steps, start=1):
        if step.position != position:
            step.position = position
            renumbered = True
    return renumbered


def next_due(member: ContactSequence, steps: Seq[SequenceEmail]) -> datetime | None:
    """When the member's next step is due: the active email n is due its delay after step n-1 (CONVENTIONS §7)."""
    if member.current_step >= len(steps):
        return None
    after = member.last_sent_at if member.current_step and member.last_sent_at else member.subscribed_at
    return after + delay_of(steps[member.current_step])


async def _replan(session: AsyncSession, account_id: int, sequence_id: int) -> None:
    """Keep every waiting member's next_due_at true after the steps changed, so due work stays an index scan."""
    steps = await SequenceEmailRepository(session, account_id).in_order(sequence_id, active_only=True)
    for member in await MembershipRepository(session, account_id).pending_of_sequence(sequence_id):
        member.next_due_at = next_due(member, steps)
    await session.flush()


# Membership ---------------------------------------------------------------------
# The contact service checks that contact_id is a contact of the account before calling these.


async def memberships_of(
    session: AsyncSession, *, account_id: int, contact_ids: Seq[int]
) -> dict[int, list[SequenceLink]]:
    """The sequences of several contacts, in one query."""
    return await MembershipRepository(session, account_id).links_of(contact_ids)


async def join(
    session: AsyncSession, *, account_id: int, contact_id: int, sequence_id: int, confirmed: bool
) -> Sequence | None:
    """Put a contact at step 0 of a sequence; joining again changes nothing (idempotent, CONVENTIONS §7).

    The sequence when the contact is a new member, None when it was one already. An unknown
    sequence is a 422 naming `sequence_id`: the id is a reference in a request body.
    """
    sequence = await _referenced(session, account_id, sequence_id, "sequence_id")
    members = MembershipRepository(session, account_id)
    if await members.get_membership(contact_id, sequence_id) is not None:
        return None
    now = utcnow_seconds()
    member = ContactSequence(
        contact_id=contact_id,
        sequence_id=sequence_id,
        account_id=account_id,
        current_step=0,
        subscribed_at=now,
        confirmed_at=now if confirmed else None,
    )
    first = await SequenceEmailRepository(session, account_id).first_active(sequence_id)
    member.next_due_at = next_due(member, [first] if first else [])
    members.add(member)
    await session.flush()
    events.record(
        session,
        account_id=account_id,
        type="sequence.subscribed",
        contact_id=contact_id,
        data={"sequence_id": sequence_id},
    )
    return sequence


async def leave(session: AsyncSession, *, account_id: int, contact_id: int, sequence_id: int) -> None:
    """Take a contact out of a sequence; unknown sequence: NotFound; not a member: nothing happens."""
    await get(session, account_id=account_id, sequence_id=sequence_id)
    members = MembershipRepository(session, account_id)
    if await members.get_membership(contact_id, sequence_id) is not None:
        await _remove(session, members, contact_id, [sequence_id])


async def is_member(session: AsyncSession, *, account_id: int, contact_id: int, sequence_id: int) -> bool:
    """Whether the contact is a member of the sequence."""
    return await MembershipRepository(session, account_id).get_membership(contact_id, sequence_id) is not None


async def leave_all(session: AsyncSession, *, account_id: int, contact_id: int) -> None:
    """Take a contact out of every sequence it is in."""
    members = MembershipRepository(session, account_id)
    await _remove(session, members, contact_id, [member.sequence_id for member in await members.of_contact(contact_id)])


async def _remove(
    session: AsyncSession, members: MembershipRepository, contact_id: int, sequence_ids: Seq[int]
) -> None:
    """Delete memberships, each recording sequence.unsubscribed so that rules and webhooks see it."""
    if not sequence_ids:
        return
    await members.remove(contact_id, sequence_ids)
    for sequence_id in sequence_ids:
        events.record(
            session,
            account_id=members.account_id,
            type="sequence.unsubscribed",
            contact_id=contact_id,
            data={"sequence_id": sequence_id},
        )


async def confirm_memberships(session: AsyncSession, *, account_id: int, contact_id: int) -> None:
    """Stamp confirmed_at on the contact's memberships that were joined before it confirmed."""
    now = utcnow_seconds()
    for member in await MembershipRepository(session, account_id).of_contact(contact_id):
        if member.confirmed_at is None:
            member.confirmed_at = now
    await session.flush()
