import uuid
from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, StrictBool, StringConstraints
from pydantic_core import PydanticCustomError

from app.accounts.schemas import ApiTokenPublic, DisplayName, TimeZone, UserPublic
from app.attempts.schemas import OCCURRED_AT, PREDICTED_AT, AttemptCreate, AttemptPublic, OccurredAt, Score
from app.catalog.models import ChallengeStatus
from app.catalog.schemas import CategorySlug, ChallengeCreate, ChallengePublic, Difficulty, Slug
from app.core.schemas import InputModel, OutputModel, Timestamp
from app.core.security import TokenScope
from app.plans.schemas import PlanCreate, PlanPublic, PlanStatus
from app.progress.practice_schemas import MAX_LADDER_STEPS, MAX_PAUSES, PauseCreate, PausePublic

CHALLENGE_SLUG = (
    "The slug of the challenge attempted. Catalog ids differ between servers, so an import on another "
    "server finds a catalog challenge by its slug when the id names none there."
)


class ExportedAttempt(AttemptPublic):
    challenge_slug: str = Field(description=CHALLENGE_SLUG, examples=["ask-stranger-for-the-time"])


class ExportedPlan(PlanPublic):
    challenge_slug: str = Field(description=CHALLENGE_SLUG, examples=["ask-stranger-for-the-time"])


class ExportedLadderStep(OutputModel):
    challenge_id: uuid.UUID = Field(description="The challenge of this step.")
    challenge_slug: str = Field(description=CHALLENGE_SLUG, examples=["ask-stranger-for-the-time"])
    anticipated_distress: int = Field(description="SUDS 0–100 you expected at this step.", examples=[40])


class ExportedCalendarFeed(OutputModel):
    created_at: datetime = Field(
        description="When the feed's address was made. The address itself is a secret "
        "kept only as a digest, so it cannot be exported: make a new one after a move."
    )


class AccountExport(BaseModel):
    """Everything stored about you, minus secrets (password hash, token digests, the calendar feed's address)."""

    exported_at: datetime = Field(description="When this export was made, in UTC.")
    account: UserPublic
    attempts: list[ExportedAttempt] = Field(description="Every attempt you logged, oldest first.")
    custom_challenges: list[ChallengePublic] = Field(description="The challenges you wrote yourself.")
    plans: list[ExportedPlan] = Field(description="Every plan you made, oldest first, whatever its status.")
    ladder: list[ExportedLadderStep] = Field(description="Your own fear ladder, in climbing order.")
    pauses: list[PausePublic] = Field(description="Your pauses, by their first day.")
    calendar_feed: ExportedCalendarFeed | None = Field(description="Your calendar feed, if you made one.")
    api_tokens: list[ApiTokenPublic] = Field(description="Your personal API tokens: names and prefixes only.")


# --- importing: POST /me/import -----------------------------------------------------------------

# A few years of daily practice, with room to spare: the largest export a person brings, read and
# checked in one transaction in seconds. A bigger history goes in several files (the import upserts).
MAX_IMPORT_ATTEMPTS = 20_000
MAX_IMPORT_CHALLENGES = 1_000
# 20,000 attempts with notes fit easily; larger than MAX_BODY_BYTES, which sizes ordinary requests.
MAX_IMPORT_BYTES = 16 * 1024 * 1024

_Name = Annotated[str, StringConstraints(max_length=200)]


def _strict_bool(value: Any) -> Any:
    # A literal `True` would take the number 1 as well; JSON's `true` is the only truth here.
    if not isinstance(value, bool):
        raise PydanticCustomError("bool_type", "Input should be a valid boolean")
    return value


_IGNORED = "Read and ignored: it is the account you import into that counts."
_KEPT = "Kept as given; without it, the time of the import."


class ImportedAttempt(AttemptCreate):
    """One attempt of the history, validated like `POST /api/v1/attempts` plus what the export adds."""

    id: uuid.UUID | None = Field(
        default=None,
        description="The attempt's id: your attempt with this id is updated to match, a new id is stored as "
        "given. Without one (a spreadsheet diary), the id is made from the row's fields, so importing the same "
        "rows again stores them once. Someone else's id is refused.",
        examples=["0b6f4a52-8f7e-4c39-9a57-2f1f3b0c6a11"],
    )
    occurred_at: OccurredAt = Field(description=OCCURRED_AT, examples=["2026-05-01T18:30:00+02:00"])
    challenge_slug: Slug | None = Field(
        default=None,
        description=CHALLENGE_SLUG + " Without it, only `challenge_id` counts.",
        examples=["ask-stranger-for-the-time"],
    )
    difficulty: Difficulty | None = Field(
        default=None,
        description="The challenge's difficulty when this was logged; without it, the challenge's now.",
    )
    category: CategorySlug | None = Field(
        default=None,
        description="The challenge's category when this was logged; without it, the challenge's now.",
    )
    created_at: OccurredAt | None = Field(default=None, description="When it was logged. " + _KEPT)
    updated_at: OccurredAt | None = Field(default=None, description="When it was last changed. " + _KEPT)
    predicted_at: OccurredAt | None = Field(
        default=None,
        description=PREDICTED_AT + " Kept as given with an `expected_rejection`; without it, when the attempt was "
        "logged (never before its `occurred_at`). Read and ignored without an `expected_rejection`.",
    )


class ImportedPlan(PlanCreate):
    """One of your plans, as the export lists it under `plans`."""

    id: uuid.UUID = Field(
        description="Your plan with this id is updated to match; a new id is stored as given. "
        "Someone else's id is refused."
    )
    challenge_slug: Slug | None = Field(
        default=None, description=CHALLENGE_SLUG + " Without it, only `challenge_id` counts."
    )
    # The file is history: a plan made two years ago was made for then.
    planned_for: Timestamp | None = Field(default=None, description="When you meant to do it.")
    status: PlanStatus = Field(default="open", description="`open`, `done` or `cancelled`, kept as given.")
    attempt_id: uuid.UUID | None = Field(
        default=None,
        description="Read and ignored: an attempt names its plan (its `plan_id`), which is what links the two.",
    )
    created_at: OccurredAt | None = Field(
        default=None, description="When the plan was made (its prediction written down). " + _KEPT
    )
    updated_at: OccurredAt | None = Field(default=None, description="When it last changed. " + _KEPT)


class ImportedLadderStep(InputModel):
    challenge_id: uuid.UUID = Field(description="A challenge you can log, as `PUT /api/v1/me/ladder` takes it.")
    challenge_slug: Slug | None = Field(
        default=None, description=CHALLENGE_SLUG + " Without it, only `challenge_id` counts."
    )
    anticipated_distress: Score = Field(description="SUDS 0–100 you expect at this step.")


class ImportedPause(PauseCreate):
    id: uuid.UUID = Field(description="Your pause with this id is updated to match; a new id is stored as given.")
    created_at: OccurredAt | None = Field(default=None, description="When the pause was made. " + _KEPT)


class ImportedCalendarFeed(InputModel):
    """The export's `calendar_feed`: read and ignored, as the export holds no feed address."""

    created_at: Timestamp | None = None


class ImportedChallenge(ChallengeCreate):
    """One of your own challenges, as the export lists it under `custom_challenges`."""

    model_config = ConfigDict(
        json_schema_extra={
            "example": {
                "id": "5d0c7f7e-3a4b-4f8e-9a3c-1b2d3e4f5a6b",
                "slug": "custom-ask-the-bakery-for-yesterday-s-bread-1a2b3c4d",
                "title": "Ask the bakery for yesterday's bread at half price",
                "description": "Near closing time, ask politely whether day-old loaves go cheaper.",
                "category": "food-and-shops",
                "difficulty": 3,
                "tips": ["Notice the flutter before you ask; breathe out slowly and let it pass."],
                "status": "published",
                "is_custom": True,
                "created_at": "2026-04-01T09:00:00Z",
                "updated_at": "2026-04-01T09:00:00Z",
            }
        }
    )

    id: uuid.UUID = Field(
        description="Kept when it is free or already yours; when another challenge has it, the challenge gets "
        "an id of its own and the attempts in the file that name it follow."
    )
    slug: Slug | None = Field(default=None, description="Kept when free; otherwise a new one is made.")
    status: ChallengeStatus = Field(
        default=ChallengeStatus.PUBLISHED, description="`published`, `draft` or `archived`.", examples=["published"]
    )
    is_custom: Annotated[Literal[True], BeforeValidator(_strict_bool)] = Field(
        default=True, description="Always true: only your own challenges are imported."
    )
    created_at: OccurredAt | None = Field(default=None, description="When it was created. " + _KEPT)
    updated_at: OccurredAt | None = Field(default=None, description="When it last changed. " + _KEPT)


class ImportedAccount(InputModel):
    """The export's `account`: its `display_name` and `timezone` are set on your account, the rest is read
    and ignored (your email, id and role stay as they are)."""

    id: uuid.UUID | None = Field(default=None, description=_IGNORED)
    email: _Name | None = Field(default=None, description=_IGNORED)
    is_admin: StrictBool | None = Field(default=None, description=_IGNORED)
    created_at: Timestamp | None = Field(default=None, description=_IGNORED)
    display_name: DisplayName | None = Field(
        default=None, description="Set on your account when given; `null` clears your name."
    )
    timezone: TimeZone | None = Field(
        default=None,
        description="Set on your account when given, before the attempts are read: each attempt counts in the "
        "practice session of its local day in this zone, as when it was logged.",
        examples=["Europe/Berlin"],
    )


class ImportedToken(InputModel):
    """An entry of the export's `api_tokens`: read and ignored, as an export holds no token's secret."""

    id: uuid.UUID | None = None
    name: _Name | None = None
    prefix: _Name | None = None
    scopes: list[TokenScope] | None = Field(default=None, max_length=len(TokenScope))
    created_at: Timestamp | None = None
    expires_at: Timestamp | None = None


class ImportDocument(InputModel):
    """The JSON file `GET /api/v1/me/export` gives, or any part of it."""

    exported_at: Timestamp | None = Field(default=None, description="Read and ignored.")
    account: ImportedAccount | None = None
    attempts: list[ImportedAttempt] = Field(
        default_factory=list,
        max_length=MAX_IMPORT_ATTEMPTS,
        description=f"Upserted by id (at most {MAX_IMPORT_ATTEMPTS:,}).",
    )
    custom_challenges: list[ImportedChallenge] = Field(
        default_factory=list,
        max_length=MAX_IMPORT_CHALLENGES,
        description=f"Upserted by id, before the attempts (at most {MAX_IMPORT_CHALLENGES:,}).",
    )
    plans: list[ImportedPlan] = Field(
        default_factory=list,
        max_length=MAX_IMPORT_ATTEMPTS,
        description=f"Upserted by id, before the attempts that name them (at most {MAX_IMPORT_ATTEMPTS:,}).",
    )
    ladder: list[ImportedLadderStep] | None = Field(
        default=None,
        max_length=MAX_LADDER_STEPS,
        description="When given, it replaces your ladder (an empty list removes it); left out, your ladder stays.",
    )
    pauses: list[ImportedPause] = Field(
        default_factory=list,
        max_length=MAX_PAUSES,
        description="Upserted by id; together with the pauses you keep they may not overlap.",
    )
    calendar_feed: ImportedCalendarFeed | None = Field(default=None, description="Read and ignored.")
    api_tokens: list[ImportedToken] = Field(
        default_factory=list,
        max_length=MAX_IMPORT_CHALLENGES,
        description="Read and ignored: an export holds no token's secret, so make new tokens on this server.",
    )


class ImportCounts(OutputModel):
    created: int = Field(description="Rows stored new.", examples=[12])
    updated: int = Field(description="Rows that changed something stored under the same id.", examples=[1])
    unchanged: int = Field(description="Rows identical to what is stored: nothing written.", examples=[230])


class AccountImportResult(ImportCounts):
    """What the import did: the counts are of attempts; importing the same file again counts every row
    `unchanged`."""

    custom_challenges: ImportCounts = Field(description="The same counts for your own challenges.")
    plans: ImportCounts = Field(description="The same counts for your plans.")
    pauses: ImportCounts = Field(description="The same counts for your pauses.")
    ladder_replaced: bool = Field(
        description="Whether the file's `ladder` differed from yours and replaced it.", examples=[False]
    )
    account_updated: bool = Field(
        description="Whether the file's `display_name` or `timezone` changed your account.", examples=[False]
    )
