from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence as Seq
from dataclasses import replace
from typing import Any, TypeVar

from sqlalchemy import ColumnElement, Select, delete, false, func, select
from sqlalchemy.orm import InstrumentedAttribute, QueryableAttribute

from roost.db import Base
from roost.db.repository import ScopedRepository
from roost.kit.paging import ListParams, Page
from roost.models import ContactSequence, Sequence, SequenceEmail
from roost.sequence.types import SequenceLink

# How a keyword reads when searching by `active` (a boolean has no substrings to match).
_ACTIVE_KEYWORDS = {
    **dict.fromkeys(("1", "true", "yes", "active"), True),
    **dict.fromkeys(("0", "false", "no", "inactive"), False),
}

M = TypeVar("M", bound=Base)


def _active_is(column: InstrumentedAttribute[bool], keyword: str) -> ColumnElement[bool]:
    value = _ACTIVE_KEYWORDS.get(keyword.strip().lower())
    return false() if value is None else column == value


class _ActiveSearch(ScopedRepository[M]):
    """search_by=active takes the keyword as a boolean word (1/0, true/false, yes/no, active/inactive)."""

    async def page(self, params: ListParams, base: Select[M] | None = None) -> Page[M]:
        stmt = base if base is not None else self.scoped()
        if params.search_by == "active" and params.keyword:
            stmt = stmt.where(_active_is(self.model.active, params.keyword))
            params = replace(params, keyword=None)
        return await super().page(params, stmt)


class SequenceRepository(_ActiveSearch[Sequence]):
    model = Sequence

    def search_filter(self, search_by: str, pattern: str) -> ColumnElement[bool] | None:
        return func.lower(Sequence.name).like(pattern, escape="\\")

    def order_column(self, order_by: str) -> ColumnElement[Any] | QueryableAttribute[Any]:
        columns: dict[str, ColumnElement[Any] | QueryableAttribute[Any]] = {
            "name": func.lower(Sequence.name),
            "active": Sequence.active,
            "created_at": Sequence.created_at,
        }
        return columns[order_by]

    async def get_for_update(self, sequence_id: int) -> Sequence | None:
        """The sequence row locked (PostgreSQL) so that concurrent changes to its emails' order serialize."""
        row: Sequence | None = await self.session.scalar(
            self.scoped().where(Sequence.id == sequence_id).with_for_update()
        )
        return row


class SequenceEmailRepository(_ActiveSearch[SequenceEmail]):
    model = SequenceEmail

    def search_filter(self, search_by: str, pattern: str) -> ColumnElement[bool] | None:
        return func.lower(SequenceEmail.subject).like(pattern, escape="\\")

    def order_column(self, order_by: str) -> ColumnElement[Any] | QueryableAttribute[Any]:
        columns: dict[str, ColumnElement[Any] | QueryableAttribute[Any]] = {
            "subject": func.lower(SequenceEmail.subject),
            "active": SequenceEmail.active,
            "order": SequenceEmail.position,
        }
        return columns[order_by]

    def of_sequence(self, sequence_id: int) -> Select[SequenceEmail]:
        return self.scoped().where(SequenceEmail.sequence_id == sequence_id)

    async def in_order(self, sequence_id: int, *, active_only: bool = False) -> list[SequenceEmail]:
        stmt = self.of_sequence(sequence_id)
        if active_only:
            stmt = stmt.where(SequenceEmail.active.is_(True))
        return list((await self.session.scalars(stmt.order_by(SequenceEmail.position, SequenceEmail.id))).all())

    async def first_active(self, sequence_id: int) -> SequenceEmail | None:
        row: SequenceEmail | None = await self.session.scalar(
            self.of_sequence(sequence_id)
            .where(SequenceEmail.active.is_(True))
            .order_by(SequenceEmail.position, SequenceEmail.id)
            .limit(1)
        )
        return row

    async def last_position(self, sequence_id: int) -> int:
        stmt = select(func.max(SequenceEmail.position)).where(
            SequenceEmail.account_id == self.account_id, SequenceEmail.sequence_id == sequence_id
        )
        return await self.session.scalar(stmt) or 0


class MembershipRepository(ScopedRepository[ContactSequence]):
    """Contacts' memberships of sequences (no list endpoint of its own)."""

    model = ContactSequence

    async def get_membership(self, contact_id: int, sequence_id: int) -> ContactSequence | None:
        row: ContactSequence | None = await self.session.scalar(
            self.scoped().where(ContactSequence.contact_id == contact_id, ContactSequence.sequence_id == sequence_id)
        )
        return row

    async def of_contact(self, contact_id: int) -> list[ContactSequence]:
        rows = await self.session.scalars(
            self.scoped().where(ContactSequence.contact_id == contact_id).order_by(ContactSequence.sequence_id)
        )
        return list(rows.all())

    async def pending_of_sequence(self, sequence_id: int) -> list[ContactSequence]:
        """Members still waiting for a step (not completed)."""
        rows = await self.session.scalars(
            self.scoped().where(ContactSequence.sequence_id == sequence_id, ContactSequence.completed_at.is_(None))
        )
        return list(rows.all())

    async def remove(self, contact_id: int, sequence_ids: Seq[int]) -> None:
        await self.session.execute(
            delete(ContactSequence).where(
                ContactSequence.account_id == self.account_id,
                ContactSequence.contact_id == contact_id,
                ContactSequence.sequence_id.in_(sequence_ids),
            )
        )

    async def links_of(self, contact_ids: Seq[int]) -> dict[int, list[SequenceLink]]:
        """Memberships of several contacts with their sequences' names, in one query."""
        if not contact_ids:
            return {}
        rows = await self.session.execute(
            select(
                ContactSequence.contact_id,
                Sequence.id,
                ContactSequence.current_step,
                Sequence.name,
                Sequence.description,
                ContactSequence.subscribed_at,
                ContactSequence.confirmed_at,
            )
            .join(Sequence, Sequence.id == ContactSequence.sequence_id)
            # Tenancy through the sequence row, so the contact_id of the primary key drives the lookup.
            .where(Sequence.account_id == self.account_id, ContactSequence.contact_id.in_(contact_ids))
            .order_by(ContactSequence.contact_id, ContactSequence.subscribed_at, Sequence.id)
        )
        links: dict[int, list[SequenceLink]] = defaultdict(list)
        for contact_id, sequence_id, step, name, description, subscribed_at, confirmed_at in rows:
            links[contact_id].append(
                SequenceLink(
                    sequence_id=sequence_id,
                    current_step=step,
                    name=name,
                    description=description,
                    subscribed_at=subscribed_at,
                    confirmed_at=confirmed_at,
                )
            )
        return links
