"""Your history in: `POST /me/import` reads the files `GET /me/export` writes.

The JSON export (account, custom challenges, attempts) or the attempts CSV is checked whole before
anything is written: every row is validated like `POST /attempts` (`ImportedAttempt` is an
`AttemptCreate`), then checked against the database (the challenge, the id). One bad row and the
answer is 422 listing every bad row, with nothing stored; otherwise every row is upserted by id in the
request's one transaction, so importing the same file again changes nothing.
"""

import csv
import io
import re
import uuid
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from email.message import Message
from typing import Any, Protocol, cast

from pydantic import ValidationError
from sqlalchemy import Table, delete, insert, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from app.accounts import service as accounts
from app.accounts.models import User
from app.accounts.schemas import UserUpdate
from app.attempts.models import Attempt
from app.attempts.schemas import AttemptCreate
from app.attempts.service import request_hash
from app.catalog.models import Category, Challenge, ChallengeStatus
from app.catalog.rules import loggable_by, readable_by
from app.catalog.service import custom_slug
from app.core.db import local_date_in
from app.core.errors import AppError
from app.core.models import utcnow
from app.exports.schemas import (
    MAX_IMPORT_ATTEMPTS,
    MAX_IMPORT_BYTES,
    AccountImportResult,
    ImportCounts,
    ImportDocument,
    ImportedAccount,
    ImportedAttempt,
    ImportedChallenge,
    ImportedLadderStep,
    ImportedPause,
    ImportedPlan,
)
from app.exports.service import CSV_COLUMNS, FORMULA_STARTS, LIST_SEPARATOR
from app.plans.models import Plan
from app.progress import retest
from app.progress.models import LadderStep, Pause
from app.progress.practice import lock_user
from app.progress.practice_schemas import MAX_PAUSES

# Where a row is, as a 422's `loc` names it after `body`: ("attempts", 3) in JSON, ("line", 7) in CSV.
Where = tuple[str | int, ...]

# Columns the CSV export writes that are not the attempt's own: read and ignored.
_DERIVED_COLUMNS = frozenset({"challenge_title"})
_INTEGER_COLUMNS = frozenset(
    {"distress_before", "distress_peak", "distress_after", "expected_rejection", "difficulty", "surprise"}
)
_LIST_COLUMNS = frozenset({"safety_behaviours"})
_INTEGER = re.compile(r"-?[0-9]+")
# Columns a CSV must have: the fields an attempt cannot do without.
_REQUIRED_COLUMNS = tuple(name for name, info in ImportedAttempt.model_fields.items() if info.is_required())
# The attempt's columns that the import compares and writes: what `POST /attempts` takes, but the id (the
# row's key); the rest (difficulty, category, the timestamps) only when the file gives them.
# Not `plan_id`, which is kept only when it names one of the caller's plans (see _link_plans).
_ATTEMPT_FIELDS = tuple(name for name in AttemptCreate.model_fields if name not in ("id", "plan_id"))
_OPTIONAL_FIELDS = ("difficulty", "category", "created_at", "updated_at")
_PLAN_FIELDS = ("planned_for", "expected_outcome", "expected_rejection", "expected_distress_peak", "status")
_CHALLENGE_FIELDS = ("title", "description", "category_slug", "difficulty", "tips", "status")
# IN lists stay far below either database's limit on bound parameters.
_CHUNK = 1000

ID_TAKEN = "This id belongs to an attempt that is not yours: leave `id` out, or make a new one."
CHALLENGE_NOT_FOUND = "No challenge with that id that you can log."
CATEGORY_NOT_FOUND = "No category with that slug."
PLAN_TAKEN = "Another attempt of yours was logged with this plan; a plan is done by one attempt."


class UnsupportedMediaType(AppError):
    status_code, code, detail = 415, "unsupported-media-type", "This route does not take that media type."


class ImportRejected(AppError):
    """A 422 naming every bad row: nothing of the file was stored."""

    status_code, code = 422, "validation-error"
    detail = "Nothing was imported: fix the rows listed in `errors` and send the file again."

    def __init__(self, errors: list[dict[str, Any]]) -> None:
        super().__init__()
        self.errors = errors


def _issue(where: Where, loc: Iterable[str | int], msg: str, error_type: str) -> dict[str, Any]:
    return {"loc": ["body", *where, *loc], "msg": msg, "type": error_type}


def _issues(where: Where, exc: ValidationError) -> list[dict[str, Any]]:
    # Never the offending input: it can be a note.
    return [
        _issue(where, (str(p) if not isinstance(p, int) else p for p in e["loc"]), e["msg"], e["type"])
        for e in exc.errors()
    ]


@dataclass(frozen=True)
class ParsedFile:
    """A file as read: attempts with where each stands, and (JSON only) challenges and account fields."""

    attempts: list[tuple[Where, ImportedAttempt]]
    challenges: list[tuple[Where, ImportedChallenge]] = field(default_factory=list)
    account: ImportedAccount | None = None
    plans: list[tuple[Where, ImportedPlan]] = field(default_factory=list)
    # None: the file says nothing of a ladder, which then stays as it is.
    ladder: list[tuple[Where, ImportedLadderStep]] | None = None
    pauses: list[tuple[Where, ImportedPause]] = field(default_factory=list)


# --- reading ------------------------------------------------------------------------------------------


def read_json(body: bytes) -> ParsedFile:
    try:
        document = ImportDocument.model_validate_json(body)
    except ValidationError as exc:
        raise ImportRejected(_issues((), exc)) from None
    return ParsedFile(
        attempts=[(("attempts", i), a) for i, a in enumerate(document.attempts)],
        challenges=[(("custom_challenges", i), c) for i, c in enumerate(document.custom_challenges)],
        account=document.account,
        plans=[(("plans", i), p) for i, p in enumerate(document.plans)],
        ladder=None if document.ladder is None else [(("ladder", i), s) for i, s in enumerate(document.ladder)],
        pauses=[(("pauses", i), p) for i, p in enumerate(document.pauses)],
    )


def _cell(column: str, text: str) -> Any:
    """A cell as the export wrote it: empty is null, a `'` that guards a formula goes, integers are numbers."""
    if not text:
        return None
    if text[0] == "'" and text[1:].startswith(FORMULA_STARTS):
        text = text[1:]
    if column in _INTEGER_COLUMNS and _INTEGER.fullmatch(text):
        return int(text)
    if column in _LIST_COLUMNS:
        return text.split(LIST_SEPARATOR)
    return text


def _header(row: Sequence[str]) -> list[str]:
    known = set(CSV_COLUMNS)
    problems = [f"unknown column `{name}`" for name in row if name not in known]
    problems += [f"column `{name}` twice" for name in sorted({n for n in row if row.count(n) > 1})]
    problems += [f"no column `{name}`" for name in _REQUIRED_COLUMNS if name not in row]
    if problems:
        message = "; ".join(problems) + ". The first line names the columns: " + ", ".join(CSV_COLUMNS) + "."
        raise ImportRejected([_issue(("line", 1), (), message, "csv_header")])
    return list(row)


def _records(text: str) -> Iterator[tuple[int, list[str]]]:
    """Each record with the line it starts on (a quoted note may span lines); blank lines are skipped."""
    reader = csv.reader(io.StringIO(text, newline=""))
    start = 1
    while True:
        try:
            record = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            raise ImportRejected(
                [_issue(("line", start), (), f"Not CSV as the export writes it: {exc}.", "csv_invalid")]
            ) from None
        if record:
            yield start, record
        start = reader.line_num + 1


def read_csv(body: bytes) -> ParsedFile:
    """The attempts CSV: the export's columns (any order, `challenge_title` ignored, optional ones may be left
    out), quoted as RFC 4180, UTF-8 with or without a byte-order mark."""
    try:
        text = body.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise ImportRejected([_issue((), (), "The file is not UTF-8 text.", "csv_invalid")]) from None
    records = _records(text)
    first = next(records, None)
    if first is None:
        raise ImportRejected([_issue(("line", 1), (), "The file is empty: it needs a header line.", "csv_header")])
    columns = _header(first[1])
    attempts: list[tuple[Where, ImportedAttempt]] = []
    errors: list[dict[str, Any]] = []
    for count, (line, record) in enumerate(records, start=1):
        where: Where = ("line", line)
        if count > MAX_IMPORT_ATTEMPTS:
            message = f"More than {MAX_IMPORT_ATTEMPTS:,} attempts: import them in several files."
            raise ImportRejected([_issue(where, (), message, "too_long")])
        if len(record) != len(columns):
            errors.append(_issue(where, (), f"{len(record)} cells, but the header names {len(columns)}.", "csv_row"))
            continue
        values = {
            column: value
            for column, text in zip(columns, record, strict=True)
            if column not in _DERIVED_COLUMNS and (value := _cell(column, text)) is not None
        }
        try:
            attempts.append((where, ImportedAttempt.model_validate(values)))
        except ValidationError as exc:
            errors.extend(_issues(where, exc))
    if errors:
        raise ImportRejected(errors)
    return ParsedFile(attempts=attempts)


# --- checking and writing -----------------------------------------------------------------------------


def _chunks(values: Sequence[uuid.UUID]) -> Iterator[Sequence[uuid.UUID]]:
    for start in range(0, len(values), _CHUNK):
        yield values[start : start + _CHUNK]


@dataclass
class _Counts:
    created: int = 0
    updated: int = 0
    unchanged: int = 0

    def public(self) -> ImportCounts:
        return ImportCounts(created=self.created, updated=self.updated, unchanged=self.unchanged)


@dataclass
class _Plan:
    """What the checks found: challenges with the id each gets, and the rows that name a missing one."""

    user: User
    errors: list[dict[str, Any]] = field(default_factory=list)
    challenge_ids: dict[uuid.UUID, uuid.UUID] = field(default_factory=dict)  # id in the file -> id stored
    own_challenges: dict[uuid.UUID, Challenge] = field(default_factory=dict)  # stored ids the caller already has
    # difficulty and category, by stored id, of every challenge the attempts may name
    challenge_facts: dict[uuid.UUID, tuple[int, str]] = field(default_factory=dict)

    def renamed(self, challenge_id: uuid.UUID) -> uuid.UUID:
        # Stable, so importing the same file again finds the challenge made the first time.
        return uuid.uuid5(self.user.id, f"challenge:{challenge_id}")


async def _owners(session: AsyncSession, table: Any, ids: Sequence[uuid.UUID], owner: Any) -> dict[uuid.UUID, Any]:
    found: dict[uuid.UUID, Any] = {}
    for chunk in _chunks(ids):
        rows = await session.execute(select(table.id, owner).where(table.id.in_(chunk)))
        found.update((row.id, row[1]) for row in rows)
    return found


async def _plan_challenges(
    session: AsyncSession, plan: _Plan, challenges: list[tuple[Where, ImportedChallenge]]
) -> None:
    file_ids = [c.id for _, c in challenges]
    owners = await _owners(session, Challenge, [*file_ids, *map(plan.renamed, file_ids)], Challenge.owner_id)
    wanted_categories = {c.category for _, c in challenges}
    known = set((await session.scalars(select(Category.slug).where(Category.slug.in_(wanted_categories)))).all())
    seen: dict[uuid.UUID, Where] = {}
    for where, challenge in challenges:
        if challenge.id in seen:
            plan.errors.append(
                _issue(where, ("id",), "The same challenge id as an earlier one in the file.", "duplicate")
            )
            continue
        seen[challenge.id] = where
        target = challenge.id
        if target in owners and owners[target] != plan.user.id:
            target = plan.renamed(challenge.id)
        if target in owners and owners[target] != plan.user.id:
            plan.errors.append(_issue(where, ("id",), "This challenge id is taken.", "id_taken"))
            continue
        if challenge.category not in known:
            plan.errors.append(_issue(where, ("category",), CATEGORY_NOT_FOUND, "category_not_found"))
        plan.challenge_ids[challenge.id] = target
        plan.challenge_facts[target] = (challenge.difficulty, challenge.category)
    own = [target for target in plan.challenge_ids.values() if owners.get(target) == plan.user.id]
    for chunk in _chunks(own):
        for stored in await session.scalars(select(Challenge).where(Challenge.id.in_(chunk))):
            plan.own_challenges[stored.id] = stored


async def _readable_facts(
    session: AsyncSession, user: User, ids: Sequence[uuid.UUID]
) -> dict[uuid.UUID, tuple[int, str]]:
    """Difficulty and category of the challenges among `ids` that the attempts may name.

    `readable_by`, not `loggable_by`: it is exactly the loggable challenges plus those archived since, which
    history may name (a move between servers would otherwise lose every attempt at a retired challenge).
    Catalog drafts, other people's and unknown challenges are refused alike, as `POST /attempts` does.
    """
    facts: dict[uuid.UUID, tuple[int, str]] = {}
    for chunk in _chunks(ids):
        rows = await session.execute(
            select(Challenge.id, Challenge.difficulty, Challenge.category_slug).where(
                Challenge.id.in_(chunk), readable_by(user.id)
            )
        )
        facts.update((row.id, (row.difficulty, row.category_slug)) for row in rows)
    return facts


class _NamesChallenge(Protocol):
    challenge_id: uuid.UUID
    challenge_slug: str | None


def _local(plan: _Plan, item: _NamesChallenge) -> uuid.UUID | None:
    """The challenge here that the item's `challenge_id` names, if it names one the caller can read."""
    challenge_id = plan.challenge_ids.get(item.challenge_id, item.challenge_id)
    return challenge_id if challenge_id in plan.challenge_facts else None


async def _readable_by_slug(
    session: AsyncSession, user: User, slugs: set[str]
) -> dict[str, tuple[uuid.UUID, int, str]]:
    """The challenges with these slugs the caller can read: id, difficulty and category by slug."""
    found: dict[str, tuple[uuid.UUID, int, str]] = {}
    ordered = sorted(slugs)
    for start in range(0, len(ordered), _CHUNK):
        rows = await session.execute(
            select(Challenge.slug, Challenge.id, Challenge.difficulty, Challenge.category_slug).where(
                Challenge.slug.in_(ordered[start : start + _CHUNK]), readable_by(user.id)
            )
        )
        found.update((row.slug, (row.id, row.difficulty, row.category_slug)) for row in rows)
    return found


@dataclass(frozen=True)
class _Row:
    where: Where
    attempt: ImportedAttempt
    id: uuid.UUID
    challenge_id: uuid.UUID
    plan_id: uuid.UUID | None
    digest: str


def _identified(
    user: User, where: Where, attempt: ImportedAttempt, challenge_id: uuid.UUID, plan_id: uuid.UUID | None
) -> _Row:
    fields = attempt.model_dump(include=set(AttemptCreate.model_fields)) | {
        "challenge_id": challenge_id,
        "plan_id": plan_id,
    }
    attempt_id = attempt.id
    if attempt_id is None:
        # Made from the row's fields: the same diary row imported again finds its attempt.
        attempt_id = uuid.uuid5(user.id, "attempt:" + request_hash(AttemptCreate.model_construct(**fields)))
    # The digest `POST /attempts` keeps, so posting this attempt again with its id is answered as a replay.
    digest = request_hash(AttemptCreate.model_construct(**(fields | {"id": attempt_id})))
    return _Row(where, attempt, attempt_id, challenge_id, plan_id, digest)


def _attempts_table() -> Table:
    return cast(Table, Attempt.__table__)


async def _stored_rows(session: AsyncSession, model: Any, ids: Sequence[uuid.UUID]) -> dict[uuid.UUID, Any]:
    """The rows of `model`'s table stored under these ids, whoever's they are, by id."""
    table = cast(Table, model.__table__)
    stored: dict[uuid.UUID, Any] = {}
    for chunk in _chunks(ids):
        stored.update((row.id, row) for row in await session.execute(select(table).where(table.c.id.in_(chunk))))
    return stored


async def _resolve_challenges(
    session: AsyncSession, plan: _Plan, items: Sequence[_NamesChallenge]
) -> Callable[[_NamesChallenge], uuid.UUID]:
    """Find the challenges that attempts, plans and ladder steps name: by id (a challenge of the file follows
    its new id), or else by slug. The answer names a challenge absent from `challenge_facts` when neither finds
    one the caller can read."""
    named = {plan.challenge_ids.get(item.challenge_id, item.challenge_id) for item in items}
    plan.challenge_facts.update(await _readable_facts(session, plan.user, sorted(named - plan.challenge_facts.keys())))
    # Another server's catalog has other ids: an id that names nothing here finds its challenge by slug.
    unknown = {slug for item in items if (slug := item.challenge_slug) is not None and _local(plan, item) is None}
    by_slug = await _readable_by_slug(session, plan.user, unknown)
    for challenge_id, difficulty, category in by_slug.values():
        plan.challenge_facts[challenge_id] = (difficulty, category)

    def challenge_of(item: _NamesChallenge) -> uuid.UUID:
        found = _local(plan, item)
        if found is None and item.challenge_slug in by_slug:
            return by_slug[item.challenge_slug][0]
        return found or item.challenge_id

    return challenge_of


async def _plan_attempts(
    session: AsyncSession,
    plan: _Plan,
    attempts: list[tuple[Where, ImportedAttempt]],
    challenge_of: Callable[[_NamesChallenge], uuid.UUID],
    own_plans: set[uuid.UUID],
) -> tuple[list[_Row], dict[uuid.UUID, Any]]:
    """The attempts with their ids and challenges, and those stored under the same ids. A `plan_id` is kept
    when it names one of the caller's plans (in the file or stored); otherwise (a plan of another server's,
    or of nobody's) the attempt comes without its plan, keeping the prediction it took from it."""
    rows = [
        _identified(plan.user, where, a, challenge_of(a), a.plan_id if a.plan_id in own_plans else None)
        for where, a in attempts
    ]
    stored = await _stored_rows(session, Attempt, list({row.id for row in rows}))
    first: dict[uuid.UUID, Where] = {}
    for row in rows:
        if row.id in first:
            kind, number = first[row.id]
            place = f"line {number}" if kind == "line" else f"{kind}[{number}]"
            message = f"The same attempt as {place}: the same id, or without one the same fields."
            plan.errors.append(_issue(row.where, ("id",), message, "duplicate"))
            continue
        first[row.id] = row.where
        if row.id in stored and stored[row.id].user_id != plan.user.id:
            plan.errors.append(_issue(row.where, ("id",), ID_TAKEN, "id_taken"))
        if row.challenge_id not in plan.challenge_facts:
            plan.errors.append(_issue(row.where, ("challenge_id",), CHALLENGE_NOT_FOUND, "challenge_not_found"))
    return rows, stored


async def _plan_plans(
    session: AsyncSession,
    plan: _Plan,
    plans: list[tuple[Where, ImportedPlan]],
    challenge_of: Callable[[_NamesChallenge], uuid.UUID],
    attempts: list[tuple[Where, ImportedAttempt]],
) -> tuple[dict[uuid.UUID, uuid.UUID], dict[uuid.UUID, Any], set[uuid.UUID]]:
    """Check the file's plans: the challenge each is for (by id, as the file stores it), those stored under
    the same ids, and every plan of the caller's the attempts may name."""
    stored = await _stored_rows(session, Plan, [p.id for _, p in plans])
    challenges: dict[uuid.UUID, uuid.UUID] = {}
    seen: set[uuid.UUID] = set()
    for where, item in plans:
        if item.id in seen:
            plan.errors.append(_issue(where, ("id",), "The same plan id as an earlier one in the file.", "duplicate"))
            continue
        seen.add(item.id)
        if item.id in stored and stored[item.id].user_id != plan.user.id:
            plan.errors.append(_issue(where, ("id",), "This plan id belongs to someone else's plan.", "id_taken"))
            continue
        challenge_id = challenge_of(item)
        if challenge_id not in plan.challenge_facts:
            plan.errors.append(_issue(where, ("challenge_id",), CHALLENGE_NOT_FOUND, "challenge_not_found"))
        challenges[item.id] = challenge_id
    named = sorted({a.plan_id for _, a in attempts if a.plan_id is not None} - seen)
    own = set(challenges)
    for chunk in _chunks(named):
        own.update(await session.scalars(select(Plan.id).where(Plan.id.in_(chunk), Plan.user_id == plan.user.id)))
    return challenges, stored, own


async def _check_plan_links(session: AsyncSession, plan: _Plan, rows: list[_Row]) -> None:
    """A plan is done by one attempt: not by two rows of the file, nor by a row and another stored attempt."""
    linked: dict[uuid.UUID, _Row] = {}
    for row in rows:
        if row.plan_id is None:
            continue
        if row.plan_id in linked:
            plan.errors.append(
                _issue(row.where, ("plan_id",), "An earlier attempt of the file names this plan.", "duplicate")
            )
            continue
        linked[row.plan_id] = row
    plan_ids = sorted(linked)
    for chunk in _chunks(plan_ids):
        holders = await session.execute(select(Attempt.plan_id, Attempt.id).where(Attempt.plan_id.in_(chunk)))
        for plan_id, attempt_id in cast(Iterable[tuple[uuid.UUID, uuid.UUID]], holders):
            # The holder may be moved off the plan by this very file; then it is no conflict.
            moved = any(r.id == attempt_id and r.plan_id != plan_id for r in rows)
            if attempt_id != linked[plan_id].id and not moved:
                plan.errors.append(_issue(linked[plan_id].where, ("plan_id",), PLAN_TAKEN, "plan_taken"))


async def _plan_ladder(
    session: AsyncSession,
    plan: _Plan,
    steps: list[tuple[Where, ImportedLadderStep]],
    challenge_of: Callable[[_NamesChallenge], uuid.UUID],
    challenges: list[tuple[Where, ImportedChallenge]],
) -> list[uuid.UUID]:
    """The ladder's challenges, each one the caller can log now, as `PUT /me/ladder` wants them: the file's own
    challenges as the file leaves them (loggable unless archived), the others as stored."""
    ids = [challenge_of(step) for _, step in steps]
    from_file = {plan.challenge_ids[c.id]: c.status for _, c in challenges if c.id in plan.challenge_ids}
    loggable = {target for target, status in from_file.items() if status != ChallengeStatus.ARCHIVED}
    stored = [i for i in ids if i not in from_file]
    loggable.update(
        await session.scalars(select(Challenge.id).where(Challenge.id.in_(stored), loggable_by(plan.user.id)))
    )
    seen: set[uuid.UUID] = set()
    for (where, _), challenge_id in zip(steps, ids, strict=True):
        if challenge_id in seen:
            plan.errors.append(
                _issue(where, ("challenge_id",), "An earlier step has this challenge.", "duplicate_step")
            )
        elif challenge_id not in loggable:
            plan.errors.append(_issue(where, ("challenge_id",), CHALLENGE_NOT_FOUND, "challenge_not_found"))
        seen.add(challenge_id)
    return ids


async def _plan_pauses(
    session: AsyncSession, plan: _Plan, pauses: list[tuple[Where, ImportedPause]]
) -> dict[uuid.UUID, Any]:
    """Pauses keep their ids; with the caller's other pauses they must not overlap (as `POST /me/pauses`)."""
    ids = [p.id for _, p in pauses]
    stored = await _stored_rows(session, Pause, ids)
    # The caller's pauses that the file leaves alone; those it replaces count as the file gives them.
    kept = await session.execute(
        select(Pause.start_date, Pause.end_date).where(Pause.user_id == plan.user.id, Pause.id.not_in(ids))
    )
    taken: list[tuple[date, date]] = [(start, end) for start, end in kept]
    seen: set[uuid.UUID] = set()
    for where, pause in sorted(pauses, key=lambda item: item[1].start_date):
        if pause.id in seen:
            plan.errors.append(_issue(where, ("id",), "The same pause id as an earlier one in the file.", "duplicate"))
            continue
        seen.add(pause.id)
        if pause.id in stored and stored[pause.id].user_id != plan.user.id:
            plan.errors.append(_issue(where, ("id",), "This pause id belongs to someone else's pause.", "id_taken"))
            continue
        if any(start <= pause.end_date and end >= pause.start_date for start, end in taken):
            plan.errors.append(_issue(where, ("start_date",), "This pause overlaps another of yours.", "overlapping"))
            continue
        taken.append((pause.start_date, pause.end_date))
    if len(taken) > MAX_PAUSES:
        plan.errors.append(_issue(("pauses",), (), f"More than {MAX_PAUSES} pauses in all.", "too_long"))
    return stored


async def _apply_account(session: AsyncSession, user: User, account: ImportedAccount | None) -> bool:
    if account is None:
        return False
    changes: dict[str, Any] = {}
    if "display_name" in account.model_fields_set and account.display_name != user.display_name:
        changes["display_name"] = account.display_name
    if account.timezone is not None and account.timezone != user.timezone:
        changes["timezone"] = account.timezone
    if changes:
        # Already validated by the same types: PATCH /me's update, without a second round of checks.
        await accounts.update_user(session, user, UserUpdate.model_construct(**changes))
    return bool(changes)


def _challenge_values(challenge: ImportedChallenge) -> dict[str, Any]:
    values: dict[str, Any] = {
        "title": challenge.title,
        "description": challenge.description,
        "category_slug": challenge.category,
        "difficulty": challenge.difficulty,
        "tips": challenge.tips,
        "status": challenge.status.value,
    }
    if challenge.created_at is not None:
        values["created_at"] = challenge.created_at
    if challenge.updated_at is not None:
        values["updated_at"] = challenge.updated_at
    return values


async def _free_slugs(session: AsyncSession, slugs: set[str]) -> set[str]:
    taken = set((await session.scalars(select(Challenge.slug).where(Challenge.slug.in_(slugs)))).all())
    return slugs - taken


async def _write_challenges(
    session: AsyncSession, plan: _Plan, challenges: list[tuple[Where, ImportedChallenge]]
) -> _Counts:
    counts = _Counts()
    free = await _free_slugs(session, {c.slug for _, c in challenges if c.slug is not None})
    for _, challenge in challenges:
        target = plan.challenge_ids[challenge.id]
        values = _challenge_values(challenge)
        slug = challenge.slug if challenge.slug in free else None
        free.discard(slug or "")
        stored = plan.own_challenges.get(target)
        if stored is None:
            session.add(
                Challenge(id=target, slug=slug or custom_slug(challenge.title), owner_id=plan.user.id, **values)
            )
            counts.created += 1
            continue
        if slug is not None:
            values["slug"] = slug
        changed = {name: value for name, value in values.items() if getattr(stored, name) != value}
        if not changed:
            counts.unchanged += 1
            continue
        for name, value in changed.items():
            setattr(stored, name, value)
        counts.updated += 1
    # The attempts' foreign keys need the challenges in the database.
    await session.flush()
    return counts


def _attempt_values(row: _Row, facts: tuple[int, str]) -> dict[str, Any]:
    attempt = row.attempt
    values: dict[str, Any] = {name: getattr(attempt, name) for name in _ATTEMPT_FIELDS}
    values["challenge_id"] = row.challenge_id
    values |= {name: getattr(attempt, name) for name in _OPTIONAL_FIELDS if getattr(attempt, name) is not None}
    values.setdefault("difficulty", facts[0])
    values.setdefault("category", facts[1])
    values["plan_id"] = row.plan_id
    values["predicted_at"] = _predicted_at(attempt)
    return values


def _predicted_at(attempt: ImportedAttempt) -> datetime | None:
    if attempt.expected_rejection is None:
        return None
    if attempt.predicted_at is not None:
        return attempt.predicted_at
    # As `POST /attempts` records a prediction given with the log: when logged, never before the ask.
    logged = attempt.created_at or utcnow()
    return max(logged, attempt.occurred_at)


async def _write_attempts(
    session: AsyncSession, plan: _Plan, rows: list[_Row], stored: dict[uuid.UUID, Any], now: datetime
) -> _Counts:
    table = _attempts_table()
    counts = _Counts()
    new: list[dict[str, Any]] = []
    zone = plan.user.timezone
    # A plan is done by one attempt (a unique column): the file's attempts that leave their plan let go first.
    leaving = [row.id for row in rows if row.id in stored and stored[row.id].plan_id not in (None, row.plan_id)]
    for chunk in _chunks(leaving):
        await session.execute(update(table).where(table.c.id.in_(chunk)).values(plan_id=None))
    for row in rows:
        values = _attempt_values(row, plan.challenge_facts[row.challenge_id])
        before = stored.get(row.id)
        if before is None:
            created = values.setdefault("created_at", now)
            values.setdefault("updated_at", created)
            # The session day in the account's zone, as `POST /attempts` fixes it (app/core/db.py local_date).
            values |= {
                "id": row.id,
                "user_id": plan.user.id,
                "local_date": local_date_in(values["occurred_at"], zone),
                "request_hash": row.digest,
            }
            new.append(values)
            continue
        if row.challenge_id != before.challenge_id and row.attempt.difficulty is None:
            values["difficulty"], values["category"] = plan.challenge_facts[row.challenge_id]
        changed = {name: value for name, value in values.items() if getattr(before, name) != value}
        if not changed:
            counts.unchanged += 1
            continue
        changed.setdefault("updated_at", now)
        if "occurred_at" in changed:
            # A corrected time moves the attempt to that day's session in the account's zone, as PATCH does.
            changed["local_date"] = local_date_in(changed["occurred_at"], zone)
        await session.execute(update(table).where(table.c.id == row.id).values(**changed))
        counts.updated += 1
    for start in range(0, len(new), _CHUNK):
        # Plain INSERTs (executemany): the row triggers keep session_stats in step, as for every write.
        await session.execute(insert(table), new[start : start + _CHUNK])
    counts.created = len(new)
    return counts


async def _write_plans(
    session: AsyncSession,
    *,
    plans: list[tuple[Where, ImportedPlan]],
    user: User,
    challenges: dict[uuid.UUID, uuid.UUID],
    stored: dict[uuid.UUID, Any],
    now: datetime,
) -> _Counts:
    counts = _Counts()
    for _, item in plans:
        values: dict[str, Any] = {name: getattr(item, name) for name in _PLAN_FIELDS}
        values["challenge_id"] = challenges[item.id]
        for name in ("created_at", "updated_at"):
            if getattr(item, name) is not None:
                values[name] = getattr(item, name)
        if item.id not in stored:
            values.setdefault("updated_at", values.setdefault("created_at", now))
        before = stored.get(item.id)
        await _upsert(session, Plan, user=user, row_id=item.id, values=values, before=before, counts=counts, touch=now)
    return counts


async def _upsert(
    session: AsyncSession,
    model: Any,
    *,
    user: User,
    row_id: uuid.UUID,
    values: dict[str, Any],
    before: Any,
    counts: _Counts,
    touch: datetime | None = None,
) -> None:
    """Store the user's row with this id as `values` give it: new, changed (`updated_at` set to `touch` unless
    the values say), or left alone when nothing differs; counted in `counts`."""
    table = cast(Table, model.__table__)
    if before is None:
        await session.execute(insert(table).values(id=row_id, user_id=user.id, **values))
        counts.created += 1
        return
    changed = {name: value for name, value in values.items() if getattr(before, name) != value}
    if not changed:
        counts.unchanged += 1
        return
    if touch is not None:
        changed.setdefault("updated_at", touch)
    await session.execute(update(table).where(table.c.id == row_id).values(**changed))
    counts.updated += 1


async def _write_ladder(
    session: AsyncSession, user: User, steps: list[ImportedLadderStep], ids: list[uuid.UUID]
) -> bool:
    """Replace the caller's ladder with the file's, unless they are the same; whether it was replaced."""
    await lock_user(session, user.id)
    stored = await session.execute(
        select(LadderStep.challenge_id, LadderStep.anticipated_distress)
        .where(LadderStep.user_id == user.id)
        .order_by(LadderStep.position)
    )
    if [tuple(row) for row in stored] == [(i, s.anticipated_distress) for i, s in zip(ids, steps, strict=True)]:
        return False
    await session.execute(delete(LadderStep).where(LadderStep.user_id == user.id))
    if steps:
        await session.execute(
            insert(LadderStep),
            [
                {
                    "user_id": user.id,
                    "position": position,
                    "challenge_id": challenge_id,
                    "anticipated_distress": s.anticipated_distress,
                }
                for position, (s, challenge_id) in enumerate(zip(steps, ids, strict=True), start=1)
            ],
        )
    return True


async def _write_pauses(
    session: AsyncSession,
    user: User,
    pauses: list[tuple[Where, ImportedPause]],
    stored: dict[uuid.UUID, Any],
    now: datetime,
) -> _Counts:
    counts = _Counts()
    if pauses:
        # As `POST /me/pauses` does: the overlap checks above hold until the transaction ends.
        await lock_user(session, user.id)
    for _, pause in pauses:
        values: dict[str, Any] = {"start_date": pause.start_date, "end_date": pause.end_date, "reason": pause.reason}
        if pause.created_at is not None:
            values["created_at"] = pause.created_at
        elif pause.id not in stored:
            values["created_at"] = now
        before = stored.get(pause.id)
        await _upsert(session, Pause, user=user, row_id=pause.id, values=values, before=before, counts=counts)
    return counts


async def import_history(session: AsyncSession, user: User, parsed: ParsedFile) -> AccountImportResult:
    """Check every row, then (only if none is bad) upsert them all; the caller's transaction holds it all."""
    plan = _Plan(user=user)
    await _plan_challenges(session, plan, parsed.challenges)
    ladder = parsed.ladder or []
    challenge_of = await _resolve_challenges(
        session, plan, [*(a for _, a in parsed.attempts), *(p for _, p in parsed.plans), *(s for _, s in ladder)]
    )
    plan_challenges, stored_plans, own_plans = await _plan_plans(
        session, plan, parsed.plans, challenge_of, parsed.attempts
    )
    rows, stored = await _plan_attempts(session, plan, parsed.attempts, challenge_of, own_plans)
    await _check_plan_links(session, plan, rows)
    ladder_ids = await _plan_ladder(session, plan, ladder, challenge_of, parsed.challenges)
    stored_pauses = await _plan_pauses(session, plan, parsed.pauses)
    if plan.errors:
        raise ImportRejected(plan.errors)
    now = utcnow()
    # The time zone first: the attempts' session days are read in it.
    account_updated = await _apply_account(session, user, parsed.account)
    challenge_counts = await _write_challenges(session, plan, parsed.challenges)
    # The attempts' foreign keys need their plans.
    plan_counts = await _write_plans(
        session, plans=parsed.plans, user=user, challenges=plan_challenges, stored=stored_plans, now=now
    )
    async with retest.deferred(session, user.id):
        counts = await _write_attempts(session, plan, rows, stored, now)
    ladder_replaced = parsed.ladder is not None and await _write_ladder(
        session, user, [s for _, s in parsed.ladder], ladder_ids
    )
    pause_counts = await _write_pauses(session, user, parsed.pauses, stored_pauses, now)
    return AccountImportResult(
        created=counts.created,
        updated=counts.updated,
        unchanged=counts.unchanged,
        custom_challenges=challenge_counts.public(),
        plans=plan_counts.public(),
        pauses=pause_counts.public(),
        ladder_replaced=ladder_replaced,
        account_updated=account_updated,
    )


# --- the operation's request bodies, for OpenAPI -----------------------------------------------------


def _inlined(model: type[ImportDocument]) -> dict[str, Any]:
    """The model's JSON Schema with its own object schemas written in place: a request body declared by hand
    (the route reads the body itself, for two media types) cannot add components. Named enums (`Outcome`,
    `ChallengeStatus`) stay references to the document's components, which other operations declare."""
    schema = model.model_json_schema(ref_template="#/$defs/{model}")
    definitions = schema.pop("$defs", {})

    def resolve(node: Any) -> Any:
        if isinstance(node, list):
            return [resolve(item) for item in node]
        if not isinstance(node, dict):
            return node
        if "$ref" in node:
            name = node["$ref"].removeprefix("#/$defs/")
            rest = {key: resolve(value) for key, value in node.items() if key != "$ref"}
            if definitions[name].get("type") == "object":
                return {**resolve(definitions[name]), **rest}
            return {"$ref": f"#/components/schemas/{name}", **rest}
        return {key: resolve(value) for key, value in node.items()}

    resolved: dict[str, Any] = resolve(schema)
    return resolved


CSV_EXAMPLE = ",".join(CSV_COLUMNS) + "\r\n"
# One operation per media type, as the export has: a generator given one operation with two request media
# types drops it or types its body as a bare string.
JSON_REQUEST_BODY: dict[str, Any] = {
    "required": True,
    "content": {"application/json": {"schema": _inlined(ImportDocument)}},
}
CSV_REQUEST_BODY: dict[str, Any] = {
    "required": True,
    "content": {
        "text/csv": {
            "schema": {"type": "string", "maxLength": MAX_IMPORT_BYTES},
            "example": CSV_EXAMPLE
            + "0b6f4a52-8f7e-4c39-9a57-2f1f3b0c6a11,2026-05-01T16:30:00Z,5d0c7f7e-3a4b-4f8e-9a3c-1b2d3e4f5a6b,"
            'Ask a stranger for the time,rejected,60,70,25,80,1,everyday,"She said no, smiled, and it was fine.",'
            "2026-05-01T16:35:00Z,2026-05-01T16:35:00Z\r\n",
        },
    },
}


def read(content_type: str | None, body: bytes, *, csv: bool) -> ParsedFile:
    """The file a route takes: the JSON export, or (`csv`) the attempts CSV in UTF-8, the only charset taken.
    Any other media type is 415."""
    header = Message()
    header["content-type"] = content_type or ""
    media_type, charset = header.get_content_type(), header.get_content_charset("utf-8")
    if csv:
        if media_type == "text/csv" and charset in ("utf-8", "utf8"):
            return read_csv(body)
        raise UnsupportedMediaType(
            "Send the attempts CSV as `text/csv` in UTF-8; the JSON export goes to `POST /api/v1/me/import`."
        )
    if media_type == "application/json":
        return read_json(body)
    raise UnsupportedMediaType(
        "Send the export as `application/json`; the attempts CSV goes to `POST /api/v1/me/import/attempts.csv`."
    )
