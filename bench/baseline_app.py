"""The baseline: the least a FastAPI app on our stack can do to store an attempt.

No auth, no validation beyond the body's types, no idempotency, no middleware: one
INSERT of the same `attempts` row through async SQLAlchemy and asyncpg, with the
same pool settings as the service. Its throughput is the practical ceiling the
service's figures are divided by in bench/RESULTS.md.

    DATABASE_URL=postgresql+asyncpg://postgres@127.0.0.1:5432/rt_bench_baseline \
        .venv/bin/uvicorn bench.baseline_app:app --workers 2 --port 8100

The database holds the tables made by `Base.metadata.create_all` (bench/run.py does
it) and at least one user and one challenge; the row goes to the first of each.
"""

import os
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime

from fastapi import FastAPI
from pydantic import BaseModel
from sqlalchemy import insert, select

from app.accounts.models import User
from app.attempts.models import Attempt
from app.catalog.models import Challenge
from app.core.db import create_engine


class Body(BaseModel):
    challenge_id: uuid.UUID
    outcome: str
    distress_before: int
    distress_peak: int | None = None
    distress_after: int | None = None
    expected_rejection: int | None = None


class Created(BaseModel):
    id: uuid.UUID


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    engine = create_engine(os.environ["DATABASE_URL"])
    async with engine.connect() as conn:
        app.state.user_id = await conn.scalar(select(User.id).limit(1))
        challenge = (await conn.execute(select(Challenge.difficulty, Challenge.category_slug).limit(1))).one()
    app.state.difficulty, app.state.category = challenge
    app.state.engine = engine
    yield
    await engine.dispose()


app = FastAPI(lifespan=lifespan)


@app.post("/attempts", status_code=201)
async def create_attempt(body: Body) -> Created:
    attempt_id = uuid.uuid4()
    now = datetime.now(UTC)
    async with app.state.engine.begin() as conn:
        await conn.execute(
            insert(Attempt).values(
                id=attempt_id,
                user_id=app.state.user_id,
                challenge_id=body.challenge_id,
                occurred_at=now,
                local_date=now.date(),  # the baseline's user is in UTC
                outcome=body.outcome,
                distress_before=body.distress_before,
                distress_peak=body.distress_peak,
                distress_after=body.distress_after,
                expected_rejection=body.expected_rejection,
                difficulty=app.state.difficulty,
                category=app.state.category,
                request_hash="baseline",
                created_at=now,
                updated_at=now,
            )
        )
    return Created(id=attempt_id)
