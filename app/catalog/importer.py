"""Bulk import (API and CLI) and the seeded catalog shipped as package data."""

import json
import re
from collections.abc import Sequence
from dataclasses import dataclass
from importlib import resources
from typing import Any, Literal, TypeVar

from pydantic import ValidationError
from sqlalchemy import exists, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm.exc import StaleDataError

from app.catalog.models import Category, Challenge, ChallengeStatus
from app.catalog.schemas import (
    SLUG_PATTERN,
    CategoryCreate,
    ChallengeImportItem,
    ImportIssue,
    ImportRejection,
    ImportResult,
)
from app.catalog.service import apply_changes

SEED_PACKAGE = "app.catalog"
SEED_FILE = ("data", "catalog.json")


def load_seed_data() -> dict[str, Any]:
    """The shipped catalog: `{"categories": [...], "challenges": [...]}`."""
    source = resources.files(SEED_PACKAGE).joinpath(*SEED_FILE)
    data: dict[str, Any] = json.loads(source.read_text(encoding="utf-8"))
    return data


def split_import_document(document: Any) -> tuple[list[Any], list[Any]]:
    """(categories, challenges) from a list of challenges or a `{categories, challenges}` object."""
    if isinstance(document, list):
        return [], document
    if isinstance(document, dict) and isinstance(document.get("challenges"), list):
        unknown = set(document) - {"categories", "challenges"}
        if unknown:
            raise TypeError(f"unknown top-level keys: {', '.join(sorted(unknown))}")
        categories = document.get("categories", [])
        if not isinstance(categories, list):
            raise TypeError("`categories` must be a list")
        return categories, document["challenges"]
    raise TypeError('expected a JSON list of challenges or an object {"categories": [...], "challenges": [...]}')


def _slug_of(raw: Any) -> str | None:
    slug = raw.get("slug") if isinstance(raw, dict) else None
    if isinstance(slug, str) and len(slug) <= 100 and re.fullmatch(SLUG_PATTERN, slug):
        return slug
    return None


def _issues(exc: ValidationError) -> list[ImportIssue]:
    # No `input`: the rejected value is not echoed back.
    return [
        ImportIssue(loc=list(err["loc"]), msg=err["msg"], type=err["type"])
        for err in exc.errors(include_url=False, include_context=False, include_input=False)
    ]


Outcome = Literal["created", "updated", "unchanged", "conflict"]


@dataclass
class _Tally:
    created: int = 0
    updated: int = 0
    unchanged: int = 0

    def count(self, outcome: Outcome, index: int, slug: str, rejected: list[ImportRejection]) -> None:
        if outcome == "conflict":
            msg = "was changed by someone else meanwhile; import again"
            issue = ImportIssue(loc=["slug"], msg=msg, type="conflict")
            rejected.append(ImportRejection(index=index, slug=slug, errors=[issue]))
        else:
            setattr(self, outcome, getattr(self, outcome) + 1)

    def result(self, rejected: list[ImportRejection]) -> ImportResult:
        return ImportResult(created=self.created, updated=self.updated, unchanged=self.unchanged, rejected=rejected)


M = TypeVar("M", CategoryCreate, ChallengeImportItem)


def _parse(model: type[M], items: Sequence[Any], rejected: list[ImportRejection]) -> list[tuple[int, M]]:
    """Validate each item on its own; a duplicate slug within one import is refused after its first use."""
    parsed: list[tuple[int, M]] = []
    seen: set[str] = set()
    for index, raw in enumerate(items):
        slug = _slug_of(raw)
        if not isinstance(raw, dict):
            issue = ImportIssue(loc=[], msg="must be a JSON object", type="model_type")
            rejected.append(ImportRejection(index=index, slug=None, errors=[issue]))
            continue
        try:
            item = model.model_validate(raw)
        except ValidationError as exc:
            rejected.append(ImportRejection(index=index, slug=slug, errors=_issues(exc)))
            continue
        if slug in seen:
            issue = ImportIssue(loc=["slug"], msg="appears more than once in this import", type="duplicate_slug")
            rejected.append(ImportRejection(index=index, slug=slug, errors=[issue]))
            continue
        if slug is not None:
            seen.add(slug)
        parsed.append((index, item))
    return parsed


async def import_categories(
    session: AsyncSession, items: Sequence[Any], *, update_existing: bool = True
) -> ImportResult:
    """Upsert categories by slug; with `update_existing=False` existing ones are left alone."""
    rejected: list[ImportRejection] = []
    tally = _Tally()
    parsed = _parse(CategoryCreate, items, rejected)
    slugs = [item.slug for _, item in parsed]
    existing = {c.slug: c for c in await session.scalars(select(Category).where(Category.slug.in_(slugs)))}
    for index, item in parsed:
        category = existing.get(item.slug)
        if category is None:
            row = Category(slug=item.slug, name=item.name, description=item.description)
            outcome = await _insert(session, row, update_existing=update_existing)
        elif update_existing and apply_changes(category, {"name": item.name, "description": item.description}):
            await session.flush()
            outcome = "updated"
        else:
            outcome = "unchanged"
        tally.count(outcome, index, item.slug, rejected)
    rejected.sort(key=lambda r: r.index)
    return tally.result(rejected)


async def import_challenges(
    session: AsyncSession, items: Sequence[Any], *, update_existing: bool = True
) -> ImportResult:
    """Upsert catalog challenges by slug, each item on its own: good ones are stored, bad ones reported.

    An item identical to what is stored writes nothing (no version bump), so
    importing the same list twice changes nothing. With `update_existing=False`
    (seeding) existing challenges are left as the admins made them.
    """
    rejected: list[ImportRejection] = []
    tally = _Tally()
    parsed = _parse(ChallengeImportItem, items, rejected)
    categories = set(await session.scalars(select(Category.slug)))
    slugs = [item.slug for _, item in parsed]
    existing = {c.slug: c for c in await session.scalars(select(Challenge).where(Challenge.slug.in_(slugs)))}
    for index, item in parsed:
        if item.category not in categories:
            msg = f"unknown category '{item.category}'; create it first (POST /api/v1/admin/categories)"
            issue = ImportIssue(loc=["category"], msg=msg, type="unknown_category")
            rejected.append(ImportRejection(index=index, slug=item.slug, errors=[issue]))
            continue
        challenge = existing.get(item.slug)
        if challenge is not None and challenge.owner_id is not None:
            issue = ImportIssue(loc=["slug"], msg="is taken by a user's custom challenge", type="slug_taken")
            rejected.append(ImportRejection(index=index, slug=item.slug, errors=[issue]))
            continue
        values = item.model_dump(exclude={"slug", "status"})
        if challenge is None:
            row = Challenge(slug=item.slug, status=item.status or ChallengeStatus.PUBLISHED, **_columns(values))
            outcome = await _insert(session, row, update_existing=update_existing)
        elif update_existing:
            outcome = await _update(session, challenge, values | ({"status": item.status} if item.status else {}))
        else:
            outcome = "unchanged"
        tally.count(outcome, index, item.slug, rejected)
    rejected.sort(key=lambda r: r.index)
    return tally.result(rejected)


async def _insert(session: AsyncSession, row: Category | Challenge, *, update_existing: bool) -> Outcome:
    try:
        async with session.begin_nested():
            session.add(row)
    except IntegrityError:
        # Created by a concurrent import or seed since we looked. Seeding (create-only)
        # wanted exactly that row to exist; an upsert cannot know which version wins.
        return "conflict" if update_existing else "unchanged"
    return "created"


async def _update(session: AsyncSession, challenge: Challenge, values: dict[str, Any]) -> Outcome:
    # Changed inside the savepoint: entering one flushes (see service.save_changes).
    try:
        async with session.begin_nested():
            changed = apply_changes(challenge, values)
    except (IntegrityError, StaleDataError):
        return "conflict"
    return "updated" if changed else "unchanged"


def _columns(values: dict[str, Any]) -> dict[str, Any]:
    return {("category_slug" if key == "category" else key): value for key, value in values.items()}


def describe_rejections(result: ImportResult) -> list[str]:
    """One line per rejected item, for a terminal."""
    lines = []
    for rejection in result.rejected:
        reasons = "; ".join(
            f"{'.'.join(map(str, issue.loc))}: {issue.msg}" if issue.loc else issue.msg for issue in rejection.errors
        )
        name = f" ({rejection.slug})" if rejection.slug else ""
        lines.append(f"item {rejection.index}{name}: {reasons}")
    return lines


@dataclass(frozen=True)
class SeedResult:
    categories: ImportResult
    challenges: ImportResult

    def summary(self) -> str:
        return (
            f"Seeded the catalog: {self.categories.created} categories and {self.challenges.created} challenges "
            f"created; {self.categories.unchanged} categories and {self.challenges.unchanged} challenges "
            "were already there and were left as they are."
        )


async def seed_catalog(session: AsyncSession) -> SeedResult:
    """Add the shipped categories and challenges that are missing, by slug; never changes existing ones."""
    categories, challenges = split_import_document(load_seed_data())
    category_result = await import_categories(session, categories, update_existing=False)
    challenge_result = await import_challenges(session, challenges, update_existing=False)
    problems = describe_rejections(category_result) + describe_rejections(challenge_result)
    if problems:
        raise ValueError("the shipped catalog has invalid items: " + "; ".join(problems))
    return SeedResult(category_result, challenge_result)


async def seed_if_empty(session: AsyncSession) -> SeedResult | None:
    """Seed when the catalog has no challenges at all (a new database); None when it has some."""
    if await session.scalar(select(exists().where(Challenge.owner_id.is_(None)))):
        return None
    return await seed_catalog(session)
