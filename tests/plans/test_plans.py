"""Plans through the API: making, listing, reading, moving, cancelling and deleting them, and their rules."""

import uuid
from datetime import datetime, timedelta
from typing import Any

import httpx
import pytest

from app.catalog.models import Challenge
from app.core.models import utcnow
from tests.attempts.test_attempts import assert_problem
from tests.catalog.test_catalog import ACCESS_CASES, Access, make_case
from tests.conftest import Account, MakeChallenge

PLANS = "/api/v1/plans"
ATTEMPTS = "/api/v1/attempts"
PLAN_FIELDS = {
    "id",
    "challenge_id",
    "planned_for",
    "expected_outcome",
    "expected_rejection",
    "expected_distress_peak",
    "status",
    "attempt_id",
    "created_at",
    "updated_at",
}


def plan_body(challenge: Challenge, **fields: Any) -> dict[str, Any]:
    return {
        "challenge_id": str(challenge.id),
        "planned_for": (utcnow() + timedelta(days=1)).isoformat(),
        "expected_outcome": "They will laugh at me.",
        "expected_rejection": 80,
        "expected_distress_peak": 70,
        **fields,
    }


async def make_plan(client: httpx.AsyncClient, account: Account, challenge: Challenge, **fields: Any) -> dict[str, Any]:
    response = await client.post(PLANS, json=plan_body(challenge, **fields), headers=account.headers)
    assert response.status_code == 201, response.text
    plan: dict[str, Any] = response.json()
    return plan


async def log_with(client: httpx.AsyncClient, account: Account, plan: dict[str, Any], **fields: Any) -> httpx.Response:
    body = {
        "challenge_id": plan["challenge_id"],
        "plan_id": plan["id"],
        "outcome": "rejected",
        "distress_before": 50,
        "distress_peak": 60,
        **fields,
    }
    return await client.post(ATTEMPTS, json=body, headers=account.headers)


def at(moment: datetime) -> str:
    return moment.isoformat()


# --- making and reading ----------------------------------------------------------------------------------


async def test_a_plan_is_made_and_read_back(
    client: httpx.AsyncClient, alice: Account, make_challenge: MakeChallenge
) -> None:
    challenge = await make_challenge()
    before = utcnow()
    response = await client.post(
        PLANS, json=plan_body(challenge, planned_for="2026-12-24T18:30:00+02:00"), headers=alice.headers
    )
    assert response.status_code == 201, response.text
    plan = response.json()
    assert set(plan) == PLAN_FIELDS
    assert plan["challenge_id"] == str(challenge.id)
    assert plan["planned_for"] == "2026-12-24T16:30:00Z"
    assert (plan["expected_outcome"], plan["expected_rejection"], plan["expected_distress_peak"]) == (
        "They will laugh at me.",
        80,
        70,
    )
    assert (plan["status"], plan["attempt_id"]) == ("open", None)
    assert before <= datetime.fromisoformat(plan["created_at"]) <= utcnow()
    assert response.headers["location"] == f"http://test{PLANS}/{plan['id']}"
    read = await client.get(response.headers["location"], headers=alice.headers)
    assert (read.status_code, read.json()) == (200, plan)


async def test_only_the_challenge_and_the_expected_rejection_are_required(
    client: httpx.AsyncClient, alice: Account, make_challenge: MakeChallenge
) -> None:
    challenge = await make_challenge()
    body = {"challenge_id": str(challenge.id), "expected_rejection": 0}
    plan = (await client.post(PLANS, json=body, headers=alice.headers)).json()
    assert (plan["planned_for"], plan["expected_outcome"], plan["expected_distress_peak"]) == (None, None, None)
    assert plan["expected_rejection"] == 0
    missing = await client.post(PLANS, json={"challenge_id": str(challenge.id)}, headers=alice.headers)
    assert assert_problem(missing, 422)["errors"][0]["loc"] == ["body", "expected_rejection"]


@pytest.mark.parametrize("rule", ACCESS_CASES)
async def test_a_plan_takes_the_challenges_an_attempt_takes(
    client: httpx.AsyncClient, alice: Account, bob: Account, make_challenge: MakeChallenge, rule: Access
) -> None:
    challenge = await make_case(make_challenge, rule, alice, bob)
    response = await client.post(PLANS, json=plan_body(challenge), headers=alice.headers)
    if rule.log:
        assert response.status_code == 201, response.text
    else:
        error = assert_problem(response, 422)["errors"][0]
        assert (error["loc"], error["type"]) == (["body", "challenge_id"], "challenge_not_found")


async def test_an_unknown_challenge_is_refused_like_an_invisible_one(client: httpx.AsyncClient, alice: Account) -> None:
    body = {"challenge_id": str(uuid.uuid4()), "expected_rejection": 50}
    response = await client.post(PLANS, json=body, headers=alice.headers)
    assert assert_problem(response, 422)["errors"][0]["type"] == "challenge_not_found"


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("expected_rejection", 101),
        ("expected_rejection", -1),
        ("expected_rejection", 50.5),
        ("expected_rejection", "50"),
        ("expected_rejection", True),
        ("expected_rejection", 10**30),
        ("expected_distress_peak", 10**30),
        ("expected_outcome", "x" * 1001),
        ("expected_outcome", "nul \x00 byte"),
        ("planned_for", "1999-12-31T23:59:59Z"),
        ("planned_for", "2026-05-01T12:00:00"),
        ("planned_for", 1767225600),
        ("planned_for", "9999-12-31T23:59:59-23:59"),
        ("status", "done"),
        ("attempt_id", str(uuid.uuid4())),
    ],
)
async def test_bad_plans_are_refused(
    client: httpx.AsyncClient, alice: Account, make_challenge: MakeChallenge, field: str, value: Any
) -> None:
    challenge = await make_challenge()
    response = await client.post(PLANS, json=plan_body(challenge, **{field: value}), headers=alice.headers)
    problem = assert_problem(response, 422)
    assert problem["errors"][0]["loc"][:2] == ["body", field]
    assert "\x00" not in response.text


async def test_planned_for_lies_at_most_a_year_ahead(
    client: httpx.AsyncClient, alice: Account, make_challenge: MakeChallenge
) -> None:
    challenge = await make_challenge()
    in_a_year = await client.post(
        PLANS, json=plan_body(challenge, planned_for=at(utcnow() + timedelta(days=365))), headers=alice.headers
    )
    assert in_a_year.status_code == 201, in_a_year.text
    too_far = await client.post(
        PLANS, json=plan_body(challenge, planned_for=at(utcnow() + timedelta(days=367))), headers=alice.headers
    )
    assert_problem(too_far, 422)
    # A plan for an hour ago is fine: the user may still go, or is writing down one they forgot.
    past = await client.post(
        PLANS, json=plan_body(challenge, planned_for=at(utcnow() - timedelta(hours=1))), headers=alice.headers
    )
    assert past.status_code == 201
    assert past.json()["status"] == "open"


async def test_expected_outcome_keeps_lines_and_tabs(
    client: httpx.AsyncClient, alice: Account, make_challenge: MakeChallenge
) -> None:
    challenge = await make_challenge()
    plan = await make_plan(client, alice, challenge, expected_outcome="They say no.\n\tThen I leave.")
    assert plan["expected_outcome"] == "They say no.\n\tThen I leave."


# --- listing -----------------------------------------------------------------------------------------------


async def test_plans_are_listed_soonest_first_and_timeless_ones_last(
    client: httpx.AsyncClient, alice: Account, bob: Account, make_challenge: MakeChallenge
) -> None:
    challenge = await make_challenge()
    now = utcnow()
    timeless_first = await make_plan(client, alice, challenge, planned_for=None)
    later = await make_plan(client, alice, challenge, planned_for=at(now + timedelta(days=3)))
    overdue = await make_plan(client, alice, challenge, planned_for=at(now - timedelta(days=2)))
    soon = await make_plan(client, alice, challenge, planned_for=at(now + timedelta(hours=2)))
    same_time = await make_plan(client, alice, challenge, planned_for=later["planned_for"])
    timeless_second = await make_plan(client, alice, challenge, planned_for=None)
    await make_plan(client, bob, challenge)
    expected = [overdue, soon, later, same_time, timeless_first, timeless_second]

    listed = await client.get(PLANS, headers=alice.headers)
    assert listed.status_code == 200
    assert [p["id"] for p in listed.json()["items"]] == [p["id"] for p in expected]
    assert listed.json()["next_cursor"] is None

    # Paging one at a time walks the same order, across the boundary to the plans without a time.
    seen, cursor = [], None
    while True:
        params: dict[str, Any] = {"limit": 1} | ({"cursor": cursor} if cursor else {})
        page = (await client.get(PLANS, params=params, headers=alice.headers)).json()
        seen += [p["id"] for p in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == [p["id"] for p in expected]


async def test_plans_are_filtered_by_status(
    client: httpx.AsyncClient, alice: Account, make_challenge: MakeChallenge
) -> None:
    challenge = await make_challenge()
    open_plan = await make_plan(client, alice, challenge)
    cancelled = await make_plan(client, alice, challenge)
    done = await make_plan(client, alice, challenge)
    assert (
        await client.patch(f"{PLANS}/{cancelled['id']}", json={"status": "cancelled"}, headers=alice.headers)
    ).status_code == 200
    assert (await log_with(client, alice, done)).status_code == 201
    for status, plan in (("open", open_plan), ("cancelled", cancelled), ("done", done)):
        listed = await client.get(PLANS, params={"status": status}, headers=alice.headers)
        assert [p["id"] for p in listed.json()["items"]] == [plan["id"]], status
    everything = await client.get(PLANS, headers=alice.headers)
    assert len(everything.json()["items"]) == 3
    unknown = await client.get(PLANS, params={"status": "later"}, headers=alice.headers)
    assert_problem(unknown, 422)


@pytest.mark.parametrize("cursor", ["not-a-cursor", "WyJ4Il0", "WzEsMiwzXQ", "W251bGwsIjIwMjYiLCJ4Il0"])
async def test_a_bad_cursor_is_refused(client: httpx.AsyncClient, alice: Account, cursor: str) -> None:
    response = await client.get(PLANS, params={"cursor": cursor}, headers=alice.headers)
    assert assert_problem(response, 422)["errors"][0]["loc"] == ["query", "cursor"]


# --- changing -----------------------------------------------------------------------------------------------


async def test_an_open_plan_is_moved_changed_and_cleared(
    client: httpx.AsyncClient, alice: Account, make_challenge: MakeChallenge
) -> None:
    challenge = await make_challenge()
    plan = await make_plan(client, alice, challenge)
    url = f"{PLANS}/{plan['id']}"
    moved = await client.patch(url, json={"planned_for": "2026-12-30T09:00:00+01:00"}, headers=alice.headers)
    assert moved.status_code == 200, moved.text
    assert moved.json()["planned_for"] == "2026-12-30T08:00:00Z"
    assert moved.json()["expected_outcome"] == plan["expected_outcome"]
    assert moved.json()["updated_at"] >= plan["updated_at"]
    changed = await client.patch(
        url, json={"expected_outcome": "They say no, kindly.", "expected_distress_peak": 40}, headers=alice.headers
    )
    assert (changed.json()["expected_outcome"], changed.json()["expected_distress_peak"]) == (
        "They say no, kindly.",
        40,
    )
    cleared = await client.patch(
        url, json={"planned_for": None, "expected_outcome": None, "expected_distress_peak": None}, headers=alice.headers
    )
    assert (cleared.json()["planned_for"], cleared.json()["expected_outcome"]) == (None, None)
    assert cleared.json()["expected_distress_peak"] is None
    assert (await client.get(url, headers=alice.headers)).json() == cleared.json()


@pytest.mark.parametrize(
    "body",
    [
        {"expected_rejection": 10},
        {"challenge_id": str(uuid.uuid4())},
        {"status": "done"},
        {"status": None},
        {"attempt_id": str(uuid.uuid4())},
        {"expected_outcome": "nul \x00"},
        {"planned_for": "1999-01-01T00:00:00Z"},
    ],
)
async def test_what_a_patch_cannot_do(
    client: httpx.AsyncClient, alice: Account, make_challenge: MakeChallenge, body: dict[str, Any]
) -> None:
    challenge = await make_challenge()
    plan = await make_plan(client, alice, challenge)
    response = await client.patch(f"{PLANS}/{plan['id']}", json=body, headers=alice.headers)
    assert_problem(response, 422)
    assert (await client.get(f"{PLANS}/{plan['id']}", headers=alice.headers)).json() == plan


async def test_a_plan_is_cancelled_and_taken_up_again(
    client: httpx.AsyncClient, alice: Account, make_challenge: MakeChallenge
) -> None:
    challenge = await make_challenge()
    plan = await make_plan(client, alice, challenge)
    url = f"{PLANS}/{plan['id']}"
    cancelled = await client.patch(url, json={"status": "cancelled"}, headers=alice.headers)
    assert cancelled.json()["status"] == "cancelled"
    # A cancelled plan cannot be done, until it is open again.
    refused = await log_with(client, alice, plan)
    assert_problem(refused, 409)
    reopened = await client.patch(url, json={"status": "open"}, headers=alice.headers)
    assert reopened.json()["status"] == "open"
    assert (await log_with(client, alice, plan)).status_code == 201


async def test_a_done_plan_never_changes(
    client: httpx.AsyncClient, alice: Account, make_challenge: MakeChallenge
) -> None:
    challenge = await make_challenge()
    plan = await make_plan(client, alice, challenge)
    logged = await log_with(client, alice, plan)
    assert logged.status_code == 201
    url = f"{PLANS}/{plan['id']}"
    done = (await client.get(url, headers=alice.headers)).json()
    assert (done["status"], done["attempt_id"]) == ("done", logged.json()["id"])
    for body in (
        {"expected_outcome": "It went fine."},
        {"expected_outcome": None},
        {"expected_distress_peak": 10},
        {"planned_for": at(utcnow())},
        {"status": "cancelled"},
        {"status": "open", "expected_distress_peak": 1},
    ):
        response = await client.patch(url, json=body, headers=alice.headers)
        assert_problem(response, 409)
    # Sending what it already holds changes nothing, so it is no conflict.
    unchanged = await client.patch(url, json={"expected_distress_peak": 70}, headers=alice.headers)
    assert (unchanged.status_code, unchanged.json()) == (200, done)
    assert (await client.get(url, headers=alice.headers)).json() == done


# --- deleting and other people's plans ---------------------------------------------------------------------


async def test_a_deleted_plan_is_gone_and_its_attempt_stays(
    client: httpx.AsyncClient, alice: Account, make_challenge: MakeChallenge
) -> None:
    challenge = await make_challenge()
    plan = await make_plan(client, alice, challenge)
    attempt = (await log_with(client, alice, plan)).json()
    url = f"{PLANS}/{plan['id']}"
    assert (await client.delete(url, headers=alice.headers)).status_code == 204
    assert_problem(await client.get(url, headers=alice.headers), 404)
    assert_problem(await client.delete(url, headers=alice.headers), 404)
    kept = (await client.get(f"{ATTEMPTS}/{attempt['id']}", headers=alice.headers)).json()
    assert kept["plan_id"] is None
    assert (kept["expected_rejection"], kept["predicted_at"]) == (80, attempt["predicted_at"])
    open_plan = await make_plan(client, alice, challenge)
    assert (await client.delete(f"{PLANS}/{open_plan['id']}", headers=alice.headers)).status_code == 204


async def test_another_users_plan_is_404_on_every_verb(
    client: httpx.AsyncClient, alice: Account, bob: Account, make_challenge: MakeChallenge
) -> None:
    challenge = await make_challenge()
    plan = await make_plan(client, alice, challenge)
    url = f"{PLANS}/{plan['id']}"
    for method, body in (("GET", None), ("PATCH", {"status": "cancelled"}), ("DELETE", None)):
        response = await client.request(method, url, json=body, headers=bob.headers)
        assert_problem(response, 404)
    assert (await client.get(PLANS, headers=bob.headers)).json()["items"] == []
    assert (await client.get(url, headers=alice.headers)).json() == plan
