from __future__ import annotations

from typing import Any

from sqlalchemy import ColumnElement, func, select
from sqlalchemy.orm import QueryableAttribute

from roost.db.repository import ScopedRepository
from roost.models import Contact, Conversion


class ConversionRepository(ScopedRepository[Conversion]):
    model = Conversion

    def search_filter(self, search_by: str, pattern: str) -> ColumnElement[bool] | None:
        return func.lower(Conversion.source).like(pattern, escape="\\")

    def order_column(self, order_by: str) -> ColumnElement[Any] | QueryableAttribute[Any]:
        columns: dict[str, ColumnElement[Any] | QueryableAttribute[Any]] = {
            "created_at": Conversion.created_at,
            "value": Conversion.value,
        }
        return columns[order_by]

    async def contact_id(self, *, contact_id: int | None = None, email: str | None = None) -> int | None:
        """The id of the account's contact with this id or this email (ignoring case), if any."""
        stmt = select(Contact.id).where(Contact.account_id == self.account_id)
        if contact_id is not None:
            stmt = stmt.where(Contact.id == contact_id)
        if email is not None:
            stmt = stmt.where(func.lower(Contact.email) == email.lower())
        found: int | None = await self.session.scalar(stmt)
        return found
