"""The trend's statistic against scipy, pymannkendall and brute force, on random series with ties."""

import math
import warnings
from collections.abc import Callable
from statistics import NormalDist
from typing import Any

import numpy as np
import pymannkendall as pmk
import pytest
from scipy import stats as scipy_stats

from app.progress import stats

TRIALS = 300


def series(rng: np.random.Generator, n: int) -> tuple[stats.FloatArray, stats.FloatArray]:
    """n sessions on distinct days (weeks since the first), values as people rate: multiples of 5 or 10, or a
    day's mean of such ratings."""
    days = np.sort(rng.choice(4 * n + 5, size=n, replace=False))
    x = (days - days[0]) / stats.WEEK_DAYS
    step = rng.choice([5, 10])
    y = np.clip(np.round(rng.normal(55, 20, n) / step) * step, 0, 100)
    if rng.random() < 0.3:  # some sessions are a mean of two ratings
        y = (y + np.clip(np.round(rng.normal(55, 20, n) / step) * step, 0, 100)) / 2
    return x, y


def brute_force(strata: list[stats.Stratum]) -> tuple[int, float]:
    """S and the strata's own Var(S) with a double loop, straight from the definitions."""
    s, variance = 0, 0.0
    for _x, y in strata:
        n = len(y)
        for i in range(n):
            for j in range(i + 1, n):
                s += int(np.sign(y[j] - y[i]))
        ties = [int(np.sum(y == value)) for value in np.unique(y)]
        variance += (n * (n - 1) * (2 * n + 5) - sum(t * (t - 1) * (2 * t + 5) for t in ties)) / 18
    return s, variance


def brute_covariance(matrix: np.ndarray) -> float:
    """Σ_{g≠h} Cov(S_g, S_h) by Hirsch & Slack's formula on a sessions × strata matrix (NaN: missing = tie)."""
    signs = np.nan_to_num(np.sign(matrix[np.newaxis, :, :] - matrix[:, np.newaxis, :]))  # [i, j, g]
    scores = signs.sum(axis=0)  # [j, g] = Σ_i sign(y_jg − y_ig)
    total = 0.0
    strata = matrix.shape[1]
    for g in range(strata):
        for h in range(strata):
            if g != h:
                k = np.sum(np.triu(signs[:, :, g] * signs[:, :, h], 1))
                total += (k + np.sum(scores[:, g] * scores[:, h])) / 3
    return total


def p_with_continuity(s: int, variance: float) -> float:
    z = (s - np.sign(s)) / math.sqrt(variance)
    return 2 * (1 - NormalDist().cdf(abs(z)))


def quietly(test: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    # pymannkendall divides by Var(S) even when it is 0; those cases are skipped, the warnings are noise.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        return test(*args, **kwargs)


def test_one_series_is_exactly_scipys_theil_sen_and_kendall() -> None:
    rng = np.random.default_rng(20261201)
    for _ in range(TRIALS):
        x, y = series(rng, int(rng.integers(2, 80)))
        ours = stats.kendall_trend([(x, y)])
        theirs = scipy_stats.theilslopes(y, x, alpha=0.95)
        # Bit for bit: the same slopes, median, interval ranks and intercept.
        assert (ours.slope, ours.ci_low, ours.ci_high, ours.intercept) == (
            theirs.slope,
            theirs.low_slope,
            theirs.high_slope,
            theirs.intercept,
        )
        s, variance = brute_force([(x, y)])
        assert (ours.s, ours.cov_s) == (s, 0)
        assert ours.var_s == pytest.approx(variance, rel=1e-12)
        assert ours.tau == pytest.approx(s / (len(y) * (len(y) - 1) / 2))
        if variance == 0:
            assert ours.p_value is None
            continue
        assert ours.p_value == pytest.approx(p_with_continuity(s, variance), abs=1e-12)
        if len(y) < 3:  # scipy's variance formula divides by n − 2
            continue
        # Without the continuity correction, the normal approximation is scipy's Kendall tau test (x has no ties).
        uncorrected = math.erfc(abs(s) / math.sqrt(variance) / math.sqrt(2))
        assert uncorrected == pytest.approx(scipy_stats.kendalltau(x, y, method="asymptotic").pvalue, rel=1e-9)


def test_one_series_agrees_with_pymannkendall_original_test() -> None:
    rng = np.random.default_rng(7)
    for _ in range(TRIALS):
        x, y = series(rng, int(rng.integers(3, 60)))
        ours = stats.kendall_trend([(x, y)], fit=False)
        if ours.p_value is None:
            continue
        theirs = quietly(pmk.original_test, y)
        assert ours.s == theirs.s
        assert ours.var_s == pytest.approx(theirs.var_s, rel=1e-12)
        assert ours.tau == pytest.approx(theirs.Tau, rel=1e-12)
        assert ours.p_value == pytest.approx(theirs.p, abs=1e-12)


def strata_matrix(rng: np.random.Generator) -> tuple[np.ndarray, list[stats.Stratum]]:
    """A sessions × strata matrix with missing cells (NaN), and the same data as strata with shared weeks."""
    sessions, strata = int(rng.integers(2, 40)), int(rng.integers(1, 6))
    x, _ = series(rng, sessions)
    matrix = np.stack([series(rng, sessions)[1] for _ in range(strata)], axis=1)
    matrix[rng.random(matrix.shape) < rng.uniform(0, 0.7)] = np.nan
    present = [~np.isnan(matrix[:, g]) for g in range(strata)]
    return matrix, [(x[keep], matrix[keep, g]) for g, keep in enumerate(present)]


def test_stratified_s_and_variance_agree_with_pymannkendall_seasonal_test() -> None:
    rng = np.random.default_rng(11)
    checked = 0
    for _ in range(TRIALS):
        matrix, strata = strata_matrix(rng)
        s, within, pairs = stats.mann_kendall(strata)
        assert (s, within / 18) == pytest.approx(brute_force(strata), rel=1e-12)
        assert pairs == sum(len(y) * (len(y) - 1) // 2 for _x, y in strata)
        if within == 0:
            continue
        # pymannkendall assumes independent strata (seasons): compare the p of that variance.
        theirs = quietly(pmk.seasonal_test, matrix.ravel(), period=matrix.shape[1])
        assert s == theirs.s
        assert within / 18 == pytest.approx(theirs.var_s, rel=1e-12)
        assert s / pairs == pytest.approx(theirs.Tau, rel=1e-12)
        ours_p = stats.two_sided_p(s, within / 18)
        assert ours_p == pytest.approx(theirs.p, abs=1e-12)
        assert (s - np.sign(s)) / math.sqrt(within / 18) == pytest.approx(theirs.z, abs=1e-12)
        checked += 1
    assert checked > TRIALS // 2


def test_covariance_between_strata_is_hirsch_and_slacks() -> None:
    rng = np.random.default_rng(13)
    for _ in range(TRIALS):
        matrix, strata = strata_matrix(rng)
        covariance = stats.strata_covariance(strata) / 18
        assert covariance == pytest.approx(brute_covariance(matrix), abs=1e-9)
        test = stats.kendall_trend(strata, fit=False)
        assert test.var_s + test.cov_s >= 0
        if test.var_s + test.cov_s > 0:
            assert test.p_value == pytest.approx(p_with_continuity(test.s, test.var_s + test.cov_s), abs=1e-12)


def test_covariance_agrees_with_pymannkendall_correlated_seasonal_test_on_complete_data() -> None:
    rng = np.random.default_rng(17)
    for _ in range(TRIALS // 3):
        sessions, strata = int(rng.integers(3, 30)), int(rng.integers(2, 5))
        x, _ = series(rng, sessions)
        matrix = np.stack([series(rng, sessions)[1] for _ in range(strata)], axis=1)
        test = stats.kendall_trend([(x, matrix[:, g]) for g in range(strata)], fit=False)
        theirs = quietly(pmk.correlated_seasonal_test, matrix.ravel(), period=strata)
        assert test.s == theirs.s
        assert test.var_s + test.cov_s == pytest.approx(theirs.var_s, rel=1e-9, abs=1e-9)


def test_strata_on_different_days_are_independent() -> None:
    x = np.arange(10) / 7
    strata = [(x[:5], np.array([50.0, 40, 45, 30, 20])), (x[5:], np.array([60.0, 65, 50, 55, 40]))]
    assert stats.strata_covariance(strata) == 0


def test_pooled_slope_and_interval_follow_the_definition() -> None:
    rng = np.random.default_rng(19)
    for _ in range(TRIALS):
        matrix, strata = strata_matrix(rng)
        if not any(len(y) >= 2 for _x, y in strata):
            continue
        slopes = sorted(
            (y[j] - y[i]) / (x[j] - x[i]) for x, y in strata for i in range(len(y)) for j in range(i + 1, len(y))
        )
        variance = brute_force(strata)[1] + brute_covariance(matrix)
        count = len(slopes)
        spread = 1.959963984540054 * math.sqrt(variance)
        low = slopes[max(int(np.round((count - spread) / 2)) - 1, 0)]
        high = slopes[min(int(np.round((count + spread) / 2)), count - 1)]
        slope, ci_low, ci_high = stats.sen_slope(strata)
        assert slope == pytest.approx(float(np.median(slopes)), abs=1e-12)
        assert (ci_low, ci_high) == pytest.approx((low, high), abs=1e-12)


def test_a_long_series_is_fitted_on_an_evenly_spaced_subset_and_tested_on_all() -> None:
    rng = np.random.default_rng(23)
    x, y = series(rng, 1000)
    y = np.clip(y - 0.02 * np.arange(1000), 0, 100)
    ours = stats.kendall_trend([(x, y)])
    keep = np.unique(np.linspace(0, 999, 200).round().astype(np.intp))
    assert len(keep) == 200
    assert (keep[0], keep[-1]) == (0, 999)
    theirs = scipy_stats.theilslopes(y[keep], x[keep], alpha=0.95)
    assert (ours.slope, ours.ci_low, ours.ci_high) == (theirs.slope, theirs.low_slope, theirs.high_slope)
    # The intercept uses every session's medians, and the test every pair.
    assert ours.intercept == float(np.median(y)) - theirs.slope * float(np.median(x))
    assert ours.pairs == 1000 * 999 // 2
    assert ours.s == brute_force([(x, y)])[0]
    uncorrected = math.erfc(abs(ours.s) / math.sqrt(ours.var_s) / math.sqrt(2))
    assert uncorrected == pytest.approx(scipy_stats.kendalltau(x, y).pvalue, rel=1e-9)


def test_several_strata_share_the_pair_budget() -> None:
    rng = np.random.default_rng(29)
    strata = [series(rng, 400) for _ in range(4)]
    keep = stats._fit_sessions(4)
    assert 4 * keep * (keep - 1) // 2 <= stats.MAX_FIT_PAIRS < 4 * (keep + 1) * keep // 2
    thinned = [stats._evenly_spaced(x, y, keep) for x, y in strata]
    assert stats.sen_slope(strata) == stats.sen_slope(thinned)


def test_long_strata_take_the_fast_path_to_the_same_answers() -> None:
    # Above stats._DIRECT_PAIRS values the pair counts run block by block: the same numbers as brute force.
    rng = np.random.default_rng(31)
    sessions = 2 * stats._DIRECT_PAIRS + 50
    x, _ = series(rng, sessions)
    matrix = np.stack([series(rng, sessions)[1] for _ in range(3)], axis=1)
    matrix[rng.random(matrix.shape) < 0.2] = np.nan
    strata = [(x[~np.isnan(matrix[:, g])], matrix[~np.isnan(matrix[:, g]), g]) for g in range(3)]
    assert min(len(y) for _x, y in strata) > stats._DIRECT_PAIRS
    s, within, _pairs = stats.mann_kendall(strata)
    assert (s, within / 18) == pytest.approx(brute_force(strata), rel=1e-12)
    assert stats.strata_covariance(strata) / 18 == pytest.approx(brute_covariance(matrix), abs=1e-6)
