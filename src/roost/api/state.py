"""What an app instance holds: settings, the engine, sessions, rate limiter, addressing, media, group commits."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from roost.api.ratelimit import RateLimiter
from roost.auth.types import Principal
from roost.channel.intake import Intake
from roost.config import Settings
from roost.contact.service import ContactCreates
from roost.db import WriteGate
from roost.delivery.addressing import Addressing
from roost.kit.batching import Batcher
from roost.media.config import MediaConfig


@dataclass(slots=True)
class AppState:
    settings: Settings
    engine: AsyncEngine
    sessionmaker: async_sessionmaker[AsyncSession]
    read_sessionmaker: async_sessionmaker[AsyncSession]
    # The engine of short reads (roost.db.create_read_engine), for roost.api.deps.read_connection.
    read_engine: AsyncEngine
    write_gate: WriteGate
    limiter: RateLimiter | None
    addressing: Addressing
    media: MediaConfig
    # Presented tokens, resolved in batches (roost.api.auth.token_lookups).
    principals: Batcher[str, Principal | None]
    # Where the Bird face's sends are accepted, in batches.
    intake: Intake
    # Where POST /v1/contacts creates contacts (without a form), in batches.
    contact_creates: ContactCreates
    pixel_limiter: RateLimiter | None = None

    async def dispose(self) -> None:
        """Close the connections of both engines."""
        await self.engine.dispose()
        await self.read_engine.dispose()
