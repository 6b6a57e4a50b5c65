"""The trend's statistics on synthetic users whose answers are known; no database, no HTTP.

Users are written as asks (tests/progress/trend_cells.py turns them into the cells the SQL would give).
"""

import json
import math
from dataclasses import fields, is_dataclass
from datetime import date, timedelta
from typing import Any

import numpy as np
import pytest
from pydantic import BaseModel

from app.core.config import DEFAULT_SUPPORT_MESSAGE
from app.progress import stats
from app.progress.schemas import _TREND_EXAMPLE, TrendPublic
from tests.progress.trend_cells import START, SUPPORT, TODAY, Ask, cell_rows, practice, practice_of, recent_of, trend_of

# A zero-sum wiggle with no trend of its own, so the synthetic users look like real ratings.
NOISE = [5, -5, 0, 5, -5, 0, 5, -5, 0, 0]


def daily(peaks: list[int], **fields: Any) -> list[Ask]:
    """One ask a day with these peaks."""
    return [Ask(day, peak, **fields) for day, peak in enumerate(peaks)]


def public(trend: stats.Trend) -> dict[str, Any]:
    """The trend as the API answers it."""
    text = TrendPublic.model_validate(trend).model_dump_json()
    assert "NaN" not in text
    assert "Infinity" not in text
    body: dict[str, Any] = json.loads(text)
    return body


# --- status: the cases reported against the per-attempt trend -------------------------------


def test_tied_peaks_falling_from_70_to_20_over_40_days_are_improving() -> None:
    # Multiples of 10, as people rate: long runs of equal values between the steps down.
    result = trend_of(daily([70 - 10 * (day * 6 // 40) for day in range(40)]))
    assert (result.status, result.status_reason.code) == ("improving", "falling_at_same_difficulty")
    line = result.distress_trend
    assert line.p_value is not None
    assert line.p_value < 1e-6
    assert line.tau is not None
    assert line.tau < -0.8
    assert (line.n, line.exposures, line.pairs, result.sessions) == (40, 40, 780, 40)
    assert (line.baseline, line.recent) == (70.0, 20.0)
    assert line.percent_change == pytest.approx(-71.43)
    assert result.status_reason.message == "At the same difficulty, your peak distress is falling from 70 to 20."


def test_status_follows_the_test_even_when_ties_make_the_slope_zero() -> None:
    # More than half of all pairs tie: Sen's slope is 0, yet no later session is ever higher.
    result = trend_of(daily([50] * 25 + [40] * 15))
    line = result.distress_trend
    assert line.slope_per_week == 0
    assert line.p_value is not None
    assert line.p_value < 1e-6
    assert result.status == "improving"


def test_stepping_down_to_easier_asks_and_feeling_less_is_never_worsening() -> None:
    asks = [Ask(day, 60 + NOISE[day], difficulty=6) for day in range(10)]
    asks += [Ask(10 + day, 50 + NOISE[day], difficulty=4) for day in range(10)]
    result = trend_of(asks)
    assert (result.status, result.status_reason.code) == ("stable", "no_clear_change")
    adjusted = result.adjusted_trend
    assert adjusted.p_value is not None
    assert adjusted.p_value > 0.5
    # Each level's first 5 and last 5 sessions, weighted by its 10 sessions: nothing changed at either level.
    assert (adjusted.baseline, adjusted.recent) == (55.0, 55.0)
    assert adjusted.n == 20
    assert adjusted.pairs == 2 * 45
    assert result.distress_trend.p_value is not None
    assert result.distress_trend.p_value < 0.05  # raw distress fell, but only because the asks got easier
    assert result.support is None


def test_climbing_the_ladder_while_distress_holds_steady_is_improving() -> None:
    asks = [Ask(day, 55 + NOISE[day % 3], difficulty=2 + day // 3) for day in range(18)]  # levels 2 → 7
    result = trend_of(asks)
    assert (result.status, result.status_reason.code) == ("improving", "harder_asks_same_distress")
    flat = result.distress_trend
    assert flat.p_value is not None
    assert flat.p_value > 0.5
    # Sessions 0–4 average difficulty 2.4, the last five 6.6; peaks 55 → 54.
    assert result.status_reason.message == (
        "You have moved up to harder asks (mean difficulty 2.4 → 6.6) while your peak distress did not rise "
        "(55 at the start, 54 recently)."
    )


def test_two_asks_minutes_apart_on_three_days_give_a_sane_interval() -> None:
    asks = [Ask(day, peak) for day, pair in enumerate([(80, 40), (70, 35), (60, 30)]) for peak in pair]
    result = trend_of(asks)
    line = result.distress_trend
    # One point per session: 60, 52.5, 45 on three days, 7.5 points a day.
    assert (line.n, line.exposures, line.pairs) == (3, 6, 3)
    assert line.slope_per_week == -52.5
    assert line.intercept == 60.0
    assert line.ci_low is not None
    assert line.ci_high is not None
    assert -100 < line.ci_low <= line.slope_per_week <= line.ci_high < 100
    assert (result.status, result.status_reason.code) == ("insufficient_data", "too_few_sessions")
    assert result.status_reason.message == "A trend needs exposures on 5 different days; you have 3 so far."


def test_a_significant_rise_at_one_difficulty_is_worsening_with_rising_distress() -> None:
    # 60 → 84, every other day 10 lower, so the last five sessions average 78: not "sustained".
    peaks = [60 + day - (10 if day % 2 else 0) for day in range(25)]
    result = trend_of(daily(peaks))
    assert max(peaks) == 84
    assert (result.status, result.status_reason.code) == ("worsening", "rising_at_same_difficulty")
    assert result.support is not None
    assert result.support.reason == "rising_distress"
    line = result.adjusted_trend
    assert line.baseline is not None
    assert line.recent is not None
    frm, to = f"{line.baseline:g}", f"{line.recent:g}"
    assert result.support.message == (
        f"At the same difficulty, your peak distress has been rising from {frm} to {to}. {SUPPORT}"
    )
    assert result.status_reason.message == f"At the same difficulty, your peak distress is rising from {frm} to {to}."


# --- status: the other rules ---------------------------------------------------------------


def test_steadily_falling_distress_is_improving_with_an_interval_below_zero() -> None:
    result = trend_of(daily([round(80 - 1.5 * day) + NOISE[day % 10] for day in range(30)]))
    line = result.distress_trend
    assert result.status == "improving"
    assert line.slope_per_week == pytest.approx(-10.5, abs=1)  # 1.5 points a day
    assert line.ci_low is not None
    assert line.ci_high is not None
    assert line.slope_per_week is not None
    assert line.ci_low <= line.slope_per_week <= line.ci_high < 0
    assert line.baseline is not None
    assert line.recent is not None
    assert line.percent_change == pytest.approx((line.recent - line.baseline) / line.baseline * 100, abs=0.01)
    # One difficulty: the adjusted line is the same line, without an intercept.
    adjusted = result.adjusted_trend
    assert (adjusted.slope_per_week, adjusted.p_value, adjusted.baseline) == (
        line.slope_per_week,
        line.p_value,
        line.baseline,
    )
    assert adjusted.intercept is None
    assert line.intercept is not None


def test_flat_noisy_distress_is_stable() -> None:
    result = trend_of(daily([60 + NOISE[day % 10] for day in range(30)]))
    assert (result.status, result.status_reason.code) == ("stable", "no_clear_change")
    line = result.adjusted_trend
    assert line.p_value is not None
    assert line.p_value > 0.5
    assert line.ci_low is not None
    assert line.ci_high is not None
    assert line.ci_low <= 0 <= line.ci_high


def test_five_sessions_are_enough_four_are_not() -> None:
    four = trend_of(daily([90, 70, 50, 30]))
    assert (four.status, four.sessions) == ("insufficient_data", 4)
    assert four.distress_trend.slope_per_week == -140.0
    five = trend_of(daily([90, 70, 50, 30, 10]))
    assert five.status == "improving"
    # Many asks on fewer days are still few sessions.
    crowded = trend_of([Ask(day, 90 - 5 * hour) for day in range(4) for hour in range(6)])
    assert (crowded.status, crowded.sessions, crowded.exposures) == ("insufficient_data", 4, 24)


def test_every_session_counts_once_whatever_its_number_of_asks() -> None:
    # Day 0 has three asks at 90: the session is 90 once, not three times.
    asks = [Ask(0, 90), Ask(0, 90), Ask(0, 90), *[Ask(day, 50) for day in range(1, 6)]]
    line = trend_of(asks).distress_trend
    assert (line.n, line.exposures, line.pairs) == (6, 8, 15)
    assert (line.baseline, line.recent) == (63.33, 50.0)  # k = 3: (90 + 50 + 50) / 3


def test_a_session_pools_its_cells_weighted_by_exposures() -> None:
    asks = [Ask(0, 80, category="work", difficulty=5), Ask(0, 60), Ask(0, 40), Ask(1, 30)]
    result = trend_of(asks)
    # Day 0: (80 + 60 + 40) / 3 over two cells.
    assert result.series[0].mean_distress_peak == 60.0
    assert result.distress_trend.baseline == 60.0


def test_the_adjusted_line_compares_only_sessions_at_the_same_difficulty() -> None:
    asks = [Ask(day, 70 - 5 * day, difficulty=3) for day in range(6)]
    asks += [Ask(day, 90 - 5 * day, difficulty=6) for day in range(0, 6, 2)]
    asks += [Ask(7, 20, difficulty=9)]  # one session at 9: nothing to pair it with
    result = trend_of(asks)
    adjusted = result.adjusted_trend
    assert adjusted.n == 6  # days 0–5; day 7 is in no compared stratum
    assert adjusted.exposures == 9
    assert adjusted.pairs == 15 + 3
    assert adjusted.tau == -1.0
    assert adjusted.intercept is None
    assert adjusted.slope_per_week == -35.0
    # Level 3: first 3 sessions 65, last 3 50; level 6: 90 and 70; weighted by 6 and 3 sessions.
    assert adjusted.baseline == pytest.approx((6 * 65 + 3 * 90) / 9, abs=0.01)
    assert adjusted.recent == pytest.approx((6 * 50 + 3 * 70) / 9, abs=0.01)
    assert result.distress_trend.n == 7


def test_the_adjusted_change_is_a_percentage_of_distress_at_matched_difficulty() -> None:
    # Difficulty 8, peaks 50 → 30: the baseline is SUDS at that difficulty, not distress minus a level offset.
    result = trend_of(daily([50, 50, 45, 40, 35, 30, 30], difficulty=8))
    adjusted = result.adjusted_trend
    assert (adjusted.baseline, adjusted.recent) == (48.33, 31.67)
    assert adjusted.percent_change == -34.48  # (95/3 − 145/3) / (145/3)
    assert adjusted.baseline is not None
    assert 0 <= adjusted.baseline <= 100


def test_repeating_no_difficulty_says_there_is_nothing_to_compare_like_with_like() -> None:
    difficulties = [5, 3, 7, 4, 6, 2]  # no trend in difficulty either
    result = trend_of([Ask(day, 50 + NOISE[day], difficulty=d) for day, d in enumerate(difficulties)])
    assert result.adjusted_trend.pairs == 0
    assert result.adjusted_trend.p_value is None
    assert result.status_reason.message == (
        "No clear change yet: repeat a difficulty on more days to compare like with like."
    )


def test_rising_distress_without_harder_asks_brings_support_even_when_no_difficulty_repeats() -> None:
    difficulties = [5, 3, 7, 4, 6, 2, 8, 1, 9, 10]  # no trend in difficulty, no difficulty twice
    result = trend_of([Ask(day, 40 + 4 * day, difficulty=d) for day, d in enumerate(difficulties)])
    assert result.status == "stable"
    assert result.support is not None
    assert result.support.reason == "rising_distress"
    assert result.support.message.startswith(
        "Your peak distress has been rising from 48 to 68, while your asks have not clearly become harder."
    )


# --- nothing computable is null ---------------------------------------------------------------


@pytest.mark.parametrize(
    "asks",
    [
        [],
        [Ask(0, 40)],
        [Ask(0, 40), Ask(0, 60)],
        [Ask(day, None, outcome="avoided") for day in range(3)],
        daily([50] * 8),
        daily([0] * 5 + [10] * 5),
    ],
    ids=["empty", "one", "one-day", "only-avoided", "all-equal", "zero-baseline"],
)
def test_nothing_computable_is_null_never_nan(asks: list[Ask]) -> None:
    result = trend_of(asks)
    body = public(result)
    for line in (result.distress_trend, result.adjusted_trend):
        for value in (line.slope_per_week, line.p_value, line.baseline, line.percent_change, line.tau):
            assert value is None or math.isfinite(value)
    if result.sessions < 2:
        assert body["distress_trend"]["slope_per_week"] is None
        assert body["distress_trend"]["p_value"] is None
        assert body["distress_trend"]["baseline"] is None


def test_equal_values_have_a_zero_slope_and_no_p_value() -> None:
    result = trend_of(daily([50] * 8))
    line = result.distress_trend
    assert (line.slope_per_week, line.ci_low, line.ci_high, line.tau) == (0.0, 0.0, 0.0, 0.0)
    assert line.p_value is None
    assert result.status == "stable"


def test_a_zero_baseline_has_no_percent_change() -> None:
    line = trend_of(daily([0] * 5 + [10] * 5)).distress_trend
    assert (line.baseline, line.recent, line.percent_change) == (0.0, 10.0, None)


def test_two_sessions_have_a_slope_and_a_p_value_of_one() -> None:
    line = trend_of([Ask(0, 80), Ask(7, 60)]).distress_trend
    assert (line.slope_per_week, line.intercept, line.p_value, line.tau) == (-20.0, 80.0, 1.0, -1.0)
    assert (line.baseline, line.recent) == (80.0, 60.0)


def test_an_empty_history_is_all_null() -> None:
    result = trend_of([])
    assert (result.sessions, result.attempts, result.time_origin, result.avoidance_rate) == (0, 0, None, None)
    assert (result.distress_trend.n, result.adjusted_trend.n) == (0, 0)
    assert (result.expectancy.actual_rejection_rate, result.habituation.within_session_drop) == (None, None)
    assert (result.series, result.by_category, result.support) == ([], [], None)


def test_time_is_in_weeks_from_the_first_session() -> None:
    asks = [Ask(0, None, outcome="avoided"), *[Ask(7 * week + 1, 70 - 10 * week) for week in range(4)]]
    result = trend_of(asks)
    assert result.time_origin == START + timedelta(days=1)  # the avoided day before is no session
    assert (result.distress_trend.slope_per_week, result.distress_trend.intercept) == (-10.0, 70.0)


def test_cells_in_any_order_give_the_same_trend() -> None:
    asks = [
        Ask(day, 80 - 2 * day + NOISE[day % 10], difficulty=3 + day % 2, category=c) for day in range(12) for c in "ab"
    ]
    rows = cell_rows(asks)
    shuffled = sorted(rows, key=lambda c: (c["category"], c["difficulty"], -c["day"]))
    assert shuffled != rows
    recent = recent_of(asks)
    one = stats.compute_trend(practice(rows, recent), timezone="UTC", today=TODAY, support_message=SUPPORT)
    other = stats.compute_trend(practice(shuffled, recent), timezone="UTC", today=TODAY, support_message=SUPPORT)
    assert one == other


# --- counts, habituation, expectancy -------------------------------------------------------------


def test_counts_and_avoidance_rate() -> None:
    outcomes = ["rejected", "rejected", "accepted", "partial", "avoided", "accepted"]
    asks = [Ask(day, None if o == "avoided" else 50, outcome=o) for day, o in enumerate(outcomes)]
    result = trend_of(asks)
    assert (result.attempts, result.exposures, result.sessions) == (6, 5, 5)
    assert (result.rejections, result.acceptances, result.partials, result.avoided) == (2, 2, 1, 1)
    assert result.avoidance_rate == pytest.approx(16.67)


def test_expectancy_is_paired_with_each_predictions_own_outcome() -> None:
    asks = [
        Ask(0, 70, outcome="rejected", expected=90),
        Ask(0, 60, outcome="accepted", expected=70),
        Ask(1, 50, outcome="rejected"),  # no prediction: in neither the mean nor the rate
        Ask(1, 50, outcome="partial", expected=50),  # a qualified yes: not a no
        Ask(2, None, outcome="avoided", expected=100),  # not an exposure
    ]
    expectancy = trend_of(asks).expectancy
    assert expectancy == stats.Expectancy(
        expected_rejection_mean=70.0, actual_rejection_rate=33.33, gap=36.67, paired=3
    )


def test_habituation_is_peak_minus_after_within_each_exposure() -> None:
    asks = [
        Ask(0, 80, after=30, before=70),
        Ask(1, 60, after=40, before=50),
        Ask(2, 50, after=None, before=30),
        Ask(3, None, outcome="avoided", after=10, before=90),
    ]
    habituation = trend_of(asks).habituation
    assert habituation == stats.Habituation(
        within_session_drop=35.0, mean_distress_before=50.0, mean_distress_peak=63.33, mean_distress_after=35.0, n=2
    )


# --- categories, series, streaks -------------------------------------------------------------


def test_by_category_has_counts_sessions_means_and_slopes() -> None:
    asks = [Ask(day, 80 - 10 * day, category="work") for day in range(4)]
    asks += [Ask(day, 50, category="everyday") for day in range(3)]
    asks += [Ask(4, 40, category="social"), Ask(4, 60, category="social")]
    asks += [Ask(5, None, outcome="avoided", category="dating")]
    result = {c.category: c for c in trend_of(asks).by_category}
    assert list(result) == ["dating", "everyday", "social", "work"]
    assert result["work"] == stats.CategoryTrend("work", 4, 4, 4, 65.0, -70.0)
    assert result["everyday"] == stats.CategoryTrend("everyday", 3, 3, 3, 50.0, 0.0)
    assert result["social"] == stats.CategoryTrend("social", 2, 2, 1, 50.0, None)  # one session: no slope
    assert result["dating"] == stats.CategoryTrend("dating", 1, 0, 0, None, None)


def test_series_has_one_point_per_day_and_a_seven_calendar_day_rolling_mean() -> None:
    asks = [
        Ask(0, 40, difficulty=2),
        Ask(0, 60, difficulty=4, outcome="accepted"),
        Ask(1, None, outcome="avoided", difficulty=6),
        Ask(3, 80, difficulty=3),
        Ask(8, 20, difficulty=5),
        Ask(20, None, outcome="avoided"),
    ]
    series = trend_of(asks).series
    assert [p.date for p in series] == [START + timedelta(days=d) for d in (0, 1, 3, 8, 20)]
    d0, d1, d3, d8, d20 = series
    assert d0 == stats.SeriesPoint(START, 2, 2, 1, 50.0, 50.0, 4)
    assert d1 == stats.SeriesPoint(START + timedelta(days=1), 1, 0, 0, None, 50.0, None)
    assert d3.rolling_mean_distress_peak == 60.0  # 40, 60, 80 pooled
    assert d8.rolling_mean_distress_peak == 50.0  # the window from day 2: 80 and 20; day 0 has left it
    assert (d20.mean_distress_peak, d20.rolling_mean_distress_peak) == (None, None)


def test_streaks_count_sessions_up_to_today_or_yesterday() -> None:
    asks = [Ask(day, 50) for day in (0, 1, 2, 5, 6)]  # Mar 2, 3, 4, then Mar 7, 8

    def streak(today: date, more: tuple[Ask, ...] = ()) -> stats.Streak:
        return trend_of([*asks, *more], today=today).streak

    assert streak(date(2026, 3, 8)) == stats.Streak(current_days=2, longest_days=3)
    assert streak(date(2026, 3, 9)).current_days == 2
    assert streak(date(2026, 3, 10)) == stats.Streak(current_days=0, longest_days=3)
    # An avoided attempt today is no session.
    assert streak(date(2026, 3, 9), (Ask(7, None, outcome="avoided"),)).current_days == 2


# --- the ladder ---------------------------------------------------------------------------------


def level_of(asks: list[Ask]) -> stats.Level:
    level = trend_of(asks).level
    assert stats.assess_level(practice_of(asks)) == level
    return level


def test_a_new_user_starts_at_difficulty_two() -> None:
    assert level_of([]) == stats.Level(
        2, 2, stats.LevelReason("new_user", "No attempts yet: start with an easy ask at difficulty 2.")
    )


def test_current_difficulty_is_the_rounded_median_of_the_last_five_exposures() -> None:
    assert level_of([Ask(day, 60, difficulty=d) for day, d in enumerate([9, 3, 3, 4, 5, 5])]).current_difficulty == 4
    halves = [Ask(0, 60, difficulty=3), Ask(1, 60, difficulty=4), Ask(2, None, outcome="avoided", difficulty=9)]
    assert level_of(halves).current_difficulty == 4  # median 3.5 rounds half up
    # Only the last 20 attempts count, and with no exposure among them, the attempts do.
    avoided = [Ask(0, 60, difficulty=2), *[Ask(1, None, outcome="avoided", difficulty=7) for _ in range(20)]]
    assert level_of(avoided).current_difficulty == 7


def test_step_up_when_the_last_three_at_the_level_peaked_at_40_or_less() -> None:
    level = level_of(daily([70, 55, 40, 35, 38], difficulty=4))
    assert level == stats.Level(
        4,
        5,
        stats.LevelReason(
            "step_up_low_distress",
            "Your last 3 asks at difficulty 4 peaked at 40 or less: you are ready to step up to difficulty 5.",
        ),
    )


def test_step_up_when_the_last_three_peaked_at_half_the_first_session() -> None:
    level = level_of(daily([90, 90, 90, 45, 44, 42], difficulty=5))
    assert (level.recommended_difficulty, level.reason.code) == (6, "step_up_halved")
    assert level.reason.message == (
        "Your last 3 asks at difficulty 5 peaked at 45 or less, half or less of the 90 of your first day at this "
        "level: you are ready to step up to difficulty 6."
    )
    # The first session is the comparison only when it came before all three.
    same_day = [Ask(0, 90, difficulty=5), Ask(0, 44, difficulty=5), Ask(1, 43, difficulty=5), Ask(2, 42, difficulty=5)]
    assert level_of(same_day).reason.code == "stay"


def test_stay_while_distress_is_coming_down_and_say_from_what_to_what() -> None:
    level = level_of(daily([90, 80, 70, 60, 50], difficulty=5))
    assert level == stats.Level(
        5,
        5,
        stats.LevelReason(
            "stay_coming_down", "Distress at difficulty 5 is coming down from 90 to 60: stay here a little longer."
        ),
    )


def test_stay_never_claims_distress_is_coming_down() -> None:
    level = level_of(daily([50, 60, 70, 60], difficulty=5))
    assert level.reason.code == "stay"
    assert level.reason.message == (
        "Distress at difficulty 5 has not come down yet (your last 3 asks there averaged a peak of 63.3): "
        "stay here a little longer."
    )
    assert "coming down" not in level.reason.message


def test_building_up_with_fewer_than_three_exposures_at_the_level() -> None:
    level = level_of([Ask(0, 80, difficulty=2), Ask(1, 20, difficulty=6), Ask(2, 20, difficulty=6)])
    assert (level.current_difficulty, level.recommended_difficulty, level.reason.code) == (6, 6, "building_up")
    assert level.reason.message.startswith("You have done 2 asks at difficulty 6:")


def test_at_the_top_level_stays_at_ten() -> None:
    level = level_of(daily([20] * 4, difficulty=10))
    assert (level.current_difficulty, level.recommended_difficulty, level.reason.code) == (10, 10, "at_top_level")


def test_no_step_up_while_asks_at_the_level_are_avoided() -> None:
    outcomes = ["rejected", "avoided", "accepted", "avoided", "rejected"]
    asks = [Ask(day, None if o == "avoided" else 30, outcome=o, difficulty=4) for day, o in enumerate(outcomes)]
    level = level_of(asks)
    assert (level.current_difficulty, level.recommended_difficulty, level.reason.code) == (4, 4, "avoided_at_level")
    assert level.reason.message.startswith("You avoided 2 of your last 5 asks at difficulty 4:")


@pytest.mark.parametrize(("difficulty", "recommended"), [(6, 5), (2, 1), (1, 1)])
def test_very_hard_asks_step_down_one_level_and_the_message_agrees(difficulty: int, recommended: int) -> None:
    result = trend_of(daily([60, 90, 30, 95, 86], difficulty=difficulty))
    level = result.level
    assert (level.current_difficulty, level.recommended_difficulty, level.reason.code) == (
        difficulty,
        recommended,
        "step_down",
    )
    action = (
        f"step down to difficulty {recommended} for a while."
        if recommended < difficulty
        else "stay at difficulty 1, the gentlest level, for a while."
    )
    assert level.reason.message == f"3 of the last 5 asks you made peaked at 85 or more: {action}"
    assert result.support is not None
    assert result.support.reason == "high_distress"
    assert result.support.message == f"3 of the last 5 asks you made peaked at 85 or more. {SUPPORT}"


def test_thirty_days_at_84_are_sustained_distress_and_a_step_down() -> None:
    result = trend_of(daily([84] * 30, difficulty=5))
    assert result.support is not None
    assert result.support.reason == "sustained_distress"
    assert result.support.message == f"Your last 5 practice days averaged a peak distress of 84. {SUPPORT}"
    assert result.level.reason == stats.LevelReason(
        "step_down",
        "Your last 5 practice days averaged a peak distress of 84: step down to difficulty 4 for a while.",
    )
    assert result.status == "stable"


def test_sustained_distress_needs_three_sessions() -> None:
    assert trend_of([Ask(0, 84), Ask(0, 84), Ask(1, 84)]).support is None
    assert trend_of(daily([84, 84, 84])).support is not None


def test_avoided_asks_that_felt_mild_are_avoidance_never_high_distress() -> None:
    asks = [Ask(0, 30), Ask(1, 25), *[Ask(day, None, outcome="avoided", before=30) for day in (2, 3, 4)]]
    result = trend_of(asks)
    assert result.support is not None
    assert result.support.reason == "frequent_avoidance"
    assert result.support.message == f"You avoided 3 of your last 5 asks. {SUPPORT}"
    assert result.level == stats.Level(
        3,
        2,
        stats.LevelReason(
            "step_down_avoidance", "You avoided 3 of your last 5 asks: step down to difficulty 2 for a while."
        ),
    )


def test_step_down_wins_over_step_up() -> None:
    asks = [*daily([20, 20, 20], difficulty=3), *[Ask(day, None, outcome="avoided", difficulty=3) for day in (3, 4, 5)]]
    level = level_of(asks)
    assert (level.recommended_difficulty, level.reason.code) == (2, "step_down_avoidance")


def test_a_calm_user_gets_no_support_and_the_configured_text_is_optional() -> None:
    assert trend_of(daily([40 + NOISE[d % 10] for d in range(20)])).support is None
    bare = trend_of(daily([84] * 5), support="")
    assert bare.support is not None
    assert bare.support.message == "Your last 5 practice days averaged a peak distress of 84."


def test_the_default_support_message_follows_any_reason() -> None:
    assert "very hard" not in DEFAULT_SUPPORT_MESSAGE
    assert "no substitute for care" in DEFAULT_SUPPORT_MESSAGE
    assert "professional" in DEFAULT_SUPPORT_MESSAGE


# --- the public schema ----------------------------------------------------------------------------


def test_the_schema_example_validates() -> None:
    example = TrendPublic.model_validate(_TREND_EXAMPLE)
    assert example.model_dump(mode="json") == _TREND_EXAMPLE
    assert TrendPublic.model_json_schema()["example"] == _TREND_EXAMPLE


def _same_fields(model: type[BaseModel], source: type) -> None:
    """Every schema field is a field of the dataclass it is read from (from_attributes), and the other way round."""
    assert set(model.model_fields) == {f.name for f in fields(source)}, model.__name__
    for info in model.model_fields.values():
        for inner in getattr(info.annotation, "__args__", (info.annotation,)):
            if isinstance(inner, type) and issubclass(inner, BaseModel):
                dataclass = getattr(stats, inner.__name__)
                assert isinstance(dataclass, type)
                assert is_dataclass(dataclass)
                _same_fields(inner, dataclass)


def test_the_schema_reads_every_field_of_the_trend() -> None:
    _same_fields(TrendPublic, stats.Trend)


def test_a_full_trend_is_json_and_validates() -> None:
    asks = [
        Ask(day, max(0, 70 - 2 * day + NOISE[day % 10]), difficulty=3 + day // 10, expected=60, category=c)
        for day in range(30)
        for c in ("work", "everyday")
    ]
    body = public(trend_of(asks))
    assert body["time_origin"] == START.isoformat()
    assert body["status_reason"]["code"] == "falling_at_same_difficulty"
    assert TrendPublic.model_validate(body) == TrendPublic.model_validate(trend_of(asks))


def test_a_step_down_names_both_reasons_when_both_fired() -> None:
    level = level_of(daily([90, 88, 95, 86, 80], difficulty=3))
    assert level.reason == stats.LevelReason(
        "step_down",
        "4 of the last 5 asks you made peaked at 85 or more and your last 5 practice days averaged a peak "
        "distress of 87.8: step down to difficulty 2 for a while.",
    )


@pytest.mark.parametrize("n", [2, 3, 159, 160, 161, 181, 300])
@pytest.mark.parametrize("levels", [3, 40, 10_000])
def test_concordance_counts_every_pair_whatever_the_length_and_the_ties(n: int, levels: int) -> None:
    # Up to stats._DIRECT_PAIRS values the pairs are compared as a matrix, past them after a sort.
    rng = np.random.default_rng(n + levels)
    a = rng.integers(0, levels, n) / 4
    b = rng.integers(0, levels, n) / 4 + a / 2
    assert stats._concordance(a, b) == int(
        np.sum(np.triu(np.sign(a - a[:, np.newaxis]) * np.sign(b - b[:, np.newaxis]), 1))
    )


@pytest.mark.parametrize("n", [2, 3, 33, 159, 160, 161, 255, 256, 257, 288, 511, 512, 513, 1000, 1025])
@pytest.mark.parametrize("levels", [3, 40, 10_000])
def test_s_counts_every_pair_whatever_the_length_and_the_ties(n: int, levels: int) -> None:
    # Up to stats._DIRECT_PAIRS values every pair is compared at once, past them block by block: lengths on and off
    # the boundaries.
    rng = np.random.default_rng(n * levels)
    x = np.arange(n, dtype=np.float64)
    y = rng.integers(0, levels, n) / 4
    s, _within, pairs = stats.mann_kendall([(x, y)])
    assert s == int(np.sum(np.triu(np.sign(y - y[:, np.newaxis]), 1)))
    assert pairs == n * (n - 1) // 2


@pytest.mark.parametrize("select", [stats._sorting, stats._partitioning])
@pytest.mark.parametrize("n", [2, 3, 4, 1000, 19_900])
def test_sorting_and_partitioning_read_the_same_order_statistics(select: Any, n: int) -> None:
    # The process times both once and keeps the faster: either must give np.sort's values, ties and a rank asked
    # twice included.
    values = np.random.default_rng(n).integers(-20, 20, n) / 3
    ranks = [0, (n - 1) // 2, n // 2, n - 1]
    assert select(values, ranks).tolist() == np.sort(values)[ranks].tolist()
