from collections import defaultdict
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import Select, func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession
from starlette.concurrency import run_in_threadpool

from app.accounts.models import User
from app.attempts.models import Attempt
from app.catalog.models import Challenge
from app.core.errors import InvalidInput
from app.core.models import utcnow
from app.progress import stats

RECENT_DAYS = 7

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


async def trend(
    session: AsyncSession,
    user: User,
    *,
    since: datetime | None,
    until: datetime | None,
    support_message: str,
) -> stats.Trend:
    if since is not None and until is not None and since > until:
        raise InvalidInput("`since` must not lie after `until`.")
    records = await load_records(session, user, since, until)
    # The current streak is counted up to the end of the window when it lies in the past.
    as_of = utcnow() if until is None else min(utcnow(), until - timedelta(microseconds=1))
    today = as_of.astimezone(ZoneInfo(user.timezone)).date()
    # NumPy and SciPy hold the CPU for milliseconds on a long history: keep the event loop free.
    return await run_in_threadpool(
        stats.compute_trend, records, timezone=user.timezone, today=today, support_message=support_message
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
