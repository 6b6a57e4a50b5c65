import uuid
from datetime import datetime, timedelta
from typing import Annotated, Literal

from pydantic import AfterValidator, Field, StringConstraints
from typing_extensions import TypeAliasType

from app.attempts.schemas import EXPECTED_REJECTION, Score, plausible_time
from app.core.schemas import InputModel, MultiLine, OutputModel, PatchModel, Timestamp

# Named once in the document, like `Outcome`: the values of app/plans/models.py's PlanStatus.
PlanStatus = TypeAliasType("PlanStatus", Literal["open", "done", "cancelled"])
# What a PATCH may set: `done` comes only from logging the attempt.
PlanStatusChange = TypeAliasType("PlanStatusChange", Literal["open", "cancelled"])

# Plans are for the weeks ahead; a year is room enough, and anything later is a typo (2062 for 2026).
PLANNING_HORIZON = timedelta(days=366)


PlannedFor = Annotated[
    Timestamp, AfterValidator(plausible_time(PLANNING_HORIZON, "must not lie more than a year ahead"))
]
ExpectedOutcome = Annotated[str, StringConstraints(max_length=1000), MultiLine]

CHALLENGE_ID = (
    "A challenge you can log (see `challenge_id` of `POST /api/v1/attempts`); any other answers 422 "
    "`challenge_not_found`."
)
PLANNED_FOR = (
    "When you mean to do it: RFC 3339 with an offset (stored and answered in UTC), from 2000-01-01 to a year "
    "ahead. Optional: only plans with a time are in the calendar feed. A plan past its time stays open: you "
    "may still go."
)
EXPECTED_OUTCOME = "What you expect to happen, in your words: free text, at most 1000 characters."
PLAN_EXPECTED_REJECTION = (
    EXPECTED_REJECTION + " Fixed when the plan is made, so the trend knows it was predicted in advance: to "
    "change it, cancel the plan and make a new one."
)
EXPECTED_DISTRESS_PEAK = "Optional: SUDS 0–100 you expect at the worst moment."
STATUS = (
    "`open` (planned; past its time too), `done` (an attempt was logged with it: it never changes again) or "
    "`cancelled`."
)
OUTCOME_EXAMPLE = "They will laugh at me."


class PlanCreate(InputModel):
    challenge_id: uuid.UUID = Field(description=CHALLENGE_ID, examples=["5d0c7f7e-3a4b-4f8e-9a3c-1b2d3e4f5a6b"])
    planned_for: PlannedFor | None = Field(
        default=None, description=PLANNED_FOR, examples=["2026-05-02T12:30:00+02:00"]
    )
    expected_outcome: ExpectedOutcome | None = Field(
        default=None, description=EXPECTED_OUTCOME, examples=[OUTCOME_EXAMPLE]
    )
    expected_rejection: Score = Field(description=PLAN_EXPECTED_REJECTION, examples=[80])
    expected_distress_peak: Score | None = Field(default=None, description=EXPECTED_DISTRESS_PEAK, examples=[70])


class PlanUpdate(PatchModel):
    """A partial update of a plan that is not done: fields left out keep their value; `null` clears the time,
    the expected outcome and the expected peak. `expected_rejection` and the challenge cannot change."""

    clearable = frozenset({"planned_for", "expected_outcome", "expected_distress_peak"})

    planned_for: PlannedFor | None = Field(
        default=None, description=PLANNED_FOR + " `null` clears it.", examples=["2026-05-03T09:00:00Z"]
    )
    expected_outcome: ExpectedOutcome | None = Field(
        default=None, description=EXPECTED_OUTCOME + " `null` clears it.", examples=[OUTCOME_EXAMPLE]
    )
    expected_distress_peak: Score | None = Field(
        default=None, description=EXPECTED_DISTRESS_PEAK + " `null` clears it.", examples=[60]
    )
    status: PlanStatusChange | None = Field(
        default=None,
        description="`cancelled` drops the plan; `open` takes a cancelled one up again. `done` is set only by "
        "logging an attempt with the plan.",
        examples=["cancelled"],
    )


class PlanPublic(OutputModel):
    id: uuid.UUID
    challenge_id: uuid.UUID = Field(description="The challenge planned.")
    planned_for: datetime | None = Field(description="When you mean to do it, in UTC; null when not said.")
    expected_outcome: str | None = Field(description=EXPECTED_OUTCOME, examples=[OUTCOME_EXAMPLE])
    expected_rejection: int = Field(description=PLAN_EXPECTED_REJECTION, examples=[80])
    expected_distress_peak: int | None = Field(description=EXPECTED_DISTRESS_PEAK, examples=[70])
    status: PlanStatus = Field(description=STATUS, examples=["open"])
    attempt_id: uuid.UUID | None = Field(
        description="The attempt logged with this plan (`plan_id` of `POST /api/v1/attempts`); null until done.",
        examples=["0b6f4a52-8f7e-4c39-9a57-2f1f3b0c6a11"],
    )
    created_at: datetime = Field(description="When the plan was made: when its `expected_rejection` was written down.")
    updated_at: datetime = Field(description="When it was last changed.")


class CalendarFeedPublic(OutputModel):
    url: str = Field(
        description="The feed's secret address: subscribe to it in a calendar app. Shown only in this answer; "
        "anyone with it can read the times and challenges of your open plans, so keep it private.",
        examples=["https://rt.example.com/api/v1/calendar/8bq3yXg0Vd9W2mJ3lZr7cKpQ1sT5uA6eNfH4oI2wYxE.ics"],
    )
