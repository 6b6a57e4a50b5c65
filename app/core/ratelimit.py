"""Fixed-window rate limits, counted in Redis when configured so every worker and instance shares them.

Every answer of a request that met a limit carries the IETF RateLimit fields
(draft-ietf-httpapi-ratelimit-headers): `RateLimit-Policy: "login:client";q=200;w=60` for the quota and
`RateLimit: "login:client";r=197;t=42` for what is left of it and when the window ends, so clients can
slow down before a 429.
"""

import logging
import math
import time
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Protocol

from redis.asyncio import Redis
from redis.exceptions import RedisError
from starlette.types import ASGIApp, Message, Receive, Scope, Send

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


@dataclass(frozen=True, slots=True)
class _Quota:
    policy: str
    limit: int
    window_seconds: int
    left: int
    reset_seconds: int


# The quotas met while answering the current request; a list put in place by RateLimitHeadersMiddleware,
# which the limiter appends to (the list is shared, so this works whatever context the handler runs in).
_quotas_met: ContextVar[list[_Quota] | None] = ContextVar("quotas_met", default=None)


def _policy_name(key: str) -> str:
    # Keys read `<route>:<scope>:<subject>` (`login:client:203.0.113.7`): the subject, which may be an
    # address, an email digest or an account, stays out of the answer; an IPv6 address has colons of its own.
    return ":".join(key.split(":", 2)[:2])


class RateLimiter:
    def __init__(self, counter: Counter) -> None:
        self.counter = counter

    async def check(self, key: str, limit: int, window_seconds: int) -> None:
        """Count a hit; raise 429 with `Retry-After` once `key` is over `limit` in its window.

        `key` is `<route>:<scope>:<subject>`; its first two parts name the policy in the RateLimit fields.
        """
        count, remaining = await self.counter.hit(key, window_seconds)
        reset_seconds = max(1, math.ceil(remaining))
        quotas = _quotas_met.get()
        if quotas is not None:
            quotas.append(_Quota(_policy_name(key), limit, window_seconds, max(0, limit - count), reset_seconds))
        if count > limit:
            raise TooManyRequests(
                f"Too many attempts; try again in {reset_seconds} seconds.",
                headers={"Retry-After": str(reset_seconds)},
            )


class RateLimitHeadersMiddleware:
    """Adds `RateLimit-Policy` and `RateLimit` to the answer of every request that met a limit, 429s included."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        quotas: list[_Quota] = []
        token = _quotas_met.set(quotas)

        async def send_with_quotas(message: Message) -> None:
            if message["type"] == "http.response.start" and quotas:
                policies = ", ".join(f'"{q.policy}";q={q.limit};w={q.window_seconds}' for q in quotas)
                state = ", ".join(f'"{q.policy}";r={q.left};t={q.reset_seconds}' for q in quotas)
                message["headers"] = [
                    *message.get("headers", []),
                    (b"ratelimit-policy", policies.encode("latin-1")),
                    (b"ratelimit", state.encode("latin-1")),
                ]
            await send(message)

        try:
            await self.app(scope, receive, send_with_quotas)
        finally:
            _quotas_met.reset(token)
