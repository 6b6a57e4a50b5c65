"""The trend's `learning` block: predictions against outcomes, predictions made in advance, surprise, and the
slope of the predicted chance of a no over sessions.

Known-answer users are logged through the HTTP API (or stored as rows where a test sets `predicted_at` and
`surprise` itself, independent of how plans and reflections set them) and read with GET /me/trend on the real
database; the slope is checked against scipy, pymannkendall and brute force on session means the test computes.
"""

import math
from collections import Counter, defaultdict
from datetime import date, datetime, timedelta
from typing import Any

import httpx
import numpy as np
import pymannkendall as pmk
import pytest
from scipy import stats as scipy_stats

from app.catalog.models import Challenge
from app.core.models import utcnow
from app.progress import stats
from app.progress.schemas import TrendPublic
from tests.conftest import Account, MakeAttempt, MakeChallenge
from tests.progress.trend_cells import Ask, trend_of

TREND = "/api/v1/me/trend"
ATTEMPTS = "/api/v1/attempts"
SLOPE_FIELDS = (
    "expected_rejection_slope_per_week",
    "expected_rejection_ci_low",
    "expected_rejection_ci_high",
    "expected_rejection_p_value",
    "expected_rejection_change",
)
EMPTY = {
    "paired": 0,
    "predicted_in_advance": 0,
    "expected_rejection_mean": None,
    "actual_rejection_rate": None,
    "gap": None,
    "mean_surprise": None,
    "sessions": 0,
    **dict.fromkeys(SLOPE_FIELDS),
}


def days_ago(days: int, hour: int = 12) -> datetime:
    """A time on the UTC day `days` before yesterday (yesterday: every hour of it is already past)."""
    yesterday = utcnow().replace(hour=0, minute=0, second=0, microsecond=0) - timedelta(days=1)
    return yesterday - timedelta(days=days) + timedelta(hours=hour)


async def log(
    client: httpx.AsyncClient,
    account: Account,
    challenge: Challenge,
    at: datetime,
    peak: int | None,
    *,
    outcome: str = "rejected",
    expected: int | None = None,
) -> None:
    body: dict[str, Any] = {
        "challenge_id": str(challenge.id),
        "occurred_at": at.isoformat(),
        "outcome": outcome,
        "distress_before": 50,
        "distress_peak": peak,
    }
    if expected is not None:
        body["expected_rejection"] = expected
    response = await client.post(ATTEMPTS, headers=account.headers, json=body)
    assert response.status_code == 201, response.text


async def trend(client: httpx.AsyncClient, account: Account, **window: datetime) -> dict[str, Any]:
    params = {name: at.isoformat() for name, at in window.items()}
    response = await client.get(TREND, headers=account.headers, params=params)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    TrendPublic.model_validate(body)
    # `learning` repeats expectancy's numbers: computed once, they always agree.
    learning, expectancy = body["learning"], body["expectancy"]
    assert {name: learning[name] for name in expectancy} == expectancy
    return body


def sen(session_means: dict[int, float], origin: int) -> tuple[float, float, float]:
    """scipy's Theil–Sen slope and 95% interval of session means keyed by day ordinal, in points per week
    (weeks since `origin`, as the trend counts them, so the differences are the same floats)."""
    days = sorted(session_means)
    x = (np.array(days) - origin) / 7
    y = np.array([session_means[day] for day in days])
    theirs = scipy_stats.theilslopes(y, x, alpha=0.95)
    # Brute force agrees: the median of every pairwise slope.
    pairwise = [(y[j] - y[i]) / (x[j] - x[i]) for i in range(len(y)) for j in range(i + 1, len(y))]
    assert theirs.slope == pytest.approx(float(np.median(pairwise)), abs=1e-12)
    return theirs.slope, theirs.low_slope, theirs.high_slope


def mann_kendall_p(values: list[float]) -> float:
    """The two-sided, tie- and continuity-corrected p-value straight from the definitions."""
    n = len(values)
    s = sum(int(np.sign(values[j] - values[i])) for i in range(n) for j in range(i + 1, n))
    ties = [values.count(value) for value in set(values)]
    variance = (n * (n - 1) * (2 * n + 5) - sum(t * (t - 1) * (2 * t + 5) for t in ties)) / 18
    return math.erfc(abs(s - np.sign(s)) / math.sqrt(variance) / math.sqrt(2))


# --- through the API ---------------------------------------------------------------------------


async def test_predictions_falling_from_90_to_30_give_minus_35_points_a_week(
    client: httpx.AsyncClient, alice: Account, make_challenge: MakeChallenge
) -> None:
    easy, hard = await make_challenge(difficulty=2), await make_challenge(difficulty=5)
    # A session without any prediction, before the others: a session of the trend, no point of this line.
    await log(client, alice, easy, days_ago(20), 70)
    for day in range(13):
        expected, at = 90 - 5 * day, days_ago(12 - day)
        # Two paired asks around that day's prediction, in two cells: the session's mean prediction is `expected`.
        await log(client, alice, easy, at, 60, outcome="accepted", expected=expected + 5)
        await log(client, alice, hard, at + timedelta(minutes=30), 60, expected=expected - 5)
        # An exposure without a prediction, and an avoided attempt with one: neither is paired.
        await log(client, alice, easy, at + timedelta(hours=1), 50, outcome="partial")
        await log(client, alice, hard, at + timedelta(hours=2), None, outcome="avoided", expected=100)
    body = await trend(client, alice)
    assert body["sessions"] == 14
    assert body["learning"] == {
        "paired": 26,
        # A prediction given with the attempt is recorded when it is logged: never in advance.
        "predicted_in_advance": 0,
        "expected_rejection_mean": 60.0,
        "actual_rejection_rate": 50.0,
        "gap": 10.0,
        "mean_surprise": None,
        "sessions": 13,
        # −5 points a day, every pair of sessions alike: slope and interval are −35 a week.
        "expected_rejection_slope_per_week": -35.0,
        "expected_rejection_ci_low": -35.0,
        "expected_rejection_ci_high": -35.0,
        # S = −78 of 78 pairs, Var(S) = 13 × 12 × 31 / 18.
        "expected_rejection_p_value": pytest.approx(math.erfc(77 / math.sqrt(13 * 12 * 31 / 18) / math.sqrt(2))),
        "expected_rejection_change": "falling",
    }
    assert body["learning"]["expected_rejection_p_value"] < 1e-5


async def test_a_session_is_the_mean_of_its_predictions_across_cells(
    client: httpx.AsyncClient, alice: Account, make_challenge: MakeChallenge
) -> None:
    work, everyday = await make_challenge(difficulty=3), await make_challenge(difficulty=4)
    for day in range(6):
        at = days_ago(5 - day)
        for minute in range(3):
            await log(client, alice, work, at + timedelta(minutes=minute), 60, expected=80 - 10 * day)
        await log(client, alice, everyday, at + timedelta(hours=1), 60, expected=80)
    learning = (await trend(client, alice))["learning"]
    # (3 × (80 − 10d) + 80) / 4 = 80 − 7.5d a day: the mean of the cells' means would fall 5 a day instead.
    assert learning["expected_rejection_slope_per_week"] == -52.5
    assert (learning["paired"], learning["sessions"]) == (24, 6)


async def test_only_predictions_written_before_the_ask_are_in_advance_and_surprise_is_averaged(
    client: httpx.AsyncClient, alice: Account, make_challenge: MakeChallenge, make_attempt: MakeAttempt
) -> None:
    challenge = await make_challenge()
    at = days_ago(1)

    async def attempt(minutes: int, predicted: timedelta | None, **fields: Any) -> None:
        occurred = at + timedelta(minutes=minutes)
        moment = None if predicted is None else occurred + predicted
        await make_attempt(alice.user, challenge, occurred_at=occurred, predicted_at=moment, **fields)

    await attempt(0, -timedelta(days=1), expected_rejection=80, surprise=90)  # a plan made the day before
    await attempt(10, -timedelta(seconds=1), expected_rejection=60, surprise=40, outcome="accepted")
    await attempt(20, timedelta(0), expected_rejection=70)  # at the moment of the ask: not before it
    await attempt(30, timedelta(hours=1), expected_rejection=50, surprise=20)  # written down afterwards
    await attempt(40, None, expected_rejection=None, surprise=50)  # no prediction; its surprise counts
    # Avoided: no exposure, so neither its prediction (made in advance) nor its surprise counts.
    await attempt(50, -timedelta(days=1), expected_rejection=90, surprise=0, outcome="avoided", distress_peak=None)
    learning = (await trend(client, alice))["learning"]
    assert learning == {
        "paired": 4,
        "predicted_in_advance": 2,
        "expected_rejection_mean": 65.0,
        "actual_rejection_rate": 75.0,
        "gap": -10.0,
        "mean_surprise": 50.0,
        "sessions": 1,
        **dict.fromkeys(SLOPE_FIELDS),
    }


async def test_a_window_reads_only_the_predictions_inside_it(
    client: httpx.AsyncClient, alice: Account, make_challenge: MakeChallenge, make_attempt: MakeAttempt
) -> None:
    challenge = await make_challenge()
    for day in range(10):
        occurred = days_ago(9 - day)
        await make_attempt(
            alice.user,
            challenge,
            occurred_at=occurred,
            expected_rejection=90 - 5 * day,
            # Made in advance on even days.
            predicted_at=occurred - timedelta(hours=1 if day % 2 == 0 else -1),
            surprise=10 * day,
            outcome="rejected" if day < 5 else "accepted",
        )
    # Sessions 3 to 8 (days 6 to 1 before yesterday).
    window = await trend(client, alice, since=days_ago(6, hour=0), until=days_ago(1, hour=23))
    assert window["learning"] == {
        "paired": 6,
        "predicted_in_advance": 3,
        "expected_rejection_mean": 62.5,
        "actual_rejection_rate": 33.33,
        "gap": 29.17,
        "mean_surprise": 55.0,
        "sessions": 6,
        "expected_rejection_slope_per_week": -35.0,
        "expected_rejection_ci_low": -35.0,
        "expected_rejection_ci_high": -35.0,
        "expected_rejection_p_value": pytest.approx(mann_kendall_p([75.0, 70, 65, 60, 55, 50])),
        "expected_rejection_change": "falling",
    }
    everything = (await trend(client, alice))["learning"]
    assert (everything["paired"], everything["predicted_in_advance"], everything["sessions"]) == (10, 5, 10)
    assert (everything["expected_rejection_mean"], everything["mean_surprise"]) == (67.5, 45.0)


async def test_no_history_and_no_predictions_give_nulls(
    client: httpx.AsyncClient, alice: Account, make_challenge: MakeChallenge
) -> None:
    assert (await trend(client, alice))["learning"] == EMPTY
    challenge = await make_challenge()
    for day in range(6):
        await log(client, alice, challenge, days_ago(day), 60)
    assert (await trend(client, alice))["learning"] == EMPTY


async def test_the_slope_needs_5_sessions_with_a_prediction(
    client: httpx.AsyncClient, alice: Account, make_challenge: MakeChallenge
) -> None:
    challenge = await make_challenge()
    for day in range(4):
        await log(client, alice, challenge, days_ago(10 - day), 60, expected=80 - 10 * day)
    # Sessions without a prediction do not make up the count.
    for day in range(4, 8):
        await log(client, alice, challenge, days_ago(10 - day), 60)
    learning = (await trend(client, alice))["learning"]
    assert (learning["sessions"], learning["expected_rejection_mean"]) == (4, 65.0)
    assert [learning[name] for name in SLOPE_FIELDS] == [None] * len(SLOPE_FIELDS)
    await log(client, alice, challenge, days_ago(0), 60, expected=40)
    learning = (await trend(client, alice))["learning"]
    assert (learning["sessions"], learning["expected_rejection_change"]) == (5, "falling")
    # 10 points less each of 4 days in a row, then 10 less again 7 days later.
    assert learning["expected_rejection_slope_per_week"] == round(sen({0: 80, 1: 70, 2: 60, 3: 50, 10: 40}, 0)[0], 3)


async def test_a_random_user_through_the_api_matches_scipy(
    client: httpx.AsyncClient, alice: Account, make_challenge: MakeChallenge
) -> None:
    # Several cells a day (three difficulties), unpaired exposures and avoided attempts with predictions.
    rng = np.random.default_rng(16)
    challenges = [await make_challenge(difficulty=d) for d in (2, 3, 5)]
    predictions: defaultdict[int, list[int]] = defaultdict(list)
    for ago in rng.choice(60, size=25, replace=False).tolist():
        at = days_ago(ago)
        for minute in range(int(rng.integers(1, 5))):
            outcome = str(rng.choice(["rejected", "accepted", "partial", "avoided"]))
            expected = None if rng.random() < 0.25 else int(rng.integers(0, 21)) * 5
            await log(
                client,
                alice,
                challenges[int(rng.integers(3))],
                at + timedelta(minutes=minute),
                None if outcome == "avoided" else 60,
                outcome=outcome,
                expected=expected,
            )
            if outcome != "avoided" and expected is not None:
                predictions[at.date().toordinal()].append(expected)
    means = {day: sum(values) / len(values) for day, values in predictions.items()}
    assert len(means) >= 5
    body = await trend(client, alice)
    learning = body["learning"]
    slope, low, high = sen(means, date.fromisoformat(body["time_origin"]).toordinal())
    assert learning["sessions"] == len(means)
    assert learning["paired"] == sum(map(len, predictions.values()))
    assert learning["expected_rejection_slope_per_week"] == round(slope, 3)
    assert (learning["expected_rejection_ci_low"], learning["expected_rejection_ci_high"]) == (
        round(low, 3),
        round(high, 3),
    )
    assert learning["expected_rejection_p_value"] == pytest.approx(
        mann_kendall_p([means[day] for day in sorted(means)]), abs=1e-12
    )


# --- the statistic, without a database ------------------------------------------------------------


def test_the_slope_and_test_agree_with_scipy_and_pymannkendall_on_random_users() -> None:
    rng = np.random.default_rng(1616)
    changes: Counter[str | None] = Counter()
    for _ in range(150):
        days = np.sort(rng.choice(400, size=int(rng.integers(3, 120)), replace=False))
        # Predictions in steps of 5 or 10 (ties), drifting down, flat or up from session to session.
        step, drift = int(rng.choice([5, 10])), rng.uniform(-0.4, 0.2)
        asks = []
        for i, day in enumerate(days.tolist()):
            for _ask in range(int(rng.integers(1, 4))):
                expected = int(np.clip(round((70 + drift * i + rng.normal(0, 15)) / step) * step, 0, 100))
                outcome = str(rng.choice(["rejected", "accepted", "partial", "avoided"]))
                asks.append(
                    Ask(
                        day,
                        None if outcome == "avoided" else 60,
                        outcome=outcome,
                        difficulty=int(rng.integers(1, 4)),
                        expected=None if rng.random() < 0.2 else expected,
                    )
                )
        paired: defaultdict[int, list[int]] = defaultdict(list)
        for ask in asks:
            if ask.outcome != "avoided" and ask.expected is not None:
                paired[ask.date.toordinal()].append(ask.expected)
        learning = trend_of(asks).learning
        changes[learning.expected_rejection_change] += 1
        assert learning.sessions == len(paired)
        origin = min(ask.date.toordinal() for ask in asks if ask.outcome != "avoided")
        if len(paired) < stats.MIN_SESSIONS:
            assert learning.expected_rejection_slope_per_week is None
            continue
        means = {day: float(np.mean(values)) for day, values in sorted(paired.items())}
        slope, low, high = sen(means, origin)
        assert learning.expected_rejection_slope_per_week == round(slope, 3)
        assert (learning.expected_rejection_ci_low, learning.expected_rejection_ci_high) == (
            round(low, 3),
            round(high, 3),
        )
        if len(set(means.values())) == 1:  # no variance: no test (pymannkendall would divide by 0)
            assert learning.expected_rejection_p_value is None
            continue
        theirs = pmk.original_test(list(means.values()))
        assert learning.expected_rejection_p_value == pytest.approx(theirs.p, abs=1e-12)
        expected_change = "no_clear_change" if theirs.p >= 0.05 else "falling" if theirs.s < 0 else "rising"
        assert learning.expected_rejection_change == expected_change
    assert min(changes[change] for change in (None, "falling", "rising", "no_clear_change")) >= 5, changes


def test_the_change_reads_the_test_when_ties_make_the_slope_zero() -> None:
    # More than half of all pairs of sessions tie: Sen's slope is 0, yet no later session predicts more.
    learning = trend_of([Ask(day, 60, expected=50 if day < 25 else 40) for day in range(40)]).learning
    assert learning.expected_rejection_slope_per_week == 0.0
    assert learning.expected_rejection_change == "falling"
    assert learning.expected_rejection_p_value is not None
    assert learning.expected_rejection_p_value < 1e-6


def test_steady_and_rising_predictions() -> None:
    steady = trend_of([Ask(day, 60, expected=70) for day in range(8)]).learning
    assert (steady.expected_rejection_slope_per_week, steady.expected_rejection_p_value) == (0.0, None)
    assert steady.expected_rejection_change == "no_clear_change"
    rising = trend_of([Ask(day, 60, expected=20 + 10 * day) for day in range(8)]).learning
    assert (rising.expected_rejection_slope_per_week, rising.expected_rejection_change) == (70.0, "rising")


def test_predictions_in_advance_and_surprise_count_over_exposures_only() -> None:
    learning = trend_of(
        [
            Ask(0, 60, expected=80, in_advance=True, surprise=70),
            Ask(0, 60, expected=60, surprise=30, outcome="accepted"),
            Ask(1, 60, surprise=20),
            Ask(1, None, outcome="avoided", expected=90, in_advance=True, surprise=100),
        ]
    ).learning
    assert (learning.paired, learning.predicted_in_advance, learning.mean_surprise) == (2, 1, 40.0)
    assert (learning.expected_rejection_mean, learning.actual_rejection_rate, learning.gap) == (70.0, 50.0, 20.0)
    assert learning.sessions == 1
