"""Practice sessions: each attempt's local day, and the session totals the triggers keep equal to the attempts."""

import random
import uuid
from datetime import UTC, date, datetime, timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import literal, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from app.attempts.models import Attempt
from app.core.db import local_date, local_date_in
from app.core.models import UTCDateTime, utcnow
from app.progress.service import cells_query
from tests.conftest import Account, MakeChallenge, MakeUser

ATTEMPTS = "/api/v1/attempts"
OUTCOMES = ("rejected", "accepted", "partial", "avoided")
# Before the first attempt the API accepts: a window from here groups every attempt of the user.
EVERYTHING = datetime(1999, 1, 1, tzinfo=UTC)


async def stored_day(session: AsyncSession, attempt_id: str) -> date:
    day = await session.scalar(
        select(Attempt.local_date).where(Attempt.id == uuid.UUID(attempt_id)).execution_options(populate_existing=True)
    )
    assert day is not None
    return day


async def log(client: httpx.AsyncClient, account: Account, challenge_id: Any, **fields: Any) -> str:
    body = {"challenge_id": str(challenge_id), "outcome": "rejected", "distress_before": 50, "distress_peak": 60}
    response = await client.post(ATTEMPTS, headers=account.headers, json=body | fields)
    assert response.status_code == 201, response.text
    attempt_id: str = response.json()["id"]
    return attempt_id


async def test_an_attempt_counts_in_the_local_day_of_the_accounts_time_zone(
    client: httpx.AsyncClient, session: AsyncSession, make_user: MakeUser, make_challenge: MakeChallenge
) -> None:
    tokyo = await make_user(timezone="Asia/Tokyo")
    challenge = await make_challenge()
    late = await log(client, tokyo, challenge.id, occurred_at="2026-03-01T23:30:00Z")
    keyed = await client.post(
        ATTEMPTS,
        headers=tokyo.headers | {"Idempotency-Key": "k-1"},
        json={
            "challenge_id": str(challenge.id),
            "outcome": "avoided",
            "distress_before": 40,
            "occurred_at": "2026-03-01T14:00:00Z",
        },
    )
    assert keyed.status_code == 201, keyed.text
    assert await stored_day(session, late) == date(2026, 3, 2)
    assert await stored_day(session, keyed.json()["id"]) == date(2026, 3, 1)


async def test_a_corrected_time_moves_the_attempt_to_that_days_session(
    client: httpx.AsyncClient, session: AsyncSession, make_user: MakeUser, make_challenge: MakeChallenge
) -> None:
    account = await make_user(timezone="America/New_York")
    challenge = await make_challenge()
    attempt_id = await log(client, account, challenge.id, occurred_at="2026-03-08T12:00:00Z")
    assert await stored_day(session, attempt_id) == date(2026, 3, 8)
    # 04:30 UTC is still the evening before in New York.
    response = await client.patch(
        f"{ATTEMPTS}/{attempt_id}", headers=account.headers, json={"occurred_at": "2026-03-08T04:30:00Z"}
    )
    assert response.status_code == 200, response.text
    assert await stored_day(session, attempt_id) == date(2026, 3, 7)


@pytest.mark.parametrize("zone", ["UTC", "America/New_York", "Europe/Berlin", "Asia/Kolkata", "Pacific/Chatham"])
async def test_the_database_and_python_agree_on_local_days_across_daylight_saving_changes(
    session: AsyncSession, zone: str
) -> None:
    instants = [
        datetime(2026, month, day, hour, minute, tzinfo=UTC)
        for month, day in ((3, 8), (3, 29), (4, 5), (10, 25), (11, 1))
        for hour in (0, 1, 2, 3, 5, 6, 7, 10, 11, 12, 13, 14, 22, 23)
        for minute in (0, 59)
    ]
    for instant in instants:
        computed = await session.scalar(select(local_date(literal(instant, UTCDateTime()), literal(zone))))
        assert computed == local_date_in(instant, zone), instant


async def session_totals(session: AsyncSession, account: Account) -> tuple[set[tuple[Any, ...]], set[tuple[Any, ...]]]:
    stored = {tuple(row) for row in await session.execute(cells_query(account.user.id))}
    grouped = {tuple(row) for row in await session.execute(cells_query(account.user.id, since=EVERYTHING))}
    return stored, grouped


async def test_the_session_totals_equal_the_grouped_attempts_after_any_mix_of_writes(
    client: httpx.AsyncClient,
    session: AsyncSession,
    alice: Account,
    bob: Account,
    make_challenge: MakeChallenge,
) -> None:
    rng = random.Random(12)  # noqa: S311 (a reproducible mix of writes, not a secret)
    challenges = [await make_challenge(difficulty=d) for d in (2, 3, 5)]
    start = utcnow() - timedelta(days=6)
    ids: list[str] = []
    for step in range(60):
        action = rng.random()
        if action < 0.55 or not ids:
            outcome = rng.choice(OUTCOMES)
            fields: dict[str, Any] = {
                "outcome": outcome,
                "distress_before": rng.randrange(0, 101, 5),
                "occurred_at": (start + timedelta(hours=rng.randrange(0, 140))).isoformat(),
            }
            if outcome != "avoided" or rng.random() < 0.5:
                fields["distress_peak"] = rng.randrange(0, 101, 5)
            if rng.random() < 0.6:
                fields["distress_after"] = rng.randrange(0, 101, 5)
            if rng.random() < 0.7:
                fields["expected_rejection"] = rng.randrange(0, 101, 10)
            if outcome == "avoided" and "distress_peak" not in fields:
                fields["distress_peak"] = None
            ids.append(await log(client, alice if step % 4 else bob, rng.choice(challenges).id, **fields))
        elif action < 0.85:
            attempt_id = rng.choice(ids)
            change = rng.choice(
                [
                    {"outcome": rng.choice(("rejected", "accepted", "partial"))},
                    {"distress_peak": rng.randrange(0, 101, 5)},
                    {"distress_after": None},
                    {"expected_rejection": rng.randrange(0, 101, 10)},
                    {"occurred_at": (start + timedelta(hours=rng.randrange(0, 140))).isoformat()},
                    {"notes": "only the notes"},
                ]
            )
            owner = alice if (await client.get(f"{ATTEMPTS}/{attempt_id}", headers=alice.headers)).is_success else bob
            response = await client.patch(f"{ATTEMPTS}/{attempt_id}", headers=owner.headers, json=change)
            assert response.status_code in (200, 422), response.text
        else:
            attempt_id = ids.pop(rng.randrange(len(ids)))
            owner = alice if (await client.get(f"{ATTEMPTS}/{attempt_id}", headers=alice.headers)).is_success else bob
            assert (await client.delete(f"{ATTEMPTS}/{attempt_id}", headers=owner.headers)).status_code == 204
    # A write outside the API, many rows in one statement, moves them to other cells.
    await session.execute(
        update(Attempt).where(Attempt.user_id == alice.user.id).values(difficulty=Attempt.difficulty + 1)
    )
    await session.commit()
    for account in (alice, bob):
        stored, grouped = await session_totals(session, account)
        assert stored == grouped
        assert stored


async def test_an_emptied_session_leaves_no_totals(
    client: httpx.AsyncClient, session: AsyncSession, alice: Account, make_challenge: MakeChallenge
) -> None:
    challenge = await make_challenge()
    attempt_id = await log(client, alice, challenge.id)
    assert (await session_totals(session, alice))[0]
    assert (await client.delete(f"{ATTEMPTS}/{attempt_id}", headers=alice.headers)).status_code == 204
    assert await session_totals(session, alice) == (set(), set())
