from __future__ import annotations

from sqlalchemy import Index, String, func
from sqlalchemy.orm import Mapped, mapped_column

from roost.db import Base
from roost.models._types import LINK_COUNTED, AccountFk, IdPk, LinkCount, Timestamp


class Tag(Base):
    __tablename__ = "tags"
    __mapper_args__ = LINK_COUNTED
    id: Mapped[IdPk]
    account_id: Mapped[AccountFk]
    name: Mapped[str] = mapped_column(String(255))
    created_at: Mapped[Timestamp]
    contacts_count: Mapped[LinkCount]


# Names are unique per account ignoring case (CONVENTIONS §7).
Index("uq_tags_account_id_lower_name", Tag.account_id, func.lower(Tag.name), unique=True)
