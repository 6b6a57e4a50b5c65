"""`/me/pauses` over HTTP, and what pauses do to the trend's streak."""

import asyncio
import random
import uuid
from datetime import date, timedelta
from typing import Any

import httpx
import numpy as np
import pytest
from sqlalchemy import delete, func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from app.accounts.models import User
from app.core.config import Settings
from app.core.db import create_sessionmaker
from app.core.models import utcnow
from app.core.security import create_access_token
from app.main import create_app
from app.progress import stats
from app.progress.models import Pause
from tests.conftest import Account, MakeAttempt, MakeChallenge
from tests.progress.test_progress_api import TREND, get_trend

PAUSES = "/api/v1/me/pauses"


def today() -> date:
    return utcnow().date()


def days_ago(n: int) -> str:
    return (today() - timedelta(days=n)).isoformat()


async def pause(client: httpx.AsyncClient, account: Account, start: int, end: int, **more: Any) -> httpx.Response:
    """A pause from `start` to `end` days ago (UTC accounts)."""
    return await client.post(
        PAUSES, headers=account.headers, json={"start_date": days_ago(start), "end_date": days_ago(end), **more}
    )


async def practise_on(
    make_attempt: MakeAttempt, make_challenge: MakeChallenge, account: Account, days: list[int]
) -> None:
    challenge = await make_challenge()
    for n in days:
        await make_attempt(account.user, challenge, occurred_at=utcnow() - timedelta(days=n))


async def test_pauses_need_a_login(client: httpx.AsyncClient) -> None:
    assert (await client.get(PAUSES)).status_code == 401
    assert (await client.post(PAUSES, json={"start_date": days_ago(1), "end_date": days_ago(0)})).status_code == 401


async def test_a_pause_is_made_listed_and_deleted(client: httpx.AsyncClient, alice: Account, bob: Account) -> None:
    later = await pause(client, alice, -10, -14, reason="  Holiday in Lisbon ")
    assert later.status_code == 201, later.text
    made = later.json()
    assert set(made) == {"id", "start_date", "end_date", "reason", "created_at"}
    assert made["start_date"] == days_ago(-10)
    assert made["end_date"] == days_ago(-14)
    assert made["reason"] == "Holiday in Lisbon"
    assert later.headers["location"] == f"http://test{PAUSES}/{made['id']}"
    earlier = (await pause(client, alice, 5, 3)).json()
    assert earlier["reason"] is None
    # Touching pauses are fine: one ends the day before the other starts.
    touching = (await pause(client, alice, 2, 2)).json()
    listed = (await client.get(PAUSES, headers=alice.headers)).json()
    assert [p["id"] for p in listed["items"]] == [earlier["id"], touching["id"], made["id"]]
    assert listed["next_cursor"] is None
    first = (await client.get(PAUSES, headers=alice.headers, params={"limit": "2"})).json()
    assert [p["id"] for p in first["items"]] == [earlier["id"], touching["id"]]
    rest = (await client.get(PAUSES, headers=alice.headers, params={"cursor": first["next_cursor"]})).json()
    assert [p["id"] for p in rest["items"]] == [made["id"]]
    assert rest["next_cursor"] is None
    assert (await client.get(PAUSES, headers=bob.headers)).json() == {"items": [], "next_cursor": None}
    # Someone else's pause is not found.
    assert (await client.delete(f"{PAUSES}/{made['id']}", headers=bob.headers)).status_code == 404
    assert (await client.delete(f"{PAUSES}/{made['id']}", headers=alice.headers)).status_code == 204
    assert (await client.delete(f"{PAUSES}/{made['id']}", headers=alice.headers)).status_code == 404
    assert (await client.delete(f"{PAUSES}/{uuid.uuid4()}", headers=alice.headers)).status_code == 404
    listed = (await client.get(PAUSES, headers=alice.headers)).json()
    assert [p["id"] for p in listed["items"]] == [earlier["id"], touching["id"]]


async def test_fourteen_days_is_the_longest_pause(client: httpx.AsyncClient, alice: Account) -> None:
    assert (await pause(client, alice, 13, 0)).status_code == 201
    response = await pause(client, alice, 30, 16)
    assert response.status_code == 422
    assert response.json()["errors"][0]["loc"] == ["body", "end_date"]
    assert "14 days" in response.json()["errors"][0]["msg"]


@pytest.mark.parametrize(
    ("start", "end", "field"),
    [
        (3, 5, "end_date"),  # ends before it starts
        (400, 399, "start_date"),  # more than a year ago
        (-368, -370, "start_date"),  # more than a year ahead
        (-360, -370, "end_date"),
    ],
)
async def test_bad_dates_are_422(client: httpx.AsyncClient, alice: Account, start: int, end: int, field: str) -> None:
    response = await pause(client, alice, start, end)
    assert response.status_code == 422, response.text
    assert response.json()["errors"][0]["loc"] == ["body", field]


@pytest.mark.parametrize(
    "data",
    [
        {"start_date": "2026-12-01"},
        {"start_date": "2026-12-01", "end_date": 20261202},
        {"start_date": "2026-12-01T00:00:00Z", "end_date": "2026-12-02"},
        {"start_date": "yesterday", "end_date": "2026-12-02"},
        {"start_date": "2026-12-01", "end_date": "2026-12-02", "reason": "x" * 201},
        {"start_date": "2026-12-01", "end_date": "2026-12-02", "reason": "two\nlines"},
        {"start_date": "2026-12-01", "end_date": "2026-12-02", "user_id": str(uuid.uuid4())},
    ],
)
async def test_bad_bodies_are_422(client: httpx.AsyncClient, alice: Account, data: dict[str, Any]) -> None:
    response = await client.post(PAUSES, headers=alice.headers, json=data)
    assert response.status_code == 422
    assert response.headers["content-type"] == "application/problem+json"


@pytest.mark.parametrize(("start", "end"), [(10, 5), (7, 7), (12, 10), (5, 3), (11, 2)])
async def test_overlapping_pauses_are_422(client: httpx.AsyncClient, alice: Account, start: int, end: int) -> None:
    assert (await pause(client, alice, 10, 5)).status_code == 201
    response = await pause(client, alice, start, end)
    assert response.status_code == 422
    assert response.json()["errors"][0]["type"] == "overlapping"


async def test_another_users_pause_does_not_overlap(client: httpx.AsyncClient, alice: Account, bob: Account) -> None:
    assert (await pause(client, alice, 10, 5)).status_code == 201
    assert (await pause(client, bob, 10, 5)).status_code == 201


# --- the streak ------------------------------------------------------------------------------


async def test_a_streak_runs_across_a_pause(
    client: httpx.AsyncClient, alice: Account, make_attempt: MakeAttempt, make_challenge: MakeChallenge
) -> None:
    # Practised 12–9 days ago, paused 8–5 (practising on 6 anyway), practised 4–0.
    await practise_on(make_attempt, make_challenge, alice, [12, 11, 10, 9, 6, 4, 3, 2, 1, 0])
    before = await client.get(TREND, headers=alice.headers)
    assert before.json()["streak"] == {"current_days": 5, "longest_days": 5}
    assert (await pause(client, alice, 8, 5)).status_code == 201
    after = await client.get(TREND, headers=alice.headers)
    # Paused days without practice are skipped; the practised one counts: 4 + 1 + 5.
    assert after.json()["streak"] == {"current_days": 10, "longest_days": 10}
    assert after.headers["etag"] != before.headers["etag"]


async def test_a_pause_today_or_yesterday_keeps_the_current_streak(
    client: httpx.AsyncClient, alice: Account, make_attempt: MakeAttempt, make_challenge: MakeChallenge
) -> None:
    await practise_on(make_attempt, make_challenge, alice, [5, 4, 3])
    assert (await get_trend(client, alice))["streak"] == {"current_days": 0, "longest_days": 3}
    made = (await pause(client, alice, 2, 0)).json()
    assert (await get_trend(client, alice))["streak"] == {"current_days": 3, "longest_days": 3}
    assert (await client.delete(f"{PAUSES}/{made['id']}", headers=alice.headers)).status_code == 204
    # Paused up to yesterday, nothing yet today: the streak holds.
    assert (await pause(client, alice, 2, 1)).status_code == 201
    assert (await get_trend(client, alice))["streak"] == {"current_days": 3, "longest_days": 3}


async def test_a_missed_day_beside_a_pause_still_breaks_the_streak(
    client: httpx.AsyncClient, alice: Account, make_attempt: MakeAttempt, make_challenge: MakeChallenge
) -> None:
    await practise_on(make_attempt, make_challenge, alice, [6, 5])
    # Paused today only: yesterday and the days before it were missed.
    assert (await pause(client, alice, 0, 0)).status_code == 201
    assert (await get_trend(client, alice))["streak"] == {"current_days": 0, "longest_days": 2}


def _brute_streak(practised: set[int], paused: set[int], today: int) -> stats.Streak:
    """Take the paused days without practice out of the calendar, then count runs of practised days."""
    calendar = [d for d in range(min(practised | paused | {today}) - 1, today + 1) if d in practised or d not in paused]
    longest = run = 0
    for d in calendar:
        run = run + 1 if d in practised else 0
        longest = max(longest, run)
    position = len(calendar) - 1
    if today not in practised and today not in paused:
        position -= 1
    current = 0
    while position >= 0 and calendar[position] in practised:
        current += 1
        position -= 1
    return stats.Streak(current_days=current, longest_days=longest)


def test_streaks_with_pauses_agree_with_a_brute_force_count() -> None:
    rng = random.Random(16)  # noqa: S311 (reproducible cases, not a secret)
    for _ in range(2_000):
        today = 1_000
        practised = {d for d in range(today - 60, today + 1) if rng.random() < 0.6}
        paused: set[int] = set()
        for _ in range(rng.randint(0, 4)):
            start = rng.randint(today - 60, today)
            paused |= set(range(start, start + rng.randint(1, 14)))
        expected = _brute_streak(practised, paused, today)
        days = np.array(sorted(practised), dtype=np.int64)
        assert stats.streak(days, date.fromordinal(today), frozenset(paused)) == expected, (practised, paused)


# --- concurrency: real commits on separate connections ------------------------------------------


@pytest.mark.concurrent
async def test_concurrent_overlapping_pauses_do_not_both_succeed(engine: AsyncEngine, settings: Settings) -> None:
    sessionmaker = create_sessionmaker(engine)
    async with sessionmaker() as session:
        user = User(email=f"pauser-{uuid.uuid4().hex[:10]}@example.com", password_hash="-", timezone="UTC")
        session.add(user)
        await session.commit()
    headers = {"Authorization": f"Bearer {create_access_token(user.id, settings)[0]}"}
    app = create_app(settings, sessionmaker=sessionmaker)
    try:
        transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            # Each overlaps every other: at most one may be stored per round.
            bodies = [{"start_date": days_ago(10 + i), "end_date": days_ago(i)} for i in range(6)]
            responses = await asyncio.gather(*(client.post(PAUSES, headers=headers, json=b) for b in bodies))
        assert sorted(r.status_code for r in responses) == [201, 422, 422, 422, 422, 422], [r.text for r in responses]
        async with sessionmaker() as session:
            assert await session.scalar(select(func.count()).select_from(Pause).where(Pause.user_id == user.id)) == 1
    finally:
        async with sessionmaker.begin() as session:
            await session.execute(delete(User).where(User.id == user.id))
