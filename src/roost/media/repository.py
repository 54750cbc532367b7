"""Queries of media, scoped to one account; and the one lookup by UUID alone."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from roost.db.repository import ScopedRepository
from roost.models import Media


async def media_named(session: AsyncSession, media_id: uuid.UUID) -> Media | None:
    """The media a verified upload form or a mediaUrl names, whatever its account.

    The one query not scoped by account: the signed form, or the unguessable UUID of a mediaUrl,
    is the authority (like a presigned URL), and it names a media of exactly one account.
    """
    media: Media | None = await session.scalar(select(Media).where(Media.uuid == media_id))
    return media


class MediaRepository(ScopedRepository[Media]):
    model = Media

    async def by_uuid(self, media_id: uuid.UUID) -> Media | None:
        media: Media | None = await self.session.scalar(self.scoped().where(Media.uuid == media_id))
        return media

    async def mark_uploaded(self, media_id: int, *, size: int, filename: str, at: datetime) -> bool:
        """Pending -> uploaded; True for the one request that did it (one conditional UPDATE)."""
        result = await self.session.execute(
            update(Media)
            .where(Media.account_id == self.account_id, Media.id == media_id, Media.status == "pending")
            .values(status="uploaded", size=size, filename=filename, uploaded_at=at)
            .execution_options(synchronize_session=False)
        )
        return bool(getattr(result, "rowcount", 0))
