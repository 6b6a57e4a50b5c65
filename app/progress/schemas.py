import datetime as dt

from pydantic import ConfigDict, Field
from pydantic.config import JsonDict
from typing_extensions import TypeAliasType

from app.core.schemas import OutputModel
from app.progress import stats

# The codes the computation gives, each named once in the document, for generated clients to share one enum.
TrendStatus = TypeAliasType("TrendStatus", stats.TrendStatus)
StatusCode = TypeAliasType("StatusCode", stats.StatusCode)
LevelCode = TypeAliasType("LevelCode", stats.LevelCode)
SupportReason = TypeAliasType("SupportReason", stats.SupportReason)
ExpectationChange = TypeAliasType("ExpectationChange", stats.ExpectationChange)

_TREND_EXAMPLE: JsonDict = {
    "status": "improving",
    "status_reason": {
        "code": "falling_at_same_difficulty",
        "message": "At the same difficulty, your peak distress is falling from 67 to 59.",
    },
    "timezone": "Europe/Berlin",
    "time_origin": "2026-03-02",
    "sessions": 24,
    "attempts": 34,
    "exposures": 31,
    "rejections": 13,
    "acceptances": 11,
    "partials": 7,
    "avoided": 3,
    "avoidance_rate": 8.82,
    "distress_trend": {
        "slope_per_week": -3.56,
        "intercept": 73.9,
        "ci_low": -5.526,
        "ci_high": -1.75,
        "p_value": 0.000147,
        "tau": -0.5435,
        "n": 24,
        "exposures": 31,
        "pairs": 276,
        "baseline": 71.5,
        "recent": 53.0,
        "percent_change": -25.87,
    },
    "adjusted_trend": {
        "slope_per_week": -8.75,
        "intercept": None,
        "ci_low": -14.0,
        "ci_high": 0.0,
        "p_value": 0.0124,
        "tau": -0.4118,
        "n": 24,
        "exposures": 31,
        "pairs": 85,
        "baseline": 66.97,
        "recent": 59.05,
        "percent_change": -11.83,
    },
    "habituation": {
        "within_session_drop": 30.0,
        "mean_distress_before": 58.55,
        "mean_distress_peak": 63.55,
        "mean_distress_after": 34.04,
        "n": 26,
    },
    "expectancy": {"expected_rejection_mean": 71.48, "actual_rejection_rate": 48.15, "gap": 23.33, "paired": 27},
    "learning": {
        "paired": 27,
        "predicted_in_advance": 9,
        "expected_rejection_mean": 71.48,
        "actual_rejection_rate": 48.15,
        "gap": 23.33,
        "mean_surprise": 42.5,
        "sessions": 21,
        "expected_rejection_slope_per_week": -1.25,
        "expected_rejection_ci_low": -2.5,
        "expected_rejection_ci_high": -0.357,
        "expected_rejection_p_value": 0.0213,
        "expected_rejection_change": "falling",
    },
    "level": {
        "current_difficulty": 5,
        "recommended_difficulty": 5,
        "reason": {
            "code": "avoided_at_level",
            "message": "You avoided 1 of your last 5 asks at difficulty 5: stay at this level, without stepping up, "
            "until you no longer avoid asks here.",
        },
    },
    "streak": {"current_days": 2, "longest_days": 3},
    "return_of_fear": {"retests": 2, "mean_change": 7.5},
    "series": [
        {
            "date": "2026-03-12",
            "attempts": 2,
            "exposures": 2,
            "rejections": 0,
            "mean_distress_peak": 65.0,
            "rolling_mean_distress_peak": 67.5,
            "max_difficulty": 3,
        },
        {
            "date": "2026-03-13",
            "attempts": 1,
            "exposures": 1,
            "rejections": 0,
            "mean_distress_peak": 55.0,
            "rolling_mean_distress_peak": 64.29,
            "max_difficulty": 3,
        },
        {
            "date": "2026-03-15",
            "attempts": 2,
            "exposures": 2,
            "rejections": 1,
            "mean_distress_peak": 65.0,
            "rolling_mean_distress_peak": 64.38,
            "max_difficulty": 4,
        },
        {
            "date": "2026-03-17",
            "attempts": 1,
            "exposures": 0,
            "rejections": 0,
            "mean_distress_peak": None,
            "rolling_mean_distress_peak": 62.5,
            "max_difficulty": None,
        },
    ],
    "by_category": [
        {
            "category": "everyday",
            "attempts": 17,
            "exposures": 15,
            "sessions": 14,
            "mean_distress_peak": 65.33,
            "slope_per_week": -3.5,
        },
        {
            "category": "work",
            "attempts": 17,
            "exposures": 16,
            "sessions": 14,
            "mean_distress_peak": 61.88,
            "slope_per_week": -4.118,
        },
    ],
    "support": None,
}

_FIT_LIMIT = (
    "Above 200 sessions (fewer per difficulty when several are compared: at most 20,000 pairs in all), the "
    "slope and its interval are fitted on that many sessions evenly spaced in time, first and last kept; the "
    "test (`tau`, `p_value`) always uses every session."
)


class TrendLine(OutputModel):
    """A trend over sessions: one point per local day with an exposure, the mean peak distress (SUDS) that day.

    A day with ten asks weighs as much as a day with one; asks minutes apart are one point. Time is weeks since
    `time_origin`. The test is Mann–Kendall's; the slope is Sen's (Theil–Sen). In `adjusted_trend` both are
    stratified by difficulty: only sessions at the same difficulty are compared.
    """

    slope_per_week: float | None = Field(
        description="Sen's slope: the median of the slopes between every pair of sessions (in `adjusted_trend`, "
        "pairs at the same difficulty, pooled), in SUDS points per week; negative means falling. Null with fewer "
        "than 2 sessions to pair. Ratings come in steps of 5 or 10, so many pairs tie: the slope can then be 0 "
        "while nearly every later session is lower, which is why `status` reads `tau` and `p_value`, never the "
        f"slope. {_FIT_LIMIT}",
        examples=[-3.56],
    )
    intercept: float | None = Field(
        description="The line's value at `time_origin` (week 0), median(session values) − slope × median(weeks), "
        "to draw `intercept + slope_per_week × weeks`. Always null in `adjusted_trend`: each difficulty has a "
        "level of its own, so there is no single line across them.",
        examples=[73.9],
    )
    ci_low: float | None = Field(
        description="Lower end of Sen's 95% confidence interval for the slope: an order statistic of the pairwise "
        "slopes, whose rank comes from the test's Var(S) (as scipy.stats.theilslopes computes it for one line). "
        "Null when the slope is.",
        examples=[-5.526],
    )
    ci_high: float | None = Field(description="Upper end of that interval. Null when the slope is.", examples=[-1.75])
    p_value: float | None = Field(
        description="Two-sided p-value of the Mann–Kendall test over every session, from the normal approximation "
        "with the tie and continuity corrections. In `adjusted_trend` it is the seasonal (stratified) test with "
        "difficulties as seasons, whose variance adds the covariance between difficulties practised on the same "
        "days (Hirsch & Slack 1984): they share those days' mood. Below 0.05 the change is unlikely to be "
        "chance. Null when the test has no variance: fewer than 2 sessions at every difficulty, or all equal.",
        examples=[0.000147],
    )
    tau: float | None = Field(
        ge=-1,
        le=1,
        description="Kendall's tau-a, S / `pairs`: the share of pairs of sessions where the later one is higher, "
        "minus the share where it is lower. Negative means distress is falling; −1 means every later session was "
        "lower. Null with no pairs.",
        examples=[-0.5435],
    )
    n: int = Field(
        description="Sessions (local days with an exposure) the line has points for. In `adjusted_trend`, the "
        "distinct sessions at difficulties practised in 2 or more sessions: the ones compared.",
        examples=[24],
    )
    exposures: int = Field(description="The exposures behind those points.", examples=[31])
    pairs: int = Field(
        description="Pairs of sessions the test compares: n(n − 1)/2, or in `adjusted_trend` that count within "
        "each difficulty, summed.",
        examples=[276],
    )
    baseline: float | None = Field(
        description="What the start felt like, in SUDS. `distress_trend`: the mean of the first k session values, "
        "k = min(5, n // 2). `adjusted_trend`: for each difficulty practised in 2 or more sessions, the mean of "
        "its first k values (k = min(5, its sessions // 2)), averaged over those difficulties weighted by their "
        "sessions: what the same asks felt like at the start. Null when k = 0 (fewer than 2 sessions).",
        examples=[71.5],
    )
    recent: float | None = Field(
        description="The same over the last k session values: what it feels like now. Never overlaps `baseline`.",
        examples=[53.0],
    )
    percent_change: float | None = Field(
        description="(recent − baseline) / baseline × 100: negative means lower than at the start. SUDS has a true "
        "zero, so this is a plain relative change. Null when `baseline` is null or 0.",
        examples=[-25.87],
    )


class StatusReason(OutputModel):
    code: StatusCode = Field(
        description="Why this status, as a stable code: `too_few_sessions` (fewer than 5 sessions); "
        "`falling_at_same_difficulty` / `rising_at_same_difficulty` (`adjusted_trend` has p < 0.05 and a negative "
        "/ positive tau); `harder_asks_same_distress` (each session's mean difficulty, weighted by exposures, "
        "rises with p < 0.05 in a Mann–Kendall test while `distress_trend` does not rise with p < 0.05); "
        "`no_clear_change` (none of these).",
        examples=["falling_at_same_difficulty"],
    )
    message: str = Field(description="The same in a sentence for the user, with the numbers where they help.")


class Habituation(OutputModel):
    within_session_drop: float | None = Field(
        description="Mean of peak − after within one exposure, over exposures that rated distress afterwards: how "
        "far distress settles by the end of an ask. Null when none did.",
        examples=[30.0],
    )
    mean_distress_before: float | None = Field(
        description="Mean anticipatory distress (before the ask) over all exposures, SUDS 0–100.", examples=[58.55]
    )
    mean_distress_peak: float | None = Field(description="Mean peak distress over all exposures.", examples=[63.55])
    mean_distress_after: float | None = Field(
        description="Mean distress afterwards, over exposures that rated it.", examples=[34.04]
    )
    n: int = Field(
        description="Exposures that rated distress afterwards: those behind `within_session_drop` and "
        "`mean_distress_after`.",
        examples=[26],
    )


class Expectancy(OutputModel):
    """Predictions against outcomes, paired: only exposures that carried a prediction (`expected_rejection`)
    count, in both the mean and the rate."""

    expected_rejection_mean: float | None = Field(
        ge=0,
        le=100,
        description="Mean predicted chance of a no (percent) over the paired exposures.",
        examples=[71.48],
    )
    actual_rejection_rate: float | None = Field(
        ge=0,
        le=100,
        description="Share of the same exposures that got a no (outcome `rejected`), in percent. A `partial` is a "
        "qualified yes and does not count as a no.",
        examples=[48.15],
    )
    gap: float | None = Field(
        description="expected_rejection_mean − actual_rejection_rate, in percentage points. Positive means you "
        "expected more noes than you got, as most people do.",
        examples=[23.33],
    )
    paired: int = Field(
        description="Exposures that carried a prediction: the ones behind all three numbers.", examples=[27]
    )


class Learning(OutputModel):
    """What your predictions say about your fear, over the same paired exposures as `expectancy` (only exposures
    that carried `expected_rejection`; avoided attempts never count): its numbers again, computed once, with how
    many predictions were made in advance, how surprising the asks were, and whether you expect fewer noes over
    time."""

    paired: int = Field(
        description="Exposures that carried a prediction: the ones behind `expected_rejection_mean`, "
        "`actual_rejection_rate` and `gap`. The same as `expectancy.paired`.",
        examples=[27],
    )
    predicted_in_advance: int = Field(
        description="Of those, the predictions written down before the ask (`predicted_at` earlier than "
        "`occurred_at`, as a plan's are). A prediction given only when logging the attempt is recorded after the "
        "ask, when knowing how it went may colour it.",
        examples=[9],
    )
    expected_rejection_mean: float | None = Field(
        ge=0,
        le=100,
        description="Mean predicted chance of a no (percent) over the paired exposures; the same as "
        "`expectancy.expected_rejection_mean`. Null when `paired` is 0.",
        examples=[71.48],
    )
    actual_rejection_rate: float | None = Field(
        ge=0,
        le=100,
        description="Share of the same exposures that got a no (outcome `rejected`; a `partial` is not a no), in "
        "percent; the same as `expectancy.actual_rejection_rate`. Null when `paired` is 0.",
        examples=[48.15],
    )
    gap: float | None = Field(
        description="expected_rejection_mean − actual_rejection_rate, in percentage points, over the same "
        "exposures: positive means you expected more noes than you got. The same as `expectancy.gap`. Null when "
        "`paired` is 0.",
        examples=[23.33],
    )
    mean_surprise: float | None = Field(
        ge=0,
        le=100,
        description="Mean `surprise` over the exposures that rated it: how differently asks went from what you "
        "expected, 0 = just as expected, 100 = completely differently. Null when none rated it.",
        examples=[42.5],
    )
    sessions: int = Field(
        description="Sessions (local days) with at least one paired exposure: the points of the line below, each "
        "that day's mean prediction, so a day with ten predictions weighs as much as a day with one. The slope, "
        "its interval, `expected_rejection_p_value` and `expected_rejection_change` need 5 of them and are null "
        "below.",
        examples=[21],
    )
    expected_rejection_slope_per_week: float | None = Field(
        description="Sen's slope (Theil–Sen) of the sessions' mean predicted chance of a no against weeks since "
        "`time_origin`, in percentage points per week: negative means you expect a no less and less, as when "
        "experience corrects an overestimate. Predictions in steps of 5 or 10 tie, so the slope can be 0 while "
        "nearly every later session is lower: `expected_rejection_change` reads the test instead. Above 200 such "
        "sessions the slope and its interval are fitted on 200 evenly spaced in time, first and last kept; the "
        "test always uses every session. Null with fewer than 5 sessions.",
        examples=[-1.25],
    )
    expected_rejection_ci_low: float | None = Field(
        description="Lower end of Sen's 95% confidence interval for that slope (as scipy.stats.theilslopes "
        "computes it). Null when the slope is.",
        examples=[-2.5],
    )
    expected_rejection_ci_high: float | None = Field(
        description="Upper end of that interval. Null when the slope is.", examples=[-0.357]
    )
    expected_rejection_p_value: float | None = Field(
        description="Two-sided p-value of the Mann–Kendall test of the sessions' mean predictions over time "
        "(normal approximation with the tie and continuity corrections). Below 0.05 the change is unlikely to be "
        "chance. Null with fewer than 5 sessions, or when every session's mean prediction is the same.",
        examples=[0.0213],
    )
    expected_rejection_change: ExpectationChange | None = Field(
        description="`falling` / `rising`: later sessions predict a lower / higher chance of a no, with "
        "`expected_rejection_p_value` < 0.05 (the sign of the test, as `status` reads it, never the slope); "
        "`no_clear_change` otherwise. Falling while `gap` is positive means your expectations are moving toward "
        "what happens. Null with fewer than 5 sessions.",
        examples=["falling"],
    )


class LevelReason(OutputModel):
    code: LevelCode = Field(
        description="Why this level, as a stable code; the first rule that matches wins. `new_user`: no attempts "
        "yet, start at 2. `step_down`: recent asks were very hard, at least 3 of the last 5 exposures peaked at 85 "
        "or more or the last 5 sessions (at least 3) averaged a mean peak of 80 or more: one level down (at 1, "
        "stay at 1). `step_down_avoidance`: at least 3 of the last 5 attempts were avoided: one level down, not "
        "below 1. `avoided_at_level`: one of the last 5 attempts at the current level was avoided: stay, no step "
        "up while avoiding. `building_up`: fewer than 3 exposures at the current level among the last 20 "
        "attempts: stay. `step_up_low_distress`: each of the last 3 exposures at the level peaked at 40 or less: "
        "one up. `step_up_halved`: each of them peaked at half or less of the mean peak of your first session at "
        "that difficulty (a day before all three): one up. `at_top_level`: a step up is due at 10, the top: stay. "
        "`stay_coming_down`: the mean of those 3 is below that first session's mean (to one decimal; again a day "
        "before all three): stay, it is coming down. `stay`: distress at this level has not come down yet: stay.",
        examples=["avoided_at_level"],
    )
    message: str = Field(description="The same in a sentence for the user, with the difficulty and the numbers.")


class Level(OutputModel):
    """Your rung on the difficulty ladder, from the attempts in the window (all of them unless `since`/`until`
    narrow it; `next-challenges` always uses your whole history)."""

    current_difficulty: int = Field(
        ge=1,
        le=10,
        description="Median difficulty of the last 5 exposures among your last 20 attempts, rounded half up; of "
        "the last 5 attempts when none of them was an exposure; 2 before the first attempt.",
        examples=[5],
    )
    recommended_difficulty: int = Field(
        ge=1, le=10, description="The difficulty to practise next; `next-challenges` offers it.", examples=[5]
    )
    reason: LevelReason


class Streak(OutputModel):
    """Days in a row with practice. Paused days (`/me/pauses`) without an exposure are taken out of the calendar:
    they neither count for a streak nor break it, so a streak runs on across a pause. A paused day with an exposure
    counts like any other."""

    current_days: int = Field(
        description="Consecutive days with at least one exposure, in your time zone, ending today, or yesterday "
        "if there is none yet today (ending at `until` when given), paused days skipped: a pause today or "
        "yesterday keeps it. 0 when neither day has one.",
        examples=[2],
    )
    longest_days: int = Field(description="The longest such run in the window.", examples=[3])


class ReturnOfFear(OutputModel):
    """Whether fear comes back after a break from a challenge you had mastered.

    A challenge is mastered while its last two exposures peaked at 40 or less; an exposure of a mastered
    challenge 7 or more local days after the exposure before it is a re-test (`GET /me/next-challenges` offers
    them, reason `retest`). The re-tests counted are the exposures in the window; the two exposures before the
    gap may lie before `since`. Avoided attempts play no part."""

    retests: int = Field(description="Exposures in the window that were re-tests.", examples=[2])
    mean_change: float | None = Field(
        description="Mean over the re-tests of (the re-test's peak distress − the mean peak of the two exposures "
        "before the gap), in SUDS points. Positive means fear came back after the break, as it often partly does "
        "and then fades with practice; 0 or negative means what you had learned held. Null with no re-tests.",
        examples=[7.5],
    )


class SeriesPoint(OutputModel):
    date: dt.date = Field(description="A calendar day in your time zone.", examples=["2026-03-12"])
    attempts: int = Field(description="Attempts that day, avoided ones included.", examples=[2])
    exposures: int = Field(description="Attempts that day that were not avoided.", examples=[2])
    rejections: int = Field(description="Attempts that day with outcome `rejected`.", examples=[0])
    mean_distress_peak: float | None = Field(
        description="Mean peak distress of that day's exposures (the session's value in `distress_trend`); null "
        "on a day with only avoided attempts.",
        examples=[65.0],
    )
    rolling_mean_distress_peak: float | None = Field(
        description="Mean peak distress over every exposure in the 7 calendar days ending that day "
        "(days without attempts count as calendar days, not as zeros).",
        examples=[67.5],
    )
    max_difficulty: int | None = Field(
        description="The hardest difficulty exposed to that day; null with no exposures.", examples=[3]
    )


class CategoryTrend(OutputModel):
    category: str = Field(description="The category's slug, as the attempts recorded it.", examples=["everyday"])
    attempts: int = Field(description="Attempts in this category, avoided ones included.", examples=[17])
    exposures: int = Field(description="Attempts in this category that were not avoided.", examples=[15])
    sessions: int = Field(description="Local days with an exposure in this category.", examples=[14])
    mean_distress_peak: float | None = Field(
        description="Mean peak distress of those exposures; null with none.", examples=[65.33]
    )
    slope_per_week: float | None = Field(
        description="Sen's slope of this category's session means (one point per local day with an exposure in "
        "this category, weeks since `time_origin`), SUDS points per week; not adjusted for difficulty. Null with "
        "fewer than 2 such sessions. The categories share at most 20,000 pairs, as the difficulties of "
        "`adjusted_trend` do: with one category, a slope over more than 200 sessions is fitted on 200 evenly spaced "
        "in time, with six on 82 each.",
        examples=[-3.5],
    )


class Support(OutputModel):
    reason: SupportReason = Field(
        description="Why this note is shown, first match wins: `high_distress` (at least 3 of the last 5 "
        "exposures peaked at 85 or more); `sustained_distress` (the last 5 sessions, at least 3, averaged a mean "
        "peak of 80 or more); `rising_distress` (`adjusted_trend` rising with p < 0.05, or `distress_trend` rising "
        "with p < 0.05 while your asks did not get harder with p < 0.05); `frequent_avoidance` (at least 3 of the "
        "last 5 attempts avoided).",
        examples=["sustained_distress"],
    )
    message: str = Field(
        description="A kind note to show the user as it is: what was noticed, with its numbers, then the "
        "service's configured support text."
    )


class TrendPublic(OutputModel):
    """Your desensitization trend over the window (all your history unless `since`/`until` narrow it)."""

    model_config = ConfigDict(json_schema_extra={"example": _TREND_EXAMPLE})

    status: TrendStatus = Field(
        description="Read from the tests (the sign of tau and the p-value), never from a slope; first match wins. "
        "`insufficient_data`: fewer than 5 sessions. `improving` / `worsening`: `adjusted_trend` falls / rises "
        "with p < 0.05, i.e. the same difficulty feels less / more distressing. `improving` too when the asks got "
        "harder (each session's mean difficulty rises with p < 0.05) while `distress_trend` does not rise with "
        "p < 0.05: climbing the ladder at the same distress is progress. `stable` otherwise: stepping down to "
        "easier asks and feeling less is never `worsening`. `status_reason` says which rule.",
        examples=["improving"],
    )
    status_reason: StatusReason
    timezone: str = Field(description="Your time zone, which decides days, sessions, `series` and `streak`.")
    time_origin: dt.date | None = Field(
        description="The first session's local day: week 0 of every trend line (weeks = days since it / 7). Null "
        "with no exposures.",
        examples=["2026-03-02"],
    )
    sessions: int = Field(
        description="Sessions: local days (in your time zone) with at least one exposure. Every trend line has one "
        "point per session, and a trend needs 5.",
        examples=[24],
    )
    attempts: int = Field(description="Attempts in the window, avoided ones included.", examples=[34])
    exposures: int = Field(description="Attempts that were not avoided.", examples=[31])
    rejections: int = Field(description="Attempts with outcome `rejected`.", examples=[13])
    acceptances: int = Field(description="Attempts with outcome `accepted`.", examples=[11])
    partials: int = Field(description="Attempts with outcome `partial`.", examples=[7])
    avoided: int = Field(description="Attempts with outcome `avoided`.", examples=[3])
    avoidance_rate: float | None = Field(
        ge=0, le=100, description="avoided / attempts, in percent; null with no attempts.", examples=[8.82]
    )
    distress_trend: TrendLine = Field(
        description="Each session's mean peak distress over time, whatever the difficulty."
    )
    adjusted_trend: TrendLine = Field(
        description="The effect of difficulty removed by comparing like with like: one point per session and "
        "difficulty (that day's mean peak at that difficulty), and only points at the same difficulty are paired. "
        "It answers: do the same asks feel less distressing than they did? Difficulties practised in a single "
        "session are left out; `intercept` is null."
    )
    habituation: Habituation
    expectancy: Expectancy
    learning: Learning
    level: Level
    streak: Streak
    return_of_fear: ReturnOfFear
    series: list[SeriesPoint] = Field(description="One point per day with attempts, oldest first.")
    by_category: list[CategoryTrend] = Field(description="One entry per category you attempted, by slug.")
    support: Support | None = Field(
        description="Null, or a note suggesting a gentler pace (and professional support if distress stays high) "
        "when recent asks were very hard, distress stayed high or is rising, or asks are often avoided."
    )
