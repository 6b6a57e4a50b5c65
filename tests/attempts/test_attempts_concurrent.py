"""Identical requests racing each other store one row: real commits on separate connections."""

import asyncio
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from sqlalchemy import delete, func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from app.accounts.models import User
from app.attempts.models import Attempt, IdempotencyRecord
from app.catalog.models import Category, Challenge
from app.core.config import Settings
from app.core.db import create_sessionmaker
from app.core.security import create_access_token
from app.main import create_app

pytestmark = pytest.mark.concurrent

RACERS = 8


@dataclass
class Racer:
    client: httpx.AsyncClient
    headers: dict[str, str]
    challenge_id: uuid.UUID
    user_id: uuid.UUID


@pytest.fixture
async def racer(engine: AsyncEngine, settings: Settings) -> AsyncIterator[Racer]:
    """A committed user with a custom challenge, and a client on an app whose every request commits for real.

    Everything is named uniquely and removed afterwards, so the rolled-back tests never see it.
    """
    sessionmaker = create_sessionmaker(engine)
    suffix = uuid.uuid4().hex[:10]
    async with sessionmaker() as session:
        user = User(email=f"racer-{suffix}@example.com", password_hash="-", timezone="UTC")
        session.add(user)
        category = Category(slug=f"race-{suffix}", name="Race", description="")
        session.add(category)
        await session.flush()
        challenge = Challenge(
            slug=f"race-{suffix}",
            title="Ask twice at once",
            description="-",
            category_slug=category.slug,
            difficulty=2,
            status="published",
            owner_id=user.id,
        )
        session.add(challenge)
        await session.commit()
    token, _ = create_access_token(user.id, settings)
    app = create_app(settings, sessionmaker=sessionmaker)
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    try:
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            yield Racer(client, {"Authorization": f"Bearer {token}"}, challenge.id, user.id)
    finally:
        # The user's attempts, records and custom challenge go with the user (ON DELETE CASCADE).
        async with sessionmaker.begin() as session:
            await session.execute(delete(User).where(User.id == user.id))
            await session.execute(delete(Category).where(Category.slug == category.slug))


async def _fire(racer: Racer, body: dict[str, Any], headers: dict[str, str]) -> list[httpx.Response]:
    return await asyncio.gather(
        *(racer.client.post("/api/v1/attempts", json=body, headers={**racer.headers, **headers}) for _ in range(RACERS))
    )


async def _rows(engine: AsyncEngine, racer: Racer) -> tuple[int, int]:
    async with engine.connect() as conn:
        attempts = await conn.scalar(select(func.count()).select_from(Attempt).where(Attempt.user_id == racer.user_id))
        records = await conn.scalar(
            select(func.count()).select_from(IdempotencyRecord).where(IdempotencyRecord.user_id == racer.user_id)
        )
    return attempts or 0, records or 0


def _body(racer: Racer, **fields: Any) -> dict[str, Any]:
    return {
        "challenge_id": str(racer.challenge_id),
        "outcome": "accepted",
        "distress_before": 40,
        "distress_peak": 50,
        **fields,
    }


async def test_racing_requests_with_one_key_store_one_attempt(engine: AsyncEngine, racer: Racer) -> None:
    responses = await _fire(racer, _body(racer), {"Idempotency-Key": "same-tap-eight-times"})
    assert [r.status_code for r in responses] == [201] * RACERS, [r.text for r in responses]
    assert len({r.text for r in responses}) == 1
    assert sum(r.headers.get("idempotent-replayed") == "true" for r in responses) == RACERS - 1
    assert await _rows(engine, racer) == (1, 1)


async def test_racing_requests_with_one_client_id_store_one_attempt(engine: AsyncEngine, racer: Racer) -> None:
    attempt_id = str(uuid.uuid4())
    responses = await _fire(racer, _body(racer, id=attempt_id), {})
    assert [r.status_code for r in responses] == [201] * RACERS, [r.text for r in responses]
    assert {r.json()["id"] for r in responses} == {attempt_id}
    assert len({r.text for r in responses}) == 1
    assert await _rows(engine, racer) == (1, 0)


async def test_racing_requests_with_one_key_and_different_bodies_store_one(engine: AsyncEngine, racer: Racer) -> None:
    bodies = [_body(racer, distress_before=n) for n in range(RACERS)]
    responses = await asyncio.gather(
        *(
            racer.client.post("/api/v1/attempts", json=body, headers={**racer.headers, "Idempotency-Key": "contested"})
            for body in bodies
        )
    )
    statuses = sorted(r.status_code for r in responses)
    assert statuses == [201] + [409] * (RACERS - 1), [r.text for r in responses]
    assert await _rows(engine, racer) == (1, 1)


async def _plan(racer: Racer) -> dict[str, Any]:
    body = {"challenge_id": str(racer.challenge_id), "expected_rejection": 70}
    response = await racer.client.post("/api/v1/plans", json=body, headers=racer.headers)
    assert response.status_code == 201, response.text
    plan: dict[str, Any] = response.json()
    return plan


@pytest.mark.parametrize("retry_by", ["id", "key"])
async def test_racing_retries_with_a_plan_complete_it_once(engine: AsyncEngine, racer: Racer, retry_by: str) -> None:
    """The offline phone sending the planned attempt again and again: one attempt, the plan done by it."""
    plan = await _plan(racer)
    attempt_id = str(uuid.uuid4())
    fields = {"plan_id": plan["id"]} | ({"id": attempt_id} if retry_by == "id" else {})
    headers = {"Idempotency-Key": "planned-tap"} if retry_by == "key" else {}
    responses = await _fire(racer, _body(racer, **fields), headers)
    assert [r.status_code for r in responses] == [201] * RACERS, [r.text for r in responses]
    assert len({r.text for r in responses}) == 1
    assert sum(r.headers.get("idempotent-replayed") == "true" for r in responses) == RACERS - 1
    assert await _rows(engine, racer) == (1, 1 if retry_by == "key" else 0)
    done = (await racer.client.get(f"/api/v1/plans/{plan['id']}", headers=racer.headers)).json()
    assert (done["status"], done["attempt_id"]) == ("done", responses[0].json()["id"])


async def test_racing_different_attempts_for_one_plan_store_one(engine: AsyncEngine, racer: Racer) -> None:
    plan = await _plan(racer)
    bodies = [_body(racer, plan_id=plan["id"], distress_before=n) for n in range(RACERS)]
    responses = await asyncio.gather(
        *(racer.client.post("/api/v1/attempts", json=body, headers=racer.headers) for body in bodies)
    )
    assert sorted(r.status_code for r in responses) == [201] + [409] * (RACERS - 1), [r.text for r in responses]
    assert await _rows(engine, racer) == (1, 0)
