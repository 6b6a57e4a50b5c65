"""Attempts that carry out a plan: the prediction comes from the plan, made in advance; the plan is done once."""

import uuid
from datetime import datetime, timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.attempts.models import Attempt
from app.core.models import utcnow
from tests.attempts.test_attempts import assert_problem
from tests.conftest import Account, MakeChallenge
from tests.plans.test_plans import PLANS, log_with, make_plan

ATTEMPTS = "/api/v1/attempts"


def parse(value: str) -> datetime:
    return datetime.fromisoformat(value)


async def attempts_of(session: AsyncSession, account: Account) -> int:
    query = select(func.count()).select_from(Attempt).where(Attempt.user_id == account.user.id)
    return await session.scalar(query) or 0


async def plan_of(client: httpx.AsyncClient, account: Account, plan: dict[str, Any]) -> dict[str, Any]:
    read: dict[str, Any] = (await client.get(f"{PLANS}/{plan['id']}", headers=account.headers)).json()
    return read


async def test_an_attempt_with_a_plan_takes_its_prediction_and_completes_it(
    client: httpx.AsyncClient, alice: Account, make_challenge: MakeChallenge
) -> None:
    challenge = await make_challenge()
    plan = await make_plan(client, alice, challenge, expected_rejection=85)
    response = await log_with(client, alice, plan)
    assert response.status_code == 201, response.text
    attempt = response.json()
    assert attempt["plan_id"] == plan["id"]
    assert attempt["expected_rejection"] == 85
    # The prediction was written down when the plan was made, before the ask.
    assert attempt["predicted_at"] == plan["created_at"]
    assert parse(attempt["predicted_at"]) < parse(attempt["occurred_at"])
    done = await plan_of(client, alice, plan)
    assert (done["status"], done["attempt_id"]) == ("done", attempt["id"])
    assert done["expected_rejection"] == 85
    assert (await client.get(f"{ATTEMPTS}/{attempt['id']}", headers=alice.headers)).json() == attempt


async def test_the_same_prediction_in_the_body_is_fine_and_a_different_one_is_refused(
    client: httpx.AsyncClient, session: AsyncSession, alice: Account, make_challenge: MakeChallenge
) -> None:
    challenge = await make_challenge()
    plan = await make_plan(client, alice, challenge, expected_rejection=60)
    differing = await log_with(client, alice, plan, expected_rejection=61)
    error = assert_problem(differing, 422)["errors"][0]
    assert (error["loc"], error["type"]) == (["body", "expected_rejection"], "plan_prediction_mismatch")
    assert (await plan_of(client, alice, plan))["status"] == "open"
    assert await attempts_of(session, alice) == 0
    same = await log_with(client, alice, plan, expected_rejection=60)
    assert same.status_code == 201, same.text
    assert same.json()["expected_rejection"] == 60


async def test_the_plan_must_be_for_the_attempts_challenge(
    client: httpx.AsyncClient, alice: Account, make_challenge: MakeChallenge
) -> None:
    planned, other = await make_challenge(), await make_challenge()
    plan = await make_plan(client, alice, planned)
    response = await log_with(client, alice, plan | {"challenge_id": str(other.id)})
    error = assert_problem(response, 422)["errors"][0]
    assert (error["loc"], error["type"]) == (["body", "challenge_id"], "plan_challenge_mismatch")
    assert (await plan_of(client, alice, plan))["status"] == "open"


async def test_someone_elses_plan_or_an_unknown_one_is_refused_alike(
    client: httpx.AsyncClient, session: AsyncSession, alice: Account, bob: Account, make_challenge: MakeChallenge
) -> None:
    challenge = await make_challenge()
    bobs = await make_plan(client, bob, challenge)
    for plan_id in (bobs["id"], str(uuid.uuid4())):
        response = await log_with(client, alice, bobs | {"id": plan_id})
        error = assert_problem(response, 422)["errors"][0]
        assert (error["loc"], error["type"]) == (["body", "plan_id"], "plan_not_found")
        assert bobs["id"] not in response.text
    assert (await plan_of(client, bob, bobs))["status"] == "open"
    assert await attempts_of(session, alice) == 0


async def test_a_plan_that_is_not_open_answers_409(
    client: httpx.AsyncClient, session: AsyncSession, alice: Account, make_challenge: MakeChallenge
) -> None:
    challenge = await make_challenge()
    plan = await make_plan(client, alice, challenge)
    assert (await log_with(client, alice, plan)).status_code == 201
    # Another attempt (a new id, no key) with the done plan: not a replay.
    again = await log_with(client, alice, plan, distress_before=10)
    assert_problem(again, 409)
    cancelled = await make_plan(client, alice, challenge)
    await client.patch(f"{PLANS}/{cancelled['id']}", json={"status": "cancelled"}, headers=alice.headers)
    assert_problem(await log_with(client, alice, cancelled), 409)
    assert await attempts_of(session, alice) == 1


@pytest.mark.parametrize("retry_by", ["id", "key", "both"])
async def test_a_replayed_attempt_completes_its_plan_once(
    client: httpx.AsyncClient, session: AsyncSession, alice: Account, make_challenge: MakeChallenge, retry_by: str
) -> None:
    """The offline phone: the answer got lost, so the same attempt is sent again (and again)."""
    challenge = await make_challenge()
    plan = await make_plan(client, alice, challenge)
    fields: dict[str, Any] = {} if retry_by == "key" else {"id": str(uuid.uuid4())}
    headers = alice.headers | ({"Idempotency-Key": "offline-1"} if retry_by != "id" else {})
    body = {
        "challenge_id": plan["challenge_id"],
        "plan_id": plan["id"],
        "outcome": "accepted",
        "distress_before": 40,
        "distress_peak": 45,
        "reflection": "Easier than I thought.",
        **fields,
    }
    first = await client.post(ATTEMPTS, json=body, headers=headers)
    assert first.status_code == 201, first.text
    done = await plan_of(client, alice, plan)
    for _ in range(2):
        replay = await client.post(ATTEMPTS, json=body, headers=headers)
        assert (replay.status_code, replay.json()) == (201, first.json()), replay.text
        assert replay.headers["idempotent-replayed"] == "true"
    assert await attempts_of(session, alice) == 1
    assert await plan_of(client, alice, plan) == done
    # The same id or key with another reflection is another request: 409, as for any attempt.
    changed = await client.post(ATTEMPTS, json=body | {"reflection": "Changed my mind."}, headers=headers)
    assert_problem(changed, 409)


async def test_a_replay_still_answers_after_its_plan_was_deleted(
    client: httpx.AsyncClient, alice: Account, make_challenge: MakeChallenge
) -> None:
    challenge = await make_challenge()
    plan = await make_plan(client, alice, challenge)
    attempt_id = str(uuid.uuid4())
    first = await log_with(client, alice, plan, id=attempt_id)
    assert (await client.delete(f"{PLANS}/{plan['id']}", headers=alice.headers)).status_code == 204
    replay = await log_with(client, alice, plan, id=attempt_id)
    assert replay.status_code == 201, replay.text
    assert replay.json()["id"] == first.json()["id"]


async def test_deleting_the_attempt_opens_its_plan_again(
    client: httpx.AsyncClient, alice: Account, make_challenge: MakeChallenge
) -> None:
    challenge = await make_challenge()
    plan = await make_plan(client, alice, challenge)
    attempt = (await log_with(client, alice, plan)).json()
    assert (await client.delete(f"{ATTEMPTS}/{attempt['id']}", headers=alice.headers)).status_code == 204
    reopened = await plan_of(client, alice, plan)
    assert (reopened["status"], reopened["attempt_id"]) == ("open", None)
    relogged = await log_with(client, alice, plan)
    assert relogged.status_code == 201
    assert relogged.json()["predicted_at"] == plan["created_at"]


# --- predicted_at without a plan, and corrections ------------------------------------------------------------


async def test_a_prediction_entered_with_the_log_is_not_made_in_advance(
    client: httpx.AsyncClient, alice: Account, make_challenge: MakeChallenge
) -> None:
    challenge = await make_challenge()
    body = {"challenge_id": str(challenge.id), "outcome": "rejected", "distress_before": 50, "distress_peak": 60}
    before = utcnow()
    now = (await client.post(ATTEMPTS, json=body | {"expected_rejection": 70}, headers=alice.headers)).json()
    assert now["predicted_at"] == now["created_at"]
    assert parse(now["predicted_at"]) >= parse(now["occurred_at"])
    earlier = (before - timedelta(days=2)).isoformat()
    offline = (
        await client.post(
            ATTEMPTS, json=body | {"expected_rejection": 70, "occurred_at": earlier}, headers=alice.headers
        )
    ).json()
    assert offline["predicted_at"] == offline["created_at"]
    soon = (utcnow() + timedelta(minutes=4)).isoformat()
    ahead = (
        await client.post(ATTEMPTS, json=body | {"expected_rejection": 70, "occurred_at": soon}, headers=alice.headers)
    ).json()
    # A phone clock running fast: the prediction still does not count as made before the ask.
    assert ahead["predicted_at"] == ahead["occurred_at"]
    none = (await client.post(ATTEMPTS, json=body, headers=alice.headers)).json()
    assert none["predicted_at"] is None


async def test_patching_the_prediction_stamps_it_now_and_clearing_it_clears_the_time(
    client: httpx.AsyncClient, alice: Account, make_challenge: MakeChallenge
) -> None:
    challenge = await make_challenge()
    earlier = (utcnow() - timedelta(days=1)).isoformat()
    body = {"challenge_id": str(challenge.id), "outcome": "rejected", "distress_before": 50, "distress_peak": 60}
    attempt = (await client.post(ATTEMPTS, json=body | {"occurred_at": earlier}, headers=alice.headers)).json()
    assert attempt["predicted_at"] is None
    url = f"{ATTEMPTS}/{attempt['id']}"
    before = utcnow()
    predicted = (await client.patch(url, json={"expected_rejection": 40}, headers=alice.headers)).json()
    assert before <= parse(predicted["predicted_at"]) <= utcnow()
    untouched = (
        await client.patch(url, json={"notes": "later", "expected_rejection": 40}, headers=alice.headers)
    ).json()
    assert untouched["predicted_at"] == predicted["predicted_at"]
    changed = (await client.patch(url, json={"expected_rejection": 45}, headers=alice.headers)).json()
    assert changed["predicted_at"] >= predicted["predicted_at"]
    cleared = (await client.patch(url, json={"expected_rejection": None}, headers=alice.headers)).json()
    assert (cleared["expected_rejection"], cleared["predicted_at"]) == (None, None)


async def test_moving_the_ask_later_never_makes_a_prediction_made_afterwards_one_made_in_advance(
    client: httpx.AsyncClient, alice: Account, make_challenge: MakeChallenge
) -> None:
    challenge = await make_challenge()
    body = {"challenge_id": str(challenge.id), "outcome": "rejected", "distress_before": 50, "distress_peak": 60}
    attempt = (await client.post(ATTEMPTS, json=body | {"expected_rejection": 70}, headers=alice.headers)).json()
    later = (utcnow() + timedelta(minutes=4)).isoformat()
    moved = (
        await client.patch(f"{ATTEMPTS}/{attempt['id']}", json={"occurred_at": later}, headers=alice.headers)
    ).json()
    assert moved["predicted_at"] == moved["occurred_at"]


async def test_a_planned_prediction_cannot_be_patched_but_everything_else_can(
    client: httpx.AsyncClient, alice: Account, make_challenge: MakeChallenge
) -> None:
    challenge = await make_challenge()
    plan = await make_plan(client, alice, challenge, expected_rejection=75)
    attempt = (await log_with(client, alice, plan)).json()
    url = f"{ATTEMPTS}/{attempt['id']}"
    for value in (74, None):
        assert_problem(await client.patch(url, json={"expected_rejection": value}, headers=alice.headers), 409)
    same = await client.patch(url, json={"expected_rejection": 75, "surprise": 80}, headers=alice.headers)
    assert same.status_code == 200, same.text
    earlier = (parse(attempt["occurred_at"]) - timedelta(minutes=10)).isoformat()
    moved = (await client.patch(url, json={"occurred_at": earlier}, headers=alice.headers)).json()
    # The plan's time stands, though it now lies after the corrected ask (so no longer counts as in advance).
    assert moved["predicted_at"] == plan["created_at"]
    assert_problem(await client.patch(url, json={"plan_id": None}, headers=alice.headers), 422)
