import re
import secrets
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

from sqlalchemy import Select, delete, func, or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm.exc import StaleDataError

from app.accounts.models import User
from app.catalog.models import Category, Challenge, ChallengeStatus
from app.catalog.rules import listed_for, readable_by
from app.catalog.schemas import (
    AdminChallengeCreate,
    AdminChallengeUpdate,
    CategoryCreate,
    CategoryUpdate,
    ChallengeCreate,
    ChallengeUpdate,
)
from app.core.errors import Conflict, Forbidden, InvalidInput, NotFound, PreconditionFailed
from app.core.pagination import paginate

# `If-Match` as parsed by the router: "*" or the opaque strong entity tags listed.
IfMatch = Literal["*"] | list[str]

PAGE_KEYS = (Challenge.difficulty, Challenge.title, Challenge.id)


@dataclass(frozen=True)
class ChallengeFilters:
    category: str | None = None
    difficulty_min: int | None = None
    difficulty_max: int | None = None
    q: str | None = None
    status: ChallengeStatus | None = None
    is_custom: bool | None = None


def invalid_field(loc: tuple[str | int, ...], msg: str, kind: str) -> InvalidInput:
    """A 422 for checks that need the database."""
    return InvalidInput(msg, loc=loc, error_type=kind)


def etag(challenge: Challenge) -> str:
    return f'"{challenge.version}"'


# --- categories ---------------------------------------------------------------


async def list_categories(session: AsyncSession) -> Sequence[Category]:
    return (await session.scalars(select(Category).order_by(Category.name, Category.slug))).all()


async def create_category(session: AsyncSession, data: CategoryCreate) -> Category:
    category = Category(slug=data.slug, name=data.name, description=data.description)
    try:
        async with session.begin_nested():
            session.add(category)
    except IntegrityError:
        raise Conflict(f"A category with slug '{data.slug}' already exists.") from None
    return category


async def update_category(session: AsyncSession, slug: str, data: CategoryUpdate) -> Category:
    category = await session.get(Category, slug)
    if category is None:
        raise NotFound("No category with that slug.")
    apply_changes(category, data.model_dump(exclude_unset=True))
    await session.flush()
    return category


async def _require_category(session: AsyncSession, slug: str) -> None:
    if await session.get(Category, slug) is None:
        raise invalid_field(
            ("body", "category"),
            f"unknown category '{slug}'; see GET /api/v1/categories",
            "unknown_category",
        )


# --- shared -------------------------------------------------------------------


def apply_changes(row: Category | Challenge, values: dict[str, Any]) -> bool:
    """Set the values that differ and tell whether any did; equal values write nothing, so no version bump."""
    changed = False
    for field, value in values.items():
        attribute = "category_slug" if field == "category" else field
        if getattr(row, attribute) != value:
            setattr(row, attribute, value)
            changed = True
    return changed


async def save_changes(session: AsyncSession, challenge: Challenge, values: dict[str, Any]) -> bool:
    """Apply `values` and write them at once; True when anything changed.

    The changes are made inside the savepoint because entering one flushes: a
    change made before it would fail outside the savepoint and spoil the request's
    transaction instead of answering 409 or 412.
    """
    try:
        async with session.begin_nested():
            return apply_changes(challenge, values)
    except StaleDataError:
        raise PreconditionFailed("Another change to this challenge was saved first; read it again.") from None
    except IntegrityError:
        raise Conflict(f"The slug '{values.get('slug')}' is taken by another challenge.") from None


def _apply_filters(query: Select[Challenge], filters: ChallengeFilters) -> Select[Challenge]:
    if filters.category is not None:
        query = query.where(Challenge.category_slug == filters.category)
    if filters.difficulty_min is not None:
        query = query.where(Challenge.difficulty >= filters.difficulty_min)
    if filters.difficulty_max is not None:
        query = query.where(Challenge.difficulty <= filters.difficulty_max)
    if filters.status is not None:
        query = query.where(Challenge.status == filters.status)
    if filters.is_custom is not None:
        query = query.where(Challenge.owner_id.is_not(None) if filters.is_custom else Challenge.owner_id.is_(None))
    if filters.q:
        # autoescape: a user's `%` or `_` is a character, not a wildcard. lower() on both
        # sides makes it case-insensitive on SQLite and PostgreSQL alike.
        needle = filters.q.lower()
        query = query.where(
            or_(
                func.lower(Challenge.title).contains(needle, autoescape=True),
                func.lower(Challenge.description).contains(needle, autoescape=True),
            )
        )
    return query


async def _remove_or_archive(session: AsyncSession, challenge: Challenge) -> bool:
    """Delete the challenge, or archive it when attempts refer to it; True when archived.

    The DELETE itself asks: the attempts' foreign key refuses it when any refer to the
    challenge, even one logged a moment ago. The savepoint keeps the refusal from spoiling
    the request's transaction, so the challenge can be archived instead.
    """
    try:
        async with session.begin_nested():
            await session.execute(delete(Challenge).where(Challenge.id == challenge.id))
    except IntegrityError:
        await save_changes(session, challenge, {"status": ChallengeStatus.ARCHIVED})
        return True
    return False


# --- the catalog as users see it ------------------------------------------------


async def list_challenges(
    session: AsyncSession, user: User, filters: ChallengeFilters, limit: int, cursor: str | None
) -> tuple[list[Challenge], str | None]:
    query = _apply_filters(select(Challenge).where(listed_for(user.id)), filters)
    return await paginate(session, query, PAGE_KEYS, limit=limit, cursor=cursor)


async def get_challenge(session: AsyncSession, user: User, challenge_id: uuid.UUID) -> Challenge:
    """The challenge, if the user may read it (see `readable_by`); else 404, whether it exists or not."""
    challenge = await session.scalar(select(Challenge).where(Challenge.id == challenge_id, readable_by(user.id)))
    if challenge is None:
        raise NotFound("No challenge with that id.")
    return challenge


async def _own_challenge(session: AsyncSession, user: User, challenge_id: uuid.UUID) -> Challenge:
    challenge = await get_challenge(session, user, challenge_id)
    if challenge.owner_id != user.id:
        raise Forbidden("Catalog challenges are curated by admins; create a custom challenge to change one.")
    return challenge


def custom_slug(title: str) -> str:
    base = re.sub(r"[^a-z0-9]+", "-", title.lower()).strip("-")[:60].strip("-")
    suffix = secrets.token_hex(4)
    return f"custom-{base}-{suffix}" if base else f"custom-{suffix}"


async def create_custom_challenge(session: AsyncSession, user: User, data: ChallengeCreate) -> Challenge:
    await _require_category(session, data.category)
    challenge = Challenge(
        slug=custom_slug(data.title),
        title=data.title,
        description=data.description,
        category_slug=data.category,
        difficulty=data.difficulty,
        tips=data.tips,
        status=ChallengeStatus.PUBLISHED,
        owner_id=user.id,
    )
    session.add(challenge)
    await session.flush()
    return challenge


async def update_custom_challenge(
    session: AsyncSession, user: User, challenge_id: uuid.UUID, data: ChallengeUpdate
) -> Challenge:
    challenge = await _own_challenge(session, user, challenge_id)
    if data.category is not None:
        await _require_category(session, data.category)
    await save_changes(session, challenge, data.model_dump(exclude_unset=True))
    return challenge


async def delete_custom_challenge(session: AsyncSession, user: User, challenge_id: uuid.UUID) -> Challenge | None:
    """None when removed; the archived challenge when attempts keep it."""
    challenge = await _own_challenge(session, user, challenge_id)
    return challenge if await _remove_or_archive(session, challenge) else None


# --- admin curation -----------------------------------------------------------


def _check_if_match(challenge: Challenge, if_match: IfMatch | None) -> None:
    if if_match is None or if_match == "*":
        return
    if str(challenge.version) not in if_match:
        raise PreconditionFailed(
            f"The challenge changed since you read it: it is now at version {challenge.version} "
            f"(ETag {etag(challenge)}). Read it again, then apply your change."
        )


async def list_catalog(
    session: AsyncSession, filters: ChallengeFilters, limit: int, cursor: str | None
) -> tuple[list[Challenge], str | None]:
    query = _apply_filters(select(Challenge).where(Challenge.owner_id.is_(None)), filters)
    return await paginate(session, query, PAGE_KEYS, limit=limit, cursor=cursor)


async def get_catalog_challenge(session: AsyncSession, challenge_id: uuid.UUID) -> Challenge:
    # Users' custom challenges are private, even from admins.
    challenge = await session.get(Challenge, challenge_id)
    if challenge is None or challenge.owner_id is not None:
        raise NotFound("No catalog challenge with that id.")
    return challenge


async def create_catalog_challenge(session: AsyncSession, data: AdminChallengeCreate) -> Challenge:
    await _require_category(session, data.category)
    challenge = Challenge(
        slug=data.slug,
        title=data.title,
        description=data.description,
        category_slug=data.category,
        difficulty=data.difficulty,
        tips=data.tips,
        status=data.status,
    )
    try:
        async with session.begin_nested():
            session.add(challenge)
    except IntegrityError:
        raise Conflict(f"The slug '{data.slug}' is taken by another challenge.") from None
    return challenge


async def update_catalog_challenge(
    session: AsyncSession, challenge_id: uuid.UUID, data: AdminChallengeUpdate, if_match: IfMatch | None
) -> Challenge:
    challenge = await get_catalog_challenge(session, challenge_id)
    _check_if_match(challenge, if_match)
    if data.category is not None:
        await _require_category(session, data.category)
    # The version read above guards the UPDATE too (version_id_col), so an edit saved
    # between this read and the write still answers 412 instead of being overwritten.
    await save_changes(session, challenge, data.model_dump(exclude_unset=True))
    return challenge


async def delete_catalog_challenge(
    session: AsyncSession, challenge_id: uuid.UUID, if_match: IfMatch | None
) -> Challenge | None:
    """None when removed; the archived challenge when attempts keep it."""
    challenge = await get_catalog_challenge(session, challenge_id)
    _check_if_match(challenge, if_match)
    return challenge if await _remove_or_archive(session, challenge) else None
