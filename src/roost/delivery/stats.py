"""The counters of broadcasts and sequence emails (CONVENTIONS §7: stats), kept in SQL.

One `UPDATE … SET n = n + 1` per change: concurrent senders, trackers and bounce handlers
never lose an increment, and nothing is read back into Python first.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Literal

from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncSession

from roost.models import Broadcast, Message, SequenceEmail

Stat = Literal["sent", "opens", "clicks", "bounces", "spams", "unsubscribes"]


async def count(session: AsyncSession, message: Message, stat: Stat, by: int = 1) -> None:
    """Add to one counter of the broadcast or sequence email the message belongs to."""
    await _add(session, message, stat, by)


async def add_conversion_value(session: AsyncSession, message: Message, value: Decimal) -> None:
    """Credit a conversion's value to the email it is attributed to (the base of ltv / altv)."""
    await _add(session, message, "conversion_value", value)


async def _add(session: AsyncSession, message: Message, column: str, amount: int | Decimal) -> None:
    for model, owner_id in ((Broadcast, message.broadcast_id), (SequenceEmail, message.sequence_email_id)):
        if owner_id is not None:
            target = getattr(model, column)
            await session.execute(update(model).where(model.id == owner_id).values({target: target + amount}))
