"""Rate limits on login and registration: 429 with Retry-After, per client and per account, shared through Redis."""

import os
import uuid
from collections.abc import AsyncIterator

import httpx
import pytest
from redis.asyncio import Redis
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.core.config import Settings
from app.core.ratelimit import MemoryCounter, RateLimiter, RedisCounter
from app.main import create_app
from tests.conftest import PASSWORD, Account

REDIS_URL = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/15")


def _client_for(app: object, address: str = "203.0.113.7") -> httpx.AsyncClient:
    transport = httpx.ASGITransport(app=app, client=(address, 50000))  # type: ignore[arg-type]
    return httpx.AsyncClient(transport=transport, base_url="http://test")


async def test_login_is_limited_per_account_across_client_addresses(
    settings: Settings, sessionmaker: async_sessionmaker[AsyncSession], alice: Account
) -> None:
    app = create_app(settings.model_copy(update={"login_limit_per_account": 3}), sessionmaker=sessionmaker)
    for i in range(3):
        async with _client_for(app, f"198.51.100.{i}") as client:
            response = await client.post(
                "/api/v1/auth/token", data={"username": "alice@example.com", "password": "nope"}
            )
            assert response.status_code == 401
    async with _client_for(app, "198.51.100.99") as client:
        # Even the right password waits: the account is being guessed at.
        response = await client.post("/api/v1/auth/token", data={"username": "ALICE@example.com", "password": PASSWORD})
    assert response.status_code == 429
    assert response.headers["content-type"] == "application/problem+json"
    assert 1 <= int(response.headers["retry-after"]) <= 300
    # Other accounts are not affected.
    async with _client_for(app, "198.51.100.99") as client:
        other = await client.post("/api/v1/auth/token", data={"username": "bob@example.com", "password": "nope"})
    assert other.status_code == 401


async def test_login_is_limited_per_client_address(
    settings: Settings, sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    app = create_app(settings.model_copy(update={"login_limit_per_client": 2}), sessionmaker=sessionmaker)
    async with _client_for(app) as client:
        statuses = [
            (
                await client.post("/api/v1/auth/token", data={"username": f"u{i}@example.com", "password": "x"})
            ).status_code
            for i in range(3)
        ]
    assert statuses == [401, 401, 429]
    async with _client_for(app, "192.0.2.1") as client:
        other = await client.post("/api/v1/auth/token", data={"username": "u@example.com", "password": "x"})
    assert other.status_code == 401


async def test_registration_is_limited_per_client_address(
    settings: Settings, sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    app = create_app(settings.model_copy(update={"register_limit_per_client": 2}), sessionmaker=sessionmaker)
    async with _client_for(app) as client:
        statuses = [
            (
                await client.post("/api/v1/auth/register", json={"email": f"n{i}@example.com", "password": PASSWORD})
            ).status_code
            for i in range(3)
        ]
    assert statuses == [201, 201, 429]


async def test_registration_is_limited_per_email_across_client_addresses(
    settings: Settings, sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    app = create_app(settings.model_copy(update={"register_limit_per_email": 2}), sessionmaker=sessionmaker)
    statuses = []
    for i in range(3):
        async with _client_for(app, f"198.51.100.{i}") as client:
            body = {"email": "Taken@example.com" if i else "taken@example.com", "password": PASSWORD}
            statuses.append((await client.post("/api/v1/auth/register", json=body)).status_code)
    assert statuses == [201, 409, 429]
    async with _client_for(app, "198.51.100.9") as client:
        other = await client.post("/api/v1/auth/register", json={"email": "free@example.com", "password": PASSWORD})
    assert other.status_code == 201


def test_per_address_limits_leave_room_for_carrier_grade_nat(settings: Settings) -> None:
    # Thousands of phones can share one address: per address only floods are stopped, an order of
    # magnitude above the per-email limits that do the fine-grained work.
    defaults = Settings(environment="test", secret_key=settings.signing_key)
    assert defaults.register_limit_per_client >= 20 * defaults.register_limit_per_email
    assert defaults.login_limit_per_client >= 20 * defaults.login_limit_per_account


async def test_refreshing_is_not_counted_as_signing_in(
    settings: Settings, sessionmaker: async_sessionmaker[AsyncSession], alice: Account
) -> None:
    # A refresh token is 256 random bits, not a guessable password: phones behind one address refresh freely.
    app = create_app(settings.model_copy(update={"login_limit_per_client": 1}), sessionmaker=sessionmaker)
    async with _client_for(app) as client:
        signed_in = await client.post(
            "/api/v1/auth/token", data={"username": "alice@example.com", "password": PASSWORD}
        )
        token = signed_in.json()["refresh_token"]
        for _ in range(3):
            refreshed = await client.post(
                "/api/v1/auth/token", data={"grant_type": "refresh_token", "refresh_token": token}
            )
            assert refreshed.status_code == 200
            token = refreshed.json()["refresh_token"]


async def test_memory_counter_windows_reset() -> None:
    counter = MemoryCounter()
    limiter = RateLimiter(counter)
    await limiter.check("k", 1, 1)
    with pytest.raises(Exception, match="Too many"):
        await limiter.check("k", 1, 1)
    counter._windows["k"] = (0.0, 5)  # the window is over
    await limiter.check("k", 1, 1)


@pytest.fixture
async def redis_prefix() -> AsyncIterator[str]:
    redis = Redis.from_url(REDIS_URL)
    try:
        await redis.ping()
    except Exception:
        pytest.skip(f"no Redis at {REDIS_URL}")
    prefix = f"rt-test:{uuid.uuid4().hex}:"
    yield prefix
    keys = [key async for key in redis.scan_iter(f"{prefix}*")]
    if keys:
        await redis.delete(*keys)
    await redis.aclose()


async def test_redis_counter_shares_the_limit_between_workers(redis_prefix: str) -> None:
    # Two counters stand for two worker processes with the same REDIS_URL.
    worker_a, worker_b = RedisCounter(REDIS_URL, redis_prefix), RedisCounter(REDIS_URL, redis_prefix)
    try:
        await RateLimiter(worker_a).check("login:account:x", 2, 60)
        await RateLimiter(worker_b).check("login:account:x", 2, 60)
        with pytest.raises(Exception, match="Too many") as refused:
            await RateLimiter(worker_a).check("login:account:x", 2, 60)
        assert 1 <= int(refused.value.headers["Retry-After"]) <= 60  # type: ignore[attr-defined]
    finally:
        await worker_a.close()
        await worker_b.close()


async def test_redis_counter_falls_back_to_process_memory_when_redis_is_down() -> None:
    counter = RedisCounter("redis://127.0.0.1:1/0")
    try:
        limiter = RateLimiter(counter)
        await limiter.check("k", 1, 60)
        with pytest.raises(Exception, match="Too many"):
            await limiter.check("k", 1, 60)
    finally:
        await counter.close()
