"""The trend's statistics on synthetic users whose answers are known; no database, no HTTP."""

import json
from dataclasses import asdict
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import numpy as np
import pytest

from app.progress import stats
from app.progress.stats import AttemptRecord, compute_trend

START = datetime(2026, 3, 2, 18, 0, tzinfo=UTC)
TODAY = date(2026, 4, 1)
SUPPORT = "Take it gently."
# A zero-sum wiggle with no trend of its own, so the synthetic users look like real ratings.
NOISE = [5, -5, 3, -3, 0, 4, -4, 2, -2, 1]


def rec(
    day: float,
    peak: int | None,
    *,
    outcome: str = "rejected",
    difficulty: int = 3,
    category: str = "everyday",
    before: int = 50,
    after: int | None = 30,
    expected: int | None = 70,
    at: datetime | None = None,
) -> AttemptRecord:
    return AttemptRecord(
        occurred_at=at or START + timedelta(days=day),
        outcome=outcome,
        distress_before=before,
        distress_peak=peak,
        distress_after=after,
        expected_rejection=expected,
        difficulty=difficulty,
        category=category,
    )


def trend(records: list[AttemptRecord], *, timezone: str = "UTC", today: date = TODAY) -> stats.Trend:
    return compute_trend(records, timezone=timezone, today=today, support_message=SUPPORT)


def falling(days: int = 30) -> list[AttemptRecord]:
    return [rec(d, round(80 - 1.5 * d + NOISE[d % 10])) for d in range(days)]


# --- status and the two trend lines ------------------------------------------------


def test_steadily_falling_distress_is_improving_with_an_interval_below_zero() -> None:
    result = trend(falling())
    line = result.distress_trend
    assert result.status == "improving"
    assert line.slope_per_week == pytest.approx(-10.5, abs=0.5)  # 1.5 points a day
    assert line.ci_low is not None
    assert line.ci_high is not None
    assert line.ci_low <= line.slope_per_week <= line.ci_high < 0
    assert line.p_value is not None
    assert line.p_value < 0.001
    assert line.n == 30
    assert line.baseline == pytest.approx(np.mean([80 + NOISE[d] - 1.5 * d for d in range(5)]), abs=0.5)
    assert line.recent is not None
    assert line.baseline is not None
    assert line.recent < line.baseline
    assert line.percent_change == pytest.approx((line.recent - line.baseline) / line.baseline * 100, abs=0.01)
    # Constant difficulty: adjusting for it changes the level, not the slope.
    assert result.adjusted_trend.slope_per_week == line.slope_per_week
    assert result.adjusted_trend.baseline == pytest.approx(line.baseline - 30)


def test_flat_noisy_distress_is_stable() -> None:
    result = trend([rec(d, 60 + NOISE[d % 10]) for d in range(30)])
    assert result.status == "stable"
    line = result.adjusted_trend
    assert line.p_value is not None
    assert line.p_value > 0.5
    assert line.ci_low is not None
    assert line.ci_high is not None
    assert line.ci_low < 0 < line.ci_high


def test_rising_distress_is_worsening() -> None:
    result = trend([rec(d, round(30 + 1.5 * d + NOISE[d % 10])) for d in range(30)])
    assert result.status == "worsening"
    assert result.adjusted_trend.slope_per_week == pytest.approx(10.5, abs=0.5)
    assert result.adjusted_trend.ci_low is not None
    assert result.adjusted_trend.ci_low > 0
    assert result.distress_trend.percent_change is not None
    assert result.distress_trend.percent_change > 0


def test_climbing_difficulty_with_constant_distress_improves_only_after_adjusting() -> None:
    records = [rec(d, 60 + NOISE[d % 10], difficulty=2 + d // 5) for d in range(30)]  # levels 2 → 7
    result = trend(records)
    flat = result.distress_trend
    assert flat.p_value is not None
    assert flat.p_value > 0.5
    assert flat.ci_low is not None
    assert flat.ci_high is not None
    assert flat.ci_low < 0 < flat.ci_high
    adjusted = result.adjusted_trend
    assert result.status == "improving"
    assert adjusted.slope_per_week == pytest.approx(-14.0, abs=1)  # one level (10 points) every 5 days
    assert adjusted.ci_high is not None
    assert adjusted.ci_high < 0
    assert adjusted.percent_change is not None
    assert adjusted.percent_change < 0


def test_a_fall_below_a_negative_adjusted_baseline_is_a_negative_change() -> None:
    # Peak 30 at difficulty 5 is 20 below what the level predicts.
    line = stats.trend_line(np.arange(10, dtype=np.float64), np.linspace(-20, -40, 10))
    assert line.baseline is not None
    assert line.baseline < 0
    assert line.percent_change is not None
    assert line.percent_change < 0


def test_three_outlier_days_at_100_do_not_hide_a_falling_trend() -> None:
    records = falling()
    for day in (4, 12, 20):
        records[day] = rec(day, 100)
    result = trend(records)
    assert result.status == "improving"
    clean = trend(falling()).distress_trend.slope_per_week
    assert clean is not None
    assert result.distress_trend.slope_per_week == pytest.approx(clean, abs=1.0)
    assert result.distress_trend.ci_high is not None
    assert result.distress_trend.ci_high < 0


def test_four_exposures_are_insufficient_data_even_with_a_clear_fall() -> None:
    result = trend([rec(d, 90 - 20 * d) for d in range(4)])
    assert result.status == "insufficient_data"
    assert result.distress_trend.n == 4
    assert result.distress_trend.slope_per_week == -140.0


def test_many_exposures_on_two_days_are_insufficient_data() -> None:
    records = [rec(day + hour / 24, 90 - 5 * (day * 6 + hour)) for day in (0, 1) for hour in range(6)]
    assert trend(records).status == "insufficient_data"
    assert trend([*records, rec(2, 20)]).status == "improving"


def test_no_trend_line_until_exposures_span_three_local_days() -> None:
    # Two asks seconds apart once extrapolated to a slope of about −49 million points a week.
    seconds_apart = [rec(0, 80, at=START), rec(0, 30, at=START + timedelta(seconds=5))]
    two_days = [rec(day + hour / 24, 90 - 10 * (day * 3 + hour)) for day in (0, 1) for hour in range(3)]
    for records in (seconds_apart, two_days):
        result = trend(records)
        for line in (result.distress_trend, result.adjusted_trend):
            assert (line.slope_per_week, line.intercept, line.ci_low, line.ci_high, line.p_value) == (None,) * 5
            assert line.n == len(records)
            assert line.baseline is not None
        assert [c.slope_per_week for c in result.by_category] == [None]
    third = trend([*two_days, rec(2, 20)])
    assert third.distress_trend.slope_per_week is not None
    assert third.distress_trend.p_value is not None


def test_days_for_the_trend_line_are_local_days() -> None:
    # 22:00 and 23:30 UTC, then 23:30 UTC the next day: two days in UTC, three in Berlin (UTC+1).
    late = START.replace(hour=23, minute=30)
    utc_two_days = [rec(0, 80, at=START.replace(hour=22)), rec(0, 70, at=late), rec(1, 60, at=late + timedelta(days=1))]
    assert trend(utc_two_days).distress_trend.slope_per_week is None
    assert trend(utc_two_days, timezone="Europe/Berlin").distress_trend.slope_per_week is not None


def test_a_category_needs_its_own_three_days_for_a_slope() -> None:
    records = [rec(d, 80 - 10 * d, category="work") for d in range(4)]
    records += [rec(d + 0.5, 60 - 10 * d, category="social") for d in range(2)]
    result = {c.category: c for c in trend(records).by_category}
    assert result["work"].slope_per_week == -70.0
    assert result["social"].slope_per_week is None


def test_avoided_attempts_are_not_exposures() -> None:
    records = [*falling(10), rec(3.5, None, outcome="avoided"), rec(4.5, None, outcome="avoided")]
    result = trend(records)
    assert (result.attempts, result.exposures, result.avoided) == (12, 10, 2)
    assert result.distress_trend.n == 10
    assert result.avoidance_rate == pytest.approx(2 / 12 * 100, abs=0.01)


def test_nothing_computable_is_null_never_nan() -> None:
    same_moment = [rec(0, 50 + i) for i in range(3)]
    one = trend([rec(0, 40)])
    empty = trend([])
    for result in (trend(same_moment), one, empty):
        line = result.distress_trend
        assert (line.slope_per_week, line.ci_low, line.ci_high, line.p_value) == (None, None, None, None)
        assert result.status == "insufficient_data"
        text = json.dumps(asdict(result), default=str)
        assert "NaN" not in text
        assert "Infinity" not in text
    assert one.distress_trend.baseline == 40
    assert one.distress_trend.percent_change is None
    assert empty.distress_trend.baseline is None
    assert empty.avoidance_rate is None
    assert empty.time_origin is None
    assert (empty.expectancy.actual_rejection_rate, empty.habituation.within_session_drop) == (None, None)


def test_equal_values_have_a_zero_slope_and_no_p_value() -> None:
    result = trend([rec(d, 50) for d in range(8)])
    assert result.distress_trend.slope_per_week == 0
    assert result.distress_trend.p_value is None
    assert result.status == "stable"


def test_zero_baseline_has_no_percent_change() -> None:
    result = trend([rec(d, 0 if d < 5 else 10) for d in range(10)])
    assert result.distress_trend.baseline == 0
    assert result.distress_trend.percent_change is None


def test_time_is_in_weeks_from_the_first_exposure() -> None:
    records = [rec(0, None, outcome="avoided"), *[rec(7 * w + 1, 70 - 10 * w) for w in range(4)]]
    result = trend(records)
    assert result.time_origin == START + timedelta(days=1)
    assert result.distress_trend.slope_per_week == -10.0
    assert result.distress_trend.intercept == 70.0


def test_a_long_history_is_fitted_on_an_evenly_spaced_sample() -> None:
    n = 5000
    x = np.linspace(0, 100, n)
    y = 80 - 0.5 * x + np.tile(NOISE, n // 10)
    sample_x, _sample_y = stats.thin(x, y)
    assert len(sample_x) == stats.MAX_FIT_POINTS
    assert (sample_x[0], sample_x[-1]) == (x[0], x[-1])
    assert np.all(np.diff(sample_x) > 0)
    line = stats.trend_line(x, y)
    assert line.n == n
    assert line.slope_per_week == pytest.approx(-0.5, abs=0.05)
    assert line.p_value is not None
    assert line.p_value < 1e-10
    small_x, _small_y = stats.thin(x[:10], y[:10])
    assert len(small_x) == 10


# --- counts, habituation, expectancy --------------------------------------------------


def test_expectancy_counts_only_rejections_as_a_no() -> None:
    records = [
        rec(0, 60, outcome="rejected", expected=80),
        rec(1, 60, outcome="rejected", expected=60),
        rec(2, 60, outcome="accepted", expected=70),
        rec(3, 60, outcome="partial", expected=None),
        rec(4, None, outcome="avoided", expected=90),  # not an exposure: its prediction is left out
    ]
    result = trend(records)
    assert (result.rejections, result.acceptances, result.partials, result.avoided) == (2, 1, 1, 1)
    exp = result.expectancy
    assert exp.expected_rejection_mean == 70.0
    assert exp.actual_rejection_rate == 50.0
    assert exp.partial_rate == 25.0
    assert exp.gap == 20.0
    assert exp.n_predictions == 3


def test_habituation_uses_pairs_where_both_are_rated() -> None:
    records = [
        rec(0, 80, after=30, before=70),
        rec(1, 60, after=40, before=50),
        rec(2, 50, after=None, before=30),
        rec(3, None, outcome="avoided", after=10, before=90),
    ]
    hab = trend(records).habituation
    assert hab.within_session_drop == 35.0
    assert hab.n == 2
    assert hab.mean_distress_before == 50.0
    assert hab.mean_distress_peak == pytest.approx(63.33)
    assert hab.mean_distress_after == 35.0


def test_by_category_has_counts_means_and_slopes() -> None:
    records = [rec(d, 80 - 10 * d, category="work") for d in range(4)]
    records += [rec(d + 0.5, 50, category="everyday") for d in range(3)]
    records += [rec(5, None, outcome="avoided", category="dating")]
    result = {c.category: c for c in trend(records).by_category}
    assert list(result) == ["dating", "everyday", "work"]
    assert (result["work"].attempts, result["work"].mean_distress_peak, result["work"].slope_per_week) == (
        4,
        65.0,
        -70.0,
    )
    assert result["everyday"].slope_per_week == 0
    assert (result["dating"].exposures, result["dating"].mean_distress_peak, result["dating"].slope_per_week) == (
        0,
        None,
        None,
    )


# --- series ------------------------------------------------------------------------------


def test_series_has_one_point_per_day_and_a_seven_calendar_day_rolling_mean() -> None:
    records = [
        rec(0, 40, difficulty=2),
        rec(0.1, 60, difficulty=4, outcome="accepted"),
        rec(1, None, outcome="avoided", difficulty=6),
        rec(3, 80, difficulty=3),
        rec(8, 20, difficulty=5),
    ]
    series = trend(records).series
    assert [p.date for p in series] == [date(2026, 3, 2), date(2026, 3, 3), date(2026, 3, 5), date(2026, 3, 10)]
    d0, d1, d3, d8 = series
    assert (d0.attempts, d0.exposures, d0.rejections, d0.mean_distress_peak, d0.max_difficulty) == (2, 2, 1, 50.0, 4)
    assert d0.rolling_mean_distress_peak == 50.0
    assert (d1.attempts, d1.exposures, d1.mean_distress_peak, d1.max_difficulty) == (1, 0, None, None)
    assert d1.rolling_mean_distress_peak == 50.0
    assert d3.rolling_mean_distress_peak == 60.0  # 40, 60, 80 pooled
    assert d8.rolling_mean_distress_peak == 50.0  # window Mar 4–10: 80 and 20; Mar 2 has left it


def test_series_days_follow_the_time_zone() -> None:
    # 20:00 and 08:00 the next morning in Los Angeles: one day in UTC, two days there.
    la = ZoneInfo("America/Los_Angeles")
    records = [
        rec(0, 50, at=datetime(2026, 1, 5, 20, 0, tzinfo=la)),
        rec(0, 40, at=datetime(2026, 1, 6, 8, 0, tzinfo=la)),
    ]
    assert [p.date for p in trend(records, timezone="America/Los_Angeles").series] == [
        date(2026, 1, 5),
        date(2026, 1, 6),
    ]
    assert [p.date for p in trend(records).series] == [date(2026, 1, 6)]


# --- streaks -----------------------------------------------------------------------------


def test_streak_crosses_a_time_zone_midnight() -> None:
    la = ZoneInfo("America/Los_Angeles")
    records = [
        rec(0, 50, at=datetime(2026, 1, 4, 21, 0, tzinfo=la)),  # 05:00 UTC on Jan 5
        rec(0, 50, at=datetime(2026, 1, 5, 20, 0, tzinfo=la)),  # 04:00 UTC on Jan 6
        rec(0, 50, at=datetime(2026, 1, 6, 8, 0, tzinfo=la)),  # 16:00 UTC on Jan 6
    ]
    local = trend(records, timezone="America/Los_Angeles", today=date(2026, 1, 6)).streak
    assert (local.current_days, local.longest_days) == (3, 3)
    utc = trend(records, timezone="UTC", today=date(2026, 1, 6)).streak
    assert (utc.current_days, utc.longest_days) == (2, 2)


def test_streak_crosses_the_end_of_daylight_saving_time() -> None:
    # New York leaves summer time on 1 Nov 2026: that day has 25 hours.
    ny = ZoneInfo("America/New_York")
    records = [
        rec(0, 50, at=datetime(2026, 10, 31, 23, 30, tzinfo=ny)),  # EDT: 03:30 UTC on Nov 1
        rec(0, 50, at=datetime(2026, 11, 1, 23, 30, tzinfo=ny)),  # EST: 04:30 UTC on Nov 2
        rec(0, 50, at=datetime(2026, 11, 2, 0, 30, tzinfo=ny)),  # EST: 05:30 UTC on Nov 2
    ]
    result = trend(records, timezone="America/New_York", today=date(2026, 11, 2))
    assert (result.streak.current_days, result.streak.longest_days) == (3, 3)
    assert [p.date.day for p in result.series] == [31, 1, 2]


def test_streak_crosses_the_start_of_daylight_saving_time() -> None:
    # Berlin skips 02:00–03:00 on 29 Mar 2026: that day has 23 hours.
    berlin = ZoneInfo("Europe/Berlin")
    records = [
        rec(0, 50, at=datetime(2026, 3, 28, 0, 30, tzinfo=berlin)),  # CET: 23:30 UTC on Mar 27
        rec(0, 50, at=datetime(2026, 3, 29, 23, 45, tzinfo=berlin)),  # CEST: 21:45 UTC on Mar 29
        rec(0, 50, at=datetime(2026, 3, 30, 0, 15, tzinfo=berlin)),  # CEST: 22:15 UTC on Mar 29
    ]
    result = trend(records, timezone="Europe/Berlin", today=date(2026, 3, 30)).streak
    assert (result.current_days, result.longest_days) == (3, 3)
    utc = trend(records, timezone="UTC", today=date(2026, 3, 29)).streak
    assert (utc.current_days, utc.longest_days) == (1, 1)


def test_current_streak_counts_up_to_yesterday_until_today_has_an_exposure() -> None:
    records = [rec(d, 50) for d in (0, 1, 2, 5, 6)]  # Mar 2, 3, 4, then Mar 7, 8
    assert trend(records, today=date(2026, 3, 8)).streak.current_days == 2
    assert trend(records, today=date(2026, 3, 9)).streak.current_days == 2
    assert trend(records, today=date(2026, 3, 10)).streak.current_days == 0
    assert trend(records, today=date(2026, 3, 10)).streak.longest_days == 3
    avoided_today = [*records, rec(7, None, outcome="avoided")]
    assert trend(avoided_today, today=date(2026, 3, 9)).streak.current_days == 2


# --- the ladder: level and support -------------------------------------------------------


def test_a_new_user_starts_at_difficulty_two() -> None:
    level = trend([]).level
    assert (level.current_difficulty, level.recommended_difficulty, level.reason.code) == (2, 2, "new_user")
    assert level.reason.message


def test_current_difficulty_is_the_rounded_median_of_the_last_five_exposures() -> None:
    records = [rec(d, 60, difficulty=lvl) for d, lvl in enumerate([9, 3, 3, 4, 5, 5])]
    assert trend(records).level.current_difficulty == 4
    halves = [rec(0, 60, difficulty=3), rec(1, 60, difficulty=4), rec(2, None, outcome="avoided", difficulty=9)]
    assert trend(halves).level.current_difficulty == 4  # median 3.5 rounds half up


def test_step_up_when_the_last_three_at_the_level_peaked_at_40_or_less() -> None:
    records = [rec(d, peak, difficulty=4) for d, peak in enumerate([70, 55, 40, 35, 38])]
    level = trend(records).level
    assert (level.current_difficulty, level.recommended_difficulty, level.reason.code) == (
        4,
        5,
        "step_up_low_distress",
    )
    not_yet = [rec(d, peak, difficulty=4) for d, peak in enumerate([70, 55, 40, 41, 38])]
    assert trend(not_yet).level.reason.code == "stay"
    assert trend(not_yet).level.recommended_difficulty == 4


def test_step_up_when_the_last_three_peaked_at_half_of_the_first_ones() -> None:
    records = [rec(d, peak, difficulty=5) for d, peak in enumerate([90, 90, 90, 45, 44, 42])]
    level = trend(records).level
    assert (level.recommended_difficulty, level.reason.code) == (6, "step_up_halved")
    # One of the last three above half of the first ones' mean: stay.
    records[3] = rec(3, 46, difficulty=5)
    assert trend(records).level.reason.code == "stay"
    # With four at the level, the single earlier one is the comparison.
    four = [rec(d, peak, difficulty=5) for d, peak in enumerate([96, 48, 45, 44])]
    assert trend(four).level.reason.code == "step_up_halved"


def test_no_step_up_with_fewer_than_three_at_the_level_or_at_the_top() -> None:
    few = [rec(0, 80, difficulty=2), rec(1, 20, difficulty=6), rec(2, 20, difficulty=6)]
    level = trend(few).level
    assert (level.current_difficulty, level.recommended_difficulty, level.reason.code) == (6, 6, "building_up")
    top = [rec(d, 20, difficulty=10) for d in range(4)]
    level = trend(top).level
    assert (level.current_difficulty, level.recommended_difficulty, level.reason.code) == (10, 10, "at_top_level")


def test_step_down_two_levels_when_three_of_the_last_five_were_very_hard_or_avoided() -> None:
    records = [rec(d, 30, difficulty=6) for d in range(5)]
    records += [
        rec(5, 85, difficulty=6),
        rec(6, 40, difficulty=6),
        rec(7, None, outcome="avoided", difficulty=6),
        rec(8, 30, difficulty=6),
        rec(9, 92, difficulty=6),
    ]
    result = trend(records)
    assert (result.level.current_difficulty, result.level.recommended_difficulty) == (6, 4)
    assert result.level.reason.code == "step_down"
    assert result.support is not None
    assert (result.support.reason, result.support.message) == ("high_distress", SUPPORT)


def test_no_step_down_with_two_hard_ones_or_a_peak_of_84() -> None:
    records = [rec(d, 30, difficulty=6) for d in range(3)]
    records += [rec(3, 84, difficulty=6), rec(4, 90, difficulty=6), rec(5, None, outcome="avoided", difficulty=6)]
    result = trend(records)
    assert result.level.reason.code != "step_down"
    assert result.support is None


def test_step_down_never_goes_below_one() -> None:
    records = [rec(d, 95, difficulty=2) for d in range(3)]
    level = trend(records).level
    assert (level.current_difficulty, level.recommended_difficulty, level.reason.code) == (2, 1, "step_down")
    only_avoided = [rec(d, None, outcome="avoided", difficulty=3) for d in range(3)]
    level = trend(only_avoided).level
    assert (level.current_difficulty, level.recommended_difficulty, level.reason.code) == (2, 1, "step_down")


def test_step_down_wins_over_step_up() -> None:
    records = [rec(d, 20, difficulty=3) for d in range(3)]
    records += [rec(d + 3, None, outcome="avoided", difficulty=7) for d in range(3)]
    level = trend(records).level
    assert (level.recommended_difficulty, level.reason.code) == (1, "step_down")


def test_records_in_any_order_give_the_same_trend() -> None:
    records = falling(12)
    assert trend(records[::-1]) == trend(records)
