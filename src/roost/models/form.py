"""Sign-up forms: how a contact subscribes, with or without double opt-in (CONVENTIONS §7)."""

from __future__ import annotations

from typing import Annotated

from sqlalchemy import ForeignKey, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from roost.db import Base
from roost.models._types import AccountFk, BigId, IdPk, JsonDoc, Timestamp


class Form(Base):
    """`tag_ids` are applied on confirmation; ids of tags deleted since are skipped then."""

    __tablename__ = "forms"

    id: Mapped[IdPk]
    account_id: Mapped[AccountFk]
    name: Mapped[str] = mapped_column(String(255))
    double_optin: Mapped[bool] = mapped_column(default=True)
    tag_ids: Mapped[Annotated[list[int], mapped_column(JsonDoc, default=list)]]
    sequence_id: Mapped[int | None] = mapped_column(BigId, ForeignKey("sequences.id", ondelete="SET NULL"))
    redirect_url: Mapped[str] = mapped_column(String(2000), default="")
    confirmation_subject: Mapped[str] = mapped_column(String(998), default="")
    confirmation_body: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[Timestamp]
    updated_at: Mapped[Timestamp]
