"""Rows the /v1 API cannot make (yet) or states only the delivery engine reaches, written directly."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from roost.kit.clock import utcnow_seconds
from roost.models import Broadcast, Contact, ContactSequence, Sequence

Sessions = async_sessionmaker[AsyncSession]


async def add_sequence(sessions: Sessions, account_id: int, members: Iterable[int] = ()) -> int:
    """A sequence of the account with these contacts as members; its id."""
    now = utcnow_seconds()
    async with sessions() as session, session.begin():
        sequence = Sequence(
            account_id=account_id,
            name="Onboarding",
            sender_email="owner@example.com",
            sender_name="Owner",
            sender_address="1 Main St",
            created_at=now,
            updated_at=now,
        )
        session.add(sequence)
        await session.flush()
        for contact_id in members:
            session.add(
                ContactSequence(
                    contact_id=contact_id, sequence_id=sequence.id, account_id=account_id, subscribed_at=now
                )
            )
        return sequence.id


async def set_contact(sessions: Sessions, contact_id: int, **values: Any) -> None:
    async with sessions() as session, session.begin():
        await session.execute(update(Contact).where(Contact.id == contact_id).values(**values))


async def set_broadcast(sessions: Sessions, broadcast_id: int, **values: Any) -> None:
    async with sessions() as session, session.begin():
        await session.execute(update(Broadcast).where(Broadcast.id == broadcast_id).values(**values))
