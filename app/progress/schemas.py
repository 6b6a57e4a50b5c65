import datetime as dt
from typing import Literal

from pydantic import ConfigDict, Field
from pydantic.config import JsonDict

from app.core.schemas import OutputModel

_TREND_EXAMPLE: JsonDict = {
    "status": "improving",
    "timezone": "Europe/Berlin",
    "time_origin": "2026-09-01T17:05:00Z",
    "attempts": 42,
    "exposures": 39,
    "rejections": 17,
    "acceptances": 18,
    "partials": 4,
    "avoided": 3,
    "avoidance_rate": 7.14,
    "distress_trend": {
        "slope_per_week": -3.214,
        "intercept": 68.5,
        "ci_low": -4.5,
        "ci_high": -2.1,
        "p_value": 0.00012,
        "n": 39,
        "baseline": 72.0,
        "recent": 44.0,
        "percent_change": -38.89,
    },
    "adjusted_trend": {
        "slope_per_week": -4.875,
        "intercept": 44.0,
        "ci_low": -6.2,
        "ci_high": -3.5,
        "p_value": 0.00003,
        "n": 39,
        "baseline": 50.0,
        "recent": 4.0,
        "percent_change": -92.0,
    },
    "habituation": {
        "within_session_drop": 27.4,
        "mean_distress_before": 61.2,
        "mean_distress_peak": 58.9,
        "mean_distress_after": 31.5,
        "n": 37,
    },
    "expectancy": {
        "expected_rejection_mean": 71.3,
        "actual_rejection_rate": 43.59,
        "partial_rate": 10.26,
        "gap": 27.71,
        "n_predictions": 35,
    },
    "level": {
        "current_difficulty": 4,
        "recommended_difficulty": 5,
        "reason": {
            "code": "step_up_low_distress",
            "message": "Your last three asks at this level peaked at 40 or less: you are ready for one step up.",
        },
    },
    "streak": {"current_days": 3, "longest_days": 9},
    "series": [
        {
            "date": "2026-10-12",
            "attempts": 2,
            "exposures": 2,
            "rejections": 1,
            "mean_distress_peak": 47.5,
            "rolling_mean_distress_peak": 51.2,
            "max_difficulty": 4,
        },
        {
            "date": "2026-10-13",
            "attempts": 1,
            "exposures": 0,
            "rejections": 0,
            "mean_distress_peak": None,
            "rolling_mean_distress_peak": 51.2,
            "max_difficulty": None,
        },
        {
            "date": "2026-10-15",
            "attempts": 1,
            "exposures": 1,
            "rejections": 0,
            "mean_distress_peak": 38.0,
            "rolling_mean_distress_peak": 47.83,
            "max_difficulty": 4,
        },
    ],
    "by_category": [
        {"category": "everyday", "attempts": 25, "exposures": 24, "mean_distress_peak": 52.1, "slope_per_week": -2.5},
        {"category": "work", "attempts": 17, "exposures": 15, "mean_distress_peak": 68.3, "slope_per_week": -4.0},
    ],
    "support": None,
}


class TrendLine(OutputModel):
    """A robust trend line: `value ≈ intercept + slope_per_week × weeks since time_origin`."""

    slope_per_week: float | None = Field(
        description="Theil–Sen slope: the median change in SUDS points per week. Negative means distress is "
        "falling. Null until the exposures fall on at least 3 distinct days in your time zone (the rule of "
        "`insufficient_data`), as are `intercept`, `ci_low`, `ci_high` and `p_value`. Above 500 exposures it is "
        "fitted on 500 of them evenly spaced in time (first and last always kept).",
        examples=[-3.214],
    )
    intercept: float | None = Field(
        description="The fitted value at `time_origin` (week 0), to draw the line.", examples=[68.5]
    )
    ci_low: float | None = Field(description="Lower end of the slope's 95% confidence interval.", examples=[-4.5])
    ci_high: float | None = Field(description="Upper end of the slope's 95% confidence interval.", examples=[-2.1])
    p_value: float | None = Field(
        description="Two-sided Mann–Kendall p-value (Kendall's tau of the values against time), over every "
        "exposure: below 0.05 the trend is unlikely to be chance. Null when it cannot be computed "
        "(exposures on fewer than 3 distinct days, or all values equal).",
        examples=[0.00012],
    )
    n: int = Field(description="How many exposures the line is computed from.", examples=[39])
    baseline: float | None = Field(description="Mean of the first 5 exposures (fewer if there are fewer).")
    recent: float | None = Field(
        description="Mean of the last 5 exposures; overlaps `baseline` when there are fewer than 10."
    )
    percent_change: float | None = Field(
        description="(recent − baseline) / |baseline| × 100: negative means lower than at the start. "
        "Null with fewer than 2 exposures or a baseline of 0.",
        examples=[-38.89],
    )


class Habituation(OutputModel):
    within_session_drop: float | None = Field(
        description="Mean of peak − after over exposures that rated both: how far distress settles after an ask.",
        examples=[27.4],
    )
    mean_distress_before: float | None = Field(
        description="Mean anticipatory distress over exposures (SUDS 0–100).", examples=[61.2]
    )
    mean_distress_peak: float | None = Field(description="Mean peak distress over exposures.", examples=[58.9])
    mean_distress_after: float | None = Field(
        description="Mean distress afterwards, over exposures that rated it.", examples=[31.5]
    )
    n: int = Field(description="Exposures with both peak and after rated.", examples=[37])


class Expectancy(OutputModel):
    expected_rejection_mean: float | None = Field(
        ge=0,
        le=100,
        description="Mean predicted chance of a no (percent), over exposures that gave a prediction.",
        examples=[71.3],
    )
    actual_rejection_rate: float | None = Field(
        ge=0,
        le=100,
        description="Share of exposures that got a no (outcome `rejected`), in percent. A `partial` is a "
        "qualified yes and does not count as a no.",
        examples=[43.59],
    )
    partial_rate: float | None = Field(
        ge=0, le=100, description="Share of exposures with outcome `partial`, in percent.", examples=[10.26]
    )
    gap: float | None = Field(
        description="expected_rejection_mean − actual_rejection_rate, in percentage points. Positive means you "
        "expect more noes than you get, as most people do.",
        examples=[27.71],
    )
    n_predictions: int = Field(description="Exposures that carried `expected_rejection`.", examples=[35])


LevelCode = Literal[
    "new_user", "step_down", "step_up_low_distress", "step_up_halved", "at_top_level", "building_up", "stay"
]


class LevelReason(OutputModel):
    code: LevelCode = Field(
        description="Why this level, as a stable code: `new_user` (no exposures yet: start at 2); "
        "`step_down` (at least 3 of the last 5 attempts peaked at 85 or more or were avoided: two levels down, "
        "not below 1); `step_up_low_distress` (each of the last 3 exposures at the current level peaked at 40 or "
        "less: one up); `step_up_halved` (each of them peaked at half or less of the mean of the first ones at "
        "that level, up to 3 not among the last 3: one up); `at_top_level` (a step up is due at 10, the top); "
        "`building_up` (fewer than 3 exposures at the current level); `stay` (none of these).",
        examples=["step_up_low_distress"],
    )
    message: str = Field(description="The same in a sentence for the user.")


class Level(OutputModel):
    """Your rung on the difficulty ladder, from the attempts in the window (all of them unless `since`/`until`
    narrow it; `next-challenges` always uses your whole history)."""

    current_difficulty: int = Field(
        ge=1,
        le=10,
        description="Median difficulty of the last 5 exposures, rounded half up; 2 before the first exposure.",
        examples=[4],
    )
    recommended_difficulty: int = Field(
        ge=1, le=10, description="The difficulty to practise next; `next-challenges` offers it.", examples=[5]
    )
    reason: LevelReason


class Streak(OutputModel):
    current_days: int = Field(
        description="Consecutive days with at least one exposure, in your time zone, ending today, or yesterday "
        "if there is none yet today (ending at `until` when given). 0 when neither day has one.",
        examples=[3],
    )
    longest_days: int = Field(description="The longest such run in the window.", examples=[9])


class SeriesPoint(OutputModel):
    date: dt.date = Field(description="A calendar day in your time zone.", examples=["2026-10-12"])
    attempts: int = Field(description="Attempts that day, avoided ones included.", examples=[2])
    exposures: int = Field(description="Attempts that day that were not avoided.", examples=[2])
    rejections: int = Field(description="Attempts that day with outcome `rejected`.", examples=[1])
    mean_distress_peak: float | None = Field(
        description="Mean peak distress of that day's exposures; null on a day with only avoided attempts.",
        examples=[47.5],
    )
    rolling_mean_distress_peak: float | None = Field(
        description="Mean peak distress over every exposure in the 7 calendar days ending that day "
        "(days without attempts count as calendar days, not as zeros).",
        examples=[51.2],
    )
    max_difficulty: int | None = Field(
        description="The hardest difficulty exposed to that day; null with no exposures.", examples=[4]
    )


class CategoryTrend(OutputModel):
    category: str = Field(description="The category's slug, as the attempts recorded it.", examples=["everyday"])
    attempts: int = Field(description="Attempts in this category, avoided ones included.", examples=[25])
    exposures: int = Field(description="Attempts in this category that were not avoided.", examples=[24])
    mean_distress_peak: float | None = Field(description="Mean peak distress of those exposures.", examples=[52.1])
    slope_per_week: float | None = Field(
        description="Theil–Sen slope of this category's peak distress, SUDS points per week; null until this "
        "category's exposures fall on at least 3 distinct days in your time zone.",
        examples=[-2.5],
    )


class Support(OutputModel):
    reason: Literal["high_distress"] = Field(
        description="Why this note is shown: `high_distress` when the step-down rule fires.",
        examples=["high_distress"],
    )
    message: str = Field(description="A kind note to show the user as it is.")


class TrendPublic(OutputModel):
    """Your desensitization trend over the window (all your history unless `since`/`until` narrow it)."""

    model_config = ConfigDict(json_schema_extra={"example": _TREND_EXAMPLE})

    status: Literal["insufficient_data", "improving", "stable", "worsening"] = Field(
        description="Decided by `adjusted_trend`: `insufficient_data` with fewer than 6 exposures or fewer than 3 "
        "distinct days; `improving` when the slope is negative with p < 0.05; `worsening` when positive with "
        "p < 0.05; `stable` otherwise.",
        examples=["improving"],
    )
    timezone: str = Field(description="Your time zone, which decides days, `series` and `streak`.")
    time_origin: dt.datetime | None = Field(
        description="The first exposure in the window: week 0 of every trend line. Null with no exposures."
    )
    attempts: int = Field(description="Attempts in the window, avoided ones included.", examples=[42])
    exposures: int = Field(description="Attempts that were not avoided.", examples=[39])
    rejections: int = Field(description="Attempts with outcome `rejected`.", examples=[17])
    acceptances: int = Field(description="Attempts with outcome `accepted`.", examples=[18])
    partials: int = Field(description="Attempts with outcome `partial`.", examples=[4])
    avoided: int = Field(description="Attempts with outcome `avoided`.", examples=[3])
    avoidance_rate: float | None = Field(
        ge=0, le=100, description="avoided / attempts, in percent; null with no attempts.", examples=[7.14]
    )
    distress_trend: TrendLine = Field(description="Peak distress (SUDS) over time.")
    adjusted_trend: TrendLine = Field(
        description="Peak distress minus what the difficulty predicts (10 × difficulty), over time: moving to "
        "harder asks while feeling the same shows as falling. Values can be negative."
    )
    habituation: Habituation
    expectancy: Expectancy = Field(description="How likely you thought a no was, against how often it came.")
    level: Level
    streak: Streak
    series: list[SeriesPoint] = Field(description="One point per day with attempts, oldest first.")
    by_category: list[CategoryTrend] = Field(description="One entry per category you attempted, by slug.")
    support: Support | None = Field(
        description="Null, or a note suggesting a gentler pace (and professional support if distress stays this "
        "high) when the step-down rule fires."
    )
