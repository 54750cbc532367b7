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
