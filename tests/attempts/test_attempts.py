"""The exposure log: logging, validation, snapshots, replays, listing, corrections and object-level access."""

import uuid
from datetime import UTC, datetime, timedelta, timezone
from typing import Any, get_args

import httpx
import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.attempts.models import OUTCOMES, Attempt, IdempotencyRecord
from app.attempts.schemas import Outcome
from app.catalog.models import Challenge
from app.core.config import Settings
from app.core.models import utcnow
from tests.catalog.test_catalog import ACCESS_CASES, Access, make_case
from tests.conftest import Account, MakeAttempt, MakeChallenge

ATTEMPTS = "/api/v1/attempts"
PROBLEM = "application/problem+json"


def attempt_body(challenge: Challenge, **fields: Any) -> dict[str, Any]:
    return {
        "challenge_id": str(challenge.id),
        "outcome": "rejected",
        "distress_before": 55,
        "distress_peak": 70,
        "distress_after": 30,
        "expected_rejection": 80,
        "notes": "Asked for a discount at the bakery.",
        **fields,
    }


def rfc3339(moment: datetime) -> str:
    return moment.isoformat()


def parse(value: str) -> datetime:
    return datetime.fromisoformat(value)


async def count(session: AsyncSession, model: type[Any]) -> int:
    return await session.scalar(select(func.count()).select_from(model)) or 0


async def stored(session: AsyncSession, attempt_id: str | uuid.UUID) -> Attempt:
    attempt = await session.get(Attempt, uuid.UUID(str(attempt_id)), populate_existing=True)
    assert attempt is not None
    return attempt


def assert_problem(response: httpx.Response, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == PROBLEM
    body: dict[str, Any] = response.json()
    assert body["status"] == status
    assert body["detail"]
    return body


# --- logging ------------------------------------------------------------------


async def test_log_attempt_answers_201_with_the_challenge_snapshot(
    client: httpx.AsyncClient, alice: Account, make_challenge: MakeChallenge
) -> None:
    challenge = await make_challenge(difficulty=4, category="at-work")
    before = utcnow()
    response = await client.post(ATTEMPTS, json=attempt_body(challenge), headers=alice.headers)
    assert response.status_code == 201, response.text
    body = response.json()
    assert set(body) == {
        "id",
        "challenge_id",
        "occurred_at",
        "outcome",
        "distress_before",
        "distress_peak",
        "distress_after",
        "expected_rejection",
        "notes",
        "plan_id",
        "predicted_at",
        "surprise",
        "safety_behaviours",
        "reflection",
        "difficulty",
        "category",
        "created_at",
        "updated_at",
    }
    assert body["challenge_id"] == str(challenge.id)
    assert (body["outcome"], body["distress_before"], body["distress_peak"], body["distress_after"]) == (
        "rejected",
        55,
        70,
        30,
    )
    assert body["expected_rejection"] == 80
    assert body["notes"] == "Asked for a discount at the bakery."
    assert (body["difficulty"], body["category"]) == (4, "at-work")
    assert before <= parse(body["occurred_at"]) <= utcnow()
    assert parse(body["occurred_at"]).utcoffset() == timedelta(0)
    assert response.headers["location"].endswith(f"{ATTEMPTS}/{body['id']}")
    assert "idempotent-replayed" not in response.headers

    read = await client.get(f"{ATTEMPTS}/{body['id']}", headers=alice.headers)
    assert read.status_code == 200
    assert read.json() == body


async def test_any_offset_is_accepted_and_answered_in_utc(
    client: httpx.AsyncClient, session: AsyncSession, alice: Account, make_challenge: MakeChallenge
) -> None:
    challenge = await make_challenge()
    moment = (utcnow() - timedelta(days=2)).replace(microsecond=0)
    local = moment.astimezone(timezone(timedelta(hours=5, minutes=30)))
    response = await client.post(
        ATTEMPTS, json=attempt_body(challenge, occurred_at=rfc3339(local)), headers=alice.headers
    )
    assert response.status_code == 201, response.text
    assert response.json()["occurred_at"] == moment.strftime("%Y-%m-%dT%H:%M:%SZ")
    assert (await stored(session, response.json()["id"])).occurred_at == moment


async def test_offline_logging_accepts_the_past_and_a_clock_a_little_ahead(
    client: httpx.AsyncClient, alice: Account, make_challenge: MakeChallenge
) -> None:
    challenge = await make_challenge()
    for moment in (datetime(2000, 1, 1, tzinfo=UTC), utcnow() - timedelta(days=400), utcnow() + timedelta(minutes=4)):
        response = await client.post(
            ATTEMPTS, json=attempt_body(challenge, occurred_at=rfc3339(moment)), headers=alice.headers
        )
        assert response.status_code == 201, response.text
        assert parse(response.json()["occurred_at"]) == moment


async def test_avoided_needs_no_peak_but_other_outcomes_do(
    client: httpx.AsyncClient, session: AsyncSession, alice: Account, make_challenge: MakeChallenge
) -> None:
    challenge = await make_challenge()
    avoided = await client.post(
        ATTEMPTS,
        json={"challenge_id": str(challenge.id), "outcome": "avoided", "distress_before": 85},
        headers=alice.headers,
    )
    assert avoided.status_code == 201, avoided.text
    assert avoided.json()["distress_peak"] is None
    for outcome in ("rejected", "accepted", "partial"):
        response = await client.post(
            ATTEMPTS,
            json={"challenge_id": str(challenge.id), "outcome": outcome, "distress_before": 85},
            headers=alice.headers,
        )
        body = assert_problem(response, 422)
        assert body["errors"][0]["loc"] == ["body", "distress_peak"]
    assert await count(session, Attempt) == 1


async def test_the_snapshot_survives_later_curation(
    client: httpx.AsyncClient, session: AsyncSession, alice: Account, make_challenge: MakeChallenge
) -> None:
    challenge = await make_challenge(difficulty=3, category="everyday")
    logged = (await client.post(ATTEMPTS, json=attempt_body(challenge), headers=alice.headers)).json()
    await make_challenge(category="social")  # creates the category the challenge moves to
    challenge.difficulty = 9
    challenge.category_slug = "social"
    await session.commit()

    read = (await client.get(f"{ATTEMPTS}/{logged['id']}", headers=alice.headers)).json()
    assert (read["difficulty"], read["category"]) == (3, "everyday")
    listed = (await client.get(ATTEMPTS, headers=alice.headers)).json()["items"]
    assert (listed[0]["difficulty"], listed[0]["category"]) == (3, "everyday")


async def test_logging_needs_a_login(client: httpx.AsyncClient, make_challenge: MakeChallenge) -> None:
    challenge = await make_challenge()
    assert_problem(await client.post(ATTEMPTS, json=attempt_body(challenge)), 401)
    assert_problem(await client.get(ATTEMPTS), 401)
    assert_problem(await client.get(f"{ATTEMPTS}/{uuid.uuid4()}"), 401)
    assert_problem(await client.patch(f"{ATTEMPTS}/{uuid.uuid4()}", json={}), 401)
    assert_problem(await client.delete(f"{ATTEMPTS}/{uuid.uuid4()}"), 401)


# --- bad input ------------------------------------------------------------------

BAD_FIELDS: list[tuple[str, dict[str, Any]]] = [
    ("distress below 0", {"distress_before": -1}),
    ("distress above 100", {"distress_peak": 101}),
    ("distress after above 100", {"distress_after": 101}),
    ("expected rejection above 100", {"expected_rejection": 101}),
    ("distress as a fraction", {"distress_peak": 50.5}),
    ("distress as a string", {"distress_before": "50"}),
    ("distress as a bool", {"distress_after": True}),
    ("distress null", {"distress_before": None}),
    ("distress beyond 64 bits", {"distress_peak": 2**64}),
    ("negative distress beyond 64 bits", {"distress_before": -(2**63) - 1}),
    ("expected rejection beyond 64 bits", {"expected_rejection": 10**30}),
    ("unknown outcome", {"outcome": "maybe"}),
    ("user_id", {"user_id": str(uuid.uuid4())}),
    ("difficulty", {"difficulty": 1}),
    ("category", {"category": "everyday"}),
    ("created_at", {"created_at": "2026-01-01T00:00:00Z"}),
    ("notes too long", {"notes": "x" * 4001}),
    ("NUL in notes", {"notes": "before\x00after"}),
    ("control character in notes", {"notes": "bell\x07"}),
    ("notes not a string", {"notes": 12}),
    ("naive occurred_at", {"occurred_at": "2026-01-01T10:00:00"}),
    ("occurred_at far ahead", {"occurred_at": "2999-01-01T00:00:00Z"}),
    ("occurred_at six minutes ahead", {"occurred_at": None}),  # filled in by the test
    ("occurred_at before 2000", {"occurred_at": "1999-12-31T23:59:59Z"}),
    ("occurred_at out of range", {"occurred_at": "0001-01-01T00:00:00+01:00"}),
    ("occurred_at as Unix time", {"occurred_at": 1_700_000_000}),
    ("occurred_at as words", {"occurred_at": "yesterday"}),
    ("challenge_id not a uuid", {"challenge_id": "bakery"}),
    ("id not a uuid", {"id": "my-attempt-1"}),
]


@pytest.mark.parametrize(("case", "fields"), BAD_FIELDS, ids=[case for case, _ in BAD_FIELDS])
async def test_bad_field_answers_422_and_stores_nothing(
    *,
    client: httpx.AsyncClient,
    session: AsyncSession,
    alice: Account,
    make_challenge: MakeChallenge,
    case: str,
    fields: dict[str, Any],
) -> None:
    challenge = await make_challenge()
    if case == "occurred_at six minutes ahead":
        fields = {"occurred_at": rfc3339(utcnow() + timedelta(minutes=6))}
    response = await client.post(
        ATTEMPTS, json=attempt_body(challenge, **fields), headers={**alice.headers, "Idempotency-Key": "k1"}
    )
    body = assert_problem(response, 422)
    assert body["errors"], body
    assert await count(session, Attempt) == 0
    assert await count(session, IdempotencyRecord) == 0


BAD_BODIES: list[tuple[str, bytes, int]] = [
    ("malformed JSON", b'{"outcome": ', 422),
    ("a JSON list", b"[]", 422),
    ("JSON null", b"null", 422),
    ("lone surrogate in notes", b'{"outcome": "avoided", "distress_before": 1, "notes": "\\ud800"}', 422),
    ("NaN distress", b'{"outcome": "avoided", "distress_before": NaN}', 422),
    ("huge exponent", b'{"outcome": "avoided", "distress_before": 1e400}', 422),
    ("thousands of digits", b'{"outcome": "avoided", "distress_before": 1' + b"0" * 5000 + b"}", 422),
]


@pytest.mark.parametrize(("case", "raw", "status"), BAD_BODIES, ids=[case for case, _, _ in BAD_BODIES])
async def test_bad_body_answers_4xx_problem_and_stores_nothing(
    *,
    client: httpx.AsyncClient,
    session: AsyncSession,
    alice: Account,
    make_challenge: MakeChallenge,
    case: str,
    raw: bytes,
    status: int,
) -> None:
    challenge = await make_challenge()
    if raw.startswith(b'{"outcome"') and case != "malformed JSON":
        raw = b'{"challenge_id": "' + str(challenge.id).encode() + b'", ' + raw[1:]
    response = await client.post(ATTEMPTS, content=raw, headers={**alice.headers, "content-type": "application/json"})
    assert_problem(response, status)
    assert await count(session, Attempt) == 0


async def test_oversized_body_answers_413_and_stores_nothing(
    client: httpx.AsyncClient,
    session: AsyncSession,
    settings: Settings,
    alice: Account,
    make_challenge: MakeChallenge,
) -> None:
    challenge = await make_challenge()
    notes = "x" * (settings.max_body_bytes + 1)
    response = await client.post(ATTEMPTS, json=attempt_body(challenge, notes=notes), headers=alice.headers)
    assert_problem(response, 413)
    assert await count(session, Attempt) == 0


async def test_unloggable_challenges_all_answer_the_same_422(
    client: httpx.AsyncClient,
    session: AsyncSession,
    alice: Account,
    bob: Account,
    make_challenge: MakeChallenge,
) -> None:
    draft = await make_challenge(status="draft")
    archived = await make_challenge(status="archived")
    bobs_own = await make_challenge(owner=bob.user)
    alices_archived = await make_challenge(owner=alice.user, status="archived")
    answers = []
    for challenge_id in (uuid.uuid4(), draft.id, archived.id, bobs_own.id, alices_archived.id):
        response = await client.post(
            ATTEMPTS, json={**attempt_body(draft), "challenge_id": str(challenge_id)}, headers=alice.headers
        )
        body = assert_problem(response, 422)
        answers.append((body["detail"], body["errors"]))
    assert answers[0][1] == [
        {
            "loc": ["body", "challenge_id"],
            "msg": "No challenge with that id that you can log.",
            "type": "challenge_not_found",
        }
    ]
    assert all(answer == answers[0] for answer in answers)
    assert await count(session, Attempt) == 0


@pytest.mark.parametrize("rule", ACCESS_CASES)
async def test_who_logs_a_challenge(
    client: httpx.AsyncClient, alice: Account, bob: Account, make_challenge: MakeChallenge, rule: Access
) -> None:
    """What is loggable follows the catalog's rules (the table in test_catalog.py), and stays readable."""
    challenge = await make_case(make_challenge, rule, alice, bob)
    response = await client.post(ATTEMPTS, json=attempt_body(challenge), headers=alice.headers)
    if rule.log:
        assert response.status_code == 201, response.text
        assert response.json()["challenge_id"] == str(challenge.id)
        read = await client.get(f"/api/v1/challenges/{challenge.id}", headers=alice.headers)
        assert read.status_code == 200
    else:
        assert assert_problem(response, 422)["errors"][0]["type"] == "challenge_not_found"


async def test_own_custom_challenge_can_be_logged(
    client: httpx.AsyncClient, alice: Account, make_challenge: MakeChallenge
) -> None:
    own = await make_challenge(owner=alice.user, difficulty=6, category="family")
    response = await client.post(ATTEMPTS, json=attempt_body(own), headers=alice.headers)
    assert response.status_code == 201, response.text
    assert (response.json()["difficulty"], response.json()["category"]) == (6, "family")


# --- replays ------------------------------------------------------------------


async def test_same_idempotency_key_and_body_answers_the_first_result(
    client: httpx.AsyncClient, session: AsyncSession, alice: Account, make_challenge: MakeChallenge
) -> None:
    challenge = await make_challenge()
    headers = {**alice.headers, "Idempotency-Key": "phone-7f3a-attempt-1"}
    first = await client.post(ATTEMPTS, json=attempt_body(challenge), headers=headers)
    assert first.status_code == 201, first.text
    again = await client.post(ATTEMPTS, json=attempt_body(challenge), headers=headers)
    assert again.status_code == 201
    assert again.json() == first.json()
    assert again.headers["idempotent-replayed"] == "true"
    assert again.headers["location"] == first.headers["location"]
    assert await count(session, Attempt) == 1
    assert await count(session, IdempotencyRecord) == 1


async def test_the_same_request_written_differently_is_a_replay(
    client: httpx.AsyncClient, session: AsyncSession, alice: Account, make_challenge: MakeChallenge
) -> None:
    challenge = await make_challenge()
    moment = (utcnow() - timedelta(hours=3)).replace(microsecond=0)
    headers = {**alice.headers, "Idempotency-Key": "k"}
    first = await client.post(ATTEMPTS, json=attempt_body(challenge, occurred_at=rfc3339(moment)), headers=headers)
    reordered = dict(reversed(list(attempt_body(challenge).items())))
    reordered["occurred_at"] = rfc3339(moment.astimezone(timezone(timedelta(hours=-7))))
    again = await client.post(ATTEMPTS, json=reordered, headers=headers)
    assert again.status_code == 201
    assert again.json() == first.json()
    assert await count(session, Attempt) == 1


async def test_omitted_occurred_at_replays_the_first_time(
    client: httpx.AsyncClient, session: AsyncSession, alice: Account, make_challenge: MakeChallenge
) -> None:
    challenge = await make_challenge()
    headers = {**alice.headers, "Idempotency-Key": "no-time-given"}
    first = await client.post(ATTEMPTS, json=attempt_body(challenge), headers=headers)
    again = await client.post(ATTEMPTS, json=attempt_body(challenge), headers=headers)
    assert again.json()["occurred_at"] == first.json()["occurred_at"]
    assert await count(session, Attempt) == 1


async def test_same_idempotency_key_with_another_body_answers_409(
    client: httpx.AsyncClient, session: AsyncSession, alice: Account, make_challenge: MakeChallenge
) -> None:
    challenge = await make_challenge()
    headers = {**alice.headers, "Idempotency-Key": "reused"}
    first = await client.post(ATTEMPTS, json=attempt_body(challenge), headers=headers)
    assert first.status_code == 201
    other = await client.post(ATTEMPTS, json=attempt_body(challenge, distress_peak=20), headers=headers)
    assert "Idempotency-Key" in assert_problem(other, 409)["detail"]
    assert await count(session, Attempt) == 1
    assert (await stored(session, first.json()["id"])).distress_peak == 70


async def test_idempotency_keys_belong_to_one_user(
    client: httpx.AsyncClient, session: AsyncSession, alice: Account, bob: Account, make_challenge: MakeChallenge
) -> None:
    challenge = await make_challenge()
    from_alice = await client.post(
        ATTEMPTS, json=attempt_body(challenge), headers={**alice.headers, "Idempotency-Key": "shared"}
    )
    from_bob = await client.post(
        ATTEMPTS, json=attempt_body(challenge), headers={**bob.headers, "Idempotency-Key": "shared"}
    )
    assert (from_alice.status_code, from_bob.status_code) == (201, 201)
    assert from_alice.json()["id"] != from_bob.json()["id"]
    assert "idempotent-replayed" not in from_bob.headers
    assert await count(session, Attempt) == 2


async def test_a_key_replay_answers_the_first_result_even_after_a_correction(
    client: httpx.AsyncClient, alice: Account, make_challenge: MakeChallenge
) -> None:
    challenge = await make_challenge()
    headers = {**alice.headers, "Idempotency-Key": "late-retry"}
    first = await client.post(ATTEMPTS, json=attempt_body(challenge), headers=headers)
    await client.patch(f"{ATTEMPTS}/{first.json()['id']}", json={"notes": "changed"}, headers=alice.headers)
    again = await client.post(ATTEMPTS, json=attempt_body(challenge), headers=headers)
    assert again.status_code == 201
    assert again.json() == first.json()


async def test_a_refused_request_does_not_use_up_its_key(
    client: httpx.AsyncClient, alice: Account, make_challenge: MakeChallenge
) -> None:
    challenge = await make_challenge()
    headers = {**alice.headers, "Idempotency-Key": "first-try-was-wrong"}
    wrong = await client.post(
        ATTEMPTS, json={**attempt_body(challenge), "challenge_id": str(uuid.uuid4())}, headers=headers
    )
    assert_problem(wrong, 422)
    right = await client.post(ATTEMPTS, json=attempt_body(challenge), headers=headers)
    assert right.status_code == 201
    assert "idempotent-replayed" not in right.headers


@pytest.mark.parametrize(
    "key",
    [b"", b"k" * 256, b"caf\xc3\xa9", b"tab\there", b"nul\x01"],
    ids=["empty", "too long", "non-ASCII", "tab", "control character"],
)
async def test_malformed_idempotency_key_answers_422(
    client: httpx.AsyncClient, session: AsyncSession, alice: Account, make_challenge: MakeChallenge, key: bytes
) -> None:
    challenge = await make_challenge()
    response = await client.post(
        ATTEMPTS, json=attempt_body(challenge), headers={**alice.headers, "Idempotency-Key": key}
    )
    body = assert_problem(response, 422)
    assert body["errors"][0]["loc"] == ["header", "idempotency-key"]
    assert await count(session, Attempt) == 0


async def test_a_key_of_255_printable_characters_is_accepted(
    client: httpx.AsyncClient, alice: Account, make_challenge: MakeChallenge
) -> None:
    challenge = await make_challenge()
    key = ("a b~!" * 51)[:255]
    response = await client.post(
        ATTEMPTS, json=attempt_body(challenge), headers={**alice.headers, "Idempotency-Key": key}
    )
    assert response.status_code == 201, response.text


@pytest.mark.parametrize("key", [None, "after-deletion"])
async def test_a_deleted_accounts_access_token_cannot_log_an_attempt(
    client: httpx.AsyncClient, session: AsyncSession, alice: Account, make_challenge: MakeChallenge, key: str | None
) -> None:
    # Logging does not read the account first: the foreign key refuses the write instead.
    challenge = await make_challenge()
    personal = (await client.post("/api/v1/me/tokens", json={"name": "script"}, headers=alice.headers)).json()
    assert (await client.delete("/api/v1/me", headers=alice.headers)).status_code == 204
    headers = {"Idempotency-Key": key} if key else {}
    for token in (alice.token, personal["token"]):
        response = await client.post(
            ATTEMPTS, json=attempt_body(challenge), headers={"Authorization": f"Bearer {token}", **headers}
        )
        assert_problem(response, 401)
    assert await count(session, Attempt) == 0
    assert await count(session, IdempotencyRecord) == 0


async def test_keys_older_than_a_day_are_purged_younger_ones_kept(
    client: httpx.AsyncClient, session: AsyncSession, alice: Account, make_challenge: MakeChallenge
) -> None:
    challenge = await make_challenge()
    now = utcnow()
    for key, age in (("old", timedelta(hours=25)), ("young", timedelta(hours=23))):
        session.add(
            IdempotencyRecord(
                user_id=alice.user.id,
                key=key,
                request_hash="0" * 64,
                status_code=201,
                response_body={},
                created_at=now - age,
            )
        )
    await session.commit()
    response = await client.post(
        ATTEMPTS, json=attempt_body(challenge), headers={**alice.headers, "Idempotency-Key": "new"}
    )
    assert response.status_code == 201
    keys = set(await session.scalars(select(IdempotencyRecord.key).where(IdempotencyRecord.user_id == alice.user.id)))
    assert keys == {"young", "new"}
    young = await client.post(
        ATTEMPTS, json=attempt_body(challenge), headers={**alice.headers, "Idempotency-Key": "young"}
    )
    assert_problem(young, 409)


async def test_same_client_id_and_body_answers_the_first_result(
    client: httpx.AsyncClient, session: AsyncSession, alice: Account, make_challenge: MakeChallenge
) -> None:
    challenge = await make_challenge()
    attempt_id = str(uuid.uuid4())
    first = await client.post(ATTEMPTS, json=attempt_body(challenge, id=attempt_id), headers=alice.headers)
    assert first.status_code == 201, first.text
    assert first.json()["id"] == attempt_id
    again = await client.post(ATTEMPTS, json=attempt_body(challenge, id=attempt_id), headers=alice.headers)
    assert again.status_code == 201
    assert again.json() == first.json()
    assert again.headers["idempotent-replayed"] == "true"
    assert await count(session, Attempt) == 1


async def test_same_client_id_with_another_body_answers_409(
    client: httpx.AsyncClient, session: AsyncSession, alice: Account, make_challenge: MakeChallenge
) -> None:
    challenge = await make_challenge()
    attempt_id = str(uuid.uuid4())
    await client.post(ATTEMPTS, json=attempt_body(challenge, id=attempt_id), headers=alice.headers)
    other = await client.post(
        ATTEMPTS, json=attempt_body(challenge, id=attempt_id, notes="else"), headers=alice.headers
    )
    assert_problem(other, 409)
    assert (await stored(session, attempt_id)).notes == "Asked for a discount at the bakery."
    assert await count(session, Attempt) == 1


async def test_another_users_attempt_id_answers_like_a_different_body(
    client: httpx.AsyncClient, session: AsyncSession, alice: Account, bob: Account, make_challenge: MakeChallenge
) -> None:
    challenge = await make_challenge()
    attempt_id = str(uuid.uuid4())
    await client.post(ATTEMPTS, json=attempt_body(challenge, id=attempt_id), headers=alice.headers)
    own_mismatch = await client.post(
        ATTEMPTS, json=attempt_body(challenge, id=attempt_id, notes="else"), headers=alice.headers
    )
    # Bob sends Alice's very body: still no sign that the id is someone else's, and none of her data.
    from_bob = await client.post(ATTEMPTS, json=attempt_body(challenge, id=attempt_id), headers=bob.headers)
    assert assert_problem(from_bob, 409) == assert_problem(own_mismatch, 409)
    assert "bakery" not in from_bob.text
    assert (await stored(session, attempt_id)).user_id == alice.user.id
    assert await count(session, Attempt) == 1


async def test_key_and_id_together(
    client: httpx.AsyncClient, session: AsyncSession, alice: Account, make_challenge: MakeChallenge
) -> None:
    challenge = await make_challenge()
    attempt_id = str(uuid.uuid4())
    first = await client.post(ATTEMPTS, json=attempt_body(challenge, id=attempt_id), headers=alice.headers)
    # A retry that adds a key finds the attempt by its id and remembers the key.
    keyed = await client.post(
        ATTEMPTS, json=attempt_body(challenge, id=attempt_id), headers={**alice.headers, "Idempotency-Key": "added"}
    )
    assert keyed.status_code == 201
    assert keyed.json() == first.json()
    reused = await client.post(
        ATTEMPTS, json=attempt_body(challenge), headers={**alice.headers, "Idempotency-Key": "added"}
    )
    assert_problem(reused, 409)
    assert await count(session, Attempt) == 1


# --- listing --------------------------------------------------------------------


async def test_list_is_newest_first_and_only_yours(
    client: httpx.AsyncClient, alice: Account, bob: Account, make_challenge: MakeChallenge, make_attempt: MakeAttempt
) -> None:
    challenge = await make_challenge()
    now = utcnow()
    made = [await make_attempt(alice.user, challenge, occurred_at=now - timedelta(days=d)) for d in (3, 1, 2)]
    await make_attempt(bob.user, challenge)
    items = (await client.get(ATTEMPTS, headers=alice.headers)).json()["items"]
    assert [i["id"] for i in items] == [str(made[1].id), str(made[2].id), str(made[0].id)]
    assert (await client.get(ATTEMPTS, headers=bob.headers)).json()["items"][0]["id"] not in {i["id"] for i in items}


async def test_list_filters(
    client: httpx.AsyncClient, alice: Account, make_challenge: MakeChallenge, make_attempt: MakeAttempt
) -> None:
    first, second = await make_challenge(), await make_challenge()
    base = datetime(2026, 3, 1, 12, tzinfo=UTC)
    a = await make_attempt(alice.user, first, occurred_at=base, outcome="rejected")
    b = await make_attempt(alice.user, second, occurred_at=base + timedelta(days=1), outcome="accepted")
    c = await make_attempt(
        alice.user, first, occurred_at=base + timedelta(days=2), outcome="avoided", distress_peak=None
    )

    async def ids(**params: str) -> list[str]:
        response = await client.get(ATTEMPTS, params=params, headers=alice.headers)
        assert response.status_code == 200, response.text
        return [i["id"] for i in response.json()["items"]]

    assert await ids(since=rfc3339(base + timedelta(days=1))) == [str(c.id), str(b.id)]
    assert await ids(until=rfc3339(base + timedelta(days=1))) == [str(a.id)]
    # The same instant in another offset.
    plus_two = (base + timedelta(days=1)).astimezone(timezone(timedelta(hours=2)))
    assert await ids(since=rfc3339(plus_two), until=rfc3339(plus_two + timedelta(days=1))) == [str(b.id)]
    assert await ids(challenge_id=str(first.id)) == [str(c.id), str(a.id)]
    assert await ids(outcome="accepted") == [str(b.id)]
    assert await ids(outcome="avoided", challenge_id=str(first.id)) == [str(c.id)]
    assert await ids(challenge_id=str(uuid.uuid4())) == []


@pytest.mark.parametrize(
    "params",
    [
        {"since": "2026-03-01T00:00:00"},
        {"until": "tomorrow"},
        {"since": "2026-03-02T00:00:00Z", "until": "2026-03-01T00:00:00Z"},
        {"outcome": "maybe"},
        {"challenge_id": "bakery"},
        {"limit": "0"},
        {"limit": "201"},
        {"limit": str(2**64)},
        {"cursor": "not-a-cursor"},
    ],
    ids=[
        "naive since",
        "until not a time",
        "since after until",
        "outcome",
        "challenge_id",
        "limit 0",
        "limit 201",
        "huge limit",
        "cursor",
    ],
)
async def test_list_refuses_bad_parameters(client: httpx.AsyncClient, alice: Account, params: dict[str, str]) -> None:
    assert_problem(await client.get(ATTEMPTS, params=params, headers=alice.headers), 422)


async def test_pages_neither_repeat_nor_skip_when_attempts_arrive_between_them(
    client: httpx.AsyncClient, alice: Account, make_challenge: MakeChallenge, make_attempt: MakeAttempt
) -> None:
    challenge = await make_challenge()
    now = utcnow()
    same_moment = now - timedelta(hours=5)
    originals = [await make_attempt(alice.user, challenge, occurred_at=now - timedelta(hours=h)) for h in (1, 2, 3, 4)]
    # Two attempts at the very same moment: the id breaks the tie.
    originals += [await make_attempt(alice.user, challenge, occurred_at=same_moment) for _ in range(3)]

    seen: list[str] = []
    cursor = None
    pages = 0
    while True:
        params = {"limit": "2", **({"cursor": cursor} if cursor else {})}
        page = (await client.get(ATTEMPTS, params=params, headers=alice.headers)).json()
        seen += [item["id"] for item in page["items"]]
        pages += 1
        if pages == 1:
            # A fresh attempt and one logged offline for yesterday arrive mid-way.
            await client.post(
                ATTEMPTS,
                json={"challenge_id": str(challenge.id), "outcome": "avoided", "distress_before": 5},
                headers=alice.headers,
            )
        cursor = page["next_cursor"]
        if cursor is None:
            break
    original_ids = [str(a.id) for a in originals]
    assert len(seen) == len(set(seen))
    assert [i for i in seen if i in original_ids] == [
        str(a.id) for a in sorted(originals, key=lambda a: (a.occurred_at, str(a.id)), reverse=True)
    ]
    assert set(original_ids) <= set(seen)


# --- one attempt: read, correct, delete -----------------------------------------------


async def test_correct_an_attempt(
    client: httpx.AsyncClient, session: AsyncSession, alice: Account, make_challenge: MakeChallenge
) -> None:
    challenge = await make_challenge()
    logged = (await client.post(ATTEMPTS, json=attempt_body(challenge), headers=alice.headers)).json()
    moment = (utcnow() - timedelta(days=1)).replace(microsecond=0)
    response = await client.patch(
        f"{ATTEMPTS}/{logged['id']}",
        json={"distress_after": 10, "notes": None, "occurred_at": rfc3339(moment), "outcome": "partial"},
        headers=alice.headers,
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert (body["distress_after"], body["notes"], body["outcome"]) == (10, None, "partial")
    assert parse(body["occurred_at"]) == moment
    assert parse(body["updated_at"]) >= parse(logged["updated_at"])
    unchanged = {
        "id",
        "challenge_id",
        "distress_before",
        "distress_peak",
        "expected_rejection",
        "difficulty",
        "category",
        "created_at",
    }
    assert {k: body[k] for k in unchanged} == {k: logged[k] for k in unchanged}
    assert (await stored(session, logged["id"])).distress_after == 10


async def test_correction_to_avoided_may_drop_the_peak(
    client: httpx.AsyncClient, alice: Account, make_challenge: MakeChallenge
) -> None:
    challenge = await make_challenge()
    logged = (await client.post(ATTEMPTS, json=attempt_body(challenge), headers=alice.headers)).json()
    response = await client.patch(
        f"{ATTEMPTS}/{logged['id']}", json={"outcome": "avoided", "distress_peak": None}, headers=alice.headers
    )
    assert response.status_code == 200, response.text
    assert response.json()["distress_peak"] is None


@pytest.mark.parametrize(
    ("start", "change"),
    [
        ({"outcome": "avoided", "distress_peak": None}, {"outcome": "rejected"}),
        ({}, {"distress_peak": None}),
        ({}, {"outcome": None}),
        ({}, {"distress_before": None}),
        ({}, {"occurred_at": None}),
        ({}, {"distress_before": 101}),
        ({}, {"distress_peak": 60.5}),
        ({}, {"expected_rejection": 2**64}),
        ({}, {"notes": "x" * 4001}),
        ({}, {"notes": "a\x00b"}),
        ({}, {"occurred_at": "2026-01-01T00:00:00"}),
        ({}, {"occurred_at": "2999-01-01T00:00:00Z"}),
        ({}, {"outcome": "maybe"}),
        ({}, {"challenge_id": str(uuid.uuid4())}),
        ({}, {"difficulty": 9}),
        ({}, {"category": "social"}),
        ({}, {"user_id": str(uuid.uuid4())}),
        ({}, {"id": str(uuid.uuid4())}),
    ],
    ids=[
        "avoided to rejected without a peak",
        "clearing the peak of a rejection",
        "null outcome",
        "null distress_before",
        "null occurred_at",
        "distress above 100",
        "fractional distress",
        "huge integer",
        "notes too long",
        "NUL in notes",
        "naive time",
        "future time",
        "unknown outcome",
        "challenge_id",
        "difficulty",
        "category",
        "user_id",
        "id",
    ],
)
async def test_bad_correction_answers_422_and_changes_nothing(
    client: httpx.AsyncClient,
    alice: Account,
    make_challenge: MakeChallenge,
    start: dict[str, Any],
    change: dict[str, Any],
) -> None:
    challenge = await make_challenge()
    logged = (await client.post(ATTEMPTS, json=attempt_body(challenge, **start), headers=alice.headers)).json()
    response = await client.patch(f"{ATTEMPTS}/{logged['id']}", json=change, headers=alice.headers)
    assert assert_problem(response, 422)["errors"]
    assert (await client.get(f"{ATTEMPTS}/{logged['id']}", headers=alice.headers)).json() == logged


async def test_delete_an_attempt(
    client: httpx.AsyncClient,
    session: AsyncSession,
    alice: Account,
    make_challenge: MakeChallenge,
    make_attempt: MakeAttempt,
) -> None:
    challenge = await make_challenge()
    kept = await make_attempt(alice.user, challenge)
    gone = await make_attempt(alice.user, challenge)
    response = await client.delete(f"{ATTEMPTS}/{gone.id}", headers=alice.headers)
    assert response.status_code == 204
    assert_problem(await client.get(f"{ATTEMPTS}/{gone.id}", headers=alice.headers), 404)
    assert_problem(await client.delete(f"{ATTEMPTS}/{gone.id}", headers=alice.headers), 404)
    assert await session.scalar(select(Attempt.id)) == kept.id


async def test_another_users_attempt_is_not_found_on_every_verb(
    client: httpx.AsyncClient,
    alice: Account,
    bob: Account,
    make_challenge: MakeChallenge,
) -> None:
    challenge = await make_challenge()
    logged = (await client.post(ATTEMPTS, json=attempt_body(challenge), headers=alice.headers)).json()
    url = f"{ATTEMPTS}/{logged['id']}"
    nowhere = f"{ATTEMPTS}/{uuid.uuid4()}"
    for method, kwargs in (("GET", {}), ("PATCH", {"json": {"notes": "mine now"}}), ("DELETE", {})):
        theirs = await client.request(method, url, headers=bob.headers, **kwargs)
        missing = await client.request(method, nowhere, headers=bob.headers, **kwargs)
        assert assert_problem(theirs, 404) == assert_problem(missing, 404)
        assert "bakery" not in theirs.text
    assert (await client.get(f"{ATTEMPTS}", params={"challenge_id": str(challenge.id)}, headers=bob.headers)).json()[
        "items"
    ] == []
    assert (await client.get(url, headers=alice.headers)).json() == logged


async def test_malformed_attempt_id_answers_422(client: httpx.AsyncClient, alice: Account) -> None:
    for method in ("GET", "PATCH", "DELETE"):
        response = await client.request(
            method, f"{ATTEMPTS}/12345", headers=alice.headers, json={} if method == "PATCH" else None
        )
        assert_problem(response, 422)


def test_the_api_and_the_database_know_the_same_outcomes() -> None:
    assert get_args(Outcome.__value__) == OUTCOMES
