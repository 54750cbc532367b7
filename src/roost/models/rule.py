"""Automation rules: triggers OR-ed, actions run in order (seed 001, CONVENTIONS §7)."""

from __future__ import annotations

from typing import Annotated, Any

from sqlalchemy import String
from sqlalchemy.orm import Mapped, mapped_column

from roost.db import Base
from roost.models._types import AccountFk, IdPk, JsonDoc, MaybeTimestamp, Timestamp

Steps = Annotated[list[dict[str, Any]], mapped_column(JsonDoc, default=list)]


class Rule(Base):
    """`triggers` [{trigger, params}] and `actions` [{action, params}], stored as validated."""

    __tablename__ = "rules"

    id: Mapped[IdPk]
    account_id: Mapped[AccountFk]
    name: Mapped[str] = mapped_column(String(255))
    active: Mapped[bool] = mapped_column(default=True)
    triggers: Mapped[Steps]
    actions: Mapped[Steps]
    last_run_at: Mapped[MaybeTimestamp]
    created_at: Mapped[Timestamp]
    updated_at: Mapped[Timestamp]
