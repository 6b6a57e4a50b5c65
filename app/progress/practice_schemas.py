import datetime as dt
import uuid
from typing import Annotated, Literal

from pydantic import BeforeValidator, Field, StringConstraints, ValidationInfo, field_validator
from pydantic_core import PydanticCustomError
from typing_extensions import TypeAliasType

from app.attempts.schemas import Score
from app.catalog.schemas import ChallengePublic
from app.core.schemas import InputModel, OutputModel, SingleLine

MAX_LADDER_STEPS = 50
MAX_PAUSE_DAYS = 14
# Pauses are for illness and holidays: dated within a year of today, and this many at most.
PAUSE_HORIZON_DAYS = 366
MAX_PAUSES = 50

# A named alias: the document declares the enum once.
SuggestionReason = TypeAliasType("SuggestionReason", Literal["retest", "ladder", "level", "variety"])


def _date_text(value: object) -> object:
    # Pydantic would read a number as Unix time, and a timestamp at midnight as its date.
    if not isinstance(value, str) or len(value) != len("2026-12-24"):
        raise PydanticCustomError("date_type", "Input should be a calendar date, e.g. 2026-12-24")
    return value


LocalDate = Annotated[dt.date, BeforeValidator(_date_text), Field(json_schema_extra={"maxLength": 10})]
PauseReason = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200), SingleLine]


class LadderStepIn(InputModel):
    challenge_id: uuid.UUID = Field(
        description="A challenge you can log (as `POST /attempts` takes it): a published catalog challenge or one "
        "of your own that is not archived. Anything else answers 422 `challenge_not_found` naming the step.",
        examples=["5d0c7f7e-3a4b-4f8e-9a3c-1b2d3e4f5a6b"],
    )
    anticipated_distress: Score = Field(
        description="SUDS 0–100: how distressing you expect this step to be, as you rank the ladder.", examples=[40]
    )


class LadderUpdate(InputModel):
    steps: list[LadderStepIn] = Field(
        max_length=MAX_LADDER_STEPS,
        description=f"The whole ladder, in the order you will climb it (at most {MAX_LADDER_STEPS} steps, each "
        "challenge once); it replaces the one stored. An empty list removes your ladder.",
        examples=[
            [
                {"challenge_id": "5d0c7f7e-3a4b-4f8e-9a3c-1b2d3e4f5a6b", "anticipated_distress": 30},
                {"challenge_id": "0b6f4a52-8f7e-4c39-9a57-2f1f3b0c6a11", "anticipated_distress": 55},
            ]
        ],
    )


class LadderStepPublic(OutputModel):
    position: int = Field(ge=1, description="The step's place on the ladder, from 1 (the first to climb).")
    challenge_id: uuid.UUID = Field(description="The challenge of this step.")
    anticipated_distress: int = Field(description="SUDS 0–100 you expected at this step.", examples=[40])
    title: str = Field(description="The challenge's title.", examples=["Ask a stranger for the time"])
    category: str = Field(description="The challenge's category slug.", examples=["everyday"])
    difficulty: int = Field(description="The challenge's difficulty, 1–10.", examples=[3])
    mastered: bool = Field(
        description="Whether your last two exposures at this challenge peaked at 40 or less: "
        "`GET /me/next-challenges` then offers the next step, and this one again later as a re-test.",
        examples=[False],
    )


class LadderPublic(OutputModel):
    steps: list[LadderStepPublic] = Field(description="Your ladder's steps in climbing order; empty without one.")


class PauseCreate(InputModel):
    start_date: LocalDate = Field(
        description="The first paused day, a calendar date in your time zone, within a year of today.",
        examples=["2026-12-24"],
    )
    end_date: LocalDate = Field(
        description=f"The last paused day (included): not before `start_date`, at most {MAX_PAUSE_DAYS} days in "
        "all, within a year of today.",
        examples=["2026-12-27"],
    )
    reason: PauseReason | None = Field(
        default=None, description="Optional, for you: at most 200 characters on one line.", examples=["Flu"]
    )

    @field_validator("end_date")
    @classmethod
    def _short_and_in_order(cls, value: dt.date, info: ValidationInfo) -> dt.date:
        start = info.data.get("start_date")
        if start is not None:
            if value < start:
                raise ValueError("must not lie before `start_date`")
            if (value - start).days + 1 > MAX_PAUSE_DAYS:
                raise ValueError(f"a pause lasts at most {MAX_PAUSE_DAYS} days")
        return value


class PausePublic(OutputModel):
    id: uuid.UUID = Field(description="The pause's id, for `DELETE /me/pauses/{pause_id}`.")
    start_date: dt.date = Field(description="The first paused day (in your time zone).", examples=["2026-12-24"])
    end_date: dt.date = Field(description="The last paused day, included.", examples=["2026-12-27"])
    reason: str | None = Field(description="Your note, if any.", examples=["Flu"])
    created_at: dt.datetime = Field(description="When the pause was made (UTC).")


class NextChallenge(ChallengePublic):
    reason: SuggestionReason = Field(
        description="Why it is suggested; suggestions come in this order. `retest`: you mastered it (your last two "
        "exposures peaked at 40 or less) and a re-test is due: 7 local days after your last exposure, then 21 "
        "after the next, then every 60, as long as the re-tests also peak at 40 or less (one above 40 sends it "
        "back to ordinary practice); the trend's `return_of_fear` counts these. `ladder`: the first step of "
        "your ladder (`PUT /me/ladder`) that you have not mastered. `level`: at your recommended difficulty, "
        "nearest levels next. `variety`: the same, but in a category none of your last 20 attempts was in, so "
        "practice spreads across kinds of asks (never the first of these, and only once you have attempts).",
        examples=["level"],
    )
