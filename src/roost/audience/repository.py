from __future__ import annotations

from collections.abc import Collection
from typing import Any

from sqlalchemy import ColumnElement, Select, func, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import QueryableAttribute

from roost.db.repository import ScopedRepository
from roost.models import Broadcast, Segment, Sequence, Tag


class SegmentRepository(ScopedRepository[Segment]):
    model = Segment

    def search_filter(self, search_by: str, pattern: str) -> ColumnElement[bool] | None:
        return func.lower(Segment.name).like(pattern, escape="\\")

    def order_column(self, order_by: str) -> ColumnElement[Any] | QueryableAttribute[Any]:
        return Segment.created_at if order_by == "created_at" else func.lower(Segment.name)

    async def by_ids(self, ids: Collection[int]) -> dict[int, Segment]:
        if not ids:
            return {}
        rows = await self.session.scalars(self.scoped().where(Segment.id.in_(ids)))
        return {segment.id: segment for segment in rows}


class AudienceRepository:
    """Lookups over the account's contacts, tags, sequences and broadcasts that conditions need."""

    def __init__(self, session: AsyncSession, account_id: int) -> None:
        self.session = session
        self.account_id = account_id

    async def count(self, contacts: Select[int]) -> int:
        """How many rows a statement of contact ids yields (the statement is account-scoped)."""
        total: int | None = await self.session.scalar(select(func.count()).select_from(contacts.subquery()))
        return total or 0

    async def existing_tag_ids(self, ids: Collection[int]) -> set[int]:
        return await self._existing(Tag, ids)

    async def existing_sequence_ids(self, ids: Collection[int]) -> set[int]:
        return await self._existing(Sequence, ids)

    async def _existing(self, model: type[Tag] | type[Sequence], ids: Collection[int]) -> set[int]:
        if not ids:
            return set()
        rows = await self.session.scalars(
            select(model.id).where(model.account_id == self.account_id, model.id.in_(ids))
        )
        return set(rows)

    async def tag_ids_by_name(self, names: Collection[str]) -> dict[str, int]:
        """Tag ids keyed by lower-cased name (names are unique per account ignoring case)."""
        lowered = {name.lower() for name in names}
        if not lowered:
            return {}
        rows = await self.session.execute(
            select(Tag.id, Tag.name).where(Tag.account_id == self.account_id, func.lower(Tag.name).in_(lowered))
        )
        return {name.lower(): tag_id for tag_id, name in rows}

    async def unsent_broadcasts(self) -> list[tuple[int, list[dict[str, Any]]]]:
        """(id, recipient groups) of every broadcast whose recipients are not resolved yet."""
        rows = await self.session.execute(
            select(Broadcast.id, Broadcast.recipients)
            .where(Broadcast.account_id == self.account_id, Broadcast.status.not_in(("sending", "sent")))
            .order_by(Broadcast.id)
        )
        return [(broadcast_id, recipients) for broadcast_id, recipients in rows]
