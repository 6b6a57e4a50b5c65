import asyncio
import hashlib
import uuid
import weakref
from collections import defaultdict
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from importlib.metadata import version
from zoneinfo import ZoneInfo

from anyio import CapacityLimiter
from sqlalchemy import Select, case, func, null, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from app.accounts.models import User
from app.attempts.models import Attempt
from app.catalog.models import Challenge
from app.core.db import insert_or_ignore
from app.core.models import utcnow
from app.core.schemas import check_window
from app.progress import stats
from app.progress.compute import trend_process
from app.progress.models import TrendCache

RECENT_DAYS = 7
# Part of every cache key, so answers cached by another release are never served. Bump the
# number when the trend's content changes within a release.
_CODE_VERSION = f"{version('rejection-tracker')}/1"
# Trends loaded and computed at once per worker: the compute process works on one at a
# time, while the next one's rows are loaded.
COMPUTE_SLOTS = 2
_compute_limiters: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, CapacityLimiter] = weakref.WeakKeyDictionary()

# Only the columns the trend needs: the rows come through the
# (user_id, occurred_at, id) index, already in time order.
_RECORD_COLUMNS = (
    Attempt.occurred_at,
    Attempt.outcome,
    Attempt.distress_before,
    Attempt.distress_peak,
    Attempt.distress_after,
    Attempt.expected_rejection,
    Attempt.difficulty,
    Attempt.category,
)


def records_query(
    user: User, since: datetime | None = None, until: datetime | None = None
) -> Select[datetime, str, int, int | None, int | None, int | None, int, str]:
    query = select(*_RECORD_COLUMNS).where(Attempt.user_id == user.id)
    if since is not None:
        query = query.where(Attempt.occurred_at >= since)
    if until is not None:
        query = query.where(Attempt.occurred_at < until)
    return query.order_by(Attempt.occurred_at, Attempt.id)


async def load_records(
    session: AsyncSession, user: User, since: datetime | None = None, until: datetime | None = None
) -> list[stats.AttemptRecord]:
    result = await session.execute(records_query(user, since, until))
    return [stats.AttemptRecord(*row) for row in result]


@dataclass(frozen=True, slots=True)
class TrendAnswer:
    etag: str
    # The JSON document; None when the client's If-None-Match already names this version (304).
    body: bytes | None


async def trend(
    session: AsyncSession,
    user: User,
    *,
    since: datetime | None,
    until: datetime | None,
    support_message: str,
    if_none_match: str | None = None,
) -> TrendAnswer:
    """The trend as JSON, from the user's cached answer when it still fits, else computed and cached.

    A cached answer fits when nothing it depends on has changed: the user's attempts
    (triggers clear it on every write, see TrendCache), the window, the time zone, the
    local date that streaks count to, the support message and the code.
    """
    check_window(since, until)
    # The current streak is counted up to the end of the window when it lies in the past.
    as_of = utcnow() if until is None else min(utcnow(), until - timedelta(microseconds=1))
    today = as_of.astimezone(ZoneInfo(user.timezone)).date()
    key = cache_key(user, since, until, today, support_message)
    tags = entity_tags(if_none_match)

    # Read the cache before the attempts: a write committed in between has bumped the
    # version by the time the answer is stored, so the stale answer is not kept.
    wanted_body = case((TrendCache.etag.in_(tags), null()), else_=TrendCache.body) if tags else TrendCache.body
    cached = (
        await session.execute(
            select(TrendCache.version, TrendCache.key, TrendCache.etag, wanted_body).where(
                TrendCache.user_id == user.id
            )
        )
    ).one_or_none()
    if cached is not None and cached.key == key and cached.etag is not None:
        return TrendAnswer(cached.etag, None if _matches(tags, cached.etag) else cached[3])

    # Only a few computations at once, loading included: a burst of misses on a long history
    # would otherwise hold every waiting request's rows in memory.
    async with _compute_limiter():
        records = await load_records(session, user, since, until)
        body = await trend_process.render(records, user.timezone, today, support_message)
        del records
    etag = f'"{hashlib.sha256(body).hexdigest()[:32]}"'
    seen_version = None if cached is None else cached.version
    await _store(session, user.id, seen_version=seen_version, key=key, etag=etag, body=body)
    return TrendAnswer(etag, None if _matches(tags, etag) else body)


def _compute_limiter() -> CapacityLimiter:
    loop = asyncio.get_running_loop()
    limiter = _compute_limiters.get(loop)
    if limiter is None:
        limiter = _compute_limiters[loop] = CapacityLimiter(COMPUTE_SLOTS)
    return limiter


def cache_key(user: User, since: datetime | None, until: datetime | None, today: date, support_message: str) -> str:
    parts = (_CODE_VERSION, user.timezone, today.isoformat(), _instant(since), _instant(until), support_message)
    return hashlib.sha256("\x1f".join(parts).encode()).hexdigest()


def _instant(value: datetime | None) -> str:
    # The same instant written with another offset is the same window.
    return "" if value is None else value.astimezone(UTC).isoformat()


def entity_tags(if_none_match: str | None) -> list[str]:
    """The entity tags in an If-None-Match header, weak ones compared as strong (RFC 9110 weak comparison)."""
    if not if_none_match:
        return []
    return [tag.strip().removeprefix("W/") for tag in if_none_match.split(",") if tag.strip()]


def _matches(tags: list[str], etag: str) -> bool:
    return "*" in tags or etag in tags


async def _store(
    session: AsyncSession, user_id: uuid.UUID, *, seen_version: int | None, key: str, etag: str, body: bytes
) -> None:
    """Keep the answer unless a write to the user's attempts got in since the cache was read."""
    values = {"key": key, "etag": etag, "body": body}
    if seen_version is not None:
        await session.execute(
            update(TrendCache)
            .where(TrendCache.user_id == user_id, TrendCache.version == seen_version)
            .values(**values)
            .execution_options(synchronize_session=False)
        )
        return
    # No row yet: a writer that creates one first has made this answer stale, so a conflict keeps theirs.
    await session.execute(
        insert_or_ignore(session.get_bind().dialect.name, TrendCache)
        .values(user_id=user_id, version=0, **values)
        .on_conflict_do_nothing()
    )


async def next_challenges(session: AsyncSession, user: User, limit: int) -> list[Challenge]:
    """Challenges at the recommended difficulty, nearest levels next, varied across categories.

    Candidates are published catalog challenges and the caller's own, minus any the
    caller attempted (in any way, avoided included) in the last 7 days.
    """
    level = stats.assess_level(await load_records(session, user))
    recent = select(Attempt.challenge_id).where(
        Attempt.user_id == user.id, Attempt.occurred_at >= utcnow() - timedelta(days=RECENT_DAYS)
    )
    eligible = (
        Challenge.status == "published",
        or_(Challenge.owner_id.is_(None), Challenge.owner_id == user.id),
        Challenge.id.not_in(recent),
    )
    counts = await session.execute(
        select(Challenge.difficulty, func.count()).where(*eligible).group_by(Challenge.difficulty)
    )
    levels = _nearest_levels(dict(counts.all()), level.recommended_difficulty, limit)
    if not levels:
        return []
    rows = await session.scalars(
        select(Challenge).where(*eligible, Challenge.difficulty.in_(levels)).order_by(Challenge.slug)
    )
    by_level: defaultdict[int, list[Challenge]] = defaultdict(list)
    for challenge in rows:
        by_level[challenge.difficulty].append(challenge)
    return _varied([by_level[d] for d in levels], limit)


def _nearest_levels(counts: dict[int, int], target: int, limit: int) -> list[int]:
    """Difficulty levels from the target outwards (the gentler one first on a tie) until `limit` are covered."""
    chosen, covered = [], 0
    for difficulty in sorted(counts, key=lambda d: (abs(d - target), d)):
        if covered >= limit:
            break
        chosen.append(difficulty)
        covered += counts[difficulty]
    return chosen


def _varied(groups: list[list[Challenge]], limit: int) -> list[Challenge]:
    """Take each group in turn, round-robin over its categories, preferring categories picked least so far."""
    picked: list[Challenge] = []
    used: defaultdict[str, int] = defaultdict(int)
    for group in groups:
        queues: dict[str, list[Challenge]] = defaultdict(list)
        for challenge in group:
            queues[challenge.category_slug].append(challenge)
        while queues and len(picked) < limit:
            for category in sorted(queues, key=lambda c: (used[c], c)):
                if len(picked) >= limit:
                    break
                picked.append(queues[category].pop(0))
                used[category] += 1
                if not queues[category]:
                    del queues[category]
    return picked
