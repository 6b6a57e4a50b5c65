"""Fixed-window rate limits, counted in Redis when configured so every worker and instance shares them."""

import logging
import math
import time
from typing import Protocol

from redis.asyncio import Redis
from redis.exceptions import RedisError

from app.core.errors import TooManyRequests

logger = logging.getLogger("app.ratelimit")


class Counter(Protocol):
    async def hit(self, key: str, window_seconds: int) -> tuple[int, float]:
        """Count one hit on `key` in the current window: the count so far and seconds until the window ends."""
        ...


class MemoryCounter:
    """Counts in this process only: right for one worker, and the fallback when Redis is down."""

    def __init__(self, max_keys: int = 100_000) -> None:
        self._windows: dict[str, tuple[float, int]] = {}
        self._max_keys = max_keys

    async def hit(self, key: str, window_seconds: int) -> tuple[int, float]:
        now = time.monotonic()
        ends, count = self._windows.get(key, (0.0, 0))
        if now >= ends:
            if len(self._windows) >= self._max_keys:
                # Bounded memory under a flood of distinct keys: drop the windows that are over.
                self._windows = {k: v for k, v in self._windows.items() if v[0] > now}
            ends, count = now + window_seconds, 0
        count += 1
        self._windows[key] = (ends, count)
        return count, ends - now


class RedisCounter:
    def __init__(self, url: str, prefix: str = "rt:ratelimit:") -> None:
        self._redis: Redis = Redis.from_url(url, socket_timeout=0.5, socket_connect_timeout=0.5)
        self._prefix = prefix
        self._fallback = MemoryCounter()

    async def hit(self, key: str, window_seconds: int) -> tuple[int, float]:
        name = self._prefix + key
        try:
            async with self._redis.pipeline(transaction=True) as pipe:
                pipe.incr(name)
                pipe.expire(name, window_seconds, nx=True)
                pipe.pttl(name)
                count, _, ttl_ms = await pipe.execute()
        except (RedisError, OSError) as exc:
            # Availability over strictness: keep limiting per process while Redis is away.
            logger.warning("rate limit store unavailable, counting in process: %s", type(exc).__name__)
            return await self._fallback.hit(key, window_seconds)
        return int(count), max(int(ttl_ms), 0) / 1000

    async def close(self) -> None:
        await self._redis.aclose()


class RateLimiter:
    def __init__(self, counter: Counter) -> None:
        self.counter = counter

    async def check(self, key: str, limit: int, window_seconds: int) -> None:
        """Count a hit; raise 429 with `Retry-After` once `key` is over `limit` in its window."""
        count, remaining = await self.counter.hit(key, window_seconds)
        if count > limit:
            retry_after = max(1, math.ceil(remaining))
            raise TooManyRequests(
                f"Too many attempts; try again in {retry_after} seconds.",
                headers={"Retry-After": str(retry_after)},
            )
