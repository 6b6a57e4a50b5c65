"""Where the time of `GET /me/trend` goes, for a light and a heavy practiser, in-process.

Builds a fresh database (SQLite in a temporary folder by default, or the PostgreSQL
database given with --database-url, whose schema is DROPPED and rebuilt) with the shipped
catalog, one user with 1,000 attempts over 100 days, one with 100,000 over 1,000 days
(seeded as bench/seed.py does: a session a day, clustered on a level or two and a few
categories) and a crowd of other users' rows, then times, per user: loading the cells,
recent attempts, pauses and re-test totals (`load_practice`), computing the trend (`compute_trend`),
serialising it (`service.trend_json`), and the whole HTTP request through the app; plus
loading a `since` window (which groups raw attempts instead of reading `session_stats`)
and the computation's peak memory.

    .venv/bin/python -m bench.trend_bench
    .venv/bin/python -m bench.trend_bench --database-url postgresql+asyncpg://postgres@127.0.0.1:5432/rt_bench_trend

The trend's cost should follow the sessions (rows in `session_stats`), not the attempts.
"""

import argparse
import asyncio
import random
import statistics
import tempfile
import time
import tracemalloc
import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import asyncpg
import httpx
from sqlalchemy import func, insert, select, text

from app.accounts.models import User
from app.attempts.models import Attempt
from app.catalog import importer
from app.catalog.models import Challenge
from app.core.config import Settings
from app.core.db import create_engine, create_sessionmaker
from app.core.migrations import upgrade_to_head
from app.core.security import create_access_token
from app.main import create_app
from app.progress import service, stats
from app.progress.models import SessionStats
from bench import seed

# name -> (attempts, days)
SIZES = {"1k": (1_000, 100), "100k": (100_000, 1_000)}
OTHER_USERS, OTHER_USERS_ATTEMPTS = 10, 2_000  # rows the queries must skip
TIMEZONE = "UTC"
INSERT_CHUNK = 5_000


async def _challenges(database_url: str) -> list[seed.Challenge]:
    engine = create_engine(database_url)
    async with create_sessionmaker(engine)() as session:
        await importer.seed_catalog(session)
        await session.commit()
        rows = await session.execute(
            select(Challenge.id, Challenge.difficulty, Challenge.category_slug)
            .where(Challenge.owner_id.is_(None), Challenge.status == "published")
            .order_by(Challenge.slug)
        )
        challenges = [seed.Challenge(*row) for row in rows]
    await engine.dispose()
    return challenges


async def _insert_with_triggers(database_url: str, rows: list[tuple[object, ...]]) -> None:
    """Through SQLAlchemy, so the database's triggers keep `session_stats` (SQLite)."""
    engine = create_engine(database_url)
    async with create_sessionmaker(engine)() as session:
        for start in range(0, len(rows), INSERT_CHUNK):
            chunk = [dict(zip(seed.ATTEMPT_COLUMNS, row, strict=True)) for row in rows[start : start + INSERT_CHUNK]]
            await session.execute(insert(Attempt), chunk)
        await session.commit()
    await engine.dispose()


async def populate(database_url: str) -> dict[str, uuid.UUID]:
    """The catalog, the users of SIZES and the crowd; their ids by size name."""
    challenges = await _challenges(database_url)
    engine = create_engine(database_url)
    async with create_sessionmaker(engine)() as session:
        names = [*SIZES, *(f"other{i}" for i in range(OTHER_USERS))]
        users = {name: User(email=f"bench-{name}@example.com", password_hash="!", timezone=TIMEZONE) for name in names}
        session.add_all(users.values())
        await session.commit()
        ids = {name: user.id for name, user in users.items()}
    await engine.dispose()
    plan = [(ids[name], n, days) for name, (n, days) in SIZES.items()]
    plan += [(ids[f"other{i}"], OTHER_USERS_ATTEMPTS, None) for i in range(OTHER_USERS)]
    if database_url.startswith("postgresql"):
        conn = await asyncpg.connect(seed.asyncpg_dsn(database_url))
        try:
            for i, (user_id, n, days) in enumerate(plan):
                await seed.add_attempts(conn, [user_id], n, challenges, seed=i, days=days, timezone=TIMEZONE)
            await conn.execute("VACUUM ANALYZE")
        finally:
            await conn.close()
    else:
        for i, (user_id, n, days) in enumerate(plan):
            rng = random.Random(i)
            rows = list(seed.attempt_records(user_id, n, challenges, rng, days=days, timezone=TIMEZONE))
            await _insert_with_triggers(database_url, rows)
    return {name: ids[name] for name in SIZES}


async def timed(call: Callable[[], Awaitable[object]], repeats: int) -> float:
    await call()  # warm caches and the connection pool
    samples = []
    for _ in range(repeats):
        began = time.perf_counter()
        await call()
        samples.append(time.perf_counter() - began)
    return statistics.median(samples)


async def measure(database_url: str, user_id: uuid.UUID, repeats: int) -> dict[str, float]:
    settings = Settings(environment="test", database_url=database_url, secret_key="bench-" * 8)
    engine = create_engine(database_url)
    sessionmaker = create_sessionmaker(engine)
    today = datetime.now(ZoneInfo(TIMEZONE)).date()
    loaded: dict[str, Any] = {}

    async def load() -> None:
        async with sessionmaker() as session:
            loaded["practice"], _timezone = await service.load_practice(session, user_id)

    async def load_window() -> None:
        async with sessionmaker() as session:
            await service.load_practice(session, user_id, since=datetime(2000, 1, 1, tzinfo=UTC))

    def compute() -> Any:
        return stats.compute_trend(loaded["practice"], timezone=TIMEZONE, today=today, support_message="")

    async def compute_async() -> None:
        loaded["trend"] = compute()

    async def serialise() -> None:
        service.trend_json(loaded["trend"])

    result = {"load": await timed(load, repeats)}
    result["compute"] = await timed(compute_async, repeats)
    result["serialise"] = await timed(serialise, repeats)
    result["window"] = await timed(load_window, repeats)
    tracemalloc.start()
    compute()
    result["peak_mb"] = tracemalloc.get_traced_memory()[1] / 1e6
    tracemalloc.stop()
    async with sessionmaker() as session:
        result["cells"] = await session.scalar(
            select(func.count()).select_from(SessionStats).where(SessionStats.user_id == user_id)
        )
        result["attempts"] = await session.scalar(
            select(func.count()).select_from(Attempt).where(Attempt.user_id == user_id)
        )

    app = create_app(settings, sessionmaker=sessionmaker)
    token, _ = create_access_token(user_id, settings)
    headers = {"Authorization": f"Bearer {token}"}
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://bench") as client:

        async def get() -> None:
            response = await client.get("/api/v1/me/trend", headers=headers)
            response.raise_for_status()

        result["http"] = await timed(get, repeats)
    await engine.dispose()
    return result


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

    with tempfile.TemporaryDirectory() as folder:
        url = args.database_url or f"sqlite+aiosqlite:///{Path(folder) / 'trend-bench.db'}"
        if args.database_url:
            asyncio.run(reset_postgres(url))
        upgrade_to_head(url)
        began = time.monotonic()
        users = asyncio.run(populate(url))
        seeded = time.monotonic() - began
        results = {name: asyncio.run(measure(url, user_id, args.repeats)) for name, user_id in users.items()}

    backend = "PostgreSQL" if args.database_url else "SQLite"
    print(
        f"{backend}; median of {args.repeats} runs, in ms; other users' attempts in the table: "
        f"{OTHER_USERS * OTHER_USERS_ATTEMPTS:,}; seeded in {seeded:.0f} s"
    )
    print(
        f"{'attempts':>9} {'days':>6} {'cells':>6} {'load':>8} {'compute':>8} {'serialise':>9} {'sum':>8} "
        f"{'HTTP GET':>9} {'load since':>10} {'peak MB':>8}"
    )
    for name, r in results.items():
        days = SIZES[name][1]
        total = r["load"] + r["compute"] + r["serialise"]
        print(
            f"{r['attempts']:>9,} {days:>6,} {r['cells']:>6,} {r['load'] * 1e3:>8.2f} {r['compute'] * 1e3:>8.2f} "
            f"{r['serialise'] * 1e3:>9.2f} {total * 1e3:>8.2f} {r['http'] * 1e3:>9.2f} {r['window'] * 1e3:>10.2f} "
            f"{r['peak_mb']:>8.1f}"
        )
    small, large = results["1k"], results["100k"]
    print(
        "100k / 1k: "
        + ", ".join(
            f"{key} ×{large[key] / small[key]:.1f}" for key in ("cells", "load", "compute", "serialise", "http")
        )
        + " (target for the HTTP p50 under load: ≤ 2×)"
    )


if __name__ == "__main__":
    main()
