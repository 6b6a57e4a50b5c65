"""The answer to a logged attempt, and the replay kept for its key, are AttemptPublic's fields of the row."""

import uuid

import httpx
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app.attempts.models import IdempotencyRecord
from app.attempts.schemas import AttemptPublic
from tests.conftest import Account, MakeChallenge


async def test_the_stored_replay_is_the_answer_with_exactly_the_public_fields(
    client: httpx.AsyncClient, session: AsyncSession, alice: Account, make_challenge: MakeChallenge
) -> None:
    challenge = await make_challenge(difficulty=4)
    body = {
        "challenge_id": str(challenge.id),
        "outcome": "partial",
        "distress_before": 55,
        "distress_peak": 65,
        "notes": "asked twice",
        "occurred_at": "2026-03-01T20:15:00+01:00",
    }
    first = await client.post("/api/v1/attempts", headers=alice.headers | {"Idempotency-Key": "k-7"}, json=body)
    assert first.status_code == 201, first.text
    record = await session.scalar(
        select(IdempotencyRecord)
        .where(IdempotencyRecord.user_id == alice.user.id, IdempotencyRecord.key == "k-7")
        .execution_options(populate_existing=True)
    )
    assert record is not None
    assert set(record.response_body) == set(AttemptPublic.model_fields)
    assert AttemptPublic.model_validate(record.response_body) == AttemptPublic.model_validate(first.json())
    assert (first.json()["difficulty"], first.json()["occurred_at"]) == (4, "2026-03-01T19:15:00Z")
    replay = await client.post("/api/v1/attempts", headers=alice.headers | {"Idempotency-Key": "k-7"}, json=body)
    assert (replay.status_code, replay.json()) == (201, first.json())
    assert uuid.UUID(first.json()["id"])
