"""`rejection-tracker demo`: an account with four weeks of practice, so a frontend has something to draw.

The history is built to show every part of the trend: distress at the same difficulty falling (status
`improving`), an avoided ask, a streak that runs to today, and, after a step up to harder asks that
peaked high, the ladder stepping down (`step_down`). Every attempt goes through `POST /attempts`'s own
service code, at published catalog challenges, so its session day and `session_stats` are as for any user.
"""

import uuid
from dataclasses import dataclass
from datetime import datetime, time, timedelta

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app.accounts import service as accounts
from app.accounts.models import User
from app.accounts.schemas import UserCreate
from app.attempts import service as attempts
from app.attempts.schemas import AttemptCreate, Outcome
from app.catalog.models import Challenge, ChallengeStatus
from app.core.models import utcnow

DEMO_EMAIL = "demo@example.com"
DEMO_NAME = "Demo practiser"
DAYS = 28
# The last days step up to this difficulty, and the asks there peak at 85 or more: the ladder steps down.
HARD_DIFFICULTY = 5
HARD_DAYS = 4
# A little day-to-day wobble, so the lines look like a person's and not like a ruler's.
_WOBBLE = (3, -2, 4, 0, -3, 2, -1, 5, -4, 1)
_OUTCOMES: tuple[Outcome, ...] = ("rejected", "accepted", "rejected", "partial", "rejected", "accepted")
_NOTES = (
    "Voice shook at the start, then it was fine.",
    "They said no kindly. Nothing bad happened.",
    "Almost walked away; asked anyway.",
    "Easier than yesterday.",
)


@dataclass(frozen=True)
class _Ask:
    days_ago: int
    difficulty: int
    outcome: Outcome
    before: int
    peak: int | None
    after: int | None
    expected: int
    notes: str | None


def _plan() -> list[_Ask]:
    """Oldest first: easy asks at difficulties 2 and 3 whose peaks fall, an avoided harder ask, then the step up."""
    asks: list[_Ask] = []
    easy_days = DAYS - HARD_DAYS
    for index, days_ago in enumerate(range(DAYS - 1, HARD_DAYS - 1, -1)):
        difficulty = 2 + index % 2
        peak = 78 + 8 * (difficulty - 2) - round(40 * index / easy_days) + _WOBBLE[index % len(_WOBBLE)]
        outcome = _OUTCOMES[index % len(_OUTCOMES)]
        asks.append(
            _Ask(
                days_ago,
                difficulty,
                outcome,
                before=peak - 10,
                peak=peak,
                after=max(5, peak - 35),
                expected=max(20, 85 - 2 * index),
                notes=_NOTES[index % len(_NOTES)] if index % 3 == 0 else None,
            )
        )
        if days_ago == 15:
            # A harder ask that day, not made: it shows in the avoidance rate, and the day keeps its session.
            asks.append(_Ask(days_ago, 4, "avoided", 80, None, 55, 90, "Turned round at the door."))
    for index, days_ago in enumerate(range(HARD_DAYS - 1, -1, -1)):
        peak = 91 - 2 * index
        asks.append(_Ask(days_ago, HARD_DIFFICULTY, "rejected", peak - 15, peak, peak - 30, 90, None))
    return asks


async def _challenges(session: AsyncSession) -> dict[int, list[uuid.UUID]]:
    """Published catalog challenges by difficulty."""
    rows = await session.execute(
        select(Challenge.id, Challenge.difficulty)
        .where(Challenge.owner_id.is_(None), Challenge.status == ChallengeStatus.PUBLISHED)
        .order_by(Challenge.difficulty, Challenge.slug)
    )
    found: dict[int, list[uuid.UUID]] = {}
    for challenge_id, difficulty in rows:
        found.setdefault(difficulty, []).append(challenge_id)
    if not found:
        raise ValueError("the catalog has no published challenges: run `rejection-tracker seed` first")
    return found


def _pick(challenges: dict[int, list[uuid.UUID]], difficulty: int, turn: int) -> uuid.UUID:
    nearest = min(challenges, key=lambda d: (abs(d - difficulty), d))
    ids = challenges[nearest]
    return ids[turn % len(ids)]


def _when(days_ago: int, turn: int, now: datetime) -> datetime:
    """An evening time that day (UTC, the account's zone); today, a time between midnight and now."""
    midnight = datetime.combine(now.date(), time(), tzinfo=now.tzinfo)
    if days_ago == 0:
        return now - (now - midnight) / (turn + 2)
    return midnight - timedelta(days=days_ago) + timedelta(hours=18, minutes=25 * turn)


async def create_demo_account(session: AsyncSession, password: str) -> tuple[User, int]:
    """The demo account made afresh (an earlier one with its email is removed first, so its practice always
    ends today), and how many attempts it got."""
    data = UserCreate(email=DEMO_EMAIL, password=password, display_name=DEMO_NAME)
    earlier = await session.scalar(select(User).where(User.email == data.email))
    if earlier is not None:
        await accounts.delete_user(session, earlier)
    user = await accounts.register(session, data)
    challenges = await _challenges(session)
    now = utcnow()
    plan = _plan()
    for turn, ask in enumerate(plan):
        # Validated as a request body is: `occurred_at` as RFC 3339 text.
        attempt = AttemptCreate.model_validate(
            {
                "challenge_id": _pick(challenges, ask.difficulty, turn),
                "occurred_at": _when(ask.days_ago, turn % 2, now).isoformat(),
                "outcome": ask.outcome,
                "distress_before": ask.before,
                "distress_peak": ask.peak,
                "distress_after": ask.after,
                "expected_rejection": ask.expected,
                "notes": ask.notes,
            }
        )
        await attempts.create_attempt(session, user.id, attempt, None)
    return user, len(plan)
