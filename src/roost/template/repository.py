"""Queries of template projects and their versions, scoped to one account (CONVENTIONS §2)."""

from __future__ import annotations

import uuid
from collections.abc import Sequence

from sqlalchemy import func, select

from roost.db.repository import ScopedRepository
from roost.models import TemplateProject, TemplateVersion


class TemplateProjectRepository(ScopedRepository[TemplateProject]):
    model = TemplateProject

    async def by_uuid(self, public_id: uuid.UUID, *, lock: bool = False) -> TemplateProject | None:
        """The project; with `lock`, its row locked (PostgreSQL) so that publishes to it serialize."""
        query = self.scoped().where(TemplateProject.uuid == public_id)
        row: TemplateProject | None = await self.session.scalar(query.with_for_update() if lock else query)
        return row

    async def all(self) -> Sequence[TemplateProject]:
        return (await self.session.scalars(self.scoped().order_by(TemplateProject.id))).all()


class TemplateVersionRepository(ScopedRepository[TemplateVersion]):
    model = TemplateVersion

    async def by_uuid(self, project_id: int, public_id: uuid.UUID) -> TemplateVersion | None:
        row: TemplateVersion | None = await self.session.scalar(
            self.scoped().where(TemplateVersion.project_id == project_id, TemplateVersion.uuid == public_id)
        )
        return row

    async def newest(self, project_id: int) -> TemplateVersion | None:
        row: TemplateVersion | None = await self.session.scalar(
            self.scoped()
            .where(TemplateVersion.project_id == project_id)
            .order_by(TemplateVersion.number.desc())
            .limit(1)
        )
        return row

    async def of_project(self, project_id: int) -> Sequence[TemplateVersion]:
        """The project's versions, newest first."""
        query = self.scoped().where(TemplateVersion.project_id == project_id).order_by(TemplateVersion.number.desc())
        return (await self.session.scalars(query)).all()

    async def last_number(self, project_id: int) -> int:
        number = await self.session.scalar(
            select(func.max(TemplateVersion.number)).where(
                TemplateVersion.account_id == self.account_id, TemplateVersion.project_id == project_id
            )
        )
        return int(number or 0)

    async def newest_uuids(self, project_ids: Sequence[int]) -> dict[int, uuid.UUID]:
        """The public id of each project's newest version, for the projects that have one."""
        if not project_ids:
            return {}
        last = (
            select(TemplateVersion.project_id, func.max(TemplateVersion.number).label("number"))
            .where(TemplateVersion.account_id == self.account_id, TemplateVersion.project_id.in_(project_ids))
            .group_by(TemplateVersion.project_id)
            .subquery()
        )
        rows = await self.session.execute(
            select(TemplateVersion.project_id, TemplateVersion.uuid).join(
                last,
                (TemplateVersion.project_id == last.c.project_id) & (TemplateVersion.number == last.c.number),
            )
        )
        return {project_id: public_id for project_id, public_id in rows}
