"""The practice loop's own data: the user's fear ladder and their pauses."""

import uuid
from datetime import date, timedelta

from sqlalchemy import Select, delete, func, insert, literal, select, tuple_
from sqlalchemy.ext.asyncio import AsyncSession

from app.accounts.models import User
from app.catalog.models import Challenge
from app.catalog.rules import loggable_by
from app.core.db import day_number, local_date_in
from app.core.errors import InvalidInput, NotFound
from app.core.models import utcnow
from app.core.schemas import decode_cursor, encode_cursor, invalid_cursor
from app.progress import retest
from app.progress.models import LadderStep, Pause
from app.progress.practice_schemas import (
    MAX_PAUSES,
    PAUSE_HORIZON_DAYS,
    LadderPublic,
    LadderStepPublic,
    LadderUpdate,
    PauseCreate,
)

PAUSE_NOT_FOUND = "No pause with that id."


async def lock_user(session: AsyncSession, user_id: uuid.UUID) -> None:
    """Serialise this user's writes to their ladder and pauses until the transaction ends.

    On PostgreSQL the user's row is locked FOR NO KEY UPDATE, which still lets attempts (whose foreign key takes
    FOR KEY SHARE) be logged meanwhile; SQLite serialises every writer anyway (BEGIN IMMEDIATE).
    """
    await session.execute(select(User.id).where(User.id == user_id).with_for_update(key_share=True))


# --- the ladder ------------------------------------------------------------------------------


async def read_ladder(session: AsyncSession, user: User) -> LadderPublic:
    rows = (
        await session.execute(
            select(LadderStep, Challenge)
            .join(Challenge, Challenge.id == LadderStep.challenge_id)
            .where(LadderStep.user_id == user.id)
            .order_by(LadderStep.position)
        )
    ).all()
    done = await retest.mastered(session, user.id, [step.challenge_id for step, _ in rows]) if rows else {}
    return LadderPublic(
        steps=[
            LadderStepPublic(
                position=step.position,
                challenge_id=step.challenge_id,
                anticipated_distress=step.anticipated_distress,
                title=challenge.title,
                category=challenge.category_slug,
                difficulty=challenge.difficulty,
                mastered=step.challenge_id in done,
            )
            for step, challenge in rows
        ]
    )


async def replace_ladder(session: AsyncSession, user: User, data: LadderUpdate) -> LadderPublic:
    """The whole ladder replaced in one transaction: concurrent replacements leave one of them, never a mix."""
    ids = [step.challenge_id for step in data.steps]
    seen: set[uuid.UUID] = set()
    for index, challenge_id in enumerate(ids):
        if challenge_id in seen:
            raise InvalidInput(
                "This challenge is already a step of the ladder; each challenge appears once.",
                loc=("body", "steps", index, "challenge_id"),
                error_type="duplicate_step",
            )
        seen.add(challenge_id)
    if ids:
        loggable = set(await session.scalars(select(Challenge.id).where(Challenge.id.in_(ids), loggable_by(user.id))))
        for index, challenge_id in enumerate(ids):
            if challenge_id not in loggable:
                # One answer for unknown, unpublished and other people's challenges, as POST /attempts gives.
                raise InvalidInput(
                    "No challenge with that id that you can log.",
                    loc=("body", "steps", index, "challenge_id"),
                    error_type="challenge_not_found",
                )
    await lock_user(session, user.id)
    await session.execute(delete(LadderStep).where(LadderStep.user_id == user.id))
    if data.steps:
        await session.execute(
            insert(LadderStep),
            [
                {
                    "user_id": user.id,
                    "position": position,
                    "challenge_id": step.challenge_id,
                    "anticipated_distress": step.anticipated_distress,
                }
                for position, step in enumerate(data.steps, start=1)
            ],
        )
    return await read_ladder(session, user)


async def ladder_challenges(session: AsyncSession, user_id: uuid.UUID) -> list[uuid.UUID]:
    """The ladder's challenges in climbing order."""
    return list(
        await session.scalars(
            select(LadderStep.challenge_id).where(LadderStep.user_id == user_id).order_by(LadderStep.position)
        )
    )


# --- pauses ----------------------------------------------------------------------------------


def _invalid(field: str, msg: str, error_type: str = "value_error") -> InvalidInput:
    return InvalidInput(msg, loc=("body", field), error_type=error_type)


async def create_pause(session: AsyncSession, user: User, data: PauseCreate) -> Pause:
    today = local_date_in(utcnow(), user.timezone)
    horizon = timedelta(days=PAUSE_HORIZON_DAYS)
    for field in ("start_date", "end_date"):
        if abs(getattr(data, field) - today) > horizon:
            raise _invalid(field, f"must lie within {PAUSE_HORIZON_DAYS} days of today ({today.isoformat()})")
    # Checked and stored under the user's lock, so two overlapping pauses sent at once cannot both pass.
    await lock_user(session, user.id)
    overlapping = await session.scalar(
        select(Pause.id).where(
            Pause.user_id == user.id, Pause.start_date <= data.end_date, Pause.end_date >= data.start_date
        )
    )
    if overlapping is not None:
        raise _invalid("start_date", f"overlaps your pause {overlapping}; change or delete that one", "overlapping")
    count = await session.scalar(select(func.count()).select_from(Pause).where(Pause.user_id == user.id))
    if count is not None and count >= MAX_PAUSES:
        raise _invalid("start_date", f"you have {MAX_PAUSES} pauses, the most there can be: delete old ones first")
    pause = Pause(user_id=user.id, start_date=data.start_date, end_date=data.end_date, reason=data.reason)
    session.add(pause)
    await session.flush()
    return pause


async def list_pauses(
    session: AsyncSession, user: User, *, limit: int, cursor: str | None
) -> tuple[list[Pause], str | None]:
    """The user's pauses by `start_date` (then id), a page at a time."""
    query = select(Pause).where(Pause.user_id == user.id)
    if cursor is not None:
        start, pause_id = decode_cursor(cursor, 2)
        try:
            after = tuple_(
                literal(date.fromisoformat(start), Pause.start_date.type), literal(uuid.UUID(pause_id), Pause.id.type)
            )
        except (TypeError, ValueError, AttributeError):
            raise invalid_cursor() from None
        query = query.where(tuple_(Pause.start_date, Pause.id) > after)
    rows = list(await session.scalars(query.order_by(Pause.start_date, Pause.id).limit(limit + 1)))
    if len(rows) <= limit:
        return rows, None
    rows = rows[:limit]
    return rows, encode_cursor([rows[-1].start_date.isoformat(), str(rows[-1].id)])


async def delete_pause(session: AsyncSession, user: User, pause_id: uuid.UUID) -> None:
    result = await session.execute(delete(Pause).where(Pause.id == pause_id, Pause.user_id == user.id))
    if result.rowcount == 0:  # type: ignore[attr-defined]
        raise NotFound(PAUSE_NOT_FOUND)


def pauses_query(user_id: retest.UserId) -> Select[int, int]:
    """The user's pauses as (first day, last day) ordinals, for the trend's streak (a few hundred at most)."""
    return select(day_number(Pause.start_date).label("first_day"), day_number(Pause.end_date).label("last_day")).where(
        Pause.user_id == user_id
    )
