"""Synthetic users whose trend is known, logged and read through the HTTP API on the real database.

Each case is one a user met with the per-attempt trend: ties, stepping down, asks minutes
apart, avoidance, sustained and rising distress. Days are local days in the user's zone.
"""

from datetime import datetime, timedelta
from typing import Any

import httpx
import pytest

from app.catalog.models import Challenge
from app.core.models import utcnow
from app.progress.schemas import TrendPublic
from tests.conftest import Account, MakeChallenge

TREND = "/api/v1/me/trend"
ATTEMPTS = "/api/v1/attempts"


def days_ago(days: int, hour: int = 18, minute: int = 0) -> datetime:
    """A time on the UTC day `days` before yesterday (yesterday: every hour of it is already past)."""
    yesterday = utcnow().replace(hour=0, minute=0, second=0, microsecond=0) - timedelta(days=1)
    return yesterday - timedelta(days=days) + timedelta(hours=hour, minutes=minute)


async def log(
    client: httpx.AsyncClient,
    account: Account,
    challenge: Challenge,
    at: datetime,
    peak: int | None,
    *,
    outcome: str = "rejected",
    before: int = 50,
    after: int | None = None,
    expected: int | None = None,
) -> None:
    body: dict[str, Any] = {
        "challenge_id": str(challenge.id),
        "occurred_at": at.isoformat(),
        "outcome": outcome,
        "distress_before": before,
        "distress_peak": peak,
    }
    if after is not None:
        body["distress_after"] = after
    if expected is not None:
        body["expected_rejection"] = expected
    response = await client.post(ATTEMPTS, headers=account.headers, json=body)
    assert response.status_code == 201, response.text


async def trend(client: httpx.AsyncClient, account: Account) -> dict[str, Any]:
    response = await client.get(TREND, headers=account.headers)
    assert response.status_code == 200, response.text
    assert "NaN" not in response.text
    assert "Infinity" not in response.text
    body: dict[str, Any] = response.json()
    # The answer is serialised from the trend's dataclasses: it must fit the schema the docs publish.
    TrendPublic.model_validate(body)
    return body


async def test_tied_peaks_falling_from_70_to_20_over_40_days_are_improving(
    client: httpx.AsyncClient, alice: Account, make_challenge: MakeChallenge
) -> None:
    challenge = await make_challenge(difficulty=3)
    for day in range(40):
        # Multiples of 10, as people rate: long runs of equal values between the steps down.
        await log(client, alice, challenge, days_ago(39 - day), 70 - 10 * (day * 6 // 40))
    body = await trend(client, alice)
    assert body["status"] == "improving"
    assert body["status_reason"]["code"] == "falling_at_same_difficulty"
    line = body["distress_trend"]
    assert line["p_value"] < 0.001
    assert line["tau"] < -0.8
    assert line["slope_per_week"] < 0
    assert (line["n"], line["exposures"], body["sessions"]) == (40, 40, 40)
    assert line["baseline"] == 70.0
    assert line["recent"] == 20.0


async def test_stepping_down_to_easier_asks_and_feeling_less_is_never_worsening(
    client: httpx.AsyncClient, alice: Account, make_challenge: MakeChallenge
) -> None:
    harder, easier = await make_challenge(difficulty=6), await make_challenge(difficulty=4)
    wiggle = [0, 5, -5, 0, 5, -5, 0, 5, -5, 0]
    for day in range(10):
        await log(client, alice, harder, days_ago(19 - day), 60 + wiggle[day])
    for day in range(10):
        await log(client, alice, easier, days_ago(9 - day), 50 + wiggle[day])
    body = await trend(client, alice)
    assert body["status"] != "worsening"
    assert body["adjusted_trend"]["p_value"] is None or body["adjusted_trend"]["p_value"] >= 0.05
    # At matched difficulty nothing changed: both levels feel as they did at their start.
    assert body["adjusted_trend"]["baseline"] == pytest.approx(55.0, abs=2)
    assert body["adjusted_trend"]["recent"] == pytest.approx(55.0, abs=2)
    assert body["distress_trend"]["recent"] < body["distress_trend"]["baseline"]


async def test_climbing_the_ladder_while_distress_holds_steady_is_improving(
    client: httpx.AsyncClient, alice: Account, make_challenge: MakeChallenge
) -> None:
    levels = {d: await make_challenge(difficulty=d) for d in range(2, 8)}
    wiggle = [0, 5, -5]
    for day in range(18):
        await log(client, alice, levels[2 + day // 3], days_ago(17 - day), 55 + wiggle[day % 3])
    body = await trend(client, alice)
    assert body["status"] == "improving"
    assert body["status_reason"]["code"] == "harder_asks_same_distress"
    assert body["distress_trend"]["p_value"] is None or body["distress_trend"]["p_value"] >= 0.05


async def test_asks_minutes_apart_give_a_sane_interval(
    client: httpx.AsyncClient, alice: Account, make_challenge: MakeChallenge
) -> None:
    challenge = await make_challenge(difficulty=2)
    for day, (first, second) in enumerate([(80, 40), (70, 35), (60, 30)]):
        await log(client, alice, challenge, days_ago(2 - day, minute=0), first)
        await log(client, alice, challenge, days_ago(2 - day, minute=4), second)
    line = (await trend(client, alice))["distress_trend"]
    # One point per session: 60, 52.5, 45 on three days, 7.5 points a day.
    assert line["n"] == 3
    assert line["exposures"] == 6
    assert line["slope_per_week"] == pytest.approx(-52.5)
    assert -100 < line["ci_low"] <= line["slope_per_week"] <= line["ci_high"] < 100


async def test_expectancy_pairs_each_prediction_with_its_own_outcome(
    client: httpx.AsyncClient, alice: Account, make_challenge: MakeChallenge
) -> None:
    challenge = await make_challenge()
    await log(client, alice, challenge, days_ago(0, hour=8), 70, outcome="rejected", expected=90)
    await log(client, alice, challenge, days_ago(0, hour=9), 60, outcome="accepted", expected=70)
    # No prediction: in neither the mean nor the rate.
    await log(client, alice, challenge, days_ago(0, hour=10), 50, outcome="rejected")
    await log(client, alice, challenge, days_ago(0, hour=11), None, outcome="avoided", expected=100)
    expectancy = (await trend(client, alice))["expectancy"]
    assert expectancy == {"expected_rejection_mean": 80.0, "actual_rejection_rate": 50.0, "gap": 30.0, "paired": 2}


async def test_no_step_up_while_asks_at_the_level_are_avoided(
    client: httpx.AsyncClient, alice: Account, make_challenge: MakeChallenge
) -> None:
    challenge = await make_challenge(difficulty=4)
    for day, outcome in enumerate(["rejected", "avoided", "accepted", "avoided", "rejected"]):
        await log(client, alice, challenge, days_ago(4 - day), None if outcome == "avoided" else 30, outcome=outcome)
    level = (await trend(client, alice))["level"]
    assert (level["current_difficulty"], level["recommended_difficulty"]) == (4, 4)
    assert level["reason"]["code"] == "avoided_at_level"


@pytest.mark.parametrize(("difficulty", "recommended"), [(2, 1), (1, 1), (6, 5)])
async def test_very_hard_asks_step_down_one_level_and_the_message_says_so(
    client: httpx.AsyncClient, alice: Account, make_challenge: MakeChallenge, difficulty: int, recommended: int
) -> None:
    challenge = await make_challenge(difficulty=difficulty)
    for day, peak in enumerate([60, 90, 88, 95, 86]):
        await log(client, alice, challenge, days_ago(4 - day), peak)
    body = await trend(client, alice)
    level = body["level"]
    assert (level["current_difficulty"], level["recommended_difficulty"]) == (difficulty, recommended)
    assert level["reason"]["code"] == "step_down"
    assert f"difficulty {recommended}" in level["reason"]["message"]
    assert "two" not in level["reason"]["message"]
    assert body["support"]["reason"] == "high_distress"


async def test_thirty_days_at_84_is_sustained_distress(
    client: httpx.AsyncClient, alice: Account, make_challenge: MakeChallenge
) -> None:
    challenge = await make_challenge(difficulty=5)
    for day in range(30):
        await log(client, alice, challenge, days_ago(29 - day), 84)
    body = await trend(client, alice)
    assert body["support"]["reason"] == "sustained_distress"
    assert "84" in body["support"]["message"]
    assert body["level"]["reason"]["code"] == "step_down"
    assert body["status"] == "stable"


@pytest.mark.parametrize(
    ("start", "support"),
    [
        # 60 → 84: the last five sessions average 80, so sustained distress comes first.
        (60, "sustained_distress"),
        (40, "rising_distress"),
    ],
)
async def test_a_significant_rise_at_one_difficulty_is_worsening_and_brings_support(
    client: httpx.AsyncClient, alice: Account, make_challenge: MakeChallenge, start: int, support: str
) -> None:
    challenge = await make_challenge(difficulty=3)
    for day in range(13):
        await log(client, alice, challenge, days_ago(12 - day), start + 2 * day)
    body = await trend(client, alice)
    assert body["status"] == "worsening"
    assert body["status_reason"]["code"] == "rising_at_same_difficulty"
    assert body["support"]["reason"] == support


async def test_avoided_asks_that_felt_mild_are_avoidance_not_high_distress(
    client: httpx.AsyncClient, alice: Account, make_challenge: MakeChallenge
) -> None:
    challenge = await make_challenge(difficulty=3)
    await log(client, alice, challenge, days_ago(4), 30)
    await log(client, alice, challenge, days_ago(3), 25)
    for day in (2, 1, 0):
        await log(client, alice, challenge, days_ago(day), None, outcome="avoided", before=30)
    body = await trend(client, alice)
    assert body["support"]["reason"] == "frequent_avoidance"
    assert "high distress" not in body["support"]["message"].lower()
    assert body["level"]["reason"]["code"] == "step_down_avoidance"
    assert body["level"]["recommended_difficulty"] == 2
