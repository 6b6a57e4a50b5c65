"""Your data in (`POST /me/import`): the export's JSON and CSV, upserted by id, all or nothing."""

import csv
import io
import json
import time
import uuid
from datetime import timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.attempts.models import Attempt
from app.catalog.models import Challenge
from app.core.config import Settings
from app.core.models import utcnow
from app.exports.schemas import MAX_IMPORT_ATTEMPTS, MAX_IMPORT_BYTES
from app.exports.service import CSV_COLUMNS
from app.progress.models import SessionStats
from tests.conftest import Account, MakeAttempt, MakeChallenge, MakeUser

IMPORT = "/api/v1/me/import"
IMPORT_CSV = "/api/v1/me/import/attempts.csv"
EXPORT = "/api/v1/me/export"
EXPORT_CSV = "/api/v1/me/export/attempts.csv"
ATTEMPTS = "/api/v1/attempts"
JSON = {"Content-Type": "application/json"}
CSV = {"Content-Type": "text/csv; charset=utf-8"}
NOTHING = {"created": 0, "updated": 0, "unchanged": 0}


def attempt_body(challenge_id: uuid.UUID | str, **fields: Any) -> dict[str, Any]:
    return {
        "challenge_id": str(challenge_id),
        "outcome": "rejected",
        "distress_before": 40,
        "distress_peak": 65,
        **fields,
    }


async def log(
    client: httpx.AsyncClient, account: Account, challenge_id: uuid.UUID | str, **fields: Any
) -> dict[str, Any]:
    response = await client.post(ATTEMPTS, json=attempt_body(challenge_id, **fields), headers=account.headers)
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    return body


async def import_file(
    client: httpx.AsyncClient, account: Account, content: bytes | str, headers: dict[str, str]
) -> httpx.Response:
    data = content.encode() if isinstance(content, str) else content
    # Each media type has its operation: CSV (and what is not JSON) goes to the CSV one.
    path = IMPORT if headers.get("Content-Type") == "application/json" else IMPORT_CSV
    return await client.post(path, content=data, headers={**account.headers, **headers})


def csv_text(rows: list[dict[str, Any]], columns: tuple[str, ...] = CSV_COLUMNS) -> str:
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=columns)
    writer.writeheader()
    writer.writerows(rows)
    return out.getvalue()


async def stored_attempts(session: AsyncSession, account: Account) -> int:
    return (
        await session.scalar(select(func.count()).select_from(Attempt).where(Attempt.user_id == account.user.id)) or 0
    )


async def sessions_of(session: AsyncSession, account: Account) -> list[tuple[Any, ...]]:
    rows = await session.execute(
        select(SessionStats.local_date, SessionStats.difficulty, SessionStats.attempts)
        .where(SessionStats.user_id == account.user.id)
        .order_by(SessionStats.local_date, SessionStats.difficulty)
    )
    return [tuple(row) for row in rows]


# --- the round trip ---------------------------------------------------------------------------------


async def test_export_delete_register_import_gives_the_same_export_and_trend(
    client: httpx.AsyncClient,
    session: AsyncSession,
    alice: Account,
    make_user: MakeUser,
    make_challenge: MakeChallenge,
) -> None:
    catalog = await make_challenge(difficulty=2)
    retired = await make_challenge(difficulty=4, category="at-work")
    patched = await client.patch(
        "/api/v1/me", json={"timezone": "Pacific/Auckland", "display_name": "Al"}, headers=alice.headers
    )
    assert patched.status_code == 200, patched.text
    own = (
        await client.post(
            "/api/v1/challenges",
            json={
                "title": "Ask my boss for Friday off",
                "description": "Politely.",
                "category": "everyday",
                "difficulty": 6,
            },
            headers=alice.headers,
        )
    ).json()
    gone = (
        await client.post(
            "/api/v1/challenges",
            json={
                "title": "Ask the choir for a solo",
                "description": "After practice.",
                "category": "at-work",
                "difficulty": 7,
            },
            headers=alice.headers,
        )
    ).json()
    now = utcnow()
    for day in range(12):
        await log(
            client,
            alice,
            catalog.id,
            occurred_at=(now - timedelta(days=12 - day, hours=3)).isoformat(),
            distress_peak=80 - 4 * day,
            notes=["=1+2", "'quoted", "plain, with a comma\nand a line", None][day % 4],
        )
    await log(
        client,
        alice,
        own["id"],
        outcome="avoided",
        distress_peak=None,
        occurred_at=(now - timedelta(hours=5)).isoformat(),
    )
    await log(client, alice, gone["id"], outcome="accepted", expected_rejection=90)
    await log(client, alice, retired.id, outcome="partial", distress_after=20)
    # The practice loop: plans (one done with a reflection, one open, one cancelled), a ladder and a pause.
    plans = []
    for fields in (
        {"expected_rejection": 80, "expected_outcome": "They will laugh.\nOr stare.", "expected_distress_peak": 70},
        {"expected_rejection": 60, "planned_for": (now + timedelta(days=2)).isoformat()},
        {"expected_rejection": 40},
    ):
        made = await client.post(
            "/api/v1/plans", json={"challenge_id": str(catalog.id), **fields}, headers=alice.headers
        )
        assert made.status_code == 201, made.text
        plans.append(made.json())
    await log(
        client,
        alice,
        catalog.id,
        plan_id=plans[0]["id"],
        surprise=75,
        safety_behaviours=["rehearsed the words", "=avoided eye contact"],
        reflection="They said no to the offer, not to me.",
    )
    cancelled = await client.patch(
        f"/api/v1/plans/{plans[2]['id']}", json={"status": "cancelled"}, headers=alice.headers
    )
    assert cancelled.status_code == 200, cancelled.text
    ladder = {
        "steps": [
            {"challenge_id": own["id"], "anticipated_distress": 70},
            {"challenge_id": str(catalog.id), "anticipated_distress": 30},
        ]
    }
    assert (await client.put("/api/v1/me/ladder", json=ladder, headers=alice.headers)).status_code == 200
    today = now.date()
    for start, end in ((-30, -25), (-10, -10)):
        pause = {
            "start_date": str(today + timedelta(days=start)),
            "end_date": str(today + timedelta(days=end)),
            "reason": "Flu",
        }
        assert (await client.post("/api/v1/me/pauses", json=pause, headers=alice.headers)).status_code == 201
    # Archived since: the challenge keeps its attempts, takes no new ones, and the move keeps them too.
    assert (await client.delete(f"/api/v1/challenges/{gone['id']}", headers=alice.headers)).status_code == 200
    retired.status = "archived"
    await session.commit()
    await client.post("/api/v1/me/tokens", json={"name": "script"}, headers=alice.headers)
    before = (await client.get(EXPORT, headers=alice.headers)).json()
    trend_before = (await client.get("/api/v1/me/trend", headers=alice.headers)).json()
    csv_before = (await client.get(EXPORT_CSV, headers=alice.headers)).text
    stats_before = await sessions_of(session, alice)
    assert stats_before

    assert (await client.delete("/api/v1/me", headers=alice.headers)).status_code == 204
    again = await make_user("alice@example.com")
    response = await import_file(client, again, json.dumps(before), JSON)

    assert response.status_code == 200, response.text
    assert response.json() == {
        "created": 16,
        "updated": 0,
        "unchanged": 0,
        "custom_challenges": {"created": 2, "updated": 0, "unchanged": 0},
        "plans": {"created": 3, "updated": 0, "unchanged": 0},
        "pauses": {"created": 2, "updated": 0, "unchanged": 0},
        "ladder_replaced": True,
        "account_updated": True,
    }
    after = (await client.get(EXPORT, headers=again.headers)).json()
    assert after["attempts"] == before["attempts"]
    assert after["custom_challenges"] == before["custom_challenges"]
    for part in ("plans", "ladder", "pauses"):
        assert after[part] == before[part]
    assert [p["status"] for p in after["plans"]] == ["done", "open", "cancelled"]
    assert after["plans"][0]["attempt_id"] == after["attempts"][-1]["id"]
    assert after["account"] == before["account"] | {
        "id": str(again.user.id),
        "created_at": after["account"]["created_at"],
    }
    assert after["api_tokens"] == []
    assert (await client.get(EXPORT_CSV, headers=again.headers)).text == csv_before
    # The session days were fixed in the account's zone and the triggers counted every attempt.
    assert await sessions_of(session, again) == stats_before
    assert (await client.get("/api/v1/me/trend", headers=again.headers)).json() == trend_before


async def test_the_csv_export_imports_into_another_account_as_it_was_written(
    client: httpx.AsyncClient, alice: Account, bob: Account, make_challenge: MakeChallenge
) -> None:
    catalog = await make_challenge(difficulty=5, title='=HYPERLINK("http://evil.example")')
    notes = [
        "=1+2",
        "+cmd|' /C calc'!A0",
        "-2",
        "@SUM(A1:A2)",
        "'=still a note",
        "''",
        'plain, "quoted"\r\nand more',
        None,
    ]
    now = utcnow()
    for i, note in enumerate(notes):
        fields: dict[str, Any] = {
            "occurred_at": (now - timedelta(hours=20 - i)).isoformat(),
            "expected_rejection": i * 10,
        }
        if note is not None:
            fields["notes"] = note
        await log(client, alice, catalog.id, **fields)
    exported = (await client.get(EXPORT_CSV, headers=alice.headers)).text
    ids = [a["id"] for a in (await client.get(EXPORT, headers=alice.headers)).json()["attempts"]]
    assert (await client.delete("/api/v1/me", headers=alice.headers)).status_code == 204

    response = await import_file(client, bob, exported, CSV)

    assert response.status_code == 200, response.text
    assert response.json()["created"] == len(notes)
    assert (await client.get(EXPORT_CSV, headers=bob.headers)).text == exported
    assert [a["id"] for a in (await client.get(EXPORT, headers=bob.headers)).json()["attempts"]] == ids


async def test_a_spreadsheet_diary_without_ids_imports_once(
    client: httpx.AsyncClient, alice: Account, make_challenge: MakeChallenge
) -> None:
    challenge = await make_challenge(difficulty=3, category="social")
    columns = ("occurred_at", "challenge_id", "outcome", "distress_before", "distress_peak", "notes")
    diary = "\ufeff" + csv_text(
        [
            {
                "occurred_at": f"2026-01-0{day}T19:00:00+01:00",
                "challenge_id": challenge.id,
                "outcome": "rejected",
                "distress_before": 50,
                "distress_peak": 70 - day,
                "notes": f"day {day}",
            }
            for day in range(1, 6)
        ],
        columns,
    )

    first = await import_file(client, alice, diary, {"Content-Type": "text/csv"})
    second = await import_file(client, alice, diary, CSV)

    assert first.status_code == 200, first.text
    assert (first.json()["created"], second.json()["created"], second.json()["unchanged"]) == (5, 0, 5)
    attempts = (await client.get(EXPORT, headers=alice.headers)).json()["attempts"]
    first_row = attempts[0]
    assert (first_row["notes"], first_row["difficulty"], first_row["category"], first_row["occurred_at"]) == (
        "day 1",
        3,
        "social",
        "2026-01-01T18:00:00Z",
    )
    # Posting a diary row again with its id is a replay, as for any attempt logged through the API.
    replay = await client.post(
        ATTEMPTS,
        json=attempt_body(
            challenge.id,
            id=attempts[0]["id"],
            occurred_at="2026-01-01T18:00:00Z",
            distress_before=50,
            distress_peak=69,
            notes="day 1",
        ),
        headers=alice.headers,
    )
    assert replay.status_code == 201, replay.text
    assert replay.headers["idempotent-replayed"] == "true"


# --- idempotency and upserts ----------------------------------------------------------------------


@pytest.mark.usefixtures("everyday")
async def test_importing_the_same_file_twice_changes_nothing_the_second_time(
    client: httpx.AsyncClient, session: AsyncSession, alice: Account, make_challenge: MakeChallenge
) -> None:
    catalog = await make_challenge()
    own = (
        await client.post(
            "/api/v1/challenges",
            json={"title": "Ask for a tour", "description": "At the museum.", "category": "everyday", "difficulty": 4},
            headers=alice.headers,
        )
    ).json()
    for challenge_id in (catalog.id, own["id"], own["id"]):
        await log(client, alice, challenge_id)
    exported = (await client.get(EXPORT, headers=alice.headers)).content

    first = await import_file(client, alice, exported, JSON)
    stats = await sessions_of(session, alice)
    second = await import_file(client, alice, exported, JSON)

    for response in (first, second):
        assert response.status_code == 200, response.text
        assert response.json() == {
            "created": 0,
            "updated": 0,
            "unchanged": 3,
            "custom_challenges": {"created": 0, "updated": 0, "unchanged": 1},
            "plans": NOTHING,
            "pauses": NOTHING,
            "ladder_replaced": False,
            "account_updated": False,
        }
    assert (await client.get(EXPORT, headers=alice.headers)).json()["attempts"] == json.loads(exported)["attempts"]
    assert await sessions_of(session, alice) == stats


async def test_a_changed_row_updates_the_attempt_and_its_session_day(
    client: httpx.AsyncClient, session: AsyncSession, alice: Account, make_challenge: MakeChallenge
) -> None:
    challenge = await make_challenge()
    logged = await log(client, alice, challenge.id, occurred_at="2026-03-01T12:00:00Z")
    export = (await client.get(EXPORT, headers=alice.headers)).json()
    row = export["attempts"][0]
    row |= {"notes": "corrected", "occurred_at": "2026-03-04T12:00:00Z", "updated_at": "2026-03-05T08:00:00Z"}

    response = await import_file(client, alice, json.dumps(export), JSON)

    assert response.status_code == 200, response.text
    assert (response.json()["created"], response.json()["updated"]) == (0, 1)
    stored = (await client.get(f"{ATTEMPTS}/{logged['id']}", headers=alice.headers)).json()
    assert stored | {"challenge_slug": challenge.slug} == row
    assert [day.isoformat() for day, _, _ in await sessions_of(session, alice)] == ["2026-03-04"]


@pytest.mark.usefixtures("everyday")
async def test_a_custom_challenge_whose_id_is_taken_gets_its_own_and_its_attempts_follow(
    client: httpx.AsyncClient, alice: Account, bob: Account
) -> None:
    bobs = await client.post(
        "/api/v1/challenges",
        json={"title": "Bob's ask", "description": "Private.", "category": "everyday", "difficulty": 2},
        headers=bob.headers,
    )
    assert bobs.status_code == 201, bobs.text
    await log(client, bob, bobs.json()["id"])
    export = (await client.get(EXPORT, headers=bob.headers)).json()
    export["attempts"][0]["id"] = str(uuid.uuid4())

    first = await import_file(client, alice, json.dumps(export), JSON)
    second = await import_file(client, alice, json.dumps(export), JSON)

    assert first.status_code == 200, first.text
    assert first.json()["custom_challenges"] == {"created": 1, "updated": 0, "unchanged": 0}
    assert second.json()["custom_challenges"] == {"created": 0, "updated": 0, "unchanged": 1}
    assert (second.json()["created"], second.json()["unchanged"]) == (0, 1)
    mine = (await client.get(EXPORT, headers=alice.headers)).json()
    assert mine["custom_challenges"][0]["id"] != bobs.json()["id"]
    assert mine["custom_challenges"][0]["slug"] != bobs.json()["slug"]
    assert mine["attempts"][0]["challenge_id"] == mine["custom_challenges"][0]["id"]
    # Bob's challenge is his alone still.
    assert (await client.get(f"/api/v1/challenges/{bobs.json()['id']}", headers=alice.headers)).status_code == 404


# --- bad rows: every one listed, nothing stored ------------------------------------------------------


async def test_bad_csv_rows_are_listed_by_line_and_nothing_is_stored(
    client: httpx.AsyncClient, session: AsyncSession, alice: Account, make_challenge: MakeChallenge
) -> None:
    challenge = await make_challenge()
    future = (utcnow() + timedelta(hours=1)).isoformat()
    good = {
        "id": uuid.uuid4(),
        "occurred_at": "2026-02-01T10:00:00Z",
        "challenge_id": challenge.id,
        "outcome": "rejected",
        "distress_before": 30,
        "distress_peak": 50,
    }
    rows = [
        good | {"notes": "a note\nover two lines"},  # lines 2-3
        good | {"id": uuid.uuid4(), "distress_peak": 101},  # line 4
        good | {"id": uuid.uuid4(), "occurred_at": future},  # line 5
        good | {"id": uuid.uuid4(), "outcome": "avoided", "distress_peak": ""},  # line 6: fine
        good | {"id": uuid.uuid4(), "outcome": "rejected", "distress_peak": ""},  # line 7
        good | {"id": uuid.uuid4(), "notes": "x" * 4001, "distress_before": "4.5"},  # line 8
        good | {"id": uuid.uuid4(), "notes": "nul\x00byte"},  # line 9
        good,  # line 10: the id of line 2 again
    ]

    response = await import_file(client, alice, csv_text(rows), CSV)

    assert response.status_code == 422, response.text
    assert response.headers["content-type"] == "application/problem+json"
    problem = response.json()
    assert [(e["loc"][2], e["loc"][3:], e["type"]) for e in problem["errors"]] == [
        (4, ["distress_peak"], "less_than_equal"),
        (5, ["occurred_at"], "value_error"),
        (7, ["distress_peak"], "value_error"),
        (8, ["distress_before"], "int_type"),
        (8, ["notes"], "string_too_long"),
        (9, ["notes"], "value_error"),
    ]
    assert all(e["loc"][:2] == ["body", "line"] for e in problem["errors"])
    assert "nul" not in response.text
    assert await stored_attempts(session, alice) == 0
    # Once every row is well-formed, the checks that need the database run: a repeated id, here.
    rows = [r for r in rows if r in (rows[0], rows[3], rows[7])]
    again = await import_file(client, alice, csv_text(rows), CSV)
    assert again.status_code == 422
    assert [(e["loc"], e["type"]) for e in again.json()["errors"]] == [(["body", "line", 5, "id"], "duplicate")]
    assert await stored_attempts(session, alice) == 0


async def test_a_csv_with_unknown_or_missing_columns_is_refused_at_its_header(
    client: httpx.AsyncClient, alice: Account
) -> None:
    response = await import_file(client, alice, "occurred_at,challenge_id,outcome,distres_before\r\n", CSV)
    assert response.status_code == 422
    [error] = response.json()["errors"]
    assert error["loc"] == ["body", "line", 1]
    assert "unknown column `distres_before`" in error["msg"]
    assert "no column `distress_before`" in error["msg"]
    empty = await import_file(client, alice, b"", CSV)
    assert empty.status_code == 422
    latin1 = await import_file(client, alice, "occurred_at\r\ncaf\xe9\r\n".encode("latin-1"), CSV)
    assert latin1.status_code == 422
    ragged = await import_file(client, alice, ",".join(CSV_COLUMNS) + "\r\n1,2\r\n", CSV)
    assert [e["loc"] for e in ragged.json()["errors"]] == [["body", "line", 2]]


async def test_another_users_attempt_id_is_refused_and_left_alone(
    *,
    client: httpx.AsyncClient,
    session: AsyncSession,
    alice: Account,
    bob: Account,
    make_challenge: MakeChallenge,
    make_attempt: MakeAttempt,
) -> None:
    challenge = await make_challenge()
    bobs = await make_attempt(bob.user, challenge, notes="bob's secret")
    export = {
        "attempts": [attempt_body(challenge.id, id=str(bobs.id), occurred_at="2026-02-01T10:00:00Z", notes="mine now")]
    }

    response = await import_file(client, alice, json.dumps(export), JSON)

    assert response.status_code == 422
    assert [(e["loc"], e["type"]) for e in response.json()["errors"]] == [(["body", "attempts", 0, "id"], "id_taken")]
    assert "bob" not in response.text
    await session.refresh(bobs)
    assert (bobs.user_id, bobs.notes) == (bob.user.id, "bob's secret")
    assert await stored_attempts(session, alice) == 0


@pytest.mark.parametrize("media", ["json", "csv"])
async def test_attempts_find_a_catalog_challenge_by_slug_on_a_server_whose_ids_differ(
    client: httpx.AsyncClient, alice: Account, bob: Account, make_challenge: MakeChallenge, media: str
) -> None:
    here = await make_challenge(difficulty=3)
    draft = await make_challenge(status="draft")
    logged = await log(client, alice, here.id, occurred_at="2026-03-01T12:00:00Z")
    # The same export as another server wrote it: its catalog gave the challenge another id.
    elsewhere = str(uuid.uuid4())
    if media == "json":
        export = (await client.get(EXPORT, headers=alice.headers)).json()
        export["attempts"][0]["challenge_id"] = elsewhere
        content, headers = json.dumps(export), JSON
    else:
        content, headers = (
            (await client.get(EXPORT_CSV, headers=alice.headers)).text.replace(str(here.id), elsewhere),
            CSV,
        )
    assert (await client.delete("/api/v1/me", headers=alice.headers)).status_code == 204

    response = await import_file(client, bob, content, headers)

    assert response.status_code == 200, response.text
    imported = (await client.get(EXPORT, headers=bob.headers)).json()["attempts"]
    assert [(a["id"], a["challenge_id"], a["challenge_slug"]) for a in imported] == [
        (logged["id"], str(here.id), here.slug)
    ]
    # A slug names only a challenge the importer may read: a draft's is refused like an unknown one.
    unknown = attempt_body(uuid.uuid4(), occurred_at="2026-03-02T12:00:00Z", id=str(uuid.uuid4()))
    refused = {"attempts": [unknown | {"challenge_slug": draft.slug}, unknown | {"challenge_slug": "no-such-slug"}]}
    response = await import_file(client, bob, json.dumps(refused), JSON)
    assert response.status_code == 422
    assert [e["loc"] for e in response.json()["errors"]][:1] == [["body", "attempts", 0, "challenge_id"]]


async def test_challenges_the_caller_cannot_see_are_refused_like_unknown_ones(
    client: httpx.AsyncClient, alice: Account, bob: Account, make_challenge: MakeChallenge
) -> None:
    draft = await make_challenge(status="draft")
    bobs = await make_challenge(owner=bob.user)
    archived = await make_challenge(status="archived")
    when = "2026-02-01T10:00:00Z"
    export = {
        "attempts": [
            attempt_body(challenge_id, occurred_at=when, id=str(uuid.uuid4()))
            for challenge_id in (draft.id, bobs.id, uuid.uuid4(), archived.id)
        ]
    }

    response = await import_file(client, alice, json.dumps(export), JSON)

    assert response.status_code == 422
    errors = response.json()["errors"]
    assert [e["loc"] for e in errors] == [["body", "attempts", i, "challenge_id"] for i in range(3)]
    assert {e["msg"] for e in errors} == {"No challenge with that id that you can log."}
    # History at a challenge archived since it was logged comes in.
    export["attempts"] = export["attempts"][3:]
    assert (await import_file(client, alice, json.dumps(export), JSON)).status_code == 200


async def test_a_failed_json_import_leaves_account_challenges_and_attempts_untouched(
    client: httpx.AsyncClient, session: AsyncSession, alice: Account, make_challenge: MakeChallenge
) -> None:
    challenge = await make_challenge()
    own_id = str(uuid.uuid4())
    document = {
        "account": {"timezone": "Asia/Tokyo", "display_name": "New name"},
        "custom_challenges": [
            {
                "id": own_id,
                "title": "Ask for a discount",
                "description": "At the till.",
                "category": "everyday",
                "difficulty": 3,
            },
            {
                "id": str(uuid.uuid4()),
                "title": "Ask in a club",
                "description": "Nicely.",
                "category": "no-such",
                "difficulty": 3,
            },
        ],
        "attempts": [
            attempt_body(own_id, occurred_at="2026-02-01T10:00:00Z"),
            attempt_body(challenge.id, occurred_at="2026-02-02T10:00:00Z"),
        ],
    }

    response = await import_file(client, alice, json.dumps(document), JSON)

    assert response.status_code == 422
    assert [(e["loc"], e["type"]) for e in response.json()["errors"]] == [
        (["body", "custom_challenges", 1, "category"], "category_not_found")
    ]
    me = (await client.get("/api/v1/me", headers=alice.headers)).json()
    assert (me["timezone"], me["display_name"]) == ("UTC", None)
    assert (
        await session.scalar(select(func.count()).select_from(Challenge).where(Challenge.owner_id == alice.user.id))
        == 0
    )
    assert await stored_attempts(session, alice) == 0
    assert await sessions_of(session, alice) == []

    del document["custom_challenges"][1]
    fixed = await import_file(client, alice, json.dumps(document), JSON)
    assert fixed.status_code == 200, fixed.text
    assert (fixed.json()["created"], fixed.json()["account_updated"]) == (2, True)


async def test_json_errors_name_the_attempt_by_its_index(
    client: httpx.AsyncClient, alice: Account, make_challenge: MakeChallenge
) -> None:
    challenge = await make_challenge()
    rows = [
        attempt_body(challenge.id, occurred_at="2026-02-01T10:00:00Z"),
        attempt_body(challenge.id, occurred_at="2026-02-01T10:00:00Z", distress_after=-1),
        attempt_body(challenge.id, occurred_at="2026-02-01T10:00:00Z", user_id=str(uuid.uuid4())),
        attempt_body(challenge.id),
    ]
    response = await import_file(client, alice, json.dumps({"attempts": rows, "goals": []}), JSON)
    assert response.status_code == 422
    assert [(e["loc"], e["type"]) for e in response.json()["errors"]] == [
        (["body", "attempts", 1, "distress_after"], "greater_than_equal"),
        (["body", "attempts", 2, "user_id"], "extra_forbidden"),
        (["body", "attempts", 3, "occurred_at"], "missing"),
        (["body", "goals"], "extra_forbidden"),
    ]
    broken = await import_file(client, alice, b'{"attempts": [', JSON)
    assert broken.status_code == 422
    assert broken.json()["errors"][0]["type"] == "json_invalid"


# --- limits and media types --------------------------------------------------------------------------


async def test_import_takes_files_larger_than_other_bodies_up_to_its_own_limit(
    client: httpx.AsyncClient, alice: Account, settings: Settings, make_challenge: MakeChallenge
) -> None:
    challenge = await make_challenge()
    row = attempt_body(challenge.id, occurred_at="2026-02-01T10:00:00Z", notes="n" * 3000)
    count = settings.max_body_bytes // 3000 + 1
    rows = [row | {"id": str(uuid.uuid4())} for _ in range(count)]
    body = json.dumps({"attempts": rows}).encode()
    assert len(body) > settings.max_body_bytes

    response = await import_file(client, alice, body, JSON)
    assert response.status_code == 200, response.text
    assert response.json()["created"] == count

    too_large = await import_file(client, alice, b" " * (MAX_IMPORT_BYTES + 1), JSON)
    assert too_large.status_code == 413
    assert too_large.headers["content-type"] == "application/problem+json"
    # Other routes keep the ordinary limit.
    elsewhere = await client.post(
        ATTEMPTS, content=b" " * (settings.max_body_bytes + 1), headers={**alice.headers, **JSON}
    )
    assert elsewhere.status_code == 413


@pytest.mark.parametrize("media", ["json", "csv"])
async def test_more_attempts_than_the_limit_are_refused(client: httpx.AsyncClient, alice: Account, media: str) -> None:
    row = attempt_body(uuid.uuid4(), occurred_at="2026-02-01T10:00:00Z")
    if media == "json":
        response = await import_file(client, alice, json.dumps({"attempts": [row] * (MAX_IMPORT_ATTEMPTS + 1)}), JSON)
        loc = ["body", "attempts"]
    else:
        response = await import_file(client, alice, csv_text([row] * (MAX_IMPORT_ATTEMPTS + 1), tuple(row)), CSV)
        loc = ["body", "line", MAX_IMPORT_ATTEMPTS + 2]
    assert response.status_code == 422
    assert [(e["loc"], e["type"]) for e in response.json()["errors"]] == [(loc, "too_long")]


@pytest.mark.parametrize(
    ("path", "content_type"),
    [
        (IMPORT_CSV, "text/plain"),
        (IMPORT_CSV, "application/xml"),
        (IMPORT_CSV, "text/csv; charset=latin-1"),
        (IMPORT_CSV, "application/json"),
        (IMPORT_CSV, None),
        (IMPORT, "text/csv"),
        (IMPORT, None),
    ],
)
async def test_other_media_types_are_refused(
    client: httpx.AsyncClient, alice: Account, path: str, content_type: str | None
) -> None:
    headers = {"Content-Type": content_type} if content_type else {}
    response = await client.post(path, content=b"id\r\n", headers={**alice.headers, **headers})
    assert response.status_code == 415
    assert response.headers["content-type"] == "application/problem+json"


async def test_import_needs_a_login(client: httpx.AsyncClient) -> None:
    assert (await client.post(IMPORT, content=b"{}", headers=JSON)).status_code == 401
    assert (await client.post(IMPORT_CSV, content=b"id\r\n", headers=CSV)).status_code == 401


def test_the_document_declares_one_body_per_operation_and_the_larger_limit(client: httpx.AsyncClient) -> None:
    app: Any = client._transport.app  # type: ignore[attr-defined]
    document = app.openapi()
    for path, media_type in ((IMPORT, "application/json"), (IMPORT_CSV, "text/csv")):
        operation = document["paths"][path]["post"]
        assert set(operation["requestBody"]["content"]) == {media_type}
        assert operation["x-max-body-bytes"] == MAX_IMPORT_BYTES
        assert operation["responses"]["200"]["content"]["application/json"]["schema"] == {
            "$ref": "#/components/schemas/AccountImportResult"
        }
    schema = json.dumps(document["paths"][IMPORT]["post"]["requestBody"]["content"]["application/json"]["schema"])
    for ref in {part.split('"')[0] for part in schema.split('"$ref": "#/components/schemas/')[1:]}:
        assert ref in document["components"]["schemas"], ref


async def test_the_largest_file_imports_in_one_go(
    client: httpx.AsyncClient, session: AsyncSession, alice: Account, make_challenge: MakeChallenge
) -> None:
    challenge = await make_challenge()
    start = utcnow() - timedelta(days=1500)
    rows = [
        attempt_body(
            challenge.id,
            id=str(uuid.uuid4()),
            occurred_at=(start + timedelta(hours=1, minutes=i * 6)).isoformat(),
            distress_peak=i % 101,
            notes=f"attempt {i}",
        )
        for i in range(MAX_IMPORT_ATTEMPTS)
    ]
    body = csv_text(rows, tuple(rows[0]))

    began = time.perf_counter()
    response = await import_file(client, alice, body, CSV)
    seconds = time.perf_counter() - began

    assert response.status_code == 200, response.text
    assert response.json()["created"] == MAX_IMPORT_ATTEMPTS
    assert await stored_attempts(session, alice) == MAX_IMPORT_ATTEMPTS
    total = await session.scalar(select(func.sum(SessionStats.attempts)).where(SessionStats.user_id == alice.user.id))
    assert total == MAX_IMPORT_ATTEMPTS
    # Generous: a regression to a query per row would take far longer.
    assert seconds < 60


# --- the practice loop: plans, ladder, pauses --------------------------------------------------------


async def make_plan(client: httpx.AsyncClient, account: Account, challenge_id: uuid.UUID, **fields: Any) -> str:
    made = await client.post(
        "/api/v1/plans",
        json={"challenge_id": str(challenge_id), "expected_rejection": 70, **fields},
        headers=account.headers,
    )
    assert made.status_code == 201, made.text
    plan_id: str = made.json()["id"]
    return plan_id


async def test_an_attempt_naming_a_plan_that_is_not_yours_comes_without_it(
    client: httpx.AsyncClient, alice: Account, bob: Account, make_challenge: MakeChallenge
) -> None:
    challenge = await make_challenge()
    bobs = await make_plan(client, bob, challenge.id)
    elsewhere = str(uuid.uuid4())
    rows = [
        attempt_body(challenge.id, occurred_at="2026-02-01T10:00:00Z", plan_id=bobs, expected_rejection=70),
        attempt_body(challenge.id, occurred_at="2026-02-02T10:00:00Z", plan_id=elsewhere, expected_rejection=50),
    ]
    response = await import_file(client, alice, json.dumps({"attempts": rows}), JSON)
    assert response.status_code == 200, response.text
    attempts = (await client.get(EXPORT, headers=alice.headers)).json()["attempts"]
    # The predictions stay; the links to plans that are not the caller's do not.
    assert [(a["plan_id"], a["expected_rejection"]) for a in attempts] == [(None, 70), (None, 50)]
    plan = (await client.get(f"/api/v1/plans/{bobs}", headers=bob.headers)).json()
    assert (plan["status"], plan["attempt_id"]) == ("open", None)


async def test_plans_ladder_and_pauses_that_break_the_rules_are_listed_and_nothing_is_stored(
    client: httpx.AsyncClient, alice: Account, bob: Account, make_challenge: MakeChallenge
) -> None:
    challenge = await make_challenge()
    draft = await make_challenge(status="draft")
    bobs = await make_plan(client, bob, challenge.id)
    mine = str(uuid.uuid4())
    document = {
        "plans": [
            {"id": mine, "challenge_id": str(challenge.id), "expected_rejection": 60, "status": "done"},
            {"id": bobs, "challenge_id": str(challenge.id), "expected_rejection": 60},
            {"id": str(uuid.uuid4()), "challenge_id": str(draft.id), "expected_rejection": 60},
        ],
        "attempts": [
            attempt_body(challenge.id, occurred_at="2026-02-01T10:00:00Z", plan_id=mine, expected_rejection=60),
            attempt_body(challenge.id, occurred_at="2026-02-02T10:00:00Z", plan_id=mine, expected_rejection=60),
        ],
        "ladder": [
            {"challenge_id": str(challenge.id), "anticipated_distress": 30},
            {"challenge_id": str(challenge.id), "anticipated_distress": 40},
            {"challenge_id": str(draft.id), "anticipated_distress": 50},
        ],
        "pauses": [
            {"id": str(uuid.uuid4()), "start_date": "2026-01-01", "end_date": "2026-01-05"},
            {"id": str(uuid.uuid4()), "start_date": "2026-01-05", "end_date": "2026-01-08"},
        ],
    }
    response = await import_file(client, alice, json.dumps(document), JSON)
    assert response.status_code == 422, response.text
    assert sorted((tuple(e["loc"]), e["type"]) for e in response.json()["errors"]) == sorted(
        [
            (("body", "plans", 1, "id"), "id_taken"),
            (("body", "plans", 2, "challenge_id"), "challenge_not_found"),
            (("body", "attempts", 1, "plan_id"), "duplicate"),
            (("body", "ladder", 1, "challenge_id"), "duplicate_step"),
            (("body", "ladder", 2, "challenge_id"), "challenge_not_found"),
            (("body", "pauses", 1, "start_date"), "overlapping"),
        ]
    )
    export = (await client.get(EXPORT, headers=alice.headers)).json()
    assert [export[part] for part in ("attempts", "plans", "ladder", "pauses")] == [[], [], [], []]
    too_long = {"pauses": [{"id": str(uuid.uuid4()), "start_date": "2026-01-01", "end_date": "2026-01-15"}]}
    refused = await import_file(client, alice, json.dumps(too_long), JSON)
    assert refused.status_code == 422
    assert refused.json()["errors"][0]["loc"] == ["body", "pauses", 0, "end_date"]


async def test_a_pause_moved_by_the_file_is_updated_and_checked_against_the_others(
    client: httpx.AsyncClient, alice: Account
) -> None:
    for start, end in (("2026-01-01", "2026-01-03"), ("2026-01-10", "2026-01-12")):
        made = await client.post(
            "/api/v1/me/pauses", json={"start_date": start, "end_date": end}, headers=alice.headers
        )
        assert made.status_code == 201, made.text
    exported = (await client.get(EXPORT, headers=alice.headers)).json()
    first, second = exported["pauses"]
    # The first pause moves onto days the second one leaves: fine, as the file gives both.
    moved = {
        "pauses": [
            first | {"start_date": "2026-01-11", "end_date": "2026-01-13"},
            second | {"start_date": "2026-01-20", "end_date": "2026-01-21"},
        ]
    }
    response = await import_file(client, alice, json.dumps(moved), JSON)
    assert response.status_code == 200, response.text
    assert response.json()["pauses"] == {"created": 0, "updated": 2, "unchanged": 0}
    # Onto a kept pause's days: refused.
    clash = {"pauses": [first | {"start_date": "2026-01-20", "end_date": "2026-01-20"}]}
    assert (await import_file(client, alice, json.dumps(clash), JSON)).status_code == 422
    pauses = (await client.get(EXPORT, headers=alice.headers)).json()["pauses"]
    assert [(p["start_date"], p["end_date"]) for p in pauses] == [
        ("2026-01-11", "2026-01-13"),
        ("2026-01-20", "2026-01-21"),
    ]


async def test_a_plan_done_by_another_stored_attempt_cannot_be_taken_by_an_imported_one(
    client: httpx.AsyncClient, alice: Account, make_challenge: MakeChallenge
) -> None:
    challenge = await make_challenge()
    plan_id = await make_plan(client, alice, challenge.id)
    await log(client, alice, challenge.id, plan_id=plan_id)
    row = attempt_body(challenge.id, occurred_at="2026-02-01T10:00:00Z", plan_id=plan_id, expected_rejection=70)
    response = await import_file(client, alice, json.dumps({"attempts": [row]}), JSON)
    assert response.status_code == 422, response.text
    assert [(e["loc"], e["type"]) for e in response.json()["errors"]] == [
        (["body", "attempts", 0, "plan_id"], "plan_taken")
    ]
