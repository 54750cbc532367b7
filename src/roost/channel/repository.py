"""Queries of the Bird face's channels and channel messages, scoped to one account (CONVENTIONS §2)."""

from __future__ import annotations

import uuid
from collections.abc import Sequence

from sqlalchemy import select

from roost.db.repository import ScopedRepository
from roost.models import Channel


class ChannelRepository(ScopedRepository[Channel]):
    model = Channel

    async def by_uuid(self, public_id: uuid.UUID) -> Channel | None:
        row: Channel | None = await self.session.scalar(self.scoped().where(Channel.uuid == public_id))
        return row

    async def all(self) -> Sequence[Channel]:
        return (await self.session.scalars(self.scoped().order_by(Channel.id))).all()

    async def by_ids(self, ids: Sequence[int]) -> dict[int, Channel]:
        if not ids:
            return {}
        rows = await self.session.scalars(
            select(Channel).where(Channel.account_id == self.account_id, Channel.id.in_(ids))
        )
        return {row.id: row for row in rows}
