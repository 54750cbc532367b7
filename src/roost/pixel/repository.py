from __future__ import annotations

from datetime import date

from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncSession

from roost.models import PageViewDay
from roost.pixel.types import PageViewDayCount


class PageViewRepository:
    """The account's page view counters, one row per UTC day."""

    def __init__(self, session: AsyncSession, account_id: int) -> None:
        self.session = session
        self.account_id = account_id

    async def count(self, day: date, *, identified: bool) -> None:
        """One more view on that day, in one statement: concurrent views never lose an increment."""
        dialect_insert = postgresql_insert if self.session.get_bind().dialect.name == "postgresql" else sqlite_insert
        add = int(identified)
        stmt = dialect_insert(PageViewDay).values(account_id=self.account_id, day=day, page_views=1, identified=add)
        await self.session.execute(
            stmt.on_conflict_do_update(
                index_elements=[PageViewDay.account_id, PageViewDay.day],
                set_={"page_views": PageViewDay.page_views + 1, "identified": PageViewDay.identified + add},
            )
        )

    async def days(self, first: date, last: date) -> list[PageViewDayCount]:
        """The days from `first` to `last` that had views, newest first."""
        rows = await self.session.execute(
            select(PageViewDay.day, PageViewDay.page_views, PageViewDay.identified)
            .where(PageViewDay.account_id == self.account_id, PageViewDay.day >= first, PageViewDay.day <= last)
            .order_by(PageViewDay.day.desc())
        )
        return [PageViewDayCount(day=day, page_views=views, identified=identified) for day, views, identified in rows]
