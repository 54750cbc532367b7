"""When mail is due: broadcasts whose time has come become messages (CONVENTIONS §7, §9)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from roost.audience import service as audience_service
from roost.delivery import repository
from roost.models import Broadcast


async def start_due_broadcasts(session: AsyncSession, *, now: datetime, limit: int = 5) -> list[int]:
    """Resolve the recipients of scheduled broadcasts that are due into queued messages.

    Recipients are resolved when sending starts (CONVENTIONS §7), by one INSERT … SELECT in
    the transaction that marks the broadcast `sending`: both land or neither does, and the
    (broadcast, contact) uniqueness makes every recipient get exactly one message.
    """
    started = []
    for broadcast in await repository.due_broadcasts(session, now=now, limit=limit):
        recipients = await audience_service.recipients(
            session, account_id=broadcast.account_id, groups=broadcast.recipients
        )
        await repository.queue_broadcast(session, broadcast=broadcast, recipients=recipients, now=now)
        broadcast.status = "sending"
        started.append(broadcast.id)
    await session.flush()
    return started


async def finish_broadcasts(session: AsyncSession, *, now: datetime) -> list[int]:
    """Mark `sent` the sending broadcasts that have no unfinished message left."""
    sending = list((await session.scalars(select(Broadcast.id).where(Broadcast.status == "sending"))).all())
    done = await repository.finished_broadcasts(session, sending)
    await repository.mark_broadcasts_sent(session, done, now=now)
    return done
