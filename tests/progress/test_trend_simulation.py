"""Simulated users: how often the status finds a trend that is not there, and how often it finds one that is.

Each user practises a few asks a day. A day's mood moves all its asks together (a shared day effect,
sd 10), each ask adds its own noise (sd 10), and peaks are rated in steps of 5 on 0–100. Difficulty
varies per ask within a small range around the user's level; outcomes are random, some asks avoided.
Seeded, so the rates below are the same on every run.
"""

from collections import Counter

import numpy as np

from app.progress import stats
from tests.progress.trend_cells import Ask, trend_of

OUTCOMES = ("rejected", "accepted", "partial")
ASKS_PER_DAY = 4
AVOIDED_SHARE = 0.1


def simulated_user(rng: np.random.Generator, days: int, *, fall_per_day: float = 0.0) -> list[Ask]:
    level = int(rng.integers(2, 9))
    asks = []
    for day in range(days):
        mood = rng.normal(0, 10)
        for _ in range(ASKS_PER_DAY):
            difficulty = int(np.clip(level + rng.integers(-1, 2), stats.MIN_LEVEL, stats.MAX_LEVEL))
            if rng.random() < AVOIDED_SHARE:
                asks.append(Ask(day, None, outcome="avoided", difficulty=difficulty))
                continue
            peak = 60 - fall_per_day * day + mood + rng.normal(0, 10)
            rated = int(np.clip(round(peak / 5) * 5, 0, 100))
            asks.append(Ask(day, rated, outcome=str(rng.choice(OUTCOMES)), difficulty=difficulty))
    return asks


def test_users_without_a_trend_are_rarely_anything_but_stable() -> None:
    rng = np.random.default_rng(20261201)
    users = 600
    statuses: Counter[str] = Counter()
    reasons: Counter[str] = Counter()
    for _ in range(users):
        trend = trend_of(simulated_user(rng, int(rng.integers(6, 21))))
        statuses[trend.status] += 1
        reasons[trend.status_reason.code] += 1
    rate = 1 - statuses["stable"] / users
    print(f"\nno trend: {rate:.1%} of {users} users not stable; {dict(statuses)}; {dict(reasons)}")
    assert statuses["insufficient_data"] == 0
    assert rate < 0.10


def test_users_whose_distress_falls_a_point_a_day_are_mostly_improving() -> None:
    rng = np.random.default_rng(20261202)
    users = 200
    statuses: Counter[str] = Counter()
    for _ in range(users):
        statuses[trend_of(simulated_user(rng, 30, fall_per_day=1.0)).status] += 1
    power = statuses["improving"] / users
    print(f"\nfalling 1/day over 30 days: {power:.1%} of {users} users improving; {dict(statuses)}")
    assert statuses["worsening"] == 0
    assert power >= 0.80
