from __future__ import annotations

from typing import Any

from sqlalchemy import ColumnElement, func
from sqlalchemy.orm import QueryableAttribute

from roost.db.repository import ScopedRepository
from roost.models import Broadcast


class BroadcastRepository(ScopedRepository[Broadcast]):
    model = Broadcast

    def search_filter(self, search_by: str, pattern: str) -> ColumnElement[bool] | None:
        column = Broadcast.status if search_by == "status" else Broadcast.name
        return func.lower(column).like(pattern, escape="\\")

    def order_column(self, order_by: str) -> ColumnElement[Any] | QueryableAttribute[Any]:
        return Broadcast.created_at if order_by == "created_at" else func.lower(Broadcast.name)

    async def get_for_update(self, broadcast_id: int) -> Broadcast | None:
        """The broadcast row locked (PostgreSQL) so that a change and the delivery engine's start serialize."""
        row: Broadcast | None = await self.session.scalar(
            # populate_existing: the status must be the one read under the lock, not one loaded before.
            self.scoped()
            .where(Broadcast.id == broadcast_id)
            .with_for_update()
            .execution_options(populate_existing=True)
        )
        return row
