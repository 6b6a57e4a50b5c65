import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import Select, and_, delete, literal, or_, select, tuple_
from sqlalchemy.ext.asyncio import AsyncSession

from app.accounts.models import User
from app.attempts.models import Attempt
from app.attempts.service import check_loggable
from app.catalog.models import Challenge
from app.core.errors import Conflict, NotFound
from app.core.schemas import decode_cursor, encode_cursor, invalid_cursor
from app.plans.models import Plan, PlanStatus
from app.plans.schemas import PlanCreate, PlanPublic, PlanUpdate

NOT_FOUND = "No plan with that id."
DONE = "This plan is done: an attempt was logged with it, so what it predicted never changes."


def _public(plan: Plan, attempt_id: uuid.UUID | None) -> PlanPublic:
    fields = {name: getattr(plan, name) for name in PlanPublic.model_fields if name != "attempt_id"}
    return PlanPublic.model_validate(fields | {"attempt_id": attempt_id})


def _own(user: User) -> Select[Plan, uuid.UUID]:
    """The user's plans, each with the attempt that did it (`attempts.plan_id` is unique: at most one)."""
    return (
        select(Plan, Attempt.id.label("attempt_id"))
        .outerjoin(Attempt, Attempt.plan_id == Plan.id)
        .where(Plan.user_id == user.id)
    )


async def create_plan(session: AsyncSession, user: User, data: PlanCreate) -> PlanPublic:
    # The rule attempts follow: a plan is for a challenge the user could log now.
    await check_loggable(session, user.id, data.challenge_id)
    plan = Plan(user_id=user.id, status=PlanStatus.OPEN.value, **data.model_dump())
    session.add(plan)
    await session.flush()
    return _public(plan, None)


# The listing's order: soonest first, plans without a time after those with one, each group by age.
_KEYS = (Plan.planned_for, Plan.created_at, Plan.id)


def _instant(value: Any) -> datetime:
    instant = datetime.fromisoformat(value)
    if instant.tzinfo is None:
        raise ValueError("not an instant")
    return instant


def _after(cursor: str) -> Any:
    """Where the page after the cursor's plan starts, in the listing's order (NULL times last)."""
    raw = decode_cursor(cursor, len(_KEYS))
    try:
        planned_for = None if raw[0] is None else _instant(raw[0])
        created_at, plan_id = _instant(raw[1]), uuid.UUID(raw[2])
    except (TypeError, ValueError, AttributeError):
        raise invalid_cursor() from None
    rest = tuple_(Plan.created_at, Plan.id) > tuple_(
        literal(created_at, Plan.created_at.type), literal(plan_id, Plan.id.type)
    )
    if planned_for is None:
        return and_(Plan.planned_for.is_(None), rest)
    moment = literal(planned_for, Plan.planned_for.type)
    return or_(Plan.planned_for.is_(None), Plan.planned_for > moment, and_(Plan.planned_for == moment, rest))


async def list_plans(
    session: AsyncSession, user: User, *, status: str | None, limit: int, cursor: str | None
) -> tuple[list[PlanPublic], str | None]:
    query = _own(user)
    if status is not None:
        query = query.where(Plan.status == status)
    if cursor is not None:
        query = query.where(_after(cursor))
    query = query.order_by(Plan.planned_for.asc().nulls_last(), Plan.created_at, Plan.id).limit(limit + 1)
    rows = (await session.execute(query)).all()
    page = [_public(plan, attempt_id) for plan, attempt_id in rows[:limit]]
    if len(rows) <= limit:
        return page, None
    last = page[-1]
    planned_for = None if last.planned_for is None else last.planned_for.isoformat()
    return page, encode_cursor([planned_for, last.created_at.isoformat(), str(last.id)])


async def all_plans(session: AsyncSession, user: User) -> list[tuple[PlanPublic, str]]:
    """Every plan of the user, oldest first, each with its challenge's slug (for the export)."""
    rows = await session.execute(
        _own(user)
        .add_columns(Challenge.slug)
        .join(Challenge, Challenge.id == Plan.challenge_id)
        .order_by(Plan.created_at, Plan.id)
    )
    return [(_public(plan, attempt_id), slug) for plan, attempt_id, slug in rows]


async def _plan(
    session: AsyncSession, user: User, plan_id: uuid.UUID, *, lock: bool = False
) -> tuple[Plan, uuid.UUID | None]:
    query = _own(user).where(Plan.id == plan_id)
    if lock:
        # Against an attempt completing the plan at the same time (PostgreSQL; SQLite writes one at a time).
        query = query.with_for_update(of=Plan)
    row = (await session.execute(query)).first()
    if row is None:
        raise NotFound(NOT_FOUND)
    return row[0], row[1]


async def get_plan(session: AsyncSession, user: User, plan_id: uuid.UUID) -> PlanPublic:
    return _public(*await _plan(session, user, plan_id))


async def update_plan(session: AsyncSession, user: User, plan_id: uuid.UUID, data: PlanUpdate) -> PlanPublic:
    plan, attempt_id = await _plan(session, user, plan_id, lock=True)
    changes = {
        name: value for name, value in data.model_dump(exclude_unset=True).items() if getattr(plan, name) != value
    }
    if changes and plan.status == PlanStatus.DONE.value:
        raise Conflict(DONE)
    for name, value in changes.items():
        setattr(plan, name, value)
    await session.flush()
    return _public(plan, attempt_id)


async def delete_plan(session: AsyncSession, user: User, plan_id: uuid.UUID) -> None:
    """Remove a plan; an attempt logged with it stays, with its prediction, and no longer names it."""
    result = await session.execute(delete(Plan).where(Plan.id == plan_id, Plan.user_id == user.id).returning(Plan.id))
    if result.first() is None:
        raise NotFound(NOT_FOUND)
