import functools
import hashlib
import json
import time
import uuid
from collections import OrderedDict
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, TypeVar, cast

from sqlalchemy import (
    BindParameter,
    ColumnElement,
    Delete,
    Select,
    Table,
    bindparam,
    delete,
    exists,
    func,
    literal,
    select,
    update,
)
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from app.accounts.models import User
from app.attempts.models import Attempt, IdempotencyRecord
from app.attempts.schemas import PEAK_REQUIRED, AttemptCreate, AttemptPublic, AttemptUpdate, Outcome, peak_missing
from app.catalog.models import Challenge
from app.catalog.rules import loggable_by
from app.core.db import conflict_insert, local_date, local_date_in
from app.core.errors import AppError, Conflict, InvalidInput, NotFound, Unauthorized
from app.core.models import utcnow
from app.core.pagination import paginate
from app.core.schemas import check_window
from app.plans.models import Plan, PlanStatus

# The contract promises at least a day; a retry after that logs the attempt again.
IDEMPOTENCY_RETENTION = timedelta(hours=24)

NOT_FOUND = "No attempt with that id."
KEY_REUSED = "This Idempotency-Key was already used for a different request; use a new key for a new attempt."
ID_TAKEN = "An attempt with this id already exists and differs from this request; make a new id for a new attempt."
RACE = "A concurrent change got in the way; send the request again."
PLAN_NOT_FOUND = "No plan with that id of yours."
PLAN_CHALLENGE = "The plan is for another challenge: send the plan's `challenge_id`."
PLAN_PREDICTION = "The plan's `expected_rejection` differs: leave it out, and the attempt takes the plan's."
PLAN_NOT_OPEN = "This plan is not open: it is done (logged with another attempt) or cancelled."
PLANNED_PREDICTION = (
    "This attempt was logged with a plan, whose prediction was written down before the ask: it cannot change."
)


def _invalid(field: str, msg: str, error_type: str) -> InvalidInput:
    return InvalidInput(msg, loc=("body", field), error_type=error_type)


def request_hash(data: AttemptCreate) -> str:
    """A digest of the request as understood: key order, spacing and time offsets do not count."""
    canonical = json.dumps(data.model_dump(mode="json"), sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()


def _loggable(user_id: Any, challenge_id: Any) -> ColumnElement[bool]:
    """The challenge `challenge_id`, if the user may log it: the catalog's rule (`loggable_by`) decides."""
    loggable: ColumnElement[bool] = (Challenge.id == challenge_id) & loggable_by(user_id)
    return loggable


async def check_loggable(session: AsyncSession, user_id: uuid.UUID, challenge_id: uuid.UUID) -> None:
    """422 `challenge_not_found` unless the user may log (or plan) an attempt at the challenge."""
    if await session.scalar(select(Challenge.id).where(_loggable(user_id, challenge_id))) is None:
        # One answer for unknown, unpublished and other people's challenges, so none can be told apart.
        raise _invalid("challenge_id", "No challenge with that id that you can log.", "challenge_not_found")


async def _replay_by_key(session: AsyncSession, user_id: uuid.UUID, key: str, digest: str) -> AttemptPublic | None:
    record = await session.get(IdempotencyRecord, (user_id, key), populate_existing=True)
    if record is None:
        return None
    if record.request_hash != digest:
        raise Conflict(KEY_REUSED)
    return AttemptPublic.model_validate(record.response_body)


async def _replay_by_id(
    session: AsyncSession, user_id: uuid.UUID, attempt_id: uuid.UUID, digest: str
) -> Attempt | None:
    attempt = await session.get(Attempt, attempt_id, populate_existing=True)
    if attempt is None:
        return None
    # Someone else's attempt gets the same answer as a different body: nothing tells them it is not theirs.
    if attempt.user_id != user_id or attempt.request_hash != digest:
        raise Conflict(ID_TAKEN)
    return attempt


async def _replay(
    session: AsyncSession, user_id: uuid.UUID, data: AttemptCreate, key: str | None, digest: str
) -> AttemptPublic | None:
    if key is not None and (replayed := await _replay_by_key(session, user_id, key, digest)) is not None:
        return replayed
    if data.id is not None and (attempt := await _replay_by_id(session, user_id, data.id, digest)) is not None:
        public = AttemptPublic.model_validate(attempt)
        if key is not None:
            await _remember(session, user_id, key, digest, public)
        return public
    return None


async def _remember(session: AsyncSession, user_id: uuid.UUID, key: str, digest: str, public: AttemptPublic) -> None:
    """Store the answer under `key`; a concurrent request that stored it first has stored the same answer."""
    statements = _statements(session.get_bind().dialect.name)
    await session.execute(statements.insert_record, _record(user_id, key, digest, public, utcnow()))


def _record(user_id: uuid.UUID, key: str, digest: str, public: AttemptPublic, now: datetime) -> dict[str, Any]:
    return {
        "user_id": user_id,
        "key": key,
        "request_hash": digest,
        "status_code": 201,
        "response_body": public.model_dump(mode="json"),
        "created_at": now,
    }


async def create_attempt(
    session: AsyncSession, user_id: uuid.UUID, data: AttemptCreate, idempotency_key: str | None
) -> tuple[AttemptPublic, bool]:
    """Log an attempt, or answer a replay of an earlier request; the flag says whether it was a replay.

    The common case, a new attempt, takes one INSERT of the attempt (copying the challenge's
    difficulty and category, and only if the challenge is loggable and the key unused) and one
    of the idempotency record, one statement on PostgreSQL: no lookups first, no savepoint.
    Anything else is sorted out after an insert that stored nothing. The statements are built
    once (see _statements): building them per request cost more CPU than the database work.
    Only an attempt with a `plan_id` costs more: the plan is read (and locked) before the insert and
    marked done after it.

    The account is not read first (see `TokenUserId` in app/accounts/dependencies.py): a deleted account's write is
    refused by the foreign key on `user_id`, and answered 401 here.
    """
    try:
        return await _create_attempt(session, user_id, data, idempotency_key)
    except IntegrityError:
        # PostgreSQL has aborted the transaction: a new one asks whether the account is gone.
        await session.rollback()
        if await session.scalar(select(exists().where(User.id == user_id))):
            raise
        raise Unauthorized() from None


async def _create_attempt(
    session: AsyncSession, user_id: uuid.UUID, data: AttemptCreate, idempotency_key: str | None
) -> tuple[AttemptPublic, bool]:
    statements = _statements(session.get_bind().dialect.name)
    digest = request_hash(data)
    now = utcnow()
    if idempotency_key is not None and _purge_due(user_id):
        # Expired keys go when their owner logs with a key: only this user's rows are
        # touched, so concurrent writers never wait on each other's purge.
        await session.execute(statements.purge_keys, {"user_id": user_id, "cutoff": now - IDEMPOTENCY_RETENTION})
    occurred_at = data.occurred_at or now
    # The request's fields, and what the service adds: the columns the INSERT binds (see _bound_columns).
    values = data.model_dump(exclude={"id", "occurred_at"}) | {
        "id": data.id or uuid.uuid4(),
        "occurred_at": occurred_at,
        "user_id": user_id,
        "request_hash": digest,
        "created_at": now,
        "updated_at": now,
        "predicted_at": None if data.expected_rejection is None else entered_prediction_time(now, occurred_at),
    }
    if data.plan_id is not None:
        # The one case with statements before the insert: the plan's prediction, locked until this commits.
        prediction = await _planned_prediction(session, user_id, data, idempotency_key, digest)
        if isinstance(prediction, AttemptPublic):
            return prediction, True
        values |= prediction
    public, recorded = await _insert(session, statements, values, idempotency_key)
    if public is None:
        # Nothing stored: a replay, an id or key already taken, or a challenge this user cannot log.
        replayed = await _replay(session, user_id, data, idempotency_key, digest)
        if replayed is not None:
            return replayed, True
        await check_loggable(session, user_id, data.challenge_id)
        raise Conflict(RACE)
    if not recorded:
        # The primary key of idempotency_records decides between identical requests racing
        # each other: the loser withdraws its attempt and answers the winner's result.
        await session.execute(delete(Attempt).where(Attempt.id == public.id))
        replayed = await _replay(session, user_id, data, idempotency_key, digest)
        if replayed is None:
            raise Conflict(RACE)
        return replayed, True
    if data.plan_id is not None:
        await session.execute(
            update(Plan).where(Plan.id == data.plan_id).values(status=PlanStatus.DONE.value, updated_at=now)
        )
    return public, False


def entered_prediction_time(now: datetime, occurred_at: datetime) -> datetime:
    """When a prediction entered with the attempt counts as written down: now, but never before the ask, since
    whoever enters it with the log (or corrects it afterwards) already knows how it went."""
    return max(now, occurred_at)


async def _planned_prediction(
    session: AsyncSession, user_id: uuid.UUID, data: AttemptCreate, key: str | None, digest: str
) -> dict[str, Any] | AttemptPublic:
    """The columns an attempt takes from its open plan, or the earlier answer when this is a replay (its plan is
    done by then, or deleted). The plan's row stays locked until the attempt commits (PostgreSQL; SQLite writes
    one transaction at a time anyway), so concurrent retries wait and then find the attempt to replay."""
    plan = (
        await session.execute(
            select(Plan.status, Plan.challenge_id, Plan.expected_rejection, Plan.created_at)
            .where(Plan.id == data.plan_id, Plan.user_id == user_id)
            .with_for_update()
        )
    ).first()
    problem: AppError | None = None
    if plan is None:
        problem = _invalid("plan_id", PLAN_NOT_FOUND, "plan_not_found")
    elif plan.challenge_id != data.challenge_id:
        problem = _invalid("challenge_id", PLAN_CHALLENGE, "plan_challenge_mismatch")
    elif data.expected_rejection is not None and data.expected_rejection != plan.expected_rejection:
        problem = _invalid("expected_rejection", PLAN_PREDICTION, "plan_prediction_mismatch")
    elif plan.status != PlanStatus.OPEN.value:
        problem = Conflict(PLAN_NOT_OPEN)
    if problem is not None:
        # A retry of the attempt that completed (or outlived) its plan is answered as a replay, never refused.
        replayed = await _replay(session, user_id, data, key, digest)
        if replayed is not None:
            return replayed
        raise problem
    assert plan is not None
    return {"plan_id": data.plan_id, "expected_rejection": plan.expected_rejection, "predicted_at": plan.created_at}


async def _insert(
    session: AsyncSession, statements: "_Statements", values: dict[str, Any], key: str | None
) -> tuple[AttemptPublic | None, bool]:
    """Insert the attempt and, with a key, its idempotency record: the answer as stored (None when nothing was)
    and whether the record was stored (always, without a key). The one place the dialects differ."""
    if key is None:
        row = (await session.execute(statements.insert_attempt, values)).first()
        return (None if row is None else AttemptPublic.model_validate(row)), True
    if statements.insert_keyed_attempt_and_record is not None:
        row = (await session.execute(statements.insert_keyed_attempt_and_record, values | {"key": key})).first()
        return (None, False) if row is None else (AttemptPublic.model_validate(row), row.recorded)
    row = (await session.execute(statements.insert_keyed_attempt, values | {"key": key})).first()
    if row is None:
        return None, False
    public = AttemptPublic.model_validate(row)
    record = _record(values["user_id"], key, values["request_hash"], public, values["created_at"])
    return public, (await session.execute(statements.insert_record, record)).first() is not None


# The purge is a statement of its own, so it runs at most once an hour per user in each
# process instead of on every request: keys then live between 24 and 25 hours.
PURGE_INTERVAL_SECONDS = 3600.0
_PURGE_MEMORY = 100_000
_last_purge: OrderedDict[uuid.UUID, float] = OrderedDict()


def _purge_due(user_id: uuid.UUID) -> bool:
    now = time.monotonic()
    last = _last_purge.get(user_id)
    if last is not None and now - last < PURGE_INTERVAL_SECONDS:
        return False
    _last_purge[user_id] = now
    _last_purge.move_to_end(user_id)
    if len(_last_purge) > _PURGE_MEMORY:
        _last_purge.popitem(last=False)
    return True


@dataclass(frozen=True)
class _Statements:
    purge_keys: Delete
    insert_attempt: Any
    insert_keyed_attempt: Any
    insert_record: Any
    # PostgreSQL: the keyed attempt and its idempotency record in one statement (one round trip).
    insert_keyed_attempt_and_record: Any | None


# Columns the write path fills from elsewhere than the request: copied from the challenge as it is now,
# and the session day derived from `occurred_at` in the account's time zone. Every other column is bound.
_FROM_CHALLENGE = {"difficulty": Challenge.difficulty, "category": Challenge.category_slug}
_DERIVED = ("local_date",)


def _bound_columns(attempts: Table) -> list[str]:
    return [c.name for c in attempts.c if c.name not in (*_FROM_CHALLENGE, *_DERIVED)]


@functools.cache
def _statements(dialect: str) -> _Statements:
    """The write path's statements for a dialect, with bound parameters named like the columns.

    Core tables, not the ORM entities: a parameter dict with an ORM insert would be an ORM bulk insert.
    """
    attempts, records = cast(Table, Attempt.__table__), cast(Table, IdempotencyRecord.__table__)
    user_id = bindparam("user_id", type_=attempts.c.user_id.type)
    values = {name: bindparam(name, type_=attempts.c[name].type) for name in _bound_columns(attempts)}
    values["user_id"] = user_id
    # The session day in the account's time zone, read by the same statement: a deleted account gives NULL,
    # which the NOT NULL column refuses like the foreign key does.
    zone = select(User.timezone).where(User.id == user_id).scalar_subquery()
    # INSERT … SELECT from the challenge: nothing is stored unless it is loggable by this user.
    source = select(*values.values(), *_FROM_CHALLENGE.values(), local_date(values["occurred_at"], zone)).where(
        _loggable(user_id, values["challenge_id"])
    )
    key_unused = ~exists().where(records.c.user_id == user_id, records.c.key == bindparam("key"))

    def insert_attempt(query: Select[Any]) -> Any:
        return (
            conflict_insert(dialect, attempts)
            .from_select([*values, *_FROM_CHALLENGE, *_DERIVED], query)
            .on_conflict_do_nothing(index_elements=[attempts.c.id])
        )

    # The answer is AttemptPublic's fields of the row as stored; so is the replayed body.
    public = [attempts.c[name] for name in AttemptPublic.model_fields]
    insert_record = conflict_insert(dialect, records).on_conflict_do_nothing()
    keyed_and_recorded = None
    if dialect == "postgresql":
        # The record is built by the database from what the INSERT returns; the outer SELECT says whether
        # it was stored, as the separate record insert's RETURNING does on SQLite.
        inserted = insert_attempt(source.where(key_unused)).returning(*attempts.c).cte("inserted")
        body = func.jsonb_build_object(*(part for c in public for part in (literal(c.name), inserted.c[c.name])))
        recorded = (
            insert_record.from_select(
                ["user_id", "key", "request_hash", "status_code", "response_body", "created_at"],
                select(
                    inserted.c.user_id,
                    bindparam("key", type_=records.c.key.type),
                    inserted.c.request_hash,
                    literal(201, records.c.status_code.type),
                    body.cast(records.c.response_body.type),
                    inserted.c.created_at,
                ),
            )
            .returning(records.c.key)
            .cte("recorded")
        )
        keyed_and_recorded = select(
            *(inserted.c[c.name] for c in public), exists(select(recorded.c.key)).label("recorded")
        )
    return _Statements(
        purge_keys=delete(records).where(records.c.user_id == user_id, records.c.created_at < bindparam("cutoff")),
        insert_attempt=insert_attempt(source).returning(*public),
        insert_keyed_attempt=insert_attempt(source.where(key_unused)).returning(*public),
        insert_record=insert_record.returning(records.c.key),
        insert_keyed_attempt_and_record=keyed_and_recorded,
    )


_Query = TypeVar("_Query", bound=Select[*tuple[Any, ...]])
# An instant, or a parameter that will carry one (for a statement built once and run with many).
Instant = datetime | BindParameter[datetime]


def in_window(query: _Query, since: Instant | None, until: Instant | None) -> _Query:
    """Only attempts at or after `since` and before `until`: consecutive windows never count one twice."""
    if since is not None:
        query = query.where(Attempt.occurred_at >= since)
    if until is not None:
        query = query.where(Attempt.occurred_at < until)
    return query


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
    check_window(since, until)
    query = in_window(_own(user), since, until)
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
    predicted = changes.get("expected_rejection", attempt.expected_rejection) != attempt.expected_rejection
    if predicted and attempt.plan_id is not None:
        raise Conflict(PLANNED_PREDICTION)
    occurred_before = attempt.occurred_at
    for field, value in changes.items():
        setattr(attempt, field, value)
    now = utcnow()
    if predicted:
        attempt.predicted_at = (
            None if attempt.expected_rejection is None else entered_prediction_time(now, attempt.occurred_at)
        )
    elif attempt.predicted_at is not None and attempt.predicted_at >= occurred_before:
        # A prediction written down after the ask stays so when the ask's time is corrected to a later one.
        attempt.predicted_at = max(attempt.predicted_at, attempt.occurred_at)
    if "occurred_at" in changes:
        # A corrected time moves the attempt to the session of that time in the account's zone now.
        attempt.local_date = local_date_in(attempt.occurred_at, user.timezone)
    await session.flush()
    return attempt


async def delete_attempt(session: AsyncSession, user: User, attempt_id: uuid.UUID) -> None:
    """Delete one of the user's attempts; the plan it completed is open again, to be done another time."""
    result = await session.execute(
        delete(Attempt).where(Attempt.id == attempt_id, Attempt.user_id == user.id).returning(Attempt.plan_id)
    )
    row = result.first()
    if row is None:
        raise NotFound(NOT_FOUND)
    if row.plan_id is not None:
        await session.execute(
            update(Plan)
            .where(Plan.id == row.plan_id, Plan.status == PlanStatus.DONE.value)
            .values(status=PlanStatus.OPEN.value, updated_at=utcnow())
        )
