"""Sequences made through the API, and states it cannot make (contact timestamps, a broadcast sending or sent,
its stats), written directly."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from roost.models import Broadcast, Contact
from tests.helpers import Api

Sessions = async_sessionmaker[AsyncSession]


async def add_sequence(api: Api, members: Iterable[int] = ()) -> int:
    """A sequence of the account with these contacts as members; its id."""
    sender = {"email": "owner@example.com", "name": "Owner", "address": "1 Main St"}
    sequence_id: int = (await api.created("/sequences", {"name": "Onboarding", "sender": sender}))["sequence_id"]
    for contact_id in members:
        await api.created(f"/contacts/{contact_id}/sequences", {"sequence_id": sequence_id})
    return sequence_id


async def set_contact(sessions: Sessions, contact_id: int, **values: Any) -> None:
    async with sessions() as session, session.begin():
        await session.execute(update(Contact).where(Contact.id == contact_id).values(**values))


async def set_broadcast(sessions: Sessions, broadcast_id: int, **values: Any) -> None:
    async with sessions() as session, session.begin():
        await session.execute(update(Broadcast).where(Broadcast.id == broadcast_id).values(**values))
