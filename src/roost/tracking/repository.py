from __future__ import annotations

from datetime import datetime
from typing import Literal

from sqlalchemy import exists, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from roost.db.repository import ScopedRepository
from roost.models import Broadcast, Form, Interaction, Message, Sequence, SequenceEmail

# Interaction.url is bounded; a longer URL is kept cut (the redirect itself uses the whole one).
MAX_STORED_URL = 2000


async def message_named(session: AsyncSession, message_id: int, *, lock: bool = False) -> Message | None:
    """The message a verified token names, whatever its account.

    The one query not scoped by account: the signed token is the authority, and it names a
    message of exactly one account. Everything that follows goes through MessageRepository with
    that message's account. With `lock` the row stays locked (PostgreSQL) until the transaction
    ends, so that two requests for the same message take turns.
    """
    query = select(Message).where(Message.id == message_id)
    message: Message | None = await session.scalar(query.with_for_update() if lock else query)
    return message


class MessageRepository(ScopedRepository[Message]):
    model = Message

    async def stamp_first(self, message_id: int, column: Literal["opened_at", "clicked_at"], at: datetime) -> bool:
        """Set the timestamp unless it is set already; True for the request that set it.

        One conditional UPDATE, so of two concurrent requests exactly one sees True.
        """
        target = getattr(Message, column)
        result = await self.session.execute(
            update(Message)
            .where(Message.account_id == self.account_id, Message.id == message_id, target.is_(None))
            .values({target: at})
            .execution_options(synchronize_session=False)
        )
        return bool(getattr(result, "rowcount", 0))

    def add_interaction(self, message: Message, type: str, at: datetime, url: str = "", detail: str = "") -> None:
        self.session.add(
            Interaction(
                account_id=self.account_id,
                message_id=message.id,
                contact_id=message.contact_id,
                type=type,
                url=url[:MAX_STORED_URL],
                detail=detail,
                created_at=at,
            )
        )

    async def has_interaction(self, message_id: int, type: str, url: str | None = None) -> bool:
        """Whether the message already has an interaction of this type (and, given, this URL)."""
        query = exists().where(
            Interaction.account_id == self.account_id, Interaction.message_id == message_id, Interaction.type == type
        )
        if url is not None:
            query = query.where(Interaction.url == url[:MAX_STORED_URL])
        return bool(await self.session.scalar(select(query)))

    async def cancel_queued(self, contact_id: int) -> int:
        """Cancel the contact's messages no sender has claimed yet, in one UPDATE; how many."""
        result = await self.session.execute(
            update(Message)
            .where(Message.account_id == self.account_id, Message.contact_id == contact_id, Message.status == "queued")
            .values(status="cancelled")
            .execution_options(synchronize_session=False)
        )
        return int(getattr(result, "rowcount", 0))

    async def sender_name(self, message: Message) -> str | None:
        """The From name of the broadcast or sequence the message belongs to, if it belongs to one.

        A confirmation is sent as its form's sequence, a notification as its sequence.
        """
        if message.broadcast_id is not None:
            query = select(Broadcast.sender_name).where(
                Broadcast.account_id == self.account_id, Broadcast.id == message.broadcast_id
            )
        elif message.sequence_email_id is not None:
            query = (
                select(Sequence.sender_name)
                .join(SequenceEmail, SequenceEmail.sequence_id == Sequence.id)
                .where(SequenceEmail.account_id == self.account_id, SequenceEmail.id == message.sequence_email_id)
            )
        elif message.form_id is not None:
            query = (
                select(Sequence.sender_name)
                .join(Form, Form.sequence_id == Sequence.id)
                .where(Form.account_id == self.account_id, Form.id == message.form_id)
            )
        elif message.sequence_id is not None:
            query = select(Sequence.sender_name).where(
                Sequence.account_id == self.account_id, Sequence.id == message.sequence_id
            )
        else:
            return None
        name: str | None = await self.session.scalar(query)
        return name
