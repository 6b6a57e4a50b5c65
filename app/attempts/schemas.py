import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Annotated, Literal

from pydantic import (
    AfterValidator,
    Field,
    StringConstraints,
    ValidationInfo,
    field_validator,
)
from typing_extensions import TypeAliasType

from app.core.models import utcnow
from app.core.schemas import InputModel, IntegralNumber, MultiLine, OutputModel, PatchModel, SingleLine, Timestamp

# A named alias: the document declares the enum once, as `Outcome`, and every field and parameter refers to it.
Outcome = TypeAliasType("Outcome", Literal["rejected", "accepted", "partial", "avoided"])

# Anything older is a typo (a year of 0024), not offline logging.
EARLIEST_OCCURRED_AT = datetime(2000, 1, 1, tzinfo=UTC)
# Room for a phone clock that runs a little fast.
FUTURE_TOLERANCE = timedelta(minutes=5)

PEAK_REQUIRED = "is required unless the outcome is `avoided`"


def peak_missing(outcome: str, distress_peak: int | None) -> bool:
    return outcome != "avoided" and distress_peak is None


def plausible_time(ahead: timedelta, too_late: str) -> Callable[[datetime], datetime]:
    """A check of an instant in UTC: from 2000-01-01 to `ahead` from now; later ones are refused with `too_late`."""

    def check(value: datetime) -> datetime:
        try:
            value = value.astimezone(UTC)
        except OverflowError:
            raise ValueError("is out of range") from None
        if value < EARLIEST_OCCURRED_AT:
            raise ValueError("must not lie before 2000-01-01")
        if value > utcnow() + ahead:
            raise ValueError(too_late)
        return value

    return check


# Constraints live in the types; descriptions on the fields, where OpenAPI shows them
# even for an optional (nullable) field.
Score = Annotated[int, Field(strict=True, ge=0, le=100), IntegralNumber]  # strict: 50.5, true and "50" are refused
OccurredAt = Annotated[
    Timestamp, AfterValidator(plausible_time(FUTURE_TOLERANCE, "must not lie more than 5 minutes in the future"))
]
Notes = Annotated[str, StringConstraints(max_length=4000), MultiLine]
Reflection = Annotated[str, StringConstraints(max_length=2000), MultiLine]
MAX_SAFETY_BEHAVIOURS = 10
SafetyBehaviour = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=100), SingleLine]


def _distinct(values: list[str]) -> list[str]:
    # Told apart as a person reads them: "Rehearsed" and "rehearsed " are one behaviour named twice.
    if len({value.casefold() for value in values}) != len(values):
        raise ValueError("must not name the same behaviour twice")
    return values


SafetyBehaviours = Annotated[
    list[SafetyBehaviour],
    Field(max_length=MAX_SAFETY_BEHAVIOURS, json_schema_extra={"uniqueItems": True}),
    AfterValidator(_distinct),
]

OCCURRED_AT = (
    "When it happened: RFC 3339 with an offset (any offset; stored and answered in UTC). "
    "May lie in the past for offline logging, back to 2000-01-01; at most 5 minutes ahead. The attempt counts in "
    "the practice session of that local day in your account's time zone."
)
OUTCOME = "`rejected`, `accepted`, `partial`, or `avoided` (you did not go through with it)."
DISTRESS_BEFORE = "SUDS 0–100 just before asking (anticipatory distress)."
DISTRESS_PEAK = "SUDS 0–100 at the worst moment; required unless the outcome is `avoided`."
DISTRESS_AFTER = "SUDS 0–100 a few minutes afterwards."
EXPECTED_REJECTION = "0–100: how likely you thought a no was, before asking (a percentage)."
NOTES = "Free text, at most 4000 characters."
CLEARS = " `null` clears it."
NOTES_EXAMPLE = "She said no, smiled, and it was fine."
PLAN_ID = (
    "The plan (`POST /api/v1/plans`) this attempt carries out: one of your open plans for the same challenge. "
    "The attempt takes the plan's `expected_rejection` (leave it out, or send the same value) and the plan "
    "becomes `done`. A plan that is not yours or unknown answers 422 `plan_not_found`; one that is done or "
    "cancelled answers 409."
)
PREDICTED_AT = (
    "When `expected_rejection` was written down, in UTC; null without one. For an attempt logged with a plan, "
    "the plan's `created_at` (a plan's `expected_rejection` never changes). Otherwise when it was entered or "
    "last changed here, but never before `occurred_at`: a prediction entered with the log was not made before "
    "the ask. Earlier than `occurred_at` means the prediction was made in advance, as the trend counts it."
)
SURPRISE = "0–100: how differently it went from what you expected (0 = just as expected)."
SAFETY_BEHAVIOURS = (
    "What you did to feel safer, up to 10 short phrases (1–100 characters each, one line, named once), e.g. "
    '"rehearsed the words". An empty list says you used none; null that you did not say.'
)
REFLECTION = "Free text, at most 2000 characters: what you learned, how you would see it now."
SAFETY_EXAMPLE = ["rehearsed the words", "avoided eye contact"]
REFLECTION_EXAMPLE = "A no was about the request, not about me."


class AttemptCreate(InputModel):
    id: uuid.UUID | None = Field(
        default=None,
        description="Optional, made by the client: sending the same attempt again with the same id stores it once.",
        examples=["0b6f4a52-8f7e-4c39-9a57-2f1f3b0c6a11"],
    )
    challenge_id: uuid.UUID = Field(
        description="A challenge listed for you in `GET /api/v1/challenges`: a published catalog challenge, "
        "or one of your own that is not archived (drafts included). Archived challenges keep their attempts "
        "but take no new ones; the catalog's drafts and other people's challenges are refused like an "
        "unknown id (422 `challenge_not_found`).",
        examples=["5d0c7f7e-3a4b-4f8e-9a3c-1b2d3e4f5a6b"],
    )
    occurred_at: OccurredAt | None = Field(
        default=None, description=OCCURRED_AT + " Default: now.", examples=["2026-05-01T18:30:00+02:00"]
    )
    outcome: Outcome = Field(description=OUTCOME, examples=["rejected"])
    distress_before: Score = Field(description=DISTRESS_BEFORE, examples=[60])
    # validate_default: a missing peak is checked against the outcome too.
    distress_peak: Score | None = Field(default=None, validate_default=True, description=DISTRESS_PEAK, examples=[70])
    distress_after: Score | None = Field(default=None, description=DISTRESS_AFTER, examples=[25])
    expected_rejection: Score | None = Field(default=None, description=EXPECTED_REJECTION, examples=[80])
    notes: Notes | None = Field(default=None, description=NOTES, examples=[NOTES_EXAMPLE])
    plan_id: uuid.UUID | None = Field(
        default=None, description="Optional. " + PLAN_ID, examples=["9a3e5c71-2b4d-4e6f-8a1b-3c5d7e9f0a2b"]
    )
    surprise: Score | None = Field(default=None, description=SURPRISE, examples=[70])
    safety_behaviours: SafetyBehaviours | None = Field(
        default=None, description=SAFETY_BEHAVIOURS, examples=[SAFETY_EXAMPLE]
    )
    reflection: Reflection | None = Field(default=None, description=REFLECTION, examples=[REFLECTION_EXAMPLE])

    @field_validator("distress_peak")
    @classmethod
    def _peak_unless_avoided(cls, value: int | None, info: ValidationInfo) -> int | None:
        # `outcome` is declared earlier, so it is in `info.data` whenever it was valid.
        outcome = info.data.get("outcome")
        if outcome is not None and peak_missing(outcome, value):
            raise ValueError(PEAK_REQUIRED)
        return value


class AttemptUpdate(PatchModel):
    """A partial update: fields left out keep their value; `null` clears the ratings, notes and reflection that
    may be empty, and is refused for the rest. The challenge and the plan cannot change."""

    clearable = frozenset(
        {"distress_peak", "distress_after", "expected_rejection", "notes"}
        | {"surprise", "safety_behaviours", "reflection"}
    )

    occurred_at: OccurredAt | None = Field(default=None, description=OCCURRED_AT, examples=["2026-05-01T18:30:00Z"])
    outcome: Outcome | None = Field(default=None, description=OUTCOME, examples=["partial"])
    distress_before: Score | None = Field(default=None, description=DISTRESS_BEFORE, examples=[60])
    distress_peak: Score | None = Field(default=None, description=DISTRESS_PEAK + CLEARS, examples=[70])
    distress_after: Score | None = Field(default=None, description=DISTRESS_AFTER + CLEARS, examples=[25])
    expected_rejection: Score | None = Field(
        default=None,
        description=EXPECTED_REJECTION + CLEARS + " Fixed for an attempt logged with a plan: a change answers 409.",
        examples=[80],
    )
    notes: Notes | None = Field(default=None, description=NOTES + " `null` clears them.", examples=[NOTES_EXAMPLE])
    surprise: Score | None = Field(default=None, description=SURPRISE + CLEARS, examples=[70])
    safety_behaviours: SafetyBehaviours | None = Field(
        default=None, description=SAFETY_BEHAVIOURS + " `null` clears them.", examples=[SAFETY_EXAMPLE]
    )
    reflection: Reflection | None = Field(default=None, description=REFLECTION + CLEARS, examples=[REFLECTION_EXAMPLE])


class AttemptPublic(OutputModel):
    id: uuid.UUID
    challenge_id: uuid.UUID = Field(description="The challenge attempted.")
    occurred_at: datetime = Field(description="When it happened, in UTC.")
    outcome: Outcome = Field(description=OUTCOME, examples=["rejected"])
    distress_before: int = Field(description=DISTRESS_BEFORE, examples=[60])
    distress_peak: int | None = Field(description="SUDS 0–100 at the worst moment; null when avoided.", examples=[70])
    distress_after: int | None = Field(description=DISTRESS_AFTER, examples=[25])
    expected_rejection: int | None = Field(description=EXPECTED_REJECTION, examples=[80])
    notes: str | None = Field(description=NOTES, examples=[NOTES_EXAMPLE])
    plan_id: uuid.UUID | None = Field(
        description="The plan this attempt carried out; null when logged without one, or when the plan was deleted.",
        examples=["9a3e5c71-2b4d-4e6f-8a1b-3c5d7e9f0a2b"],
    )
    predicted_at: datetime | None = Field(description=PREDICTED_AT)
    surprise: int | None = Field(description=SURPRISE, examples=[70])
    safety_behaviours: list[str] | None = Field(description=SAFETY_BEHAVIOURS, examples=[SAFETY_EXAMPLE])
    reflection: str | None = Field(description=REFLECTION, examples=[REFLECTION_EXAMPLE])
    difficulty: int = Field(description="The challenge's difficulty (1–10) when this was logged.", examples=[3])
    category: str = Field(description="The challenge's category slug when this was logged.", examples=["everyday"])
    created_at: datetime = Field(description="When it was logged.")
    updated_at: datetime = Field(description="When it was last changed.")
