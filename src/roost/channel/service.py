"""Email channels of a workspace (CONVENTIONS §10): the sender identity a channel's messages go out with."""

from __future__ import annotations

import uuid
from collections.abc import Collection, Sequence

from sqlalchemy.ext.asyncio import AsyncSession

from roost.channel.repository import ChannelRepository
from roost.errors import NotFound
from roost.kit.clock import utcnow
from roost.kit.ids import parse_uuid
from roost.models import Channel


async def list_all(session: AsyncSession, *, account_id: int) -> Sequence[Channel]:
    """The workspace's channels, oldest first."""
    return await ChannelRepository(session, account_id).all()


async def get(session: AsyncSession, *, account_id: int, channel_id: str) -> Channel:
    """One channel of the workspace by its public id, or NotFound."""
    public_id = parse_uuid(channel_id)
    channel = await ChannelRepository(session, account_id).by_uuid(public_id) if public_id else None
    if channel is None:
        raise NotFound()
    return channel


async def by_public_ids(session: AsyncSession, *, account_id: int, channel_ids: Collection[str]) -> dict[str, Channel]:
    """The workspace's channels with these public ids, by the id as given; ids of no channel are absent."""
    wanted = {channel_id: parse_uuid(channel_id) for channel_id in channel_ids}
    found = await ChannelRepository(session, account_id).by_uuids({id_ for id_ in wanted.values() if id_})
    return {channel_id: found[id_] for channel_id, id_ in wanted.items() if id_ in found}


async def create(
    session: AsyncSession,
    *,
    account_id: int,
    name: str,
    sender_email: str,
    sender_name: str,
    reply_to: str | None,
) -> Channel:
    """Create an active email channel."""
    channel = ChannelRepository(session, account_id).add(
        Channel(
            account_id=account_id,
            uuid=uuid.uuid4(),
            name=name,
            platform="email",
            status="active",
            sender_email=sender_email,
            sender_name=sender_name,
            reply_to=reply_to,
        )
    )
    await session.flush()
    return channel


async def update(
    session: AsyncSession,
    *,
    account_id: int,
    channel_id: str,
    changes: dict[str, object],
) -> Channel:
    """Change a channel's name, status, sender or reply-to; `changes` holds only what the client sent."""
    channel = await get(session, account_id=account_id, channel_id=channel_id)
    for name, value in changes.items():
        setattr(channel, name, value)
    if changes:
        channel.updated_at = utcnow()
    await session.flush()
    return channel
