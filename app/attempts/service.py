import hashlib
import json
import uuid
from datetime import datetime, timedelta

from sqlalchemy import Select, delete, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from app.accounts.models import User
from app.attempts.models import Attempt, IdempotencyRecord
from app.attempts.schemas import PEAK_REQUIRED, AttemptCreate, AttemptPublic, AttemptUpdate, Outcome, peak_missing
from app.catalog.models import Challenge
from app.core.errors import Conflict, InvalidInput, NotFound
from app.core.models import utcnow
from app.core.pagination import paginate

# The contract promises at least a day; a retry after that logs the attempt again.
IDEMPOTENCY_RETENTION = timedelta(hours=24)

NOT_FOUND = "No attempt with that id."
KEY_REUSED = "This Idempotency-Key was already used for a different request; use a new key for a new attempt."
ID_TAKEN = "An attempt with this id already exists and differs from this request; make a new id for a new attempt."


def _invalid(field: str, msg: str, error_type: str) -> InvalidInput:
    return InvalidInput(msg, loc=("body", field), error_type=error_type)


def request_hash(data: AttemptCreate) -> str:
    """A digest of the request as understood: key order, spacing and time offsets do not count."""
    canonical = json.dumps(data.model_dump(mode="json"), sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()


async def _loggable_challenge(session: AsyncSession, user: User, challenge_id: uuid.UUID) -> Challenge:
    challenge = await session.scalar(
        select(Challenge).where(
            Challenge.id == challenge_id,
            ((Challenge.owner_id.is_(None)) & (Challenge.status == "published"))
            | ((Challenge.owner_id == user.id) & (Challenge.status != "archived")),
        )
    )
    if challenge is None:
        # One answer for unknown, unpublished and other people's challenges, so none can be told apart.
        raise _invalid("challenge_id", "No challenge with that id that you can log.", "challenge_not_found")
    return challenge


async def _replay_by_key(session: AsyncSession, user: User, key: str, digest: str) -> AttemptPublic | None:
    record = await session.get(IdempotencyRecord, (user.id, key), populate_existing=True)
    if record is None:
        return None
    if record.request_hash != digest:
        raise Conflict(KEY_REUSED)
    return AttemptPublic.model_validate(record.response_body)


async def _replay_by_id(session: AsyncSession, user: User, attempt_id: uuid.UUID, digest: str) -> Attempt | None:
    attempt = await session.get(Attempt, attempt_id, populate_existing=True)
    if attempt is None:
        return None
    # Someone else's attempt gets the same answer as a different body: nothing tells them it is not theirs.
    if attempt.user_id != user.id or attempt.request_hash != digest:
        raise Conflict(ID_TAKEN)
    return attempt


async def _replay(
    session: AsyncSession, user: User, data: AttemptCreate, key: str | None, digest: str
) -> AttemptPublic | None:
    if key is not None and (replayed := await _replay_by_key(session, user, key, digest)) is not None:
        return replayed
    if data.id is not None and (attempt := await _replay_by_id(session, user, data.id, digest)) is not None:
        public = AttemptPublic.model_validate(attempt)
        if key is not None:
            await _remember(session, user, key, digest, public)
        return public
    return None


async def _remember(session: AsyncSession, user: User, key: str, digest: str, public: AttemptPublic) -> None:
    """Store the answer under `key`; a concurrent request that stored it first has stored the same answer."""
    try:
        async with session.begin_nested():
            session.add(_record(user, key, digest, public))
    except IntegrityError:
        pass


def _record(user: User, key: str, digest: str, public: AttemptPublic) -> IdempotencyRecord:
    return IdempotencyRecord(
        user_id=user.id,
        key=key,
        request_hash=digest,
        status_code=201,
        response_body=public.model_dump(mode="json"),
        created_at=utcnow(),
    )


async def create_attempt(
    session: AsyncSession, user: User, data: AttemptCreate, idempotency_key: str | None
) -> tuple[AttemptPublic, bool]:
    """Log an attempt, or answer a replay of an earlier request; the flag says whether it was a replay."""
    digest = request_hash(data)
    replayed = await _replay(session, user, data, idempotency_key, digest)
    if replayed is not None:
        return replayed, True
    challenge = await _loggable_challenge(session, user, data.challenge_id)
    attempt = Attempt(
        id=data.id or uuid.uuid4(),
        user_id=user.id,
        challenge_id=challenge.id,
        occurred_at=data.occurred_at or utcnow(),
        outcome=data.outcome,
        distress_before=data.distress_before,
        distress_peak=data.distress_peak,
        distress_after=data.distress_after,
        expected_rejection=data.expected_rejection,
        notes=data.notes,
        difficulty=challenge.difficulty,
        category=challenge.category_slug,
        request_hash=digest,
    )
    if idempotency_key is not None:
        # Expired keys go when their owner next logs with a key: only this user's rows are
        # touched, so concurrent writers never wait on each other's purge.
        await session.execute(
            delete(IdempotencyRecord).where(
                IdempotencyRecord.user_id == user.id, IdempotencyRecord.created_at < utcnow() - IDEMPOTENCY_RETENTION
            )
        )
    # The primary keys (attempts.id; idempotency_records (user_id, key)) decide between
    # identical requests racing each other: the loser answers the winner's result.
    try:
        async with session.begin_nested():
            session.add(attempt)
            await session.flush()
            public = AttemptPublic.model_validate(attempt)
            if idempotency_key is not None:
                session.add(_record(user, idempotency_key, digest, public))
    except IntegrityError:
        replayed = await _replay(session, user, data, idempotency_key, digest)
        if replayed is None:
            raise Conflict("A concurrent change got in the way; send the request again.") from None
        return replayed, True
    return public, False


def _own(user: User) -> Select[Attempt]:
    return select(Attempt).where(Attempt.user_id == user.id)


async def list_attempts(
    session: AsyncSession,
    user: User,
    *,
    since: datetime | None,
    until: datetime | None,
    challenge_id: uuid.UUID | None,
    outcome: Outcome | None,
    limit: int,
    cursor: str | None,
) -> tuple[list[Attempt], str | None]:
    if since is not None and until is not None and since > until:
        raise InvalidInput("`since` must not lie after `until`.", loc=("query", "since"))
    query = _own(user)
    if since is not None:
        query = query.where(Attempt.occurred_at >= since)
    if until is not None:
        query = query.where(Attempt.occurred_at < until)
    if challenge_id is not None:
        query = query.where(Attempt.challenge_id == challenge_id)
    if outcome is not None:
        query = query.where(Attempt.outcome == outcome)
    return await paginate(
        session, query, [Attempt.occurred_at, Attempt.id], limit=limit, cursor=cursor, descending=True
    )


async def get_attempt(session: AsyncSession, user: User, attempt_id: uuid.UUID) -> Attempt:
    attempt = await session.scalar(_own(user).where(Attempt.id == attempt_id))
    if attempt is None:
        raise NotFound(NOT_FOUND)
    return attempt


async def update_attempt(session: AsyncSession, user: User, attempt_id: uuid.UUID, data: AttemptUpdate) -> Attempt:
    attempt = await get_attempt(session, user, attempt_id)
    changes = data.model_dump(exclude_unset=True)
    outcome = changes.get("outcome", attempt.outcome)
    peak = changes.get("distress_peak", attempt.distress_peak)
    if peak_missing(outcome, peak):
        raise _invalid("distress_peak", PEAK_REQUIRED, "missing")
    for field, value in changes.items():
        setattr(attempt, field, value)
    await session.flush()
    return attempt


async def delete_attempt(session: AsyncSession, user: User, attempt_id: uuid.UUID) -> None:
    result = await session.execute(
        delete(Attempt).where(Attempt.id == attempt_id, Attempt.user_id == user.id).returning(Attempt.id)
    )
    if result.first() is None:
        raise NotFound(NOT_FOUND)
