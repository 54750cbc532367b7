from __future__ import annotations

from sqlalchemy import String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from roost.db import Base
from roost.models._types import AccountFk, IdPk, Timestamp


class CustomField(Base):
    """A contact field definition. first_name and last_name are built in to every account."""

    __tablename__ = "custom_fields"
    __table_args__ = (UniqueConstraint("account_id", "key"),)

    id: Mapped[IdPk]
    account_id: Mapped[AccountFk]
    label: Mapped[str] = mapped_column(String(255))
    type: Mapped[str] = mapped_column(String(16), default="text")
    key: Mapped[str] = mapped_column(String(64))
    default: Mapped[str] = mapped_column(String(1000), default="")
    builtin: Mapped[bool] = mapped_column(default=False)
    created_at: Mapped[Timestamp]
