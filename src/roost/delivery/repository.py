"""The delivery engine's queries. They span accounts (the sender serves every account), so
each statement names the rows it touches by id; account scoping happened when the rows were made."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, TypeVar, cast

from sqlalchemy import Select, Table, insert, literal, select, update
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncSession

from roost.models import Account, Broadcast, ChannelMessage, Contact, ContactSequence, Form, Message, SequenceEmail
from roost.models import Sequence as DripSequence
from roost.models.message import UNFINISHED

# The hot statements are Core statements on the table: the ORM's bulk-update path (session
# synchronisation, ORM compile state) cost more than the UPDATEs themselves.
MESSAGES = cast(Table, Message.__table__)
SelectT = TypeVar("SelectT", bound=Select[Any])


@dataclass(slots=True)
class Lease:
    """How long a sender holds the messages it claimed together; renewed while it still works on them."""

    until: datetime


@dataclass(frozen=True, slots=True)
class ClaimedMessage:
    id: int
    account_id: int
    kind: str
    broadcast_id: int | None
    sequence_email_id: int | None
    contact_id: int | None
    form_id: int | None
    sequence_id: int | None
    about_contact_id: int | None
    channel_message_id: int | None
    to_address: str
    attempts: int
    created_at: datetime
    lease: Lease


def _locking(session: AsyncSession, statement: SelectT) -> SelectT:
    # PostgreSQL: concurrent senders skip each other's rows. SQLite has one writer at a time.
    if session.get_bind().dialect.name == "postgresql":
        return statement.with_for_update(skip_locked=True)
    return statement


async def due_broadcasts(session: AsyncSession, *, now: datetime, limit: int) -> list[Broadcast]:
    statement = (
        select(Broadcast)
        .where(Broadcast.status == "scheduled", Broadcast.scheduled_at <= now)
        .order_by(Broadcast.scheduled_at)
        .limit(limit)
    )
    return list((await session.scalars(_locking(session, statement))).all())


async def resolving_broadcasts(session: AsyncSession, *, limit: int) -> list[Broadcast]:
    """Sending broadcasts whose recipients are not all queued yet."""
    statement = (
        select(Broadcast)
        .where(Broadcast.status == "sending", Broadcast.resolved_through.is_not(None))
        .order_by(Broadcast.id)
        .limit(limit)
    )
    return list((await session.scalars(_locking(session, statement))).all())


async def queue_broadcast(
    session: AsyncSession, *, broadcast: Broadcast, recipients: Select[int], after: int, limit: int, now: datetime
) -> int | None:
    """A message for each of the next `limit` recipients in contact id order after `after`, by one
    INSERT … SELECT; the last contact id queued, or None when no recipient is left after this chunk.

    The recipients' filter (a segment can be costly) runs once a chunk: the INSERT returns the ids
    it queued, which say where the next chunk starts.
    """
    chunk = (
        select(Contact.id)
        .where(Contact.id.in_(select(recipients.subquery().c.id)), Contact.id > after)
        .order_by(Contact.id)
        .limit(limit)
    )
    source = select(
        literal(broadcast.account_id),
        literal("broadcast"),
        literal(broadcast.id),
        Contact.id,
        Contact.email,
        literal("queued"),
        literal(0),
        literal(now),
        literal(now),
    ).where(Contact.id.in_(chunk.scalar_subquery()))
    columns = ["account_id", "kind", "broadcast_id", "contact_id", "to_address", "status", "attempts", "due_at"]
    statement = insert(Message).from_select([*columns, "created_at"], source).returning(Message.contact_id)
    queued = cast(list[int], list((await session.scalars(statement)).all()))
    if not queued:
        return None
    return max(queued) if len(queued) == limit else None


async def due_memberships(
    session: AsyncSession, *, now: datetime, limit: int
) -> list[tuple[ContactSequence, str, str, bool]]:
    """Memberships whose next step is due, with the contact's email and status and whether the sequence is active."""
    statement = (
        select(ContactSequence, Contact.email, Contact.status, DripSequence.active)
        .join(Contact, Contact.id == ContactSequence.contact_id)
        .join(DripSequence, DripSequence.id == ContactSequence.sequence_id)
        .where(ContactSequence.next_due_at <= now)
        .order_by(ContactSequence.next_due_at)
        .limit(limit)
    )
    if session.get_bind().dialect.name == "postgresql":  # the membership rows only, not the contacts
        statement = statement.with_for_update(of=ContactSequence, skip_locked=True)
    return [
        (member, email, status, active) for member, email, status, active in (await session.execute(statement)).all()
    ]


async def queue_step(
    session: AsyncSession, member: ContactSequence, step: SequenceEmail, to_address: str, now: datetime
) -> None:
    """The message of one sequence step; (sequence email, contact) is unique, so a repeat (a contact
    that left and joined again) adds nothing: each step reaches a contact once."""
    dialect_insert = postgresql_insert if session.get_bind().dialect.name == "postgresql" else sqlite_insert
    await session.execute(
        dialect_insert(Message)
        .values(
            account_id=member.account_id,
            kind="sequence",
            sequence_email_id=step.id,
            contact_id=member.contact_id,
            to_address=to_address,
            status="queued",
            attempts=0,
            due_at=now,
            created_at=now,
        )
        .on_conflict_do_nothing()
    )


async def queue_confirmation(
    session: AsyncSession, *, account_id: int, contact_id: int, form_id: int, to_address: str, now: datetime
) -> bool:
    """A form's confirmation email to a contact, unless one is pending already; True when queued.

    The partial unique index on unfinished confirmations turns a concurrent second one into
    nothing rather than an error.
    """
    dialect_insert = postgresql_insert if session.get_bind().dialect.name == "postgresql" else sqlite_insert
    result = await session.execute(
        dialect_insert(Message)
        .values(
            account_id=account_id,
            kind="confirmation",
            form_id=form_id,
            contact_id=contact_id,
            to_address=to_address,
            status="queued",
            attempts=0,
            due_at=now,
            created_at=now,
        )
        .on_conflict_do_nothing()
    )
    return bool(getattr(result, "rowcount", 0))


async def confirmation_since(
    session: AsyncSession, *, account_id: int, contact_id: int, form_id: int, since: datetime
) -> bool:
    """Whether a confirmation of this form was queued for the contact since then (indexed by contact)."""
    found = await session.scalar(
        select(Message.id)
        .where(
            Message.account_id == account_id,
            Message.contact_id == contact_id,
            Message.kind == "confirmation",
            Message.form_id == form_id,
            Message.created_at >= since,
        )
        .limit(1)
    )
    return found is not None


async def claim(session: AsyncSession, *, now: datetime, limit: int, lease: timedelta) -> list[ClaimedMessage]:
    """Take up to `limit` due messages, the longest due first (then in id order), and hold them for `lease`.

    A message still `sending` whose lease ran out belonged to a sender that died: it is
    claimed again (at most the messages that sender had in flight can go out twice).
    """
    due = _locking(
        session,
        select(Message.id).where(UNFINISHED, Message.due_at <= now).order_by(Message.due_at, Message.id).limit(limit),
    )
    held = Lease(now + lease)
    claimed = await session.execute(
        update(MESSAGES)
        .where(Message.id.in_(due.scalar_subquery()))
        .values(status="sending", due_at=held.until, attempts=Message.attempts + 1)
        .returning(
            Message.id,
            Message.account_id,
            Message.kind,
            Message.broadcast_id,
            Message.sequence_email_id,
            Message.contact_id,
            Message.form_id,
            Message.sequence_id,
            Message.about_contact_id,
            Message.channel_message_id,
            Message.to_address,
            Message.attempts,
            Message.created_at,
        )
    )
    messages = (ClaimedMessage(**row._asdict(), lease=held) for row in claimed.all())
    return sorted(messages, key=lambda message: message.id)


@dataclass(frozen=True, slots=True)
class MailedContact:
    """What a message needs of its contact: plain columns, not an ORM object (a batch loads hundreds)."""

    id: int
    email: str
    first_name: str | None
    last_name: str | None
    fields: dict[str, Any]
    status: str

    def field_values(self) -> dict[str, Any]:
        return {"first_name": self.first_name, "last_name": self.last_name, **self.fields}


async def contacts(session: AsyncSession, ids: Sequence[int]) -> dict[int, MailedContact]:
    if not ids:
        return {}
    rows = await session.execute(
        select(Contact.id, Contact.email, Contact.first_name, Contact.last_name, Contact.fields, Contact.status).where(
            Contact.id.in_(ids)
        )
    )
    return {row.id: MailedContact(*row) for row in rows}


async def broadcasts(session: AsyncSession, ids: Sequence[int]) -> dict[int, Broadcast]:
    if not ids:
        return {}
    return {row.id: row for row in await session.scalars(select(Broadcast).where(Broadcast.id.in_(ids)))}


async def sequence_emails(session: AsyncSession, ids: Sequence[int]) -> dict[int, tuple[SequenceEmail, DripSequence]]:
    if not ids:
        return {}
    rows = await session.execute(
        select(SequenceEmail, DripSequence)
        .join(DripSequence, DripSequence.id == SequenceEmail.sequence_id)
        .where(SequenceEmail.id.in_(ids))
    )
    return {email.id: (email, sequence) for email, sequence in rows.all()}


async def confirmation_forms(
    session: AsyncSession, ids: Sequence[int]
) -> dict[int, tuple[Form, DripSequence | None, Account]]:
    """Forms with what their confirmation email is sent as: the form's sequence, if any, and the account."""
    if not ids:
        return {}
    rows = await session.execute(
        select(Form, DripSequence, Account)
        .join(Account, Account.id == Form.account_id)
        .outerjoin(DripSequence, DripSequence.id == Form.sequence_id)
        .where(Form.id.in_(ids))
    )
    return {form.id: (form, sequence, account) for form, sequence, account in rows.all()}


async def sequences(session: AsyncSession, ids: Sequence[int]) -> dict[int, DripSequence]:
    if not ids:
        return {}
    return {row.id: row for row in await session.scalars(select(DripSequence).where(DripSequence.id.in_(ids)))}


async def channel_messages(session: AsyncSession, ids: Sequence[int]) -> dict[int, ChannelMessage]:
    if not ids:
        return {}
    return {row.id: row for row in await session.scalars(select(ChannelMessage).where(ChannelMessage.id.in_(ids)))}


async def conclude(
    session: AsyncSession, ids: Sequence[int], *, lease_until: datetime, status: str, **values: object
) -> None:
    """Record how claimed messages ended, while the claim still holds.

    A sender whose lease ran out has lost its messages to another sender: what it learned
    late is dropped rather than written over the newer claim (statuses only move forward).
    """
    if ids:
        await session.execute(
            update(MESSAGES)
            .where(Message.id.in_(ids), Message.status == "sending", Message.due_at == lease_until)
            .values(status=status, **values)
        )


async def renew(session: AsyncSession, ids: Sequence[int], *, lease: Lease, until: datetime) -> None:
    """Hold claimed messages longer (the caller then moves `lease.until`, once this is committed)."""
    if ids:
        await session.execute(
            update(MESSAGES)
            .where(Message.id.in_(ids), Message.status == "sending", Message.due_at == lease.until)
            .values(due_at=until)
        )


async def release(session: AsyncSession, ids: Sequence[int], *, lease: Lease, now: datetime) -> None:
    """Hand claimed messages that were not sent back to every sender, at once and without counting the claim."""
    if ids:
        await session.execute(
            update(MESSAGES)
            .where(Message.id.in_(ids), Message.status == "sending", Message.due_at == lease.until)
            .values(due_at=now, attempts=Message.attempts - 1)
        )


async def cancel(session: AsyncSession, ids: Sequence[int]) -> None:
    """Messages that must not go out any more (their email or contact is gone, or not mailable)."""
    if ids:
        await session.execute(update(MESSAGES).where(Message.id.in_(ids), UNFINISHED).values(status="cancelled"))


async def close_finished_broadcasts(session: AsyncSession, *, now: datetime) -> None:
    """Sending broadcasts with no unfinished message left become `sent`, in one UPDATE."""
    unfinished = select(Message.id).where(Message.broadcast_id == Broadcast.id, UNFINISHED)
    await session.execute(
        update(Broadcast)
        .where(Broadcast.status == "sending", Broadcast.resolved_through.is_(None), ~unfinished.exists())
        .values(status="sent", sent_at=now)
    )
