"""The trend's `return_of_fear`: known answers through the API, and a brute-force count over random histories."""

import random
import statistics
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

import httpx
from sqlalchemy.ext.asyncio import AsyncSession

from app.attempts.models import Attempt
from app.catalog.models import Challenge
from app.core.models import utcnow
from app.progress import retest
from tests.conftest import Account, MakeAttempt, MakeChallenge, MakeUser
from tests.progress.test_progress_api import get_trend


async def test_no_re_tests_is_zero_and_null(client: httpx.AsyncClient, alice: Account) -> None:
    assert (await get_trend(client, alice))["return_of_fear"] == {"retests": 0, "mean_change": None}


async def test_known_answers(
    client: httpx.AsyncClient, alice: Account, make_challenge: MakeChallenge, make_attempt: MakeAttempt
) -> None:
    now = utcnow()

    async def ask(challenge: Challenge, days: int, peak: int | None) -> None:
        outcome = "avoided" if peak is None else "rejected"
        await make_attempt(
            alice.user, challenge, occurred_at=now - timedelta(days=days), outcome=outcome, distress_peak=peak
        )

    a, b, c = [await make_challenge() for _ in range(3)]
    for days, peak in [(50, 50), (49, 40), (48, 30)]:
        await ask(a, days, peak)
    # An avoided attempt in the gap changes nothing.
    await ask(a, 45, None)
    # A re-test 8 days later: 45 against the mean of 40 and 30, +10.
    await ask(a, 40, 45)
    for days, peak in [(39, 35), (38, 30)]:
        await ask(a, days, peak)
    # Another, 18 days later: 30 against 32.5, −2.5.
    await ask(a, 20, 30)
    # Mastered but never re-tested: the gap is 6 days.
    for days, peak in [(30, 30), (29, 20), (23, 25)]:
        await ask(b, days, peak)
    # A gap of 10 days, but the challenge was not mastered (45 before it).
    for days, peak in [(30, 30), (29, 45), (19, 20)]:
        await ask(c, days, peak)
    assert (await get_trend(client, alice))["return_of_fear"] == {"retests": 2, "mean_change": 3.75}
    # The window counts the re-tests inside it; the exposures before the gap may lie before `since`.
    since = (now - timedelta(days=30)).isoformat()
    assert (await get_trend(client, alice, since=since))["return_of_fear"] == {"retests": 1, "mean_change": -2.5}
    until = (now - timedelta(days=30)).isoformat()
    assert (await get_trend(client, alice, until=until))["return_of_fear"] == {"retests": 1, "mean_change": 10.0}
    window = {
        "since": (now - timedelta(days=45)).isoformat(),
        "until": (now - timedelta(days=39, hours=12)).isoformat(),
    }
    assert (await get_trend(client, alice, **window))["return_of_fear"] == {"retests": 1, "mean_change": 10.0}


async def test_a_gap_counts_in_local_days(
    client: httpx.AsyncClient, make_user: MakeUser, make_challenge: MakeChallenge, make_attempt: MakeAttempt
) -> None:
    """Late on a Monday evening and early the next Monday morning: a week apart on the calendar."""
    account = await make_user(timezone="Europe/Berlin")
    challenge = await make_challenge()
    monday = datetime.fromisoformat("2026-11-02T21:30:00+01:00")
    for at, peak in [(monday - timedelta(minutes=30), 30), (monday, 30), (monday + timedelta(days=6, hours=12), 50)]:
        await make_attempt(account.user, challenge, occurred_at=at, distress_peak=peak)
    assert (await get_trend(client, account))["return_of_fear"] == {"retests": 1, "mean_change": 20.0}


@dataclass
class Ask:
    challenge: int
    at: datetime
    peak: int | None  # None: avoided


def brute_force(asks: list[Ask], ids: list[uuid.UUID], since: datetime | None = None) -> tuple[int, float | None]:
    """The rule as the docs state it, one exposure at a time."""
    changes = []
    by_challenge: dict[int, list[tuple[datetime, uuid.UUID, int]]] = {}
    for ask, attempt_id in zip(asks, ids, strict=True):
        if ask.peak is not None:
            by_challenge.setdefault(ask.challenge, []).append((ask.at, attempt_id, ask.peak))
    for exposures in by_challenge.values():
        exposures.sort()
        for i in range(2, len(exposures)):
            (at, _, peak), (before, _, previous), (_, _, earlier) = exposures[i], exposures[i - 1], exposures[i - 2]
            gap = (at.date() - before.date()).days  # UTC: the local day is the UTC date
            mastered = previous <= retest.MASTERED_PEAK and earlier <= retest.MASTERED_PEAK
            if mastered and gap >= retest.RETEST_DAYS[0] and (since is None or at >= since):
                changes.append(peak - (previous + earlier) / 2)
    return len(changes), round(statistics.fmean(changes), 2) if changes else None


async def test_random_histories_agree_with_a_brute_force_count(
    client: httpx.AsyncClient,
    session: AsyncSession,
    make_user: MakeUser,
    make_challenge: MakeChallenge,
) -> None:
    rng = random.Random(1616)  # noqa: S311 (reproducible histories, not a secret)
    challenges = [await make_challenge() for _ in range(4)]
    start = utcnow() - timedelta(days=400)
    for _ in range(3):
        account = await make_user()
        asks, at = [], start
        for _ in range(150):
            at += timedelta(days=rng.choice([0, 0, 1, 2, 3, 6, 7, 9, 15]), minutes=rng.randint(1, 600))
            peak = None if rng.random() < 0.1 else rng.choice([10, 20, 30, 35, 40, 40, 45, 60, 80])
            asks.append(Ask(rng.randrange(len(challenges)), at, peak))
        rows = [
            Attempt(
                user_id=account.user.id,
                challenge_id=challenges[ask.challenge].id,
                occurred_at=ask.at,
                local_date=ask.at.date(),
                outcome="avoided" if ask.peak is None else "accepted",
                distress_before=50,
                distress_peak=ask.peak,
                difficulty=3,
                category="everyday",
                request_hash="random-history",
            )
            for ask in asks
        ]
        session.add_all(rows)
        await session.commit()
        ids = [row.id for row in rows]
        expected = brute_force(asks, ids)
        assert expected[0] > 0
        got = (await get_trend(client, account))["return_of_fear"]
        assert (got["retests"], got["mean_change"]) == expected
        since = start + timedelta(days=200)
        got = (await get_trend(client, account, since=since.isoformat()))["return_of_fear"]
        assert (got["retests"], got["mean_change"]) == brute_force(asks, ids, since)
