"""How `GET /me/trend` and `GET /me/next-challenges` grow with a user's history.

Builds a fresh database per size (SQLite in a temporary folder by default, or the
PostgreSQL database given with --database-url, whose schema is DROPPED and rebuilt),
stores one user with 100, 1,000 and 10,000 attempts plus a crowd of other users'
rows the trend must skip, then times the full HTTP request through the app (computed,
and answered from the trend cache) and the pure statistics alone, and measures the
statistics' peak memory.

    .venv/bin/python -m bench.trend_bench
    .venv/bin/python -m bench.trend_bench --database-url postgresql+asyncpg://postgres@127.0.0.1:5432/rt_bench

Linear growth shows as ×10 per ×10 attempts; quadratic would be ×100.
"""

import argparse
import asyncio
import itertools
import random
import statistics
import tempfile
import time
import tracemalloc
import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
from sqlalchemy import insert, text

from app.accounts.models import User
from app.attempts.models import Attempt
from app.catalog.models import Category, Challenge
from app.core.config import Settings
from app.core.db import create_engine, create_sessionmaker
from app.core.migrations import upgrade_to_head
from app.core.security import create_access_token
from app.main import create_app
from app.progress import service, stats

SIZES = (100, 1_000, 10_000)
OTHER_USERS_ROWS = 20_000
CATEGORIES = ("everyday", "work", "food-and-shops", "social", "dating", "money")
ATTEMPTS_PER_DAY = 4
OUTCOMES = ("rejected", "accepted", "partial", "avoided")


def attempt_rows(
    user_id: uuid.UUID, challenges: list[Challenge], n: int, rng: random.Random
) -> list[dict[str, object]]:
    start = datetime.now(UTC) - timedelta(days=n / ATTEMPTS_PER_DAY)
    rows = []
    for i in range(n):
        challenge = rng.choice(challenges)
        outcome = rng.choices(OUTCOMES, weights=(45, 40, 10, 5))[0]
        peak = None if outcome == "avoided" else max(0, min(100, round(80 - 30 * i / n + rng.gauss(0, 12))))
        rows.append(
            {
                "id": uuid.uuid4(),
                "user_id": user_id,
                "challenge_id": challenge.id,
                "occurred_at": start + timedelta(days=i / ATTEMPTS_PER_DAY, minutes=rng.uniform(0, 300)),
                "outcome": outcome,
                "distress_before": rng.randint(20, 90),
                "distress_peak": peak,
                "distress_after": None if peak is None else max(0, peak - rng.randint(0, 40)),
                "expected_rejection": rng.randint(30, 95),
                "difficulty": challenge.difficulty,
                "category": challenge.category_slug,
                "request_hash": "bench",
            }
        )
    return rows


async def seed(database_url: str, n: int) -> User:
    engine = create_engine(database_url)
    rng = random.Random(n)
    async with create_sessionmaker(engine)() as session:
        for slug in CATEGORIES:
            session.add(Category(slug=slug, name=slug.title(), description=""))
        challenges = [
            Challenge(
                slug=f"bench-{i}",
                title=f"Bench challenge {i}",
                description="Ask.",
                category_slug=CATEGORIES[i % len(CATEGORIES)],
                difficulty=1 + i % 10,
                tips=[],
                status="published",
            )
            for i in range(120)
        ]
        # A hash no password matches: these users only ever use the token made below.
        unusable = "!"
        users = [
            User(email=f"bench{i}@example.com", password_hash=unusable, timezone="Europe/Berlin") for i in range(11)
        ]
        session.add_all(challenges + users)
        await session.flush()
        target, others = users[0], users[1:]
        rows = attempt_rows(target.id, challenges, n, rng)
        for other in others:
            rows += attempt_rows(other.id, challenges, OTHER_USERS_ROWS // len(others), rng)
        for chunk in range(0, len(rows), 5_000):
            await session.execute(insert(Attempt), rows[chunk : chunk + 5_000])
        await session.commit()
    await engine.dispose()
    return target


async def timed(call: Callable[[], Awaitable[object]], repeats: int) -> float:
    await call()  # warm caches and the connection pool
    samples = []
    for _ in range(repeats):
        began = time.perf_counter()
        await call()
        samples.append(time.perf_counter() - began)
    return statistics.median(samples)


async def measure(database_url: str, n: int, repeats: int) -> dict[str, float]:
    user = await seed(database_url, n)
    settings = Settings(environment="test", database_url=database_url, secret_key="bench-" * 8)
    engine = create_engine(database_url)
    app = create_app(settings, sessionmaker=create_sessionmaker(engine))
    token, _ = create_access_token(user.id, settings)
    headers = {"Authorization": f"Bearer {token}"}
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://bench") as client:

        async def get(path: str) -> None:
            response = await client.get(path, headers=headers)
            response.raise_for_status()

        # A new `since` (before any attempt) each time: no cached answer fits, so this times the computation.
        windows = itertools.count()
        trend_s = await timed(
            lambda: get(f"/api/v1/me/trend?since=2000-01-01T00:00:{next(windows) % 60:02d}Z"), repeats
        )
        cached_s = await timed(lambda: get("/api/v1/me/trend"), repeats)
        next_s = await timed(lambda: get("/api/v1/me/next-challenges"), repeats)

    async with create_sessionmaker(engine)() as session:
        records = await service.load_records(session, user)
    await engine.dispose()
    today = datetime.now(UTC).date()

    async def compute() -> None:
        stats.compute_trend(records, timezone=user.timezone, today=today, support_message="")

    stats_s = await timed(compute, repeats)
    tracemalloc.start()
    stats.compute_trend(records, timezone=user.timezone, today=today, support_message="")
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return {"trend": trend_s, "cached": cached_s, "next": next_s, "stats": stats_s, "peak_mb": peak / 1e6}


async def reset_postgres(database_url: str) -> None:
    engine = create_engine(database_url)
    async with engine.begin() as conn:
        await conn.execute(text("DROP SCHEMA public CASCADE"))
        await conn.execute(text("CREATE SCHEMA public"))
    await engine.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--database-url", help="a PostgreSQL database to use (its schema is dropped!)")
    parser.add_argument("--repeats", type=int, default=7)
    args = parser.parse_args()

    results = {}
    with tempfile.TemporaryDirectory() as folder:
        for n in SIZES:
            if args.database_url:
                url = args.database_url
                asyncio.run(reset_postgres(url))
            else:
                url = f"sqlite+aiosqlite:///{Path(folder) / f'bench-{n}.db'}"
            upgrade_to_head(url)
            results[n] = asyncio.run(measure(url, n, args.repeats))

    backend = "PostgreSQL" if args.database_url else "SQLite"
    print(f"{backend}; median of {args.repeats} runs; other users' rows in the table: {OTHER_USERS_ROWS:,}")
    print(f"{'attempts':>9} {'GET trend':>10} {'cached':>8} {'GET next':>9} {'stats':>8} {'stats peak':>11}")
    for n, r in results.items():
        print(
            f"{n:>9,} {r['trend'] * 1e3:>8.1f}ms {r['cached'] * 1e3:>6.1f}ms {r['next'] * 1e3:>7.1f}ms "
            f"{r['stats'] * 1e3:>6.1f}ms {r['peak_mb']:>8.1f} MB"
        )
    print("growth per ×10 attempts (linear ≈ 10, quadratic ≈ 100):")
    for small, large in itertools.pairwise(SIZES):
        a, b = results[small], results[large]
        print(
            f"  {small:,} → {large:,}: trend ×{b['trend'] / a['trend']:.1f}, next ×{b['next'] / a['next']:.1f}, "
            f"stats ×{b['stats'] / a['stats']:.1f}, memory ×{b['peak_mb'] / a['peak_mb']:.1f}"
        )


if __name__ == "__main__":
    main()
