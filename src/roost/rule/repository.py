from __future__ import annotations

from collections.abc import Collection
from typing import Any

from sqlalchemy import ColumnElement, func, select
from sqlalchemy.orm import QueryableAttribute

from roost.db.repository import ScopedRepository
from roost.models import Broadcast, Rule, Sequence, SequenceEmail, Tag


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
