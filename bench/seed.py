"""Fast seeding straight into PostgreSQL with COPY: users, API tokens and attempts.

The rows look like real use. A user practises in sessions, one a day: a few hours of an
afternoon or evening, on one or two difficulty levels near a current level that moves
slowly up over the months (with some wandering), and in one to three categories, mostly
the user's three favourites, so a day fills a handful of the catalog's 60 (difficulty,
category) cells, not all of them. Outcomes come in realistic shares, peak distress drifts
down with practice (and is higher above the current level) with noise, and the challenge's
difficulty and category, and the session's local day, are copied into each attempt as
the API does.
"""

import random
import uuid
from collections import defaultdict
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from functools import cache
from zoneinfo import ZoneInfo

import asyncpg
from sqlalchemy import Uuid, any_, func, insert, literal_column, select
from sqlalchemy.dialects import postgresql

from app.attempts.models import Attempt
from app.core.security import api_token_digest, new_api_token
from app.progress.models import ChallengeProgress, SessionStats
from app.progress.retest import progress_query
from app.progress.service import CELL_SUMS

OUTCOMES = ("rejected", "accepted", "partial", "avoided")
OUTCOME_WEIGHTS = (45, 40, 10, 5)
ATTEMPTS_PER_DAY = 4
COPY_CHUNK = 50_000
FAVOURITE_CATEGORIES = 3
SESSION_HOURS = 4.0  # a day's attempts lie within this many hours, starting between 12:00 and 19:00

ATTEMPT_COLUMNS = (
    "id",
    "user_id",
    "challenge_id",
    "occurred_at",
    "local_date",
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
    conn: asyncpg.Connection, count: int, *, prefix: str, password_hash: str, timezone: str = "UTC"
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
    user_id: uuid.UUID,
    n: int,
    challenges: Sequence[Challenge],
    rng: random.Random,
    *,
    days: int | None = None,
    timezone: str = "UTC",
) -> Iterator[tuple[object, ...]]:
    """`n` attempts of one user in daily sessions over `days` days (default: about 4 attempts a day), the
    last session yesterday (local time); rows in ATTEMPT_COLUMNS' order, oldest first."""
    days = days or max(1, round(n / ATTEMPTS_PER_DAY))
    zone = ZoneInfo(timezone)
    cells: defaultdict[tuple[int, str], list[Challenge]] = defaultdict(list)
    for challenge in challenges:
        cells[challenge.difficulty, challenge.category].append(challenge)
    levels = sorted({d for d, _ in cells})
    categories = sorted({c for _, c in cells})
    favourites = rng.sample(categories, min(FAVOURITE_CATEGORIES, len(categories)))
    first_level = rng.uniform(1.5, 2.5)
    last_level = rng.uniform(5.0, 8.0) if days >= 60 else first_level + days / 30
    wander = 0.0
    first_day = datetime.now(zone).date() - timedelta(days=days)
    done = 0
    for day in range(days):
        count = n * (day + 1) // days - done
        progress = day / max(days - 1, 1)
        # The current level: a slow climb plus a wandering that reverts to it over a few weeks.
        wander = 0.95 * wander + rng.gauss(0, 0.12)
        level = min(max(first_level + (last_level - first_level) * progress + wander, levels[0]), levels[-1])
        main = min(levels, key=lambda d: abs(d - level))
        near = [d for d in (main - 1, main + 1) if d in levels and abs(d - level) < 1]
        day_levels = [main] if not near or rng.random() < 0.6 else [main, near[0]]
        picked = {rng.choice(favourites) if rng.random() < 0.85 else rng.choice(categories)}
        for _ in range(rng.choice((0, 1, 1, 2))):
            picked.add(rng.choice(favourites) if rng.random() < 0.85 else rng.choice(categories))
        day_cells = [(d, c) for d in day_levels for c in sorted(picked) if (d, c) in cells]
        local_day = first_day + timedelta(days=day)
        start = rng.uniform(12.0, 19.0)
        offsets = sorted(rng.uniform(0, SESSION_HOURS) for _ in range(count))
        for offset in offsets:
            difficulty, category = rng.choice(day_cells) if day_cells else (main, rng.choice(categories))
            challenge = rng.choice(cells[difficulty, category] or list(challenges))
            i = done
            done += 1
            outcome = rng.choices(OUTCOMES, weights=OUTCOME_WEIGHTS)[0]
            peak = None
            if outcome != "avoided":
                peak = round(80 - 30 * i / n + 6 * (challenge.difficulty - level) + rng.gauss(0, 12))
                peak = max(0, min(100, peak))
            occurred = _instant(local_day, start + offset, zone)
            yield (
                uuid.uuid4(),
                user_id,
                challenge.id,
                occurred,
                local_day,
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


def _instant(day: date, hours: float, zone: ZoneInfo) -> datetime:
    local = datetime.combine(day, time(), tzinfo=zone) + timedelta(hours=hours)
    return local.astimezone(UTC)


@cache
def rebuild_session_stats_sql() -> str:
    """`INSERT INTO session_stats … SELECT … GROUP BY` over the attempts of the users in `$1` (a uuid[]),
    built from `CELL_SUMS` so the totals are defined in one place (app/progress/service.py)."""
    key = (Attempt.user_id, Attempt.local_date, Attempt.difficulty, Attempt.category)
    users = literal_column("$1", postgresql.ARRAY(Uuid()))
    grouped = (
        select(*key, *(func.sum(total) for total in CELL_SUMS.values()))
        .where(Attempt.user_id == any_(users))
        .group_by(*key)
    )
    statement = insert(SessionStats).from_select([c.key for c in key] + list(CELL_SUMS), grouped)
    return str(statement.compile(dialect=postgresql.dialect(), compile_kwargs={"literal_binds": True}))


@cache
def rebuild_challenge_progress_sql() -> str:
    """`INSERT INTO challenge_progress … SELECT` of the user in `$1`, from the rule in app/progress/retest.py."""
    computed = progress_query(literal_column("$1", Uuid())).subquery()
    statement = insert(ChallengeProgress).from_select(
        ["user_id", *computed.c.keys()], select(literal_column("$1", Uuid()), *computed.c)
    )
    return str(statement.compile(dialect=postgresql.dialect(), compile_kwargs={"literal_binds": True}))


async def add_attempts(
    conn: asyncpg.Connection,
    user_ids: Sequence[uuid.UUID],
    per_user: int,
    challenges: Sequence[Challenge],
    seed: int = 7,
    *,
    days: int | None = None,
    timezone: str = "UTC",
) -> int:
    """`per_user` attempts for each user over `days` days, copied in chunks; the number of rows added.

    `session_stats`' row trigger would upsert once per copied row: the COPY runs with
    triggers off (the rows are consistent by construction) and the users' session totals
    and challenge progress are rebuilt from their attempts once at the end, in the same transaction. `timezone`
    must be the users' (their sessions are local days).
    """
    rng = random.Random(seed)
    chunk: list[tuple[object, ...]] = []
    total = 0
    async with conn.transaction():
        await conn.execute("SET LOCAL session_replication_role = replica")
        for user_id in user_ids:
            chunk.extend(attempt_records(user_id, per_user, challenges, rng, days=days, timezone=timezone))
            if len(chunk) >= COPY_CHUNK:
                await conn.copy_records_to_table("attempts", records=chunk, columns=ATTEMPT_COLUMNS)
                total += len(chunk)
                chunk = []
        if chunk:
            await conn.copy_records_to_table("attempts", records=chunk, columns=ATTEMPT_COLUMNS)
            total += len(chunk)
        await conn.execute("DELETE FROM session_stats WHERE user_id = ANY($1::uuid[])", list(user_ids))
        await conn.execute(rebuild_session_stats_sql(), list(user_ids))
        await conn.execute("DELETE FROM challenge_progress WHERE user_id = ANY($1::uuid[])", list(user_ids))
        for user_id in user_ids:
            await conn.execute(rebuild_challenge_progress_sql(), user_id)
    return total
