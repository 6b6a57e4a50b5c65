"""Return of fear: when a challenge counts as mastered, when it is due again, and what a re-test is.

The rule is written here once, as SQL over one user's exposures (attempts not avoided) of each challenge in
the order they happened (`occurred_at`, then `id`), and both `GET /me/next-challenges` and the trend's
`return_of_fear` read it:

- a challenge is **mastered** while its last two exposures peaked at `MASTERED_PEAK` (40) or less;
- an exposure is a **re-test** when the challenge was mastered before it (the two exposures before it peaked
  at 40 or less) and it came at least `RETEST_DAYS[0]` (7) local days after the exposure before it;
- a mastered challenge is **due** for its k-th re-test (k = 1, 2, …) once `RETEST_DAYS[k − 1]` local days
  (7, then 21, then 60, and 60 from then on) have passed since its last exposure, k counting the re-tests
  since its last exposure that peaked above 40. A re-test that peaks above 40 ends the mastery: the
  challenge goes back to ordinary practice until two exposures in a row peak at 40 or less again.

Days are the local days the attempts were logged in (`local_date`, the trend's session days), so a re-test
falls due on a calendar day, not at an hour. Avoided attempts neither master a challenge nor start or reset
its clock: only exposures do.

Scanning the history for re-tests on every read cost ten times the rest of the trend at 100,000 attempts, so
triggers keep the outcome per challenge in `challenge_progress` (`progress_query` is the same rule as SQL the
tests compare the triggers with): the whole-history trend and the suggestions read those rows, and only a
trend with a `since`/`until` window scans (`return_of_fear_query`).
"""

import contextlib
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import date
from typing import Any

from sqlalchemy import (
    BindParameter,
    ColumnElement,
    Select,
    String,
    Subquery,
    Uuid,
    case,
    cast,
    delete,
    func,
    insert,
    literal,
    select,
)
from sqlalchemy.ext.asyncio import AsyncSession

from app.attempts.models import Attempt
from app.core.db import day_number
from app.progress.models import ChallengeProgress, ChallengeProgressDeferred

MASTERED_PEAK = 40
RETEST_DAYS = (7, 21, 60)

UserId = uuid.UUID | BindParameter[uuid.UUID]


def _exposures(user_id: UserId, until: Any = None, *, numbered: bool = False) -> Select[*tuple[Any, ...]]:
    """Each exposure with the two before it at the same challenge (their peaks, the last one's day), and with
    `numbered` its place in the challenge's exposures (from 1)."""
    # Through ix_attempts_user_id_challenge_id_occurred_at: a challenge's attempts come in time order.
    partition, order = Attempt.challenge_id, (Attempt.occurred_at, Attempt.id)
    number = [func.row_number().over(partition_by=partition, order_by=order).label("number")] if numbered else []
    query = select(
        Attempt.challenge_id,
        Attempt.occurred_at,
        Attempt.id,
        Attempt.local_date,
        Attempt.distress_peak.label("peak"),
        *number,
        func.lag(Attempt.distress_peak, 1).over(partition_by=partition, order_by=order).label("previous_peak"),
        func.lag(Attempt.distress_peak, 2).over(partition_by=partition, order_by=order).label("earlier_peak"),
        func.lag(Attempt.local_date, 1).over(partition_by=partition, order_by=order).label("previous_date"),
    ).where(Attempt.user_id == user_id, Attempt.outcome != "avoided")
    if until is not None:
        # Only earlier exposures precede an exposure: the window's end can cut the history before the lags.
        query = query.where(Attempt.occurred_at < until)
    return query


def _is_retest(exposures: Any) -> ColumnElement[bool]:
    """The one definition of a re-test, over `_exposures`' columns."""
    # The days are counted last, for the few exposures that pass the peaks.
    retest: ColumnElement[bool] = (
        (exposures.c.previous_peak <= MASTERED_PEAK)
        & (exposures.c.earlier_peak <= MASTERED_PEAK)
        & (day_number(exposures.c.local_date) - day_number(exposures.c.previous_date) >= RETEST_DAYS[0])
    )
    return retest


def return_of_fear_query(user_id: UserId, since: Any = None, until: Any = None) -> Select[int, int]:
    """One row: how many of the exposures in the window were re-tests, and the sum over them of twice (the
    re-test's peak − the mean peak of the two exposures before it), an integer: `ReturnOfFear.mean_change` is
    that sum / 2 / the count. Those two may lie before `since`: a re-test in the window is one whatever the
    window holds of the time before it. The whole history reads the totals the triggers keep (one row per
    challenge); only a window scans the exposures."""
    if since is None and until is None:
        return select(
            func.coalesce(func.sum(ChallengeProgress.retests), 0),
            func.coalesce(func.sum(ChallengeProgress.change2_sum), 0),
        ).where(ChallengeProgress.user_id == user_id)
    exposures = _exposures(user_id, until).subquery()
    retest = _is_retest(exposures)
    if since is not None:
        retest = retest & (exposures.c.occurred_at >= since)
    return select(func.count(case((retest, 1))), func.coalesce(func.sum(case((retest, _change2(exposures)))), 0))


def _change2(exposures: Subquery) -> ColumnElement[int]:
    """Twice an exposure's change: 2 × its peak − the peaks of the two exposures before it."""
    change2: ColumnElement[int] = 2 * exposures.c.peak - exposures.c.previous_peak - exposures.c.earlier_peak
    return change2


def progress_query(user_id: UserId) -> Select[*tuple[Any, ...]]:
    """Per challenge the user has been exposed to, `ChallengeProgress`' columns computed from the attempts: the
    rule the triggers of migration c3d1e5f7a9b2 apply (tests/progress/test_challenge_progress.py checks they
    agree), and the rebuild after a bulk write."""
    exposures = _exposures(user_id, numbered=True).subquery()
    hot = case((exposures.c.peak > MASTERED_PEAK, exposures.c.number))
    retest = _is_retest(exposures)
    change2 = _change2(exposures)
    marked = select(
        exposures.c.challenge_id,
        exposures.c.number,
        exposures.c.local_date,
        exposures.c.peak,
        exposures.c.occurred_at,
        exposures.c.id,
        case((retest, 1), else_=0).label("retest"),
        case((retest, change2), else_=0).label("change2"),
        # The number of the challenge's last exposure that peaked above 40 (0 when none did).
        func.coalesce(func.max(hot).over(partition_by=exposures.c.challenge_id), 0).label("last_hot"),
        func.count().over(partition_by=exposures.c.challenge_id).label("total"),
    ).subquery()
    calm = marked.c.number > marked.c.last_hot
    last = marked.c.number == marked.c.total
    return select(
        marked.c.challenge_id,
        func.max(marked.c.local_date).label("last_exposure_date"),
        func.sum(case((calm, 1), else_=0)).label("calm_exposures"),
        func.sum(case((calm & (marked.c.retest == 1), 1), else_=0)).label("calm_retests"),
        func.sum(marked.c.retest).label("retests"),
        func.sum(marked.c.change2).label("change2_sum"),
        func.max(case((last, marked.c.peak))).label("last_peak"),
        func.max(case((marked.c.number == marked.c.total - 1, marked.c.peak))).label("previous_peak"),
        func.max(marked.c.occurred_at).label("last_occurred_at"),
        # PostgreSQL has no MAX of a uuid: the one latest id goes through text.
        cast(func.max(cast(case((last, marked.c.id)), String)), Uuid).label("last_id"),
    ).group_by(marked.c.challenge_id)


@contextlib.asynccontextmanager
async def deferred(session: AsyncSession, user_id: uuid.UUID) -> AsyncIterator[None]:
    """Write many attempts of the user inside: the triggers leave their `challenge_progress` alone meanwhile,
    and it is rebuilt once at the end, in the same transaction (rebuilding per attempt would cost the square)."""
    await session.execute(insert(ChallengeProgressDeferred).values(user_id=user_id))
    yield
    await session.execute(delete(ChallengeProgressDeferred).where(ChallengeProgressDeferred.user_id == user_id))
    await session.execute(delete(ChallengeProgress).where(ChallengeProgress.user_id == user_id))
    computed = progress_query(user_id).subquery()
    await session.execute(
        insert(ChallengeProgress).from_select(
            ["user_id", *computed.c.keys()], select(literal(user_id, ChallengeProgress.user_id.type), *computed.c)
        )
    )


@dataclass(frozen=True, slots=True)
class Mastered:
    """A challenge mastered now: its last exposure's local day, and its re-tests since it last peaked above 40."""

    last_day: date
    retests: int

    def due_on(self) -> date:
        """The local day its next re-test falls due."""
        days = RETEST_DAYS[min(self.retests, len(RETEST_DAYS) - 1)]
        return date.fromordinal(self.last_day.toordinal() + days)


async def mastered(
    session: AsyncSession, user_id: uuid.UUID, challenge_ids: list[uuid.UUID] | None = None
) -> dict[uuid.UUID, Mastered]:
    """The challenges the user has mastered now (of `challenge_ids`, when given), by id: their last two exposures
    came after the last one above 40."""
    query = select(
        ChallengeProgress.challenge_id, ChallengeProgress.last_exposure_date, ChallengeProgress.calm_retests
    ).where(ChallengeProgress.user_id == user_id, ChallengeProgress.calm_exposures >= 2)
    if challenge_ids is not None:
        query = query.where(ChallengeProgress.challenge_id.in_(challenge_ids))
    rows = await session.execute(query)
    return {challenge_id: Mastered(day, retests) for challenge_id, day, retests in rows}
