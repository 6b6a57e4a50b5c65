"""The trend is computed on every read: every change it depends on shows in the next read; ETag and 304."""

import re
from datetime import timedelta
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from app.catalog.models import Challenge
from app.core.models import utcnow
from app.progress import service
from tests.conftest import Account, MakeAttempt, MakeChallenge

TREND = "/api/v1/me/trend"
ATTEMPTS = "/api/v1/attempts"


async def read(client: httpx.AsyncClient, account: Account, **params: str) -> httpx.Response:
    response = await client.get(TREND, headers=account.headers, params=params)
    assert response.status_code == 200, response.text
    return response


async def trend(client: httpx.AsyncClient, account: Account, **params: str) -> dict[str, Any]:
    body: dict[str, Any] = (await read(client, account, **params)).json()
    return body


async def log(client: httpx.AsyncClient, account: Account, challenge: Challenge, peak: int, **extra: str) -> str:
    response = await client.post(
        ATTEMPTS,
        headers=account.headers,
        json={"challenge_id": str(challenge.id), "outcome": "rejected", "distress_before": 50, "distress_peak": peak}
        | extra,
    )
    assert response.status_code == 201, response.text
    attempt_id: str = response.json()["id"]
    return attempt_id


async def test_a_repeated_read_answers_the_same_body_and_etag(
    client: httpx.AsyncClient, alice: Account, make_challenge: MakeChallenge
) -> None:
    challenge = await make_challenge()
    await log(client, alice, challenge, 70)
    first = await read(client, alice)
    second = await read(client, alice)
    assert (second.content, second.headers["etag"]) == (first.content, first.headers["etag"])
    assert second.headers["content-type"] == "application/json"
    assert second.headers["cache-control"] == "no-store"


async def test_a_new_attempt_shows_in_the_next_read(
    client: httpx.AsyncClient, alice: Account, make_challenge: MakeChallenge
) -> None:
    challenge = await make_challenge()
    assert (await trend(client, alice))["attempts"] == 0
    await log(client, alice, challenge, 70)
    after = await trend(client, alice)
    assert after["attempts"] == 1
    assert after["habituation"]["mean_distress_peak"] == 70


async def test_a_corrected_attempt_shows_in_the_next_read(
    client: httpx.AsyncClient, alice: Account, make_challenge: MakeChallenge
) -> None:
    challenge = await make_challenge()
    attempt_id = await log(client, alice, challenge, 70)
    assert (await trend(client, alice))["habituation"]["mean_distress_peak"] == 70
    response = await client.patch(f"{ATTEMPTS}/{attempt_id}", headers=alice.headers, json={"distress_peak": 30})
    assert response.status_code == 200, response.text
    assert (await trend(client, alice))["habituation"]["mean_distress_peak"] == 30


async def test_a_deleted_attempt_shows_in_the_next_read(
    client: httpx.AsyncClient, alice: Account, make_challenge: MakeChallenge
) -> None:
    challenge = await make_challenge()
    await log(client, alice, challenge, 70)
    gone = await log(client, alice, challenge, 90)
    assert (await trend(client, alice))["attempts"] == 2
    assert (await client.delete(f"{ATTEMPTS}/{gone}", headers=alice.headers)).status_code == 204
    after = await trend(client, alice)
    assert after["attempts"] == 1
    assert after["habituation"]["mean_distress_peak"] == 70


async def test_a_row_written_without_the_api_shows_in_the_next_read(
    client: httpx.AsyncClient, alice: Account, make_challenge: MakeChallenge, make_attempt: MakeAttempt
) -> None:
    # The triggers on `attempts` keep the session totals, not the API's code: imports and fixes by hand count too.
    challenge = await make_challenge()
    assert (await trend(client, alice))["attempts"] == 0
    await make_attempt(alice.user, challenge)
    assert (await trend(client, alice))["attempts"] == 1


async def test_a_time_zone_change_keeps_past_sessions_on_their_day_and_moves_today(
    client: httpx.AsyncClient, alice: Account, make_challenge: MakeChallenge
) -> None:
    challenge = await make_challenge()
    # 23:30 UTC three days ago is already the next day in Tokyo.
    at = (utcnow() - timedelta(days=3)).replace(hour=23, minute=30, second=0, microsecond=0)
    await log(client, alice, challenge, 70, occurred_at=at.isoformat())
    before = await trend(client, alice)
    assert (before["timezone"], before["series"][0]["date"]) == ("UTC", at.date().isoformat())
    response = await client.patch("/api/v1/me", headers=alice.headers, json={"timezone": "Asia/Tokyo"})
    assert response.status_code == 200, response.text
    after = await trend(client, alice)
    # The attempt was logged on a UTC day and stays in that session; new ones count in Tokyo's days.
    assert after["timezone"] == "Asia/Tokyo"
    assert after["series"][0]["date"] == at.date().isoformat()
    await log(client, alice, challenge, 60, occurred_at=at.isoformat())
    assert [p["date"] for p in (await trend(client, alice))["series"]] == [
        at.date().isoformat(),
        (at.date() + timedelta(days=1)).isoformat(),
    ]


async def test_tomorrows_read_is_not_yesterdays_answer(
    client: httpx.AsyncClient,
    alice: Account,
    make_challenge: MakeChallenge,
    make_attempt: MakeAttempt,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    challenge = await make_challenge()
    now = utcnow()
    await make_attempt(alice.user, challenge, occurred_at=now - timedelta(days=1))
    await make_attempt(alice.user, challenge, occurred_at=now)
    assert (await trend(client, alice))["streak"]["current_days"] == 2
    # Two days on, nothing written in between: the streak has ended.
    monkeypatch.setattr(service, "utcnow", lambda: now + timedelta(days=2))
    assert (await trend(client, alice))["streak"]["current_days"] == 0


async def test_each_window_gets_its_own_answer(
    client: httpx.AsyncClient, alice: Account, make_challenge: MakeChallenge, make_attempt: MakeAttempt
) -> None:
    challenge = await make_challenge()
    now = utcnow()
    for days_ago in (3, 2, 1):
        await make_attempt(alice.user, challenge, occurred_at=now - timedelta(days=days_ago))
    since = (now - timedelta(days=2, hours=1)).isoformat()
    assert (await trend(client, alice, since=since))["attempts"] == 2
    assert (await trend(client, alice))["attempts"] == 3
    assert (await trend(client, alice, since=since))["attempts"] == 2
    # The same instant with another offset is the same window.
    berlin = (now - timedelta(days=2, hours=1)).astimezone(ZoneInfo("Europe/Berlin"))
    assert (await trend(client, alice, since=berlin.isoformat()))["attempts"] == 2


async def test_an_unchanged_trend_answers_304_to_its_etag(
    client: httpx.AsyncClient, alice: Account, make_challenge: MakeChallenge
) -> None:
    challenge = await make_challenge()
    await log(client, alice, challenge, 70)
    etag = (await read(client, alice)).headers["etag"]
    assert re.fullmatch(r'"[0-9a-f]{32}"', etag)
    for header in (etag, f"W/{etag}", f'"other", {etag}', "*"):
        response = await client.get(TREND, headers=alice.headers | {"If-None-Match": header})
        assert response.status_code == 304, header
        assert response.content == b""
        assert response.headers["etag"] == etag

    stale = await client.get(TREND, headers=alice.headers | {"If-None-Match": '"something else"'})
    assert stale.status_code == 200
    assert stale.headers["etag"] == etag

    await log(client, alice, challenge, 40)
    changed = await client.get(TREND, headers=alice.headers | {"If-None-Match": etag})
    assert changed.status_code == 200
    assert changed.json()["attempts"] == 2
    assert changed.headers["etag"] != etag


async def test_the_session_totals_and_challenge_progress_triggers_exist(session: AsyncSession) -> None:
    # A SQLite batch migration that rebuilds `attempts` would drop them silently.
    if session.get_bind().dialect.name == "postgresql":
        query = "SELECT tgname FROM pg_trigger WHERE tgrelid = 'attempts'::regclass AND NOT tgisinternal"
    else:
        query = "SELECT name FROM sqlite_master WHERE type = 'trigger' AND tbl_name = 'attempts'"
    names = set((await session.scalars(text(query))).all())
    assert names == {
        f"{table}_after_{event}"
        for table in ("session_stats", "challenge_progress")
        for event in ("insert", "update", "delete")
    }


async def test_304_and_the_etag_are_documented(client: httpx.AsyncClient) -> None:
    operation = (await client.get("/openapi.json")).json()["paths"][TREND]["get"]
    assert "ETag" in operation["responses"]["200"]["headers"]
    assert "ETag" in operation["responses"]["304"]["headers"]
    assert operation["responses"]["304"]["description"].startswith("Not Modified")
    header = next(p for p in operation["parameters"] if p["name"] == "if-none-match")
    assert header["in"] == "header"
    assert "304" in header["description"]


async def test_a_deleted_accounts_tokens_cannot_read_the_trend(client: httpx.AsyncClient, alice: Account) -> None:
    # The trend reads the account (its time zone) in its own statement, not before: a token that outlived its
    # account finds none there and is answered 401 like on every route.
    personal = (await client.post("/api/v1/me/tokens", json={"name": "script"}, headers=alice.headers)).json()
    assert (await client.get(TREND, headers=alice.headers)).status_code == 200
    assert (await client.delete("/api/v1/me", headers=alice.headers)).status_code == 204
    for token in (alice.token, personal["token"]):
        response = await client.get(TREND, headers={"Authorization": f"Bearer {token}"})
        assert response.status_code == 401
        assert response.headers["content-type"] == "application/problem+json"
        assert response.headers["www-authenticate"] == "Bearer"
