from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import ColumnElement, func, select
from sqlalchemy.orm import QueryableAttribute

from roost.db.repository import ScopedRepository
from roost.models import MARKETING_KINDS, Contact, Conversion, Interaction, Message


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

    async def get_for_update(self, conversion_id: int) -> Conversion | None:
        """The conversion, its row locked (PostgreSQL) until the transaction ends: changes to its value take turns."""
        row: Conversion | None = await self.session.scalar(
            self.scoped().where(Conversion.id == conversion_id).with_for_update()
        )
        return row

    async def by_event_id(self, event_id: str) -> Conversion | None:
        row: Conversion | None = await self.session.scalar(self.scoped().where(Conversion.event_id == event_id))
        return row

    async def last_clicked(self, contact_id: int, since: datetime) -> tuple[str, int | None, int | None] | None:
        """(kind, broadcast_id, sequence_email_id) of the marketing message the contact last clicked since then.

        Test sends and transactional mail are left out: they count in no email's stats.
        """
        row = (
            await self.session.execute(
                select(Message.kind, Message.broadcast_id, Message.sequence_email_id)
                .join(Interaction, Interaction.message_id == Message.id)
                .where(
                    Interaction.contact_id == contact_id,
                    Interaction.type == "click",
                    Interaction.created_at >= since,
                    Interaction.account_id == self.account_id,
                    Message.kind.in_(sorted(MARKETING_KINDS)),
                )
                .order_by(Interaction.created_at.desc(), Interaction.id.desc())
                .limit(1)
            )
        ).first()
        return None if row is None else (row[0], row[1], row[2])

    async def totals(self, contact_id: int) -> tuple[int, Decimal]:
        """How many conversions the contact has, and their total value."""
        row = (
            await self.session.execute(
                select(func.count(Conversion.id), func.coalesce(func.sum(Conversion.value), 0)).where(
                    Conversion.account_id == self.account_id, Conversion.contact_id == contact_id
                )
            )
        ).one()
        # SQLite sums NUMERIC as a float: back to cents.
        return int(row[0]), Decimal(str(row[1])).quantize(Decimal("0.01"))
