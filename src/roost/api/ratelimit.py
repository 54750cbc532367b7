"""Moving-window rate limits, in memory or shared through Redis: per account (CONVENTIONS §4), per pixel client."""

from __future__ import annotations

import math
import time
from dataclasses import dataclass

from limits import RateLimitItem, parse
from limits.aio.storage import MemoryStorage, RedisStorage, Storage
from limits.aio.strategies import MovingWindowRateLimiter


@dataclass(frozen=True, slots=True)
class RateDecision:
    allowed: bool
    limit: int
    remaining: int
    retry_after: int

    def headers(self) -> dict[str, str]:
        values = {"X-RateLimit-Limit": str(self.limit), "X-RateLimit-Remaining": str(self.remaining)}
        if not self.allowed:
            values["Retry-After"] = str(self.retry_after)
        return values


class RateLimiter:
    def __init__(self, spec: str, *, redis_url: str | None = None, namespace: str = "roost") -> None:
        self.item: RateLimitItem = parse(spec)
        self.namespace = namespace
        self.storage: Storage
        if redis_url:
            uri = "async+" + redis_url if not redis_url.startswith("async+") else redis_url
            self.storage = RedisStorage(uri, implementation="redispy", key_prefix=namespace)
        else:
            self.storage = MemoryStorage()
        self.strategy = MovingWindowRateLimiter(self.storage)

    async def hit(self, account_id: int) -> RateDecision:
        return await self.hit_key(f"account:{account_id}")

    async def hit_key(self, key: str) -> RateDecision:
        """Count one hit against `key`'s own window."""
        allowed = await self.strategy.hit(self.item, self.namespace, key)
        stats = await self.strategy.get_window_stats(self.item, self.namespace, key)
        retry_after = max(1, math.ceil(stats.reset_time - time.time()))
        return RateDecision(
            allowed=allowed, limit=self.item.amount, remaining=max(0, stats.remaining), retry_after=retry_after
        )

    async def reset(self) -> None:
        await self.storage.reset()
