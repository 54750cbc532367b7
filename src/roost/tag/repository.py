from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from sqlalchemy import ColumnElement, func, select

from roost.db.repository import ScopedRepository
from roost.models import Tag


class TagRepository(ScopedRepository[Tag]):
    model = Tag

    def search_filter(self, search_by: str, pattern: str) -> ColumnElement[bool] | None:
        return func.lower(Tag.name).like(pattern, escape="\\")

    def order_column(self, order_by: str) -> ColumnElement[Any]:
        return func.lower(Tag.name)

    async def by_names(self, names: Iterable[str]) -> dict[str, Tag]:
        """Existing tags keyed by lower-cased name."""
        lowered = {name.lower() for name in names}
        if not lowered:
            return {}
        rows = await self.session.scalars(self.scoped().where(func.lower(Tag.name).in_(lowered)))
        return {tag.name.lower(): tag for tag in rows}

    async def by_ids(self, ids: Iterable[int]) -> dict[int, Tag]:
        """Existing tags keyed by id."""
        wanted = set(ids)
        if not wanted:
            return {}
        rows = await self.session.scalars(self.scoped().where(Tag.id.in_(wanted)))
        return {tag.id: tag for tag in rows}

    async def name_taken(self, name: str, *, except_id: int | None = None) -> bool:
        stmt = select(Tag.id).where(Tag.account_id == self.account_id, func.lower(Tag.name) == name.lower())
        if except_id is not None:
            stmt = stmt.where(Tag.id != except_id)
        return await self.session.scalar(stmt.limit(1)) is not None
