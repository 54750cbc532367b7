"""Queries of the Bird face's channels and channel messages, scoped to one account (CONVENTIONS §2)."""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, cast

from sqlalchemy import ColumnElement, Table, bindparam, exists, func, insert, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import load_only

from roost.channel.types import InteractionView
from roost.db.repository import ScopedRepository, written
from roost.models import Channel, ChannelMessage, ChannelMessageTag, Interaction, Message, Tag

CHANNEL_MESSAGES = cast(Table, ChannelMessage.__table__)
CHANNEL_MESSAGE_TAGS = cast(Table, ChannelMessageTag.__table__)
MESSAGES = cast(Table, Message.__table__)


# Built once: sending looks the channel up on every request, and building a statement costs more than running it.
_CHANNEL_BY_UUID = select(Channel).where(
    Channel.account_id == bindparam("account_id"), Channel.uuid == bindparam("public_id")
)
_CHANNELS_BY_UUIDS = select(Channel).where(
    Channel.account_id == bindparam("account_id"), Channel.uuid.in_(bindparam("public_ids", expanding=True))
)


class ChannelRepository(ScopedRepository[Channel]):
    model = Channel

    async def by_uuid(self, public_id: uuid.UUID) -> Channel | None:
        row: Channel | None = await self.session.scalar(
            _CHANNEL_BY_UUID, {"account_id": self.account_id, "public_id": public_id}
        )
        return row

    async def by_uuids(self, public_ids: Collection[uuid.UUID]) -> dict[uuid.UUID, Channel]:
        if not public_ids:
            return {}
        rows = await self.session.scalars(
            _CHANNELS_BY_UUIDS, {"account_id": self.account_id, "public_ids": sorted(public_ids)}
        )
        return {channel.uuid: channel for channel in rows}

    async def all(self) -> Sequence[Channel]:
        return (await self.session.scalars(self.scoped().order_by(Channel.id))).all()


class ChannelMessageRepository(ScopedRepository[ChannelMessage]):
    model = ChannelMessage

    async def by_uuid(self, public_id: uuid.UUID, *, channel_id: int) -> ChannelMessage | None:
        row: ChannelMessage | None = await self.session.scalar(
            self.scoped().where(ChannelMessage.uuid == public_id, ChannelMessage.channel_id == channel_id)
        )
        return row

    async def by_idempotency_keys(self, keys: Collection[str]) -> dict[str, ChannelMessage]:
        if not keys:
            return {}
        rows = await self.session.scalars(self.scoped().where(ChannelMessage.idempotency_key.in_(sorted(keys))))
        return {row.idempotency_key: row for row in rows if row.idempotency_key is not None}

    async def insert_many(self, rows: Sequence[dict[str, Any]]) -> list[ChannelMessage]:
        """Insert channel messages of this account with one statement; them, in the order of `rows`."""
        assert all(row["account_id"] == self.account_id for row in rows)
        inserted = await self.session.execute(
            insert(CHANNEL_MESSAGES).returning(CHANNEL_MESSAGES.c.id, sort_by_parameter_order=True), list(rows)
        )
        return [
            written(ChannelMessage, {**row, "id": int(id_)}) for id_, row in zip(inserted.scalars(), rows, strict=True)
        ]

    async def link_tags(self, links: Sequence[tuple[int, int]]) -> None:
        """Tag channel messages: (message id, tag id) pairs."""
        if links:
            await self.session.execute(
                insert(CHANNEL_MESSAGE_TAGS),
                [{"channel_message_id": message_id, "tag_id": tag_id} for message_id, tag_id in links],
            )

    async def keyset_page(
        self,
        *,
        channel_id: int,
        where: Sequence[ColumnElement[bool]],
        after: int | None,
        oldest_first: bool,
        limit: int,
    ) -> list[ChannelMessage]:
        """Up to `limit` messages of the channel past the id `after`, newest first unless `oldest_first`."""
        statement = self.scoped().where(ChannelMessage.channel_id == channel_id, *where)
        if after is not None:
            statement = statement.where(ChannelMessage.id > after if oldest_first else ChannelMessage.id < after)
        order = ChannelMessage.id.asc() if oldest_first else ChannelMessage.id.desc()
        return list((await self.session.scalars(statement.order_by(order).limit(limit))).all())

    async def interactions(self, channel_message_id: int) -> list[InteractionView]:
        rows = await self.session.execute(
            select(Interaction.id, Interaction.type, Interaction.url, Interaction.created_at, Message.to_address)
            .join(Message, Message.id == Interaction.message_id)
            .where(
                Interaction.account_id == self.account_id,
                Message.channel_message_id == channel_message_id,
            )
            .order_by(Interaction.id)
        )
        return [InteractionView(row.id, row.type, row.url, row.created_at, row.to_address) for row in rows]


@dataclass(frozen=True, slots=True)
class ReceiverOutcome:
    status: str
    was_sent: bool
    # The relay reported the mail in the receiver's mailbox (a success DSN).
    was_delivered: bool
    smtp_code: int | None
    last_error: str | None


def receiver_matches(addresses: Collection[str]) -> ColumnElement[bool]:
    """Channel messages with a receiver at one of these addresses (any case)."""
    return exists().where(
        Message.channel_message_id == ChannelMessage.id,
        func.lower(Message.to_address).in_(sorted({address.lower() for address in addresses})),
    )


def tagged(names: Collection[str]) -> ColumnElement[bool]:
    """Channel messages with one of these tags (any case)."""
    return exists().where(
        ChannelMessageTag.channel_message_id == ChannelMessage.id,
        ChannelMessageTag.tag_id == Tag.id,
        func.lower(Tag.name).in_(sorted({name.lower() for name in names})),
    )


async def insert_receiver_messages(session: AsyncSession, rows: Sequence[dict[str, Any]]) -> None:
    """The `messages` rows of a channel message's receivers, which the delivery engine sends."""
    await session.execute(insert(MESSAGES), list(rows))


# Across accounts: the delivery engine works on messages of every account at once.


async def public_ids(session: AsyncSession, ids: Collection[int]) -> dict[int, uuid.UUID]:
    """The public ids of these channels."""
    if not ids:
        return {}
    rows = await session.execute(select(Channel.id, Channel.uuid).where(Channel.id.in_(sorted(ids))))
    return {row.id: row.uuid for row in rows}


async def receiver_outcomes(session: AsyncSession, message_ids: Collection[int]) -> dict[int, list[ReceiverOutcome]]:
    """How each receiver's mail of these channel messages stands."""
    if not message_ids:
        return {}
    rows = await session.execute(
        select(
            Message.channel_message_id,
            Message.status,
            Message.sent_at,
            Message.delivered_at,
            Message.smtp_code,
            Message.last_error,
        ).where(Message.channel_message_id.in_(sorted(message_ids)))
    )
    outcomes: dict[int, list[ReceiverOutcome]] = defaultdict(list)
    for row in rows:
        assert row.channel_message_id is not None
        outcomes[row.channel_message_id].append(
            ReceiverOutcome(
                row.status, row.sent_at is not None, row.delivered_at is not None, row.smtp_code, row.last_error
            )
        )
    return outcomes


async def for_update(session: AsyncSession, message_ids: Collection[int]) -> list[ChannelMessage]:
    """The channel messages with these ids, in any account, locked until the transaction ends: the
    delivery engine settles them.

    Taken before their receivers' outcomes are read, the lock makes two transactions that settle the
    same message (its receivers' outcomes recorded by two workers at once) take turns, the second
    reading what the first committed; without it each could see the other's receiver unfinished,
    and the message would never leave `accepted`. In id order, so that two such transactions do not
    deadlock. (SQLite has one writer at a time and no row locks.)
    """
    # Only what a status change reads and writes: not the content, which can weigh kilobytes a message.
    statement = (
        select(ChannelMessage)
        .options(
            load_only(
                ChannelMessage.uuid,
                ChannelMessage.account_id,
                ChannelMessage.channel_id,
                ChannelMessage.status,
                ChannelMessage.reference,
                ChannelMessage.failure_code,
                ChannelMessage.failure_description,
                ChannelMessage.last_status_at,
                ChannelMessage.updated_at,
                raiseload=True,
            )
        )
        .where(ChannelMessage.id.in_(sorted(message_ids)))
        .order_by(ChannelMessage.id)
    )
    if session.get_bind().dialect.name == "postgresql":
        statement = statement.with_for_update()
    return list((await session.scalars(statement)).all())


async def update_statuses(
    session: AsyncSession, changes: dict[tuple[str, int | None, str | None], list[int]], *, at: datetime
) -> None:
    """Write status changes made at `at`, one UPDATE for each set of values: `(status, failure_code,
    failure_description)` (the failure None to keep it as it is) → the ids of the messages taking them.

    A group commit's messages mostly take the same values, so this is one statement where writing
    each changed object would be one per message.
    """
    for (status, failure_code, failure_description), ids in changes.items():
        values: dict[str, Any] = {"status": status, "last_status_at": at, "updated_at": at}
        if failure_code is not None:
            values |= {"failure_code": failure_code, "failure_description": failure_description}
        await session.execute(
            update(ChannelMessage)
            .where(ChannelMessage.id.in_(sorted(ids)))
            .values(values)
            .execution_options(synchronize_session=False)
        )
