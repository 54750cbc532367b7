"""What an app instance holds: settings, the engine and its sessions, the rate limiter, addressing, media, intake."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from roost.api.ratelimit import RateLimiter
from roost.auth.types import Principal
from roost.channel.intake import Intake
from roost.config import Settings
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
    write_gate: WriteGate
    limiter: RateLimiter | None
    addressing: Addressing
    media: MediaConfig
    # Presented tokens, resolved in batches (roost.api.auth.token_lookups).
    principals: Batcher[str, Principal | None]
    # Where the Bird face's sends are accepted, in batches.
    intake: Intake
    pixel_limiter: RateLimiter | None = None
