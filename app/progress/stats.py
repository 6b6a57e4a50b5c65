"""The desensitization trend, computed from plain attempt records; no database, no HTTP.

Exposures are attempts that were not avoided. Time runs in weeks from the first
exposure. The slope is Theil–Sen (the median of pairwise slopes), which a few
outlier days cannot drag; its significance is the Mann–Kendall test, i.e.
Kendall's tau of distress against time. Both come from scipy.stats.
"""

import math
from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from types import ModuleType
from typing import Literal, NamedTuple
from zoneinfo import ZoneInfo

import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.float64]


def import_scipy() -> ModuleType:
    """scipy.stats, imported on first use: tens of MB that only the process computing trends pays
    (see app/progress/compute.py); a serving worker that only reads cached trends never loads it."""
    from scipy import stats as scipy_stats

    return scipy_stats


TrendStatus = Literal["insufficient_data", "improving", "stable", "worsening"]

WEEK_SECONDS = 7 * 24 * 3600
# Theil–Sen looks at every pair of points: O(n²) time and memory (500 points
# take ~6 MB and a few ms; 2,000 would take ~100 MB). Above this many points the
# slope and its interval are fitted on this many exposures evenly spaced in time
# order, always keeping the first and the last. Mann–Kendall (O(n log n)) always
# sees every exposure.
MAX_FIT_POINTS = 500
EDGE_COUNT = 5  # exposures averaged for `baseline` and `recent`
SIGNIFICANCE = 0.05
CONFIDENCE = 0.95
MIN_EXPOSURES = 6
MIN_DAYS = 3
ROLLING_DAYS = 7
# The distress a difficulty level predicts on the SUDS scale: peak − 10 × difficulty
# removes it, so climbing the ladder while feeling the same counts as progress.
DISTRESS_PER_LEVEL = 10
NEW_USER_LEVEL = 2
MIN_LEVEL, MAX_LEVEL = 1, 10
STEP_UP_PEAK = 40
STEP_DOWN_PEAK = 85
STEP_DOWN_WINDOW = 5
STEP_DOWN_COUNT = 3
STEP_UP_WINDOW = 3
STEP_DOWN_STEPS = 2

AVOIDED = "avoided"


class AttemptRecord(NamedTuple):
    """One logged attempt, as the trend needs it. `occurred_at` is timezone-aware."""

    occurred_at: datetime
    outcome: str
    distress_before: int
    distress_peak: int | None
    distress_after: int | None
    expected_rejection: int | None
    difficulty: int
    category: str


@dataclass(frozen=True, slots=True)
class TrendLine:
    slope_per_week: float | None
    intercept: float | None
    ci_low: float | None
    ci_high: float | None
    p_value: float | None
    n: int
    baseline: float | None
    recent: float | None
    percent_change: float | None


@dataclass(frozen=True, slots=True)
class Habituation:
    within_session_drop: float | None
    mean_distress_before: float | None
    mean_distress_peak: float | None
    mean_distress_after: float | None
    n: int


@dataclass(frozen=True, slots=True)
class Expectancy:
    expected_rejection_mean: float | None
    actual_rejection_rate: float | None
    partial_rate: float | None
    gap: float | None
    n_predictions: int


@dataclass(frozen=True, slots=True)
class LevelReason:
    code: str
    message: str


@dataclass(frozen=True, slots=True)
class Level:
    current_difficulty: int
    recommended_difficulty: int
    reason: LevelReason

    @property
    def steps_down(self) -> bool:
        return self.reason.code == "step_down"


@dataclass(frozen=True, slots=True)
class Streak:
    current_days: int
    longest_days: int


@dataclass(frozen=True, slots=True)
class SeriesPoint:
    date: date
    attempts: int
    exposures: int
    rejections: int
    mean_distress_peak: float | None
    rolling_mean_distress_peak: float | None
    max_difficulty: int | None


@dataclass(frozen=True, slots=True)
class CategoryTrend:
    category: str
    attempts: int
    exposures: int
    mean_distress_peak: float | None
    slope_per_week: float | None


@dataclass(frozen=True, slots=True)
class Support:
    reason: str
    message: str


@dataclass(frozen=True, slots=True)
class Trend:
    status: TrendStatus
    timezone: str
    time_origin: datetime | None
    attempts: int
    exposures: int
    rejections: int
    acceptances: int
    partials: int
    avoided: int
    avoidance_rate: float | None
    distress_trend: TrendLine
    adjusted_trend: TrendLine
    habituation: Habituation
    expectancy: Expectancy
    level: Level
    streak: Streak
    series: list[SeriesPoint]
    by_category: list[CategoryTrend]
    support: Support | None


LEVEL_MESSAGES = {
    "new_user": "No exposures yet: start with an easy ask at difficulty 2.",
    "step_down": (
        "Three of your last five attempts peaked at 85 or more or were avoided: "
        "two gentler steps will help you rebuild your footing."
    ),
    "step_up_low_distress": "Your last three asks at this level peaked at 40 or less: you are ready for one step up.",
    "step_up_halved": (
        "Your last three asks at this level peaked at half or less of your first ones: you are ready for one step up."
    ),
    "at_top_level": "Your distress at the hardest level has come down: keep practising at this level.",
    "building_up": "Do a few more asks at this level before deciding whether to step up.",
    "stay": "Distress at this level is still coming down: stay here a little longer.",
}


def compute_trend(records: Iterable[AttemptRecord], *, timezone: str, today: date, support_message: str) -> Trend:
    """The whole trend for one user's attempts (any order), with days in `timezone` and streaks up to `today`."""
    rows = sorted(records, key=lambda r: r.occurred_at)
    tz = ZoneInfo(timezone)
    outcomes = Counter(r.outcome for r in rows)
    exposures = [r for r in rows if r.outcome != AVOIDED]
    peaked = [r for r in exposures if r.distress_peak is not None]

    series = daily_series(rows, tz)
    exposure_days = {point.date for point in series if point.exposures}
    origin = peaked[0].occurred_at if peaked else None
    weeks = _weeks(peaked)
    peaks = np.array([r.distress_peak for r in peaked], dtype=np.float64)
    difficulties = np.array([r.difficulty for r in peaked], dtype=np.float64)
    enough_days = len(exposure_days) >= MIN_DAYS
    distress_trend = trend_line(weeks, peaks, enough_days=enough_days)
    adjusted_trend = trend_line(weeks, peaks - DISTRESS_PER_LEVEL * difficulties, enough_days=enough_days)
    level = assess_level(rows)
    return Trend(
        status=classify(adjusted_trend, exposures=len(peaked), days=len(exposure_days)),
        timezone=timezone,
        time_origin=origin,
        attempts=len(rows),
        exposures=len(exposures),
        rejections=outcomes["rejected"],
        acceptances=outcomes["accepted"],
        partials=outcomes["partial"],
        avoided=outcomes[AVOIDED],
        avoidance_rate=_percent(outcomes[AVOIDED], len(rows)),
        distress_trend=distress_trend,
        adjusted_trend=adjusted_trend,
        habituation=habituation(exposures),
        expectancy=expectancy(exposures),
        level=level,
        streak=streak(exposure_days, today),
        series=series,
        by_category=by_category(rows, origin, tz),
        support=Support(reason="high_distress", message=support_message) if level.steps_down else None,
    )


def trend_line(weeks: FloatArray, values: FloatArray, *, enough_days: bool = True) -> TrendLine:
    """Theil–Sen slope per week with its 95% interval, Mann–Kendall p-value, and the first/last means.

    `enough_days=False` leaves the line itself (slope, intercept, interval, p-value) out: callers pass it when
    the exposures fall on fewer than MIN_DAYS local days, where a slope over seconds or hours would
    extrapolate to absurd values per week.
    """
    n = len(values)
    baseline = _mean(values[:EDGE_COUNT])
    recent = _mean(values[-EDGE_COUNT:])
    # Relative to the baseline's magnitude, so a fall is negative even when the
    # difficulty-adjusted baseline is below zero.
    change = (
        None
        if n < 2 or baseline is None or recent is None or baseline == 0
        else (recent - baseline) / abs(baseline) * 100
    )
    slope = intercept = low = high = p_value = None
    if enough_days and n >= 2 and np.ptp(weeks) > 0:
        fit_weeks, fit_values = thin(weeks, values)
        scipy_stats = import_scipy()
        fit = scipy_stats.theilslopes(fit_values, fit_weeks, alpha=CONFIDENCE)
        slope, intercept = float(fit.slope), float(fit.intercept)
        low, high = float(fit.low_slope), float(fit.high_slope)
        # Kendall's tau is undefined when every value is the same: no evidence of a trend.
        if np.ptp(values) > 0:
            p_value = float(scipy_stats.kendalltau(weeks, values).pvalue)
    return TrendLine(
        slope_per_week=_round(slope, 3),
        intercept=_round(intercept, 2),
        ci_low=_round(low, 3),
        ci_high=_round(high, 3),
        p_value=_finite(p_value),
        n=n,
        baseline=_round(baseline),
        recent=_round(recent),
        percent_change=_round(change),
    )


def classify(line: TrendLine, *, exposures: int, days: int) -> TrendStatus:
    if exposures < MIN_EXPOSURES or days < MIN_DAYS:
        return "insufficient_data"
    if line.slope_per_week is None or line.p_value is None or line.p_value >= SIGNIFICANCE:
        return "stable"
    if line.slope_per_week < 0:
        return "improving"
    if line.slope_per_week > 0:
        return "worsening"
    return "stable"


def habituation(exposures: Sequence[AttemptRecord]) -> Habituation:
    drops = [
        r.distress_peak - r.distress_after
        for r in exposures
        if r.distress_peak is not None and r.distress_after is not None
    ]
    return Habituation(
        within_session_drop=_round(_mean(drops)),
        mean_distress_before=_round(_mean([r.distress_before for r in exposures])),
        mean_distress_peak=_round(_mean([r.distress_peak for r in exposures if r.distress_peak is not None])),
        mean_distress_after=_round(_mean([r.distress_after for r in exposures if r.distress_after is not None])),
        n=len(drops),
    )


def expectancy(exposures: Sequence[AttemptRecord]) -> Expectancy:
    """Predicted chance of a no against the real share of noes, in percent.

    Only `rejected` is a no: a `partial` is a qualified yes, so it does not count as
    a rejection (it is reported on its own as `partial_rate`).
    """
    predictions = [r.expected_rejection for r in exposures if r.expected_rejection is not None]
    expected = _mean(predictions)
    actual = _percent(sum(r.outcome == "rejected" for r in exposures), len(exposures))
    return Expectancy(
        expected_rejection_mean=_round(expected),
        actual_rejection_rate=_round(actual),
        partial_rate=_round(_percent(sum(r.outcome == "partial" for r in exposures), len(exposures))),
        gap=_round(expected - actual) if expected is not None and actual is not None else None,
        n_predictions=len(predictions),
    )


def assess_level(records: Sequence[AttemptRecord]) -> Level:
    """The current rung of the ladder and the next one, from attempts in time order.

    - current: the median difficulty of the last 5 exposures, rounded half up; 2 with none.
    - two steps down (not below 1) when at least 3 of the last 5 attempts peaked at 85 or
      more or were avoided; this wins over stepping up.
    - one step up when each of the last 3 exposures at the current level peaked at 40 or
      less, or at half or less of the mean of the first ones at that level (up to 3,
      never overlapping the last 3).
    """
    exposures = [r for r in records if r.outcome != AVOIDED]
    if not exposures:
        current = NEW_USER_LEVEL
    else:
        median = float(np.median([r.difficulty for r in exposures[-EDGE_COUNT:]]))
        current = min(MAX_LEVEL, max(MIN_LEVEL, math.floor(median + 0.5)))

    hard = sum(
        r.outcome == AVOIDED or (r.distress_peak is not None and r.distress_peak >= STEP_DOWN_PEAK)
        for r in records[-STEP_DOWN_WINDOW:]
    )
    if hard >= STEP_DOWN_COUNT:
        return _level(current, max(MIN_LEVEL, current - STEP_DOWN_STEPS), "step_down")
    if not exposures:
        return _level(current, current, "new_user")

    at_level = [r.distress_peak for r in exposures if r.difficulty == current and r.distress_peak is not None]
    if len(at_level) < STEP_UP_WINDOW:
        return _level(current, current, "building_up")
    last = at_level[-STEP_UP_WINDOW:]
    first = at_level[: min(STEP_UP_WINDOW, len(at_level) - STEP_UP_WINDOW)]
    if max(last) <= STEP_UP_PEAK:
        code = "step_up_low_distress"
    elif first and max(last) <= float(np.mean(first)) / 2:
        code = "step_up_halved"
    else:
        return _level(current, current, "stay")
    if current == MAX_LEVEL:
        return _level(current, current, "at_top_level")
    return _level(current, current + 1, code)


def streak(days: set[date], today: date) -> Streak:
    """Runs of consecutive local days with an exposure; the current run ends today, or yesterday if none today."""
    ordinals = sorted(d.toordinal() for d in days)
    longest = run = 0
    previous = None
    for day in ordinals:
        run = run + 1 if previous is not None and day == previous + 1 else 1
        longest = max(longest, run)
        previous = day
    present = set(ordinals)
    end = today.toordinal()
    if end not in present:
        end -= 1
    current = 0
    while end - current in present:
        current += 1
    return Streak(current_days=current, longest_days=longest)


def daily_series(records: Sequence[AttemptRecord], tz: ZoneInfo) -> list[SeriesPoint]:
    """One point per local day with attempts; the rolling mean pools every exposure of that day and the 6 before."""
    by_day: defaultdict[date, list[AttemptRecord]] = defaultdict(list)
    for r in records:
        by_day[r.occurred_at.astimezone(tz).date()].append(r)
    days = sorted(by_day)
    day_peaks = [_peaks(by_day[d]) for d in days]
    ordinals = np.array([d.toordinal() for d in days], dtype=np.int64)
    peak_sums = np.array([sum(p) for p in day_peaks], dtype=np.float64)
    peak_counts = np.array([len(p) for p in day_peaks], dtype=np.float64)
    # Prefix sums and a binary search for each window start: O(days log days).
    sum_prefix = np.concatenate(([0.0], np.cumsum(peak_sums)))
    count_prefix = np.concatenate(([0.0], np.cumsum(peak_counts)))
    starts = np.searchsorted(ordinals, ordinals - (ROLLING_DAYS - 1), side="left")
    points = []
    for i, (day, peaks) in enumerate(zip(days, day_peaks, strict=True)):
        rows = by_day[day]
        window_count = count_prefix[i + 1] - count_prefix[starts[i]]
        window_sum = sum_prefix[i + 1] - sum_prefix[starts[i]]
        points.append(
            SeriesPoint(
                date=day,
                attempts=len(rows),
                exposures=sum(r.outcome != AVOIDED for r in rows),
                rejections=sum(r.outcome == "rejected" for r in rows),
                mean_distress_peak=_round(_mean(peaks)),
                rolling_mean_distress_peak=_round(window_sum / window_count) if window_count else None,
                max_difficulty=max((r.difficulty for r in rows if r.outcome != AVOIDED), default=None),
            )
        )
    return points


def by_category(records: Sequence[AttemptRecord], origin: datetime | None, tz: ZoneInfo) -> list[CategoryTrend]:
    groups: defaultdict[str, list[AttemptRecord]] = defaultdict(list)
    for r in records:
        groups[r.category].append(r)
    result = []
    for category in sorted(groups):
        rows = groups[category]
        peaked = [r for r in rows if r.outcome != AVOIDED and r.distress_peak is not None]
        days = {r.occurred_at.astimezone(tz).date() for r in peaked}
        line = trend_line(
            _weeks(peaked, origin),
            np.array([r.distress_peak for r in peaked], dtype=np.float64),
            enough_days=len(days) >= MIN_DAYS,
        )
        result.append(
            CategoryTrend(
                category=category,
                attempts=len(rows),
                exposures=sum(r.outcome != AVOIDED for r in rows),
                mean_distress_peak=_round(_mean([r.distress_peak for r in peaked if r.distress_peak is not None])),
                slope_per_week=line.slope_per_week,
            )
        )
    return result


def _level(current: int, recommended: int, code: str) -> Level:
    return Level(current, recommended, LevelReason(code=code, message=LEVEL_MESSAGES[code]))


def _weeks(records: Sequence[AttemptRecord], origin: datetime | None = None) -> FloatArray:
    if not records:
        return np.empty(0, dtype=np.float64)
    start = (origin or records[0].occurred_at).timestamp()
    seconds = np.array([r.occurred_at.timestamp() for r in records], dtype=np.float64)
    return (seconds - start) / WEEK_SECONDS


def thin(x: FloatArray, y: FloatArray) -> tuple[FloatArray, FloatArray]:
    if len(x) <= MAX_FIT_POINTS:
        return x, y
    keep = np.unique(np.linspace(0, len(x) - 1, MAX_FIT_POINTS).round().astype(np.intp))
    return x[keep], y[keep]


def _peaks(rows: Sequence[AttemptRecord]) -> list[int]:
    return [r.distress_peak for r in rows if r.outcome != AVOIDED and r.distress_peak is not None]


def _mean(values: Sequence[float] | FloatArray) -> float | None:
    # Plain arithmetic: called once per day in the series, where NumPy's per-call overhead dominates.
    return float(sum(values)) / len(values) if len(values) else None


def _percent(part: int, whole: int) -> float | None:
    return part / whole * 100 if whole else None


def _finite(value: float | None) -> float | None:
    return value if value is not None and math.isfinite(value) else None


def _round(value: float | None, digits: int = 2) -> float | None:
    value = _finite(value)
    return None if value is None else round(value, digits)
