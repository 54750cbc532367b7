"""When mail is due: broadcasts whose time has come become messages (CONVENTIONS §7, §9); transactional
mail (a confirmation, a notification, a test send) is queued by the change that calls for it."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from roost import events
from roost.audience import service as audience_service
from roost.broadcast import service as broadcast_service
from roost.delivery import repository
from roost.kit.clock import utcnow
from roost.models import Broadcast, Message, SequenceEmail
from roost.sequence import service as sequence_service

# How soon a paused member (inactive sequence, contact not active) is looked at again.
PAUSED_RECHECK = timedelta(minutes=10)
# Subscribing again through the same form sends a new confirmation email at most this often.
CONFIRMATION_RESEND_INTERVAL = timedelta(minutes=10)


# Recipients queued per transaction. Sending starts with the first chunk instead of after the
# whole list: 100,000 message rows take PostgreSQL about 3 s to write, 1,000,000 half a minute.
RESOLVE_CHUNK = 10_000


async def start_due_broadcasts(
    session: AsyncSession, *, now: datetime, limit: int = 5, chunk: int = RESOLVE_CHUNK
) -> list[int]:
    """Start the scheduled broadcasts that are due: `sending`, their first chunk of recipients queued.

    Recipients are resolved when sending starts (CONVENTIONS §7), in contact id order, by one
    INSERT … SELECT per chunk in the transaction that moves the broadcast's `resolved_through`
    past it: a chunk and its mark land together or not at all, and the (broadcast, contact)
    uniqueness makes every recipient get exactly one message. `resolve_broadcasts` queues the
    rest; a broadcast is `sent` only once that is done and every message is finished.
    """
    started = []
    for broadcast in await repository.due_broadcasts(session, now=now, limit=limit):
        broadcast.status = "sending"
        await _queue_chunk(session, broadcast, after=0, chunk=chunk, now=now)
        started.append(broadcast.id)
    await session.flush()
    return started


async def resolve_broadcasts(
    session: AsyncSession, *, now: datetime, limit: int = 5, chunk: int = RESOLVE_CHUNK
) -> int:
    """Queue the next chunk of recipients of each broadcast still being resolved; how many were advanced."""
    resolving = await repository.resolving_broadcasts(session, limit=limit)
    for broadcast in resolving:
        assert broadcast.resolved_through is not None
        await _queue_chunk(session, broadcast, after=broadcast.resolved_through, chunk=chunk, now=now)
    await session.flush()
    return len(resolving)


async def _queue_chunk(session: AsyncSession, broadcast: Broadcast, *, after: int, chunk: int, now: datetime) -> None:
    recipients = await audience_service.recipients(
        session, account_id=broadcast.account_id, groups=broadcast.recipients
    )
    broadcast.resolved_through = await repository.queue_broadcast(
        session, broadcast=broadcast, recipients=recipients, after=after, limit=chunk, now=now
    )


async def advance_sequences(session: AsyncSession, *, now: datetime, limit: int = 500) -> int:
    """Queue the due step of every member whose time has come (CONVENTIONS §7: sequence semantics).

    Step n is due `delay` after step n-1 went out (after joining, for n = 1); queueing it counts
    as sending it for the schedule of the next one. Members of an inactive sequence, and contacts
    that are not active, are paused: looked at again later, never sent to meanwhile.
    """
    steps_of: dict[int, list[SequenceEmail]] = {}
    due = await repository.due_memberships(session, now=now, limit=limit)
    for member, to_address, contact_status, sequence_active in due:
        if contact_status != "active" or not sequence_active:
            member.next_due_at = now + PAUSED_RECHECK
            continue
        if member.sequence_id not in steps_of:
            steps_of[member.sequence_id] = await sequence_service.active_steps(
                session, account_id=member.account_id, sequence_id=member.sequence_id
            )
        steps = steps_of[member.sequence_id]
        due_at = sequence_service.next_due(member, steps)
        if due_at is not None and due_at > now:  # the steps changed since this was planned
            member.next_due_at = due_at
            continue
        if due_at is not None:
            await repository.queue_step(session, member, steps[member.current_step], to_address, now)
            member.current_step += 1
            member.last_sent_at = now
        member.next_due_at = sequence_service.next_due(member, steps)
        if member.next_due_at is None:
            member.completed_at = now
            events.record(
                session,
                account_id=member.account_id,
                type="sequence.completed",
                contact_id=member.contact_id,
                data={"sequence_id": member.sequence_id},
            )
    await session.flush()
    return len(due)


async def finish_broadcasts(session: AsyncSession, *, now: datetime) -> None:
    """Mark `sent` the sending broadcasts that have no unfinished message left."""
    await repository.close_finished_broadcasts(session, now=now)


async def queue_test(session: AsyncSession, *, account_id: int, broadcast_id: int, emails: Sequence[str]) -> int:
    """Send the broadcast as it stands to these addresses now (ext); not counted in its stats."""
    broadcast = await broadcast_service.get(session, account_id=account_id, broadcast_id=broadcast_id)
    now = utcnow()
    addresses = list(dict.fromkeys(emails))
    for address in addresses:
        session.add(
            Message(
                account_id=account_id,
                kind="test",
                broadcast_id=broadcast.id,
                to_address=address,
                status="queued",
                attempts=0,
                due_at=now,
            )
        )
    await session.flush()
    return len(addresses)


async def queue_confirmation(
    session: AsyncSession, *, account_id: int, contact_id: int, form_id: int, to_address: str
) -> bool:
    """Queue a form's confirmation email to a contact waiting for its double opt-in (CONVENTIONS §7: forms).

    Subscribing again must not flood the address: nothing is queued while a confirmation of the
    same form to the same contact is unfinished (a unique index makes that hold under concurrency
    too) or was queued less than CONFIRMATION_RESEND_INTERVAL ago. After that, subscribing again
    sends a new one, which is what someone who lost the first email needs. True when queued.
    """
    now = utcnow()
    if await repository.confirmation_since(
        session,
        account_id=account_id,
        contact_id=contact_id,
        form_id=form_id,
        since=now - CONFIRMATION_RESEND_INTERVAL,
    ):
        return False
    return await repository.queue_confirmation(
        session, account_id=account_id, contact_id=contact_id, form_id=form_id, to_address=to_address, now=now
    )


async def queue_notification(
    session: AsyncSession, *, account_id: int, sequence_id: int, contact_id: int, to_address: str
) -> None:
    """Tell a sequence's notification address of a new member (CONVENTIONS §7: sequences).

    Sent to that address, not to the contact: `contact_id` stays empty, so a bounce or complaint
    of it never touches the contact, and it counts in no stats.
    """
    session.add(
        Message(
            account_id=account_id,
            kind="notification",
            sequence_id=sequence_id,
            about_contact_id=contact_id,
            to_address=to_address,
            status="queued",
            attempts=0,
            due_at=utcnow(),
        )
    )
    await session.flush()
