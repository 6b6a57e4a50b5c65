"""Fast seeding straight into PostgreSQL with COPY: users, API tokens and attempts.

The rows look like real use: attempts a few hours apart over months, outcomes in
realistic shares, peak distress drifting down with noise, and the challenge's
difficulty and category copied into each attempt as the API does.
"""

import random
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import asyncpg

from app.core.security import api_token_digest, new_api_token

OUTCOMES = ("rejected", "accepted", "partial", "avoided")
OUTCOME_WEIGHTS = (45, 40, 10, 5)
ATTEMPTS_PER_DAY = 4
COPY_CHUNK = 50_000

ATTEMPT_COLUMNS = (
    "id",
    "user_id",
    "challenge_id",
    "occurred_at",
    "outcome",
    "distress_before",
    "distress_peak",
    "distress_after",
    "expected_rejection",
    "notes",
    "difficulty",
    "category",
    "request_hash",
    "created_at",
    "updated_at",
)


@dataclass(frozen=True)
class Challenge:
    id: uuid.UUID
    difficulty: int
    category: str


def asyncpg_dsn(database_url: str) -> str:
    """The SQLAlchemy URL (`postgresql+asyncpg://…`) as a libpq DSN."""
    return database_url.replace("postgresql+asyncpg://", "postgresql://", 1)


async def catalog_challenges(conn: asyncpg.Connection) -> list[Challenge]:
    rows = await conn.fetch(
        "SELECT id, difficulty, category_slug FROM challenges "
        "WHERE owner_id IS NULL AND status = 'published' ORDER BY slug"
    )
    return [Challenge(*row) for row in rows]


async def add_users(
    conn: asyncpg.Connection, count: int, *, prefix: str, password_hash: str, timezone: str = "Europe/Berlin"
) -> list[uuid.UUID]:
    """`count` users named `{prefix}{i}@example.com`, all with the same password hash."""
    now = datetime.now(UTC)
    ids = [uuid.uuid4() for _ in range(count)]
    records = [
        (user_id, f"{prefix}{i}@example.com", password_hash, None, timezone, False, now, now)
        for i, user_id in enumerate(ids)
    ]
    columns = ("id", "email", "password_hash", "display_name", "timezone", "is_admin", "created_at", "updated_at")
    await conn.copy_records_to_table("users", records=records, columns=columns)
    return ids


async def add_api_tokens(conn: asyncpg.Connection, user_ids: Sequence[uuid.UUID]) -> list[str]:
    """One personal API token per user; the tokens themselves, in the same order."""
    now = datetime.now(UTC)
    tokens = [new_api_token() for _ in user_ids]
    records = [
        (uuid.uuid4(), user_id, "bench", api_token_digest(token), token[:8], now, None)
        for user_id, token in zip(user_ids, tokens, strict=True)
    ]
    columns = ("id", "user_id", "name", "digest", "prefix", "created_at", "expires_at")
    await conn.copy_records_to_table("api_tokens", records=records, columns=columns)
    return tokens


def attempt_records(
    user_id: uuid.UUID, n: int, challenges: Sequence[Challenge], rng: random.Random
) -> Iterator[tuple[object, ...]]:
    """`n` attempts of one user, about 4 a day, the last one a few hours ago."""
    now = datetime.now(UTC)
    start = now - timedelta(days=n / ATTEMPTS_PER_DAY + 1)
    for i in range(n):
        challenge = rng.choice(challenges)
        outcome = rng.choices(OUTCOMES, weights=OUTCOME_WEIGHTS)[0]
        peak = None if outcome == "avoided" else max(0, min(100, round(80 - 30 * i / n + rng.gauss(0, 12))))
        occurred = start + timedelta(days=i / ATTEMPTS_PER_DAY, minutes=rng.uniform(0, 300))
        yield (
            uuid.uuid4(),
            user_id,
            challenge.id,
            occurred,
            outcome,
            rng.randint(20, 90),
            peak,
            None if peak is None else max(0, peak - rng.randint(0, 40)),
            rng.randint(30, 95),
            None,
            challenge.difficulty,
            challenge.category,
            "seeded",
            occurred,
            occurred,
        )


async def add_attempts(
    conn: asyncpg.Connection,
    user_ids: Sequence[uuid.UUID],
    per_user: int,
    challenges: Sequence[Challenge],
    seed: int = 7,
) -> int:
    """`per_user` attempts for each user, copied in chunks; the number of rows added.

    The trend cache's row trigger would bump each user's version once per copied row:
    the COPY runs with triggers off (the rows are consistent by construction) and the
    users' cached trends are invalidated once at the end, in the same transaction.
    """
    rng = random.Random(seed)
    chunk: list[tuple[object, ...]] = []
    total = 0
    async with conn.transaction():
        await conn.execute("SET LOCAL session_replication_role = replica")
        for user_id in user_ids:
            chunk.extend(attempt_records(user_id, per_user, challenges, rng))
            if len(chunk) >= COPY_CHUNK:
                await conn.copy_records_to_table("attempts", records=chunk, columns=ATTEMPT_COLUMNS)
                total += len(chunk)
                chunk = []
        if chunk:
            await conn.copy_records_to_table("attempts", records=chunk, columns=ATTEMPT_COLUMNS)
            total += len(chunk)
        await conn.execute(
            "INSERT INTO trend_cache (user_id, version) SELECT unnest($1::uuid[]), 1 ON CONFLICT (user_id) "
            "DO UPDATE SET version = trend_cache.version + 1, key = NULL, etag = NULL, body = NULL",
            list(user_ids),
        )
    return total
