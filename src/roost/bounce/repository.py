"""The rows a bounce or complaint touches: the message it names and that message's interactions."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from roost.db.repository import ScopedRepository
from roost.models import Interaction, Message


async def message_for_update(session: AsyncSession, message_id: int) -> Message | None:
    """The one unscoped query: the signed token already proved which message (and so which account) it is.

    The row stays locked until the transaction ends (PostgreSQL; SQLite has a single writer), so two
    deliveries of the same report are handled one after the other and the second finds the first's work.
    """
    message: Message | None = await session.scalar(select(Message).where(Message.id == message_id).with_for_update())
    return message


class InteractionRepository(ScopedRepository[Interaction]):
    model = Interaction

    def record(self, message: Message, type: str, detail: str) -> Interaction:
        return self.add(
            Interaction(
                account_id=self.account_id,
                message_id=message.id,
                contact_id=message.contact_id,
                type=type,
                detail=detail,
            )
        )

    async def exists(self, message_id: int, type: str) -> bool:
        found = await self.session.scalar(
            self.scoped()
            .with_only_columns(Interaction.id)
            .where(Interaction.message_id == message_id, Interaction.type == type)
            .limit(1)
        )
        return found is not None

    async def bounced_messages(self, contact_id: int, since: datetime) -> int:
        """How many of the contact's messages bounced since then (through messages: indexed by contact)."""
        count = await self.session.scalar(
            select(func.count(func.distinct(Interaction.message_id)))
            .join(Message, Message.id == Interaction.message_id)
            .where(
                Message.account_id == self.account_id,
                Message.contact_id == contact_id,
                Interaction.type == "bounce",
                Interaction.created_at >= since,
            )
        )
        return count or 0
