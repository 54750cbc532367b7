from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from sqlalchemy import ColumnElement, func, select
from sqlalchemy.orm import QueryableAttribute

from roost.db.repository import ScopedRepository
from roost.models import Form, Tag


class FormRepository(ScopedRepository[Form]):
    model = Form

    def search_filter(self, search_by: str, pattern: str) -> ColumnElement[bool] | None:
        return func.lower(Form.name).like(pattern, escape="\\")

    def order_column(self, order_by: str) -> ColumnElement[Any] | QueryableAttribute[Any]:
        columns: dict[str, ColumnElement[Any] | QueryableAttribute[Any]] = {
            "name": func.lower(Form.name),
            "created_at": Form.created_at,
        }
        return columns[order_by]

    async def tags_by_id(self, tag_ids: Iterable[int]) -> dict[int, Tag]:
        """The account's tags among these ids (one query, whatever the number of forms asking)."""
        wanted = set(tag_ids)
        if not wanted:
            return {}
        rows = await self.session.scalars(select(Tag).where(Tag.account_id == self.account_id, Tag.id.in_(wanted)))
        return {tag.id: tag for tag in rows}
