"""Automation rules: triggers OR-ed, actions run in order (seed 001, CONVENTIONS §7), and their run log."""

from __future__ import annotations

from typing import Annotated, Any

from sqlalchemy import BigInteger, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from roost.db import Base
from roost.models._types import AccountFk, BigId, IdPk, JsonDoc, JsonObject, MaybeTimestamp, Timestamp

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


class RuleRun(Base):
    """One run of a rule for a contact, caused by one event (the rule's run log).

    Unique per (rule, contact, origin): a rule runs at most once per contact per event that
    started a chain (CONVENTIONS §7), and the constraint is what holds that when several
    workers handle events of one chain at once. `contact_id` and the event columns are plain
    values, not foreign keys: the log outlives a deleted contact (as events do), and a rule's
    `delete` action removes the contact inside the run itself. `actions` lists each action of
    the rule as it was run, with its `status` (done, failed, undone, skipped, not_run).
    """

    __tablename__ = "rule_runs"
    __table_args__ = (
        UniqueConstraint("rule_id", "contact_id", "origin_id"),
        Index("ix_rule_runs_rule_id_id", "rule_id", "id"),
    )

    id: Mapped[IdPk]
    account_id: Mapped[AccountFk]
    rule_id: Mapped[int] = mapped_column(BigId, ForeignKey("rules.id", ondelete="CASCADE"))
    contact_id: Mapped[int] = mapped_column(BigInteger())
    event_id: Mapped[int] = mapped_column(BigInteger())
    event_type: Mapped[str] = mapped_column(String(64))
    origin_id: Mapped[int] = mapped_column(BigInteger())
    depth: Mapped[int] = mapped_column(Integer)
    trigger_step: Mapped[JsonObject]
    status: Mapped[str] = mapped_column(String(16))
    actions: Mapped[Steps]
    error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[Timestamp]
