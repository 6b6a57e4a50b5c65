"""Your data out (`GET /me/export`, JSON and CSV) and your data gone (`DELETE /me`)."""

import csv
import io
import time
import uuid
from datetime import timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import func, insert, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.accounts import service as accounts
from app.accounts.models import ApiToken, RefreshToken
from app.attempts.models import Attempt
from app.core.models import utcnow
from app.exports.service import CSV_COLUMNS
from app.models import Base
from tests.conftest import Account, MakeAttempt, MakeChallenge

EXPORT = "/api/v1/me/export"
EXPORT_CSV = "/api/v1/me/export/attempts.csv"
ATTEMPTS = "/api/v1/attempts"


def attempt_body(challenge_id: uuid.UUID, **fields: Any) -> dict[str, Any]:
    return {
        "challenge_id": str(challenge_id),
        "outcome": "rejected",
        "distress_before": 40,
        "distress_peak": 65,
        **fields,
    }


async def test_json_export_holds_exactly_what_was_stored(
    client: httpx.AsyncClient, alice: Account, bob: Account, make_challenge: MakeChallenge, make_attempt: MakeAttempt
) -> None:
    catalog = await make_challenge(difficulty=2)
    own = await make_challenge(owner=alice.user, difficulty=7, title="Ask my boss for Friday off")
    await make_challenge(owner=bob.user, title="Bob's private ask")
    await make_attempt(bob.user, catalog, notes="bob's note")
    now = utcnow()
    logged = []
    for days, challenge, fields in (
        (3, catalog, {"notes": "first", "expected_rejection": 90}),
        (1, own, {"outcome": "accepted", "distress_after": 10}),
        (2, catalog, {"outcome": "avoided", "distress_peak": None}),
    ):
        response = await client.post(
            ATTEMPTS,
            json=attempt_body(challenge.id, occurred_at=(now - timedelta(days=days)).isoformat(), **fields),
            headers=alice.headers,
        )
        assert response.status_code == 201, response.text
        # The export names each attempt's challenge by slug too, for a server whose catalog ids differ.
        logged.append(response.json() | {"challenge_slug": challenge.slug})
    token = await client.post("/api/v1/me/tokens", json={"name": "weekly export"}, headers=alice.headers)
    secret = token.json()["token"]

    response = await client.get(EXPORT, headers=alice.headers)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "application/json"
    assert response.headers["content-disposition"].startswith('attachment; filename="rejection-tracker-')
    assert response.headers["content-disposition"].endswith('.json"')
    export = response.json()
    assert set(export) == {
        "exported_at",
        "account",
        "attempts",
        "custom_challenges",
        "plans",
        "ladder",
        "pauses",
        "calendar_feed",
        "api_tokens",
    }
    assert export["account"] == (await client.get("/api/v1/me", headers=alice.headers)).json()
    # Oldest first, exactly as logged.
    assert export["attempts"] == [logged[0], logged[2], logged[1]]
    assert [c["id"] for c in export["custom_challenges"]] == [str(own.id)]
    assert export["custom_challenges"][0]["title"] == "Ask my boss for Friday off"
    assert export["custom_challenges"][0]["is_custom"] is True
    assert [(t["name"], t["prefix"]) for t in export["api_tokens"]] == [("weekly export", secret[:8])]
    stored_digest = (await client.get("/api/v1/me/tokens", headers=alice.headers)).json()
    assert "digest" not in response.text
    assert secret not in response.text
    assert stored_digest["items"][0]["id"] == export["api_tokens"][0]["id"]
    for foreign in ("bob", "Bob's private ask", "password"):
        assert foreign not in response.text


async def test_export_of_a_new_account_is_empty_lists(client: httpx.AsyncClient, alice: Account) -> None:
    export = (await client.get(EXPORT, headers=alice.headers)).json()
    lists = ("attempts", "custom_challenges", "plans", "ladder", "pauses", "api_tokens")
    assert [export[name] for name in lists] == [[] for _ in lists]
    assert export["calendar_feed"] is None
    assert export["account"]["email"] == "alice@example.com"


async def test_csv_export_is_one_row_per_attempt_without_formulas(
    client: httpx.AsyncClient, alice: Account, bob: Account, make_challenge: MakeChallenge, make_attempt: MakeAttempt
) -> None:
    catalog = await make_challenge(difficulty=5, category="at-work", title="Ask for a raise")
    own = await make_challenge(owner=alice.user, title='=HYPERLINK("http://evil.example")')
    await make_attempt(bob.user, catalog, notes="bob's note")
    now = utcnow()
    notes = ["=1+2", "+cmd|' /C calc'!A0", "-2", "@SUM(A1:A2)", "plain, with a comma\nand a second line", None]
    logged = []
    for i, note in enumerate(notes):
        challenge = own if i == 0 else catalog
        fields: dict[str, Any] = {"occurred_at": (now - timedelta(hours=10 - i)).isoformat()}
        if note is not None:
            fields["notes"] = note
        response = await client.post(ATTEMPTS, json=attempt_body(challenge.id, **fields), headers=alice.headers)
        logged.append(response.json())

    response = await client.get(EXPORT_CSV, headers=alice.headers)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "text/csv; charset=utf-8"
    assert response.headers["content-disposition"].endswith('.csv"')
    rows = list(csv.reader(io.StringIO(response.text)))
    assert tuple(rows[0]) == CSV_COLUMNS
    records = [dict(zip(rows[0], row, strict=True)) for row in rows[1:]]
    assert [r["id"] for r in records] == [a["id"] for a in logged]
    assert [r["notes"] for r in records] == [
        "'=1+2",
        "'+cmd|' /C calc'!A0",
        "'-2",
        "'@SUM(A1:A2)",
        "plain, with a comma\nand a second line",
        "",
    ]
    assert records[0]["challenge_title"] == '\'=HYPERLINK("http://evil.example")'
    assert records[1]["challenge_title"] == "Ask for a raise"
    first = logged[1]
    assert {k: records[1][k] for k in ("outcome", "distress_before", "distress_peak", "distress_after")} == {
        "outcome": "rejected",
        "distress_before": "40",
        "distress_peak": "65",
        "distress_after": "",
    }
    assert (records[1]["difficulty"], records[1]["category"], records[1]["occurred_at"]) == (
        "5",
        "at-work",
        first["occurred_at"],
    )
    assert "bob's note" not in response.text


async def test_the_csv_format_parameter_redirects_to_the_csv_export(client: httpx.AsyncClient, alice: Account) -> None:
    response = await client.get(EXPORT, params={"format": "csv"}, headers=alice.headers)
    assert response.status_code == 307
    assert response.headers["location"] == f"http://test{EXPORT_CSV}"
    followed = await client.get(response.headers["location"], headers=alice.headers)
    assert followed.status_code == 200
    assert followed.headers["content-type"] == "text/csv; charset=utf-8"


async def test_export_refuses_an_unknown_format(client: httpx.AsyncClient, alice: Account) -> None:
    response = await client.get(EXPORT, params={"format": "xlsx"}, headers=alice.headers)
    assert response.status_code == 422
    assert response.headers["content-type"] == "application/problem+json"


async def test_export_needs_a_login(client: httpx.AsyncClient) -> None:
    assert (await client.get(EXPORT)).status_code == 401
    assert (await client.get(EXPORT_CSV)).status_code == 401


async def test_export_of_ten_thousand_attempts(
    client: httpx.AsyncClient, session: AsyncSession, alice: Account, make_challenge: MakeChallenge
) -> None:
    challenge = await make_challenge()
    start = utcnow() - timedelta(days=800)
    rows = [
        {
            "id": uuid.uuid4(),
            "user_id": alice.user.id,
            "challenge_id": challenge.id,
            "occurred_at": start + timedelta(hours=i),
            "local_date": (start + timedelta(hours=i)).date(),
            "outcome": "rejected",
            "distress_before": i % 101,
            "distress_peak": (i * 7) % 101,
            "distress_after": None,
            "expected_rejection": 50,
            "notes": f"attempt {i}",
            "difficulty": 3,
            "category": "everyday",
            "request_hash": "bulk",
            "created_at": start,
            "updated_at": start,
        }
        for i in range(10_000)
    ]
    await session.execute(insert(Attempt), rows)
    await session.commit()

    began = time.perf_counter()
    response = await client.get(EXPORT, headers=alice.headers)
    json_seconds = time.perf_counter() - began
    assert response.status_code == 200
    attempts = response.json()["attempts"]
    assert len(attempts) == 10_000
    assert attempts[0]["notes"] == "attempt 0"
    assert attempts[-1]["notes"] == "attempt 9999"

    began = time.perf_counter()
    response = await client.get(EXPORT_CSV, headers=alice.headers)
    csv_seconds = time.perf_counter() - began
    assert response.status_code == 200
    assert len(list(csv.reader(io.StringIO(response.text)))) == 10_001
    # Generous bounds: a regression to a query per attempt would take far longer.
    assert json_seconds < 10
    assert csv_seconds < 10


# --- DELETE /me -------------------------------------------------------------------------


async def _rows_of(session: AsyncSession, user_id: uuid.UUID) -> dict[str, int]:
    """How many rows each table holds that belong to `user_id`, found by walking every table's columns."""
    counts: dict[str, int] = {}
    for table in Base.metadata.sorted_tables:
        owners = [c for c in table.columns if c.name in ("user_id", "owner_id")]
        if table.name == "users":
            owners.append(table.c.id)
        for column in owners:
            found = await session.scalar(select(func.count()).select_from(table).where(column == user_id))
            counts[f"{table.name}.{column.name}"] = found or 0
    return counts


async def _practise_the_loop(client: httpx.AsyncClient, account: Account, challenge_id: uuid.UUID) -> None:
    """A plan done by an attempt with a reflection, a ladder, a pause and a calendar feed."""
    headers = account.headers
    plan = await client.post(
        "/api/v1/plans",
        json={"challenge_id": str(challenge_id), "expected_rejection": 70, "expected_outcome": "they will laugh"},
        headers=headers,
    )
    assert plan.status_code == 201, plan.text
    done = await client.post(
        ATTEMPTS,
        json=attempt_body(challenge_id, plan_id=plan.json()["id"], surprise=60, reflection="it was fine"),
        headers=headers,
    )
    assert done.status_code == 201, done.text
    ladder = {"steps": [{"challenge_id": str(challenge_id), "anticipated_distress": 50}]}
    assert (await client.put("/api/v1/me/ladder", json=ladder, headers=headers)).status_code == 200
    today = utcnow().date()
    pause = {
        "start_date": (today - timedelta(days=20)).isoformat(),
        "end_date": (today - timedelta(days=18)).isoformat(),
    }
    assert (await client.post("/api/v1/me/pauses", json=pause, headers=headers)).status_code == 201
    assert (await client.post("/api/v1/me/calendar", headers=headers)).status_code == 201


async def test_delete_me_leaves_no_row_of_the_user_in_any_table(
    client: httpx.AsyncClient, session: AsyncSession, alice: Account, bob: Account, make_challenge: MakeChallenge
) -> None:
    catalog = await make_challenge()
    own = await make_challenge(owner=alice.user)
    for account in (alice, bob):
        for i, challenge in enumerate((catalog, own if account is alice else catalog)):
            response = await client.post(
                ATTEMPTS,
                json=attempt_body(challenge.id, notes=f"note {i}"),
                headers={**account.headers, "Idempotency-Key": f"key-{i}"},
            )
            assert response.status_code == 201, response.text
        await client.post("/api/v1/me/tokens", json={"name": "script"}, headers=account.headers)
        signed_in = await client.post(
            "/api/v1/auth/token", data={"username": account.user.email, "password": account.password}
        )
        assert signed_in.status_code == 200
        await accounts.store_reset_code(session, account.user.id, "0" * 64)
        await _practise_the_loop(client, account, catalog.id)
    await session.commit()
    before = await _rows_of(session, alice.user.id)
    tables = {name.split(".")[0] for name, n in before.items() if n}
    assert {
        "users",
        "attempts",
        "idempotency_records",
        "api_tokens",
        "challenges",
        "auth_sessions",
        "password_reset_codes",
        "plans",
        "ladder_steps",
        "pauses",
        "calendar_feeds",
        "session_stats",
    } <= tables
    bob_before = await _rows_of(session, bob.user.id)

    response = await client.delete("/api/v1/me", headers=alice.headers)
    assert response.status_code == 204

    assert await _rows_of(session, alice.user.id) == dict.fromkeys(before, 0)
    assert await _rows_of(session, bob.user.id) == bob_before
    assert (await client.get(ATTEMPTS, headers=alice.headers)).status_code == 401
    assert await session.scalar(select(func.count()).select_from(ApiToken)) == 1
    # Refresh tokens belong to a session, not straight to a user: they went with alice's.
    assert await session.scalar(select(func.count()).select_from(RefreshToken)) == 1


@pytest.mark.parametrize("with_attempts", [True, False])
async def test_delete_me_without_attempts_or_with_many(
    *,
    client: httpx.AsyncClient,
    session: AsyncSession,
    alice: Account,
    make_challenge: MakeChallenge,
    make_attempt: MakeAttempt,
    with_attempts: bool,
) -> None:
    own = await make_challenge(owner=alice.user)
    if with_attempts:
        for _ in range(3):
            await make_attempt(alice.user, own)
    assert (await client.delete("/api/v1/me", headers=alice.headers)).status_code == 204
    assert sum((await _rows_of(session, alice.user.id)).values()) == 0
