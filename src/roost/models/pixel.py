"""What the tracking pixel counts besides conversions: page views, one row per account and day."""

from __future__ import annotations

from datetime import date

from sqlalchemy import BigInteger, Date, ForeignKey, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from roost.db import Base
from roost.models._types import BigId, IdPk


class PageViewDay(Base):
    """Page views of one UTC day: a counter, so the table grows with time, never with traffic.

    `identified` counts the views from browsers tied to a contact through a click (the `_bsc` cookie).
    """

    __tablename__ = "page_view_days"
    __table_args__ = (UniqueConstraint("account_id", "day"),)

    id: Mapped[IdPk]
    # No index of its own: the unique (account_id, day) serves every query and the cascade.
    account_id: Mapped[int] = mapped_column(BigId, ForeignKey("accounts.id", ondelete="CASCADE"))
    day: Mapped[date] = mapped_column(Date())
    page_views: Mapped[int] = mapped_column(BigInteger, default=0)
    identified: Mapped[int] = mapped_column(BigInteger, default=0)
