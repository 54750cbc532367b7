"""How fast mail may leave: a limit for all mail together and one per recipient domain.

Mailbox providers throttle senders that go faster than they like, and relays sell plans by the
second. Limits are `limits` moving windows, kept in memory per process or shared by every
process through Redis (ROOST_REDIS_URL), as the API rate limit is. A send waits for its turn;
it never fails for being early.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Mapping

from limits import RateLimitItem
from limits.aio.storage import MemoryStorage, RedisStorage, Storage
from limits.aio.strategies import MovingWindowRateLimiter

from roost.config import Settings
from roost.kit.rates import ANY_DOMAIN, parse_domain_rates, parse_rate

_NAMESPACE = "send"


class Pacer:
    def __init__(
        self,
        *,
        overall: RateLimitItem | None = None,
        per_domain: Mapping[str, RateLimitItem] | None = None,
        redis_url: str | None = None,
    ) -> None:
        self.overall = overall
        self.per_domain = dict(per_domain or {})
        storage: Storage
        if redis_url:
            uri = redis_url if redis_url.startswith("async+") else "async+" + redis_url
            storage = RedisStorage(uri, implementation="redispy", key_prefix="roost")
        else:
            storage = MemoryStorage()
        self._storage = storage
        self._limiter = MovingWindowRateLimiter(storage)

    @classmethod
    def from_settings(cls, settings: Settings) -> Pacer | None:
        """The pacer ROOST_SMTP_RATE and ROOST_SMTP_DOMAIN_RATES describe, or None when mail is not paced."""
        overall = parse_rate(settings.smtp_rate) if settings.smtp_rate_enabled else None
        per_domain = parse_domain_rates(settings.smtp_domain_rates)
        if overall is None and not per_domain:
            return None
        return cls(overall=overall, per_domain=per_domain, redis_url=settings.redis_url)

    async def wait(self, address: str) -> None:
        """Return when one more message to this address is within every limit (and count it)."""
        domain = address.rpartition("@")[2].lower()
        domain_rate = self.per_domain.get(domain) or self.per_domain.get(ANY_DOMAIN)
        if domain_rate is not None:
            await self._take(domain_rate, f"domain:{domain}")
        if self.overall is not None:
            await self._take(self.overall, "all")

    async def reset(self) -> None:
        """Forget every window (the storage is shared: this resets the other processes' view too)."""
        await self._storage.reset()

    async def _take(self, item: RateLimitItem, key: str) -> None:
        while not await self._limiter.hit(item, _NAMESPACE, key):
            window = await self._limiter.get_window_stats(item, _NAMESPACE, key)
            await asyncio.sleep(max(window.reset_time - time.time(), 0.001))
