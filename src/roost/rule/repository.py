from __future__ import annotations

from collections.abc import Collection
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, Select, func, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import QueryableAttribute

from roost.db.repository import ScopedRepository
from roost.models import Broadcast, Rule, RuleRun, Sequence, SequenceEmail, Tag
from roost.rule.types import ActiveRule


class RuleRepository(ScopedRepository[Rule]):
    """Rules, and the account's rows their steps refer to (tags, sequences, emails, broadcasts)."""

    model = Rule

    def search_filter(self, search_by: str, pattern: str) -> ColumnElement[bool] | None:
        return func.lower(Rule.name).like(pattern, escape="\\")

    def order_column(self, order_by: str) -> ColumnElement[Any] | QueryableAttribute[Any]:
        columns: dict[str, ColumnElement[Any] | QueryableAttribute[Any]] = {
            "name": func.lower(Rule.name),
            "created_at": Rule.created_at,
        }
        return columns[order_by]

    async def _existing(self, model: type[Sequence | Broadcast], ids: Collection[int]) -> set[int]:
        if not ids:
            return set()
        rows = await self.session.scalars(
            select(model.id).where(model.account_id == self.account_id, model.id.in_(ids))
        )
        return set(rows)

    async def sequence_ids(self, ids: Collection[int]) -> set[int]:
        """Which of these sequences exist in the account."""
        return await self._existing(Sequence, ids)

    async def broadcast_ids(self, ids: Collection[int]) -> set[int]:
        """Which of these broadcasts exist in the account."""
        return await self._existing(Broadcast, ids)

    async def email_sequences(self, ids: Collection[int]) -> dict[int, int]:
        """The sequence of each of these sequence emails that exists in the account."""
        if not ids:
            return {}
        rows = await self.session.execute(
            select(SequenceEmail.id, SequenceEmail.sequence_id).where(
                SequenceEmail.account_id == self.account_id, SequenceEmail.id.in_(ids)
            )
        )
        return {email_id: sequence_id for email_id, sequence_id in rows}

    async def tag_names(self, ids: Collection[int]) -> dict[int, str]:
        """Current names of these tags; a deleted one is absent."""
        if not ids:
            return {}
        rows = await self.session.execute(
            select(Tag.id, Tag.name).where(Tag.account_id == self.account_id, Tag.id.in_(ids))
        )
        return {tag_id: name for tag_id, name in rows}

    async def touch(self, rule_id: int, at: datetime) -> None:
        """Set last_run_at, leaving the row alone when it already says this second (fewer row locks)."""
        await self.session.execute(
            update(Rule)
            .where(
                Rule.account_id == self.account_id,
                Rule.id == rule_id,
                or_(Rule.last_run_at.is_(None), Rule.last_run_at < at),
            )
            .values(last_run_at=at)
            .execution_options(synchronize_session=False)
        )


async def active_rules(session: AsyncSession, account_ids: Collection[int]) -> dict[int, list[ActiveRule]]:
    """The active rules of several accounts, by account, in id order.

    The one read across accounts: the rules engine loads, once per batch of events, the rules of
    every account the batch concerns. Each rule is then applied to its own account's events only.
    """
    if not account_ids:
        return {}
    rows = await session.execute(
        select(Rule.id, Rule.account_id, Rule.name, Rule.triggers, Rule.actions)
        .where(Rule.account_id.in_(account_ids), Rule.active.is_(True))
        .order_by(Rule.id)
    )
    found: dict[int, list[ActiveRule]] = {}
    for row in rows:
        rule = ActiveRule(
            id=row.id, account_id=row.account_id, name=row.name, triggers=list(row.triggers), actions=list(row.actions)
        )
        found.setdefault(rule.account_id, []).append(rule)
    return found


class RunRepository(ScopedRepository[RuleRun]):
    """The run log of rules."""

    model = RuleRun

    def search_filter(self, search_by: str, pattern: str) -> ColumnElement[bool] | None:
        columns = {"event": RuleRun.event_type, "status": RuleRun.status, "error": RuleRun.error}
        return func.lower(columns[search_by]).like(pattern, escape="\\")

    def order_column(self, order_by: str) -> ColumnElement[Any] | QueryableAttribute[Any]:
        columns: dict[str, ColumnElement[Any] | QueryableAttribute[Any]] = {
            "created_at": RuleRun.created_at,
            "contact_id": RuleRun.contact_id,
        }
        return columns[order_by]

    def of_rule(self, rule_id: int) -> Select[RuleRun]:
        return self.scoped().where(RuleRun.rule_id == rule_id)

    async def has_run(self, rule_id: int, contact_id: int, origin_id: int) -> bool:
        """Whether the rule ran for the contact in the chain started by `origin_id`."""
        found = await self.session.scalar(
            select(RuleRun.id).where(
                RuleRun.account_id == self.account_id,
                RuleRun.rule_id == rule_id,
                RuleRun.contact_id == contact_id,
                RuleRun.origin_id == origin_id,
            )
        )
        return found is not None
