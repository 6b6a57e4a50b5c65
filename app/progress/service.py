import functools
import hashlib
import uuid
from collections import defaultdict
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from pydantic import TypeAdapter
from sqlalchemy import (
    BigInteger,
    BindParameter,
    ColumnElement,
    Integer,
    Select,
    bindparam,
    case,
    cast,
    func,
    literal_column,
    select,
    true,
)
from sqlalchemy.ext.asyncio import AsyncSession

from app.accounts.models import User
from app.attempts.models import Attempt
from app.attempts.service import Instant, in_window
from app.catalog.models import Challenge
from app.catalog.rules import listed_for
from app.core.db import day_number, joined, local_date_in, packed, packed_rows
from app.core.errors import Unauthorized
from app.core.models import utcnow
from app.core.schemas import check_window
from app.progress import retest, stats
from app.progress.models import PACKED_COLUMNS, SessionStats, packed_cell
from app.progress.practice import ladder_challenges, pauses_query
from app.progress.practice_schemas import SuggestionReason

RECENT_DAYS = 7
# The trend's dataclasses serialised as they are: validating them into TrendPublic first cost more than
# computing them on a long history. TrendPublic documents the same fields (the answer's schema); the tests
# check the two agree, and schemathesis checks every answer against it.
_TREND_JSON = TypeAdapter(stats.Trend)

_EXPOSURE = Attempt.outcome != "avoided"


def _count(condition: ColumnElement[bool]) -> ColumnElement[int]:
    return case((condition, 1), else_=0)


def _value(condition: ColumnElement[bool], column: Any) -> ColumnElement[int]:
    return case((condition, column), else_=0)


_RATED_AFTER = _EXPOSURE & Attempt.distress_after.is_not(None)
_PREDICTED = _EXPOSURE & Attempt.expected_rejection.is_not(None)
_SURPRISE_RATED = _EXPOSURE & Attempt.surprise.is_not(None)
# What one attempt adds to the totals of its cell (day, difficulty, category), in the order of stats.Cells' fields. The
# triggers that keep `session_stats` (migration 83922efc0822) add the same: tests/progress/test_session_stats.py
# checks that they agree.
CELL_SUMS: dict[str, ColumnElement[int]] = {
    "attempts": literal_column("1", Integer),
    "avoided": _count(Attempt.outcome == "avoided"),
    "rejected": _count(Attempt.outcome == "rejected"),
    "accepted": _count(Attempt.outcome == "accepted"),
    "partial": _count(Attempt.outcome == "partial"),
    "peak_sum": _value(_EXPOSURE, Attempt.distress_peak),
    "before_sum": _value(_EXPOSURE, Attempt.distress_before),
    "after_n": _count(_RATED_AFTER),
    "after_sum": _value(_RATED_AFTER, Attempt.distress_after),
    "after_peak_sum": _value(_RATED_AFTER, Attempt.distress_peak),
    "predicted_n": _count(_PREDICTED),
    "predicted_sum": _value(_PREDICTED, Attempt.expected_rejection),
    "predicted_rejected": _count(_PREDICTED & (Attempt.outcome == "rejected")),
    "advance_n": _count(_PREDICTED & (Attempt.predicted_at < Attempt.occurred_at)),
    "surprise_n": _count(_SURPRISE_RATED),
    "surprise_sum": _value(_SURPRISE_RATED, Attempt.surprise),
}
_CELL_KEY = (Attempt.local_date, Attempt.difficulty, Attempt.category)
# The cells' integers (stats.Cells' but the category), in the order `SessionStats.packed` holds them; the day comes
# as its day_number.
_PACKED_NAMES = ("day", *PACKED_COLUMNS[1:])
# The totals the cells carry are summed from them in Python; the database sums only the others.
_SUMMED_TOTALS = [name for name in stats.Totals._fields if name not in _PACKED_NAMES]


UserId = uuid.UUID | BindParameter[uuid.UUID]


def cells_query(
    user_id: UserId, since: Instant | None = None, until: Instant | None = None
) -> Select[*tuple[Any, ...]]:
    """The user's cells: each cell's category, its integers packed (`SessionStats.packed`) and the `_SUMMED_TOTALS`;
    kept in `session_stats` for the whole history, or grouped from the attempts inside a `since`/`until` window
    (whose ends are instants, not days) and packed alike."""
    if since is None and until is None:
        stored = (SessionStats.__table__.c[name] for name in _SUMMED_TOTALS)
        return select(SessionStats.category, SessionStats.packed, *stored).where(SessionStats.user_id == user_id)
    sums = {name: func.sum(total) for name, total in CELL_SUMS.items()}
    packed = packed_cell({"local_date": Attempt.local_date, "difficulty": Attempt.difficulty} | sums)
    grouped = select(
        Attempt.category, packed.label("packed"), *(sums[name].label(name) for name in _SUMMED_TOTALS)
    ).where(Attempt.user_id == user_id)
    return in_window(grouped, since, until).group_by(*_CELL_KEY)


def recent_query(
    user_id: UserId, since: Instant | None = None, until: Instant | None = None
) -> Select[date, str, int | None, int, datetime, uuid.UUID]:
    """The user's last `stats.RECENT_ATTEMPTS` attempts in the window, newest first (through the user/time index)."""
    query = select(
        Attempt.local_date, Attempt.outcome, Attempt.distress_peak, Attempt.difficulty, Attempt.occurred_at, Attempt.id
    ).where(Attempt.user_id == user_id)
    return (
        in_window(query, since, until)
        .order_by(Attempt.occurred_at.desc(), Attempt.id.desc())
        .limit(stats.RECENT_ATTEMPTS)
    )


def practice_query(
    user_id: UserId, since: Instant | None = None, until: Instant | None = None
) -> Select[*tuple[Any, ...]]:
    """One row: the cells' categories as a list and their integers as one array (`_PACKED_NAMES`), the
    `_SUMMED_TOTALS`, `RecentAttempt`'s columns as lists (newest first), the pauses' first and last days as lists,
    the re-tests and twice their summed change, then the account's time zone (NULL once the account is gone). One
    round trip for all the trend reads, the account's included, and a long history's thousands of cells cost a
    fraction of what as many rows do."""
    cells = cells_query(user_id, since, until).subquery()
    # SUM over bigints is numeric on PostgreSQL (a Decimal): the totals of one user's attempts fit a bigint.
    totals = (cast(func.coalesce(func.sum(cells.c[name]), 0), BigInteger) for name in _SUMMED_TOTALS)
    packed_cells = select(
        joined(cells.c.category), packed_rows(cells.c.packed, columns=len(_PACKED_NAMES)), *totals
    ).subquery()
    recent = recent_query(user_id, since, until).subquery()
    newest_first = (recent.c.occurred_at.desc(), recent.c.id.desc())
    recent_columns = (day_number(recent.c.local_date), recent.c.outcome, recent.c.distress_peak, recent.c.difficulty)
    packed_recent = select(*(packed(column, *newest_first) for column in recent_columns)).subquery()
    pauses = pauses_query(user_id).subquery()
    packed_pauses = select(packed(pauses.c.first_day), packed(pauses.c.last_day)).subquery()
    return_of_fear = retest.return_of_fear_query(user_id, since, until).subquery()
    one_row_each = packed_cells.join(packed_recent, true()).join(packed_pauses, true()).join(return_of_fear, true())
    timezone = select(User.timezone).where(User.id == user_id).scalar_subquery()
    return select(*packed_cells.c, *packed_recent.c, *packed_pauses.c, *return_of_fear.c, timezone).select_from(
        one_row_each
    )


@functools.cache
def _practice_statement(windowed_since: bool, windowed_until: bool) -> Select[*tuple[Any, ...]]:
    # Built once per kind of window: building the statement cost more than running it on a short history.
    return practice_query(
        bindparam("user_id"),
        bindparam("since") if windowed_since else None,
        bindparam("until") if windowed_until else None,
    )


async def load_practice(
    session: AsyncSession, user_id: uuid.UUID, since: datetime | None = None, until: datetime | None = None
) -> tuple[stats.Practice, str | None]:
    """The user's practice, and their account's time zone (None when the account is gone)."""
    statement = _practice_statement(since is not None, until is not None)
    parameters = {"user_id": user_id, "since": since, "until": until}
    # Through the Core connection: the ORM's row handling would cost more than the query.
    connection = await session.connection()
    row = (await connection.execute(statement, {k: v for k, v in parameters.items() if v is not None})).one()
    categories, integers, *rest = row
    summed = rest[: len(_SUMMED_TOTALS)]
    days, outcomes, peaks, difficulties, first_days, last_days, retests, change2, timezone = rest[len(summed) :]
    columns = dict(zip(_PACKED_NAMES, integers, strict=True))
    # The totals of one user's cells fit an int64 (each cell's fit 32 bits).
    totals = dict(zip(_PACKED_NAMES[2:], integers[2:].sum(axis=1).tolist(), strict=True))
    totals |= dict(zip(_SUMMED_TOTALS, summed, strict=True))
    cells = stats.Cells(category=categories, **{name: columns[name] for name in stats.Cells._fields if name in columns})
    recent = list(map(stats.RecentAttempt, map(date.fromordinal, days), outcomes, peaks, difficulties))
    recent.reverse()
    pauses = zip(first_days, last_days, strict=True)
    practice = stats.Practice(
        cells,
        stats.Totals(**totals),
        recent,
        paused=frozenset(day for first, last in pauses for day in range(first, last + 1)),
        return_of_fear=stats.ReturnOfFear(retests, round(change2 / 2 / retests, 2) if retests else None),
    )
    return practice, timezone


@dataclass(frozen=True, slots=True)
class TrendAnswer:
    etag: str
    # The JSON document; None when the client's If-None-Match already names this version (304).
    body: bytes | None


async def trend(
    session: AsyncSession,
    user_id: uuid.UUID,
    *,
    since: datetime | None,
    until: datetime | None,
    support_message: str,
    if_none_match: str | None = None,
) -> TrendAnswer:
    """The trend as JSON, computed from the user's session totals on every read; its ETag is a digest of it.

    The account is read in the same statement (its time zone), not before: a deleted account's token is answered
    401 as on every route.
    """
    check_window(since, until)
    practice, timezone = await load_practice(session, user_id, since, until)
    if timezone is None:
        raise Unauthorized()
    # The current streak is counted up to the end of the window when it lies in the past.
    as_of = utcnow() if until is None else min(utcnow(), until - timedelta(microseconds=1))
    today = as_of.astimezone(ZoneInfo(timezone)).date()
    result = stats.compute_trend(practice, timezone=timezone, today=today, support_message=support_message)
    body = trend_json(result)
    etag = f'"{hashlib.sha256(body).hexdigest()[:32]}"'
    tags = entity_tags(if_none_match)
    return TrendAnswer(etag, None if "*" in tags or etag in tags else body)


def trend_json(result: stats.Trend) -> bytes:
    return _TREND_JSON.dump_json(result)


def entity_tags(if_none_match: str | None) -> list[str]:
    """The entity tags in an If-None-Match header, weak ones compared as strong (RFC 9110 weak comparison)."""
    if not if_none_match:
        return []
    return [tag.strip().removeprefix("W/") for tag in if_none_match.split(",") if tag.strip()]


async def next_challenges(session: AsyncSession, user: User, limit: int) -> list[tuple[Challenge, SuggestionReason]]:
    """What to practise next, each with its reason, first match first (each challenge once):

    1. `retest`: mastered challenges whose next re-test is due (app/progress/retest.py), the longest overdue first;
    2. `ladder`: the first step of the user's ladder not mastered yet;
    3. `level` / `variety`: challenges at the recommended difficulty, nearest levels next, categories in turn;
       after the first, one in a category none of the user's last `stats.RECENT_ATTEMPTS` attempts was in is
       `variety` (for a user with attempts). Mastered challenges stay out of this part (they come back as
       re-tests), and so does any the user attempted (in any way, avoided included) in the last 7 days.

    Every candidate is listed for the caller (the catalog's `listed_for`: the published catalog and the caller's
    own that are not archived), so each can be logged.
    """
    today = local_date_in(utcnow(), user.timezone)
    mastered = await retest.mastered(session, user.id)
    picked: list[tuple[Challenge, SuggestionReason]] = []
    due = sorted((m.due_on(), challenge_id) for challenge_id, m in mastered.items() if m.due_on() <= today)
    if due:
        listed = await _listed(session, user, [challenge_id for _, challenge_id in due])
        picked += [(listed[challenge_id], "retest") for _, challenge_id in due if challenge_id in listed]
    steps = [challenge_id for challenge_id in await ladder_challenges(session, user.id) if challenge_id not in mastered]
    if steps and len(picked) < limit:
        listed = await _listed(session, user, steps)
        step = next((listed[challenge_id] for challenge_id in steps if challenge_id in listed), None)
        if step is not None:
            picked.append((step, "ladder"))
    if len(picked) >= limit:
        return picked[:limit]
    chosen = {challenge.id for challenge, _ in picked}
    level = await _at_level(session, user, limit - len(picked), exclude=chosen | set(mastered))
    if level:
        recent_categories = set(
            await session.scalars(
                select(Attempt.category)
                .where(Attempt.user_id == user.id)
                .order_by(Attempt.occurred_at.desc(), Attempt.id.desc())
                .limit(stats.RECENT_ATTEMPTS)
            )
        )
        first, *rest = level
        picked.append((first, "level"))
        # Without attempts there is nothing to vary from.
        fresh = {c.category_slug for c in rest} - recent_categories if recent_categories else set()
        picked += [(c, "variety" if c.category_slug in fresh else "level") for c in rest]
    return picked


async def _listed(session: AsyncSession, user: User, ids: list[uuid.UUID]) -> dict[uuid.UUID, Challenge]:
    rows = await session.scalars(select(Challenge).where(Challenge.id.in_(ids), listed_for(user.id)))
    return {challenge.id: challenge for challenge in rows}


async def _at_level(session: AsyncSession, user: User, limit: int, *, exclude: set[uuid.UUID]) -> list[Challenge]:
    """Challenges at the recommended difficulty, nearest levels next, varied across categories."""
    practice, _timezone = await load_practice(session, user.id)
    level = stats.assess_level(practice)
    recent = select(Attempt.challenge_id).where(
        Attempt.user_id == user.id, Attempt.occurred_at >= utcnow() - timedelta(days=RECENT_DAYS)
    )
    eligible = [listed_for(user.id), Challenge.id.not_in(recent)]
    if exclude:
        eligible.append(Challenge.id.not_in(exclude))
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
