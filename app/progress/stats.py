"""The desensitization trend, computed from per-session aggregates; no database, no HTTP.

A session is one local day with at least one exposure (an attempt not avoided). Every
trend line has one point per session, so a day with ten asks weighs no more than a day
with one, and asks minutes apart are never read as a slope over minutes. Time runs in
weeks since the first session.

One statistic serves every line: the stratified (seasonal) Mann–Kendall test with the
pooled within-stratum Sen slope (Hirsch, Slack & Smith 1982; Gilbert 1987, §17.6). A
single series is the one-stratum case, where slope, interval and intercept are exactly
scipy.stats.theilslopes'. The adjusted line takes difficulty levels as strata: sessions
are compared only with sessions at the same difficulty, so moving up or down the ladder
cannot pass for a change in distress. Difficulties practised on the same day share that
day's mood, so Var(S) adds Hirsch & Slack's (1984) covariance between strata to the
strata's own variances. Status and support read the test (the sign of S and its p-value),
never the slope: under heavy ties the median slope can be 0 while nearly every pair of
sessions falls.

NumPy and the standard library only; tests check the numbers against scipy and pymannkendall.
"""

import itertools
import math
import statistics
import timeit
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass, replace
from datetime import date
from typing import Any, Literal, NamedTuple

import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]
Integers = Sequence[int] | IntArray
Stratum = tuple[FloatArray, FloatArray]
Ranks = tuple[IntArray, IntArray]  # `_ranks`: each value's dense rank, and the count of values at each rank

TrendStatus = Literal["insufficient_data", "improving", "stable", "worsening"]
StatusCode = Literal[
    "too_few_sessions",
    "falling_at_same_difficulty",
    "rising_at_same_difficulty",
    "harder_asks_same_distress",
    "no_clear_change",
]
LevelCode = Literal[
    "new_user",
    "step_down",
    "step_down_avoidance",
    "avoided_at_level",
    "building_up",
    "step_up_low_distress",
    "step_up_halved",
    "at_top_level",
    "stay_coming_down",
    "stay",
]
SupportReason = Literal["high_distress", "sustained_distress", "rising_distress", "frequent_avoidance"]
ExpectationChange = Literal["falling", "rising", "no_clear_change"]

RECENT_ATTEMPTS = 20  # how many of the latest attempts the caller passes as `recent`
MIN_SESSIONS = 5
EDGE_SESSIONS = 5  # at most this many sessions averaged for `baseline` and for `recent`
SIGNIFICANCE = 0.05
# scipy.stats.theilslopes(alpha=0.95) takes norm.ppf((1 − 0.95) / 2), which is this value to
# the last bit; statistics.NormalDist().inv_cdf(0.975) differs in the last digits, and the
# interval's order statistics must be scipy's.
Z_95 = 1.959963984540054
# Sen's slope looks at every pair of sessions within a stratum, O(n²): it is fitted on at most
# this many pairs. Above that, each stratum is thinned to the same number of sessions, evenly
# spaced in time (first and last kept): 200 for a single line, fewer with several strata.
# The test (S, p) always sees every session.
MAX_FIT_PAIRS = 20_000
# Up to this many values, comparing every pair as a matrix is faster than counting them block by block
# (`_later_lower`) or after a sort (`_concordance`); measured on NumPy 2.4, the two cross near 160 and 180.
_DIRECT_PAIRS = 160
# The pair tables' size: fitted strata never exceed _fit_sessions(1) = 200 sessions (`_pairs`), nor blocks this width.
_PAIR_TABLE = 256
_LATER, _EARLIER = np.tril_indices(_PAIR_TABLE, -1)
# [i, j] is i < j: the pairs `_later_lower` counts directly, compared as a matrix (a third faster than gathering them).
_EARLIER_THAN = np.triu(np.ones((_PAIR_TABLE, _PAIR_TABLE), dtype=np.bool_), 1)
WEEK_DAYS = 7
_UNIX_EPOCH = date(1970, 1, 1).toordinal()  # day 0 of datetime64[D]
ROLLING_DAYS = 7

NEW_USER_LEVEL = 2
MIN_LEVEL, MAX_LEVEL = 1, 10
LEVEL_WINDOW = 5  # exposures whose median difficulty is the current level
HARD_WINDOW, HARD_COUNT, HARD_PEAK = 5, 3, 85  # 3 of the last 5 exposures peaked at 85 or more
SUSTAINED_SESSIONS, SUSTAINED_MIN_SESSIONS, SUSTAINED_PEAK = 5, 3, 80
AVOIDANCE_WINDOW, AVOIDANCE_COUNT = 5, 3  # 3 of the last 5 attempts avoided
STEP_UP_WINDOW, STEP_UP_PEAK = 3, 40

AVOIDED = "avoided"


class Cells(NamedTuple):
    """One user's cells as columns: each cell aggregates the attempts of one local day, at one difficulty, in one
    category. Item i of every field describes the same cell; cells come in any order. The integer columns are
    lists or NumPy arrays (as the database sends them)."""

    day: Integers  # the local day as an ordinal (date.toordinal())
    difficulty: Integers
    category: Sequence[str]
    attempts: Integers
    avoided: Integers
    rejected: Integers
    peak_sum: Integers  # sum of distress_peak over the exposures (attempts - avoided of them)
    predicted_n: Integers  # exposures that carried expected_rejection, for the slope of predictions per session
    predicted_sum: Integers  # sum of those predictions


class Totals(NamedTuple):
    """Sums over all of one user's cells (their attempts), for the counts, habituation and expectancy."""

    attempts: int
    avoided: int
    rejected: int
    accepted: int
    partial: int
    peak_sum: int
    before_sum: int  # sum of distress_before over the exposures
    after_n: int  # exposures that rated distress_after
    after_sum: int  # sum of their distress_after
    after_peak_sum: int  # sum of their distress_peak
    predicted_n: int  # exposures that carried expected_rejection (a prediction)
    predicted_sum: int  # sum of those predictions
    predicted_rejected: int  # how many of those exposures got outcome "rejected"
    advance_n: int  # of those predictions, how many were written down before the ask (predicted_at < occurred_at)
    surprise_n: int  # exposures that rated surprise
    surprise_sum: int  # sum of their surprise


class RecentAttempt(NamedTuple):
    """One of the user's latest attempts in the window (the caller passes the last RECENT_ATTEMPTS, oldest first)."""

    day: date
    outcome: str  # rejected | accepted | partial | avoided
    distress_peak: int | None
    difficulty: int


@dataclass(frozen=True, slots=True)
class KendallTrend:
    """The stratified Mann–Kendall test and the pooled Sen slope, unrounded."""

    s: int
    var_s: float  # Σ of the strata's own Var(S_g), tie-corrected (what seasonal tests that assume independence use)
    cov_s: float  # Σ_{g≠h} Cov(S_g, S_h) between strata seen on the same sessions; 0 with one stratum
    pairs: int
    tau: float | None
    p_value: float | None
    slope: float | None
    ci_low: float | None
    ci_high: float | None
    intercept: float | None

    def significant(self, direction: int) -> bool:
        """Whether S has the sign of `direction` (−1 falling, +1 rising) with p < 0.05."""
        return self.p_value is not None and self.p_value < SIGNIFICANCE and self.s * direction > 0


@dataclass(frozen=True, slots=True)
class TrendLine:
    slope_per_week: float | None
    intercept: float | None
    ci_low: float | None
    ci_high: float | None
    p_value: float | None
    tau: float | None
    n: int
    exposures: int
    pairs: int
    baseline: float | None
    recent: float | None
    percent_change: float | None


@dataclass(frozen=True, slots=True)
class StatusReason:
    code: StatusCode
    message: str


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
    gap: float | None
    paired: int


@dataclass(frozen=True, slots=True)
class Learning:
    paired: int
    predicted_in_advance: int
    expected_rejection_mean: float | None
    actual_rejection_rate: float | None
    gap: float | None
    mean_surprise: float | None
    sessions: int
    expected_rejection_slope_per_week: float | None
    expected_rejection_ci_low: float | None
    expected_rejection_ci_high: float | None
    expected_rejection_p_value: float | None
    expected_rejection_change: ExpectationChange | None


@dataclass(frozen=True, slots=True)
class LevelReason:
    code: LevelCode
    message: str


@dataclass(frozen=True, slots=True)
class Level:
    current_difficulty: int
    recommended_difficulty: int
    reason: LevelReason


@dataclass(frozen=True, slots=True)
class Streak:
    current_days: int
    longest_days: int


@dataclass(frozen=True, slots=True)
class ReturnOfFear:
    retests: int
    mean_change: float | None


NO_RETESTS = ReturnOfFear(retests=0, mean_change=None)


class Practice(NamedTuple):
    """Everything the trend reads of one user's history (a `since`/`until` window of it)."""

    cells: Cells
    totals: Totals
    recent: Sequence[RecentAttempt]  # the last RECENT_ATTEMPTS attempts, oldest first
    paused: Collection[int] = frozenset()  # every paused local day (ordinals), whatever the window
    return_of_fear: ReturnOfFear = NO_RETESTS  # app/progress/retest.py's, computed in the database


# Not frozen: a long history has thousands of points, and a frozen dataclass's __init__ (object.__setattr__ per
# field) cost four times as much as the rest of building the series.
@dataclass(slots=True)
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
    sessions: int
    mean_distress_peak: float | None
    slope_per_week: float | None


@dataclass(frozen=True, slots=True)
class Support:
    reason: SupportReason
    message: str


@dataclass(frozen=True, slots=True)
class Trend:
    status: TrendStatus
    status_reason: StatusReason
    timezone: str
    time_origin: date | None
    sessions: int
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
    learning: Learning
    level: Level
    streak: Streak
    return_of_fear: ReturnOfFear
    series: list[SeriesPoint]
    by_category: list[CategoryTrend]
    support: Support | None


# --- the statistic ---------------------------------------------------------------------


def mann_kendall(strata: Sequence[Stratum]) -> tuple[int, int, int]:
    """S, 18 × Σ Var(S_g) (each stratum's own, tie-corrected) and the number of pairs compared, over strata.

    Each stratum is (x, y) with x strictly increasing; only pairs within a stratum are compared.
    """
    return _mann_kendall([_ranks(y) for _x, y in strata])


def _mann_kendall(ranks: Sequence[Ranks]) -> tuple[int, int, int]:
    s = variance = pairs = 0
    for rank, counts in ranks:
        n = len(rank)
        if n < 2:
            continue
        s += n * (n - 1) // 2 - _tied_pairs(counts) - 2 * _later_lower(rank)
        variance += _variance_numerator(n, counts)
        pairs += n * (n - 1) // 2
    return s, variance, pairs


def strata_covariance(strata: Sequence[Stratum]) -> int:
    """18 × Σ_{g≠h} Cov(S_g, S_h): Hirsch & Slack's (1984) estimate, for strata observed on the same sessions.

    Difficulties practised on the same day share that day's mood, so their S_g move together and the
    independent sum of variances understates Var(S): without this term 11% of the trendless users of
    tests/progress/test_trend_simulation.py get a trend instead of 5%. Sessions are matched by x; a session missing from
    a stratum counts as a tie there (Hirsch & Slack's convention), so strata on disjoint days add 0.
    With A_ig = Σ_j sign(y_ig − y_jg) and K_gh = Σ_{i<j} sign(y_jg − y_ig)·sign(y_jh − y_ih) over the
    shared sessions, Cov(S_g, S_h) = (K_gh + Σ_i A_ig·A_ih) / 3; the total Var(S) is then a sum of squares,
    never negative.
    """
    return _strata_covariance(strata, [_ranks(y) for _x, y in strata])


def _strata_covariance(strata: Sequence[Stratum], ranks: Sequence[Ranks]) -> int:
    """`strata_covariance`, given each stratum's `_ranks`."""
    compared = [(x, y, _rank_scores(rank, counts)) for (x, y), (rank, counts) in zip(strata, ranks, strict=True)]
    compared = [stratum for stratum in compared if len(stratum[1]) >= 2]
    total = 0
    for (xg, yg, scores_g), (xh, yh, scores_h) in itertools.combinations(compared, 2):
        if xg[-1] < xh[0] or xh[-1] < xg[0]:  # one difficulty left before the other began: nothing shared
            continue
        # Both x strictly increase: a session of g is shared when h has its x where it would be inserted.
        at = np.minimum(np.searchsorted(xh, xg), len(xh) - 1)
        in_g = np.flatnonzero(xh[at] == xg)
        if len(in_g):
            in_h = at[in_g]
            total += _concordance(yg[in_g], yh[in_h]) + int(scores_g[in_g] @ scores_h[in_h])
    return 12 * total  # 18 × 2 (both orders of g and h) × total / 3


def two_sided_p(s: int, variance: float) -> float | None:
    """2 × (1 − Φ(|z|)) with z = (S − sign S) / √Var(S), the continuity correction; None when Var(S) = 0."""
    if variance <= 0:
        return None
    z = (s - _sign(s)) / math.sqrt(variance)
    return math.erfc(abs(z) / math.sqrt(2))  # the same as 2 × (1 − Φ(|z|)), without cancellation for small p


def kendall_trend(strata: Sequence[Stratum], *, fit: bool = True) -> KendallTrend:
    """The stratified Mann–Kendall test of y against x, and (with `fit`) the pooled Sen slope.

    Var(S) is the strata's own variances plus their covariances (`strata_covariance`); p is two-sided and
    continuity-corrected. tau = S / pairs (Kendall's tau-a, negative when later values are lower). The
    slope is the median of all within-stratum pairwise slopes with Sen's (1968) 95% interval; the
    intercept, median(y) − slope × median(x), only with one stratum.
    """
    ranks = [_ranks(y) for _x, y in strata]
    s, within, pairs = _mann_kendall(ranks)
    between = _strata_covariance(strata, ranks) if len(strata) > 1 else 0
    slope = low = high = intercept = None
    if fit and pairs:
        slope, low, high = sen_slope(strata, variance=within + between)
        if len(strata) == 1:
            x, y = strata[0]
            intercept = _median(y) - slope * _median(x)
    return KendallTrend(
        s=s,
        var_s=within / 18,
        cov_s=between / 18,
        pairs=pairs,
        tau=s / pairs if pairs else None,
        p_value=two_sided_p(s, (within + between) / 18),
        slope=slope,
        ci_low=low,
        ci_high=high,
        intercept=intercept,
    )


def sen_slope(strata: Sequence[Stratum], *, variance: int | None = None) -> tuple[float, float, float]:
    """Median of the pooled within-stratum pairwise slopes, with Sen's 95% interval as scipy computes it.

    Beyond MAX_FIT_PAIRS pairs, strata are thinned to `_fit_sessions` sessions evenly spaced in time;
    the interval's Var(S) (covariances included) is that of the points fitted. `variance`, 18 × Var(S) of
    `strata` as the test has it, is used as it is when nothing was thinned. Needs a stratum with two points.
    """
    compared, fitted = _fitted(strata)
    if variance is None or any(len(f[1]) < len(c[1]) for f, c in zip(fitted, compared, strict=True)):
        ranks = [_ranks(y) for _x, y in fitted]
        variance = sum(_variance_numerator(len(rank), counts) for rank, counts in ranks)
        if len(fitted) > 1:
            variance += _strata_covariance(fitted, ranks)
    slopes = _pairwise_slopes(fitted)
    count = len(slopes)
    # 1/18 × the integer, as scipy writes it, so the interval's ranks are scipy's to the last bit.
    spread = Z_95 * math.sqrt(1 / 18 * variance)
    # Python's round() is half-to-even, as numpy.round in scipy.
    low_rank = max(round((count - spread) / 2) - 1, 0)
    high_rank = min(round((count + spread) / 2), count - 1)
    low, below, above, high = _order_statistics(slopes, [low_rank, (count - 1) // 2, count // 2, high_rank])
    return (below + above) / 2, low, high


def median_slope(x: FloatArray, y: FloatArray, *, lines: int = 1) -> float:
    """Sen's slope of one line alone (`sen_slope` without its interval), for lines that show no interval.

    `lines` fitted together (one per category) share MAX_FIT_PAIRS pairs, as a stratified fit's strata do.
    """
    return _median(_pairwise_slopes([_evenly_spaced(x, y, _fit_sessions(lines))]))


def _median(values: FloatArray) -> float:
    """np.median's value, at a fraction of its overhead."""
    count = len(values)
    below, above = _order_statistics(values, [(count - 1) // 2, count // 2])
    return (below + above) / 2


def _sorting(values: FloatArray, ranks: list[int]) -> FloatArray:
    return np.sort(values)[ranks]


def _partitioning(values: FloatArray, ranks: list[int]) -> FloatArray:
    return np.partition(values, ranks)[ranks]


def _faster_selection() -> Callable[[FloatArray, list[int]], FloatArray]:
    """`_sorting` or `_partitioning`, whichever reads the order statistics of MAX_FIT_PAIRS values faster here.

    Both give the same values; their speed depends on the CPU by a factor of up to ten, the other way round on
    the hosts we bench on (NumPy 2.4, 19,900 values): on an Intel Xeon with AVX-512 np.sort took 80 µs and
    np.partition at four ranks 320, on an AMD EPYC np.sort 613 and np.partition 80, which made sorting a sixth of
    a long history's trend there. Timed once per process, best of three, at a few milliseconds.
    """
    values = np.random.default_rng(0).random(MAX_FIT_PAIRS)
    ranks = [len(values) // 4, len(values) // 2 - 1, len(values) // 2, 3 * len(values) // 4]

    def seconds(select: Callable[[FloatArray, list[int]], FloatArray]) -> float:
        return min(timeit.repeat(lambda: select(values, ranks), number=1, repeat=3))

    return _sorting if seconds(_sorting) <= seconds(_partitioning) else _partitioning


_SELECT = _faster_selection()


def _order_statistics(values: FloatArray, ranks: list[int]) -> list[float]:
    """The values at these 0-based ranks of the values sorted, as np.sort(values)[ranks].

    Give two ranks at least, the same one twice if need be: np.partition at a single rank takes another
    algorithm, five times as slow on the AMD host as at two.
    """
    selected: list[float] = _SELECT(values, ranks).tolist()
    return selected


def _fitted(strata: Sequence[Stratum]) -> tuple[list[Stratum], list[Stratum]]:
    """The strata with a pair to compare, and the same thinned to what the fit looks at."""
    compared = [(x, y) for x, y in strata if len(y) >= 2]
    keep = _fit_sessions(len(compared))
    return compared, [_evenly_spaced(x, y, keep) for x, y in compared]


def _pairwise_slopes(strata: Sequence[Stratum]) -> FloatArray:
    """(y_j − y_i) / (x_j − x_i) for every pair i < j within each stratum, x strictly increasing."""
    parts = []
    for x, y in strata:
        later, earlier = _pairs(len(x))
        parts.append((y[later] - y[earlier]) / (x[later] - x[earlier]))
    return np.concatenate(parts)


def _pairs(n: int) -> tuple[IntArray, IntArray]:
    """Index arrays (j, i) of every pair i < j among the first n ≤ _PAIR_TABLE values, ordered by j then i."""
    count = n * (n - 1) // 2
    return _LATER[:count], _EARLIER[:count]


def _later_lower(rank: IntArray) -> int:
    """Pairs i < j with rank_i > rank_j (dense ranks: ties share one), in O(n·√R) for R distinct ranks.

    Past _DIRECT_PAIRS values they are counted in blocks of w consecutive values, w ≈ 2√R: the pairs within a
    block compared directly (n·w/2), those across blocks from each block's histogram of ranks (n/w × R). SUDS
    come in steps of 5 or 10, so R stays far below n: at 1,000 such sessions this takes a third of a merge
    sort's time (as long when every value differs; past a few thousand distinct values it falls behind).
    """
    n = len(rank)
    if n <= _DIRECT_PAIRS:
        return int(np.count_nonzero((rank[:, np.newaxis] > rank) & _EARLIER_THAN[:n, :n]))
    top = int(rank.max()) + 1
    width = min(max(16, int(2 * math.sqrt(top))), _PAIR_TABLE)
    runs = -(-n // width)
    padded = np.full(runs * width, top)  # the padding comes last and is higher than every value: it adds no pair
    padded[:n] = rank
    blocks = padded.reshape(runs, width)
    within = np.count_nonzero((blocks[:, :, np.newaxis] > blocks[:, np.newaxis, :]) & _EARLIER_THAN[:width, :width])
    histogram = np.bincount(
        (np.arange(runs)[:, np.newaxis] * (top + 1) + blocks).ravel(), minlength=runs * (top + 1)
    ).reshape(runs, top + 1)
    # higher[b, r]: values of block b ranked above r; earlier_higher[b, r]: the same over the blocks before b.
    higher = np.cumsum(histogram[:, ::-1], axis=1)[:, ::-1] - histogram
    earlier_higher = np.cumsum(higher, axis=0) - higher
    return int(within) + int(np.vdot(histogram, earlier_higher))


def _variance_numerator(n: int, counts: IntArray) -> int:
    """18 × Var(S) of one stratum of n values: n(n−1)(2n+5) less each group of t ties' t(t−1)(2t+5)."""
    return n * (n - 1) * (2 * n + 5) - int((counts * (counts - 1)) @ (2 * counts + 5))


def _tied_pairs(counts: IntArray) -> int:
    return int(counts @ (counts - 1)) // 2


def _ranks(y: FloatArray) -> Ranks:
    """Each value's dense rank (ties share one) and how many values hold each rank: what the test reads of y.

    np.unique's, without the overhead that dominates for the few dozen values of a stratum.
    """
    order = np.argsort(y)
    ordered = y[order]
    first = np.ones(len(y), dtype=np.bool_)  # where each rank's run of equal values starts
    first[1:] = ordered[1:] != ordered[:-1]
    dense = np.cumsum(first) - 1
    rank = np.empty(len(y), dtype=np.int64)
    rank[order] = dense
    return rank, np.bincount(dense)


def _rank_scores(rank: IntArray, counts: IntArray) -> IntArray:
    """Σ_j sign(y_i − y_j) for each i: how many values are lower than y_i minus how many are higher."""
    up_to = np.cumsum(counts)  # values at or below each rank
    scores: IntArray = ((up_to - counts) - (len(rank) - up_to))[rank]
    return scores


def _concordance(a: FloatArray, b: FloatArray) -> int:
    """Σ_{i<j} sign(a_j − a_i)·sign(b_j − b_i): concordant minus discordant pairs."""
    n = len(a)
    if n <= _DIRECT_PAIRS:
        # [i, j] is a_j > a_i: each pair that a orders is counted once, concordant where b rises with it. Boolean
        # matrices, not the product of two matrices of signs: at 100 values 24 against 39 µs.
        rises = a > a[:, np.newaxis]
        return int(np.count_nonzero(rises & (b > b[:, np.newaxis]))) - int(
            np.count_nonzero(rises & (b < b[:, np.newaxis]))
        )
    order = np.lexsort((b, a))
    a, b = a[order], b[order]
    # Sorted by a, then b: a later-lower b is a discordant pair, and ties in a never are (b ascends there).
    b_rank, b_counts = _ranks(b)
    discordant = _later_lower(b_rank)
    a_counts = _ranks(a)[1]
    starts = np.flatnonzero(np.concatenate(([True], (a[1:] != a[:-1]) | (b[1:] != b[:-1]))))
    both_counts = np.diff(np.append(starts, n))
    untied = n * (n - 1) // 2 - _tied_pairs(a_counts) - _tied_pairs(b_counts) + _tied_pairs(both_counts)
    return untied - 2 * discordant


def _fit_sessions(strata: int) -> int:
    """The most sessions m a stratum keeps for the fit: `strata` × m(m−1)/2 pairs within MAX_FIT_PAIRS."""
    return math.floor((1 + math.sqrt(1 + 8 * MAX_FIT_PAIRS / max(strata, 1))) / 2)


def _evenly_spaced(x: FloatArray, y: FloatArray, keep: int) -> Stratum:
    if len(x) <= keep:
        return x, y
    # Steps of more than one index: the rounded positions are already distinct and ascending.
    index = np.linspace(0, len(x) - 1, keep).round().astype(np.intp)
    return x[index], y[index]


def _sign(value: int) -> int:
    return (value > 0) - (value < 0)


# --- from cells to sessions --------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Points:
    """One value per session of a line (days as ordinals, ascending), with the exposures behind each."""

    days: IntArray
    values: FloatArray
    exposures: IntArray


@dataclass(frozen=True, slots=True)
class _History:
    """What the cells say, per day, per session, per difficulty and per category."""

    days: IntArray  # every local day with attempts
    day_attempts: IntArray
    day_exposures: IntArray
    day_rejections: IntArray
    day_peak_sums: IntArray
    day_max_difficulty: IntArray  # 0 on a day without exposures
    sessions: _Points  # mean peak per session
    session_difficulty: FloatArray  # mean difficulty per session, weighted by exposures
    by_difficulty: dict[int, _Points]  # mean peak per session at that difficulty
    categories: list[str]
    category_attempts: IntArray
    category_exposures: IntArray
    category_peak_sums: IntArray
    by_category: list[_Points]
    predictions: _Points  # mean expected_rejection per session with a prediction; `exposures` counts the predictions


def _history(cells: Cells) -> _History:
    ordinals = np.asarray(cells.day, dtype=np.int64)
    difficulty, attempts, avoided, rejected, peak_sum = (
        np.asarray(column, dtype=np.int64)
        for column in (cells.difficulty, cells.attempts, cells.avoided, cells.rejected, cells.peak_sum)
    )
    exposures = attempts - avoided
    exposed = exposures > 0
    names = sorted(set(cells.category))
    number = {name: i for i, name in enumerate(names)}
    category = np.fromiter(map(number.__getitem__, cells.category), np.int64, len(cells.category))

    days, day_index = np.unique(ordinals, return_inverse=True)

    def per_day(values: IntArray) -> IntArray:
        return np.bincount(day_index, weights=values, minlength=len(days)).astype(np.int64)

    def per_category(values: IntArray) -> IntArray:
        return np.bincount(category, weights=values, minlength=len(names)).astype(np.int64)

    def sessions_by(group: IntArray, groups: int) -> list[_Points]:
        """Mean peak per session within each group 0..groups−1 (a difficulty, a category)."""
        # A bin for every (group, day), a few thousand at most: cheaper than np.unique over the cells.
        key, bins = group[exposed] * len(days) + day_index[exposed], groups * len(days)
        by_key = np.bincount(key, weights=exposures[exposed], minlength=bins).astype(np.int64)
        keys = np.flatnonzero(by_key)
        key_exposures = by_key[keys]
        key_peaks = np.bincount(key, weights=peak_sum[exposed], minlength=bins)[keys]
        bounds = np.searchsorted(keys, np.arange(groups + 1) * len(days))
        key_days, key_means = days[keys % len(days)], key_peaks / key_exposures
        return [
            _Points(key_days[a:b], key_means[a:b], key_exposures[a:b]) for a, b in itertools.pairwise(bounds.tolist())
        ]

    day_exposures = per_day(exposures)
    day_peak_sums = per_day(peak_sum)
    day_predicted = per_day(np.asarray(cells.predicted_n, dtype=np.int64))
    predicted = day_predicted > 0
    day_predicted_sums = per_day(np.asarray(cells.predicted_sum, dtype=np.int64))
    day_max_difficulty = np.zeros(len(days), dtype=np.int64)
    np.maximum.at(day_max_difficulty, day_index[exposed], difficulty[exposed])
    is_session = day_exposures > 0
    session_exposures = day_exposures[is_session]
    levels = range(MIN_LEVEL, MAX_LEVEL + 1)
    return _History(
        days=days,
        day_attempts=per_day(attempts),
        day_exposures=day_exposures,
        day_rejections=per_day(rejected),
        day_peak_sums=day_peak_sums,
        day_max_difficulty=day_max_difficulty,
        sessions=_Points(days[is_session], day_peak_sums[is_session] / session_exposures, session_exposures),
        session_difficulty=per_day(difficulty * exposures)[is_session] / session_exposures,
        by_difficulty=dict(zip(levels, sessions_by(difficulty - MIN_LEVEL, len(levels)), strict=True)),
        categories=names,
        category_attempts=per_category(attempts),
        category_exposures=per_category(exposures),
        category_peak_sums=per_category(peak_sum),
        by_category=sessions_by(category, len(names)),
        predictions=_Points(
            days[predicted], day_predicted_sums[predicted] / day_predicted[predicted], day_predicted[predicted]
        ),
    )


# --- the trend ----------------------------------------------------------------------------


def compute_trend(
    practice: Practice,
    *,
    timezone: str,
    today: date,
    support_message: str,
) -> Trend:
    """The whole trend from one user's practice (cells in any order); streaks count up to `today` and skip the
    paused days."""
    history = _history(practice.cells)
    recent = practice.recent
    sessions = history.sessions
    origin = int(sessions.days[0]) if len(sessions.days) else 0

    def weeks(days: IntArray) -> FloatArray:
        return (days - origin) / WEEK_DAYS

    distress_test = kendall_trend([(weeks(sessions.days), sessions.values)])
    distress = _line(distress_test, [sessions], _edges(sessions.values))
    # Difficulties practised in a single session have no pair to compare: they stay out of the line.
    repeated = [points for points in history.by_difficulty.values() if len(points.days) >= 2]
    # Each difficulty has a level of its own: there is no single intercept, even with one difficulty.
    adjusted_test = replace(kendall_trend([(weeks(p.days), p.values) for p in repeated]), intercept=None)
    adjusted = _line(adjusted_test, repeated, _matched_edges(repeated))
    # Whether the asks got harder needs only the test.
    climb_test = kendall_trend([(weeks(sessions.days), history.session_difficulty)], fit=False)
    climb = _Change(climb_test, *_edges(history.session_difficulty))
    fall = _Change(distress_test, distress.baseline, distress.recent)
    matched = _Change(adjusted_test, adjusted.baseline, adjusted.recent)
    status, reason = _status(len(sessions.days), matched, fall, climb)
    strain = _strain(recent, sessions.values)
    totals = practice.totals
    expectancy = _expectancy(totals)
    return Trend(
        status=status,
        status_reason=reason,
        timezone=timezone,
        time_origin=date.fromordinal(origin) if len(sessions.days) else None,
        sessions=len(sessions.days),
        attempts=totals.attempts,
        exposures=totals.attempts - totals.avoided,
        rejections=totals.rejected,
        acceptances=totals.accepted,
        partials=totals.partial,
        avoided=totals.avoided,
        avoidance_rate=_round(_ratio(totals.avoided, totals.attempts, 100)),
        distress_trend=distress,
        adjusted_trend=adjusted,
        habituation=_habituation(totals),
        expectancy=expectancy,
        learning=_learning(expectancy, totals, history.predictions, origin),
        level=_assess(recent, strain, _first_sessions(history)),
        streak=streak(sessions.days, today, practice.paused),
        return_of_fear=practice.return_of_fear,
        series=_series(history),
        by_category=_by_category(history, origin),
        support=_support(strain, matched, fall, climb, support_message),
    )


def _line(test: KendallTrend, strata: Sequence[_Points], edges: tuple[float | None, float | None]) -> TrendLine:
    """A TrendLine over the strata's points; `n` counts sessions once however many strata they are in."""
    baseline, recent = edges
    change = None if baseline is None or recent is None or baseline == 0 else (recent - baseline) / baseline * 100
    return TrendLine(
        slope_per_week=_round(test.slope, 3),
        intercept=_round(test.intercept),
        ci_low=_round(test.ci_low, 3),
        ci_high=_round(test.ci_high, 3),
        p_value=_finite(test.p_value),
        tau=_round(test.tau, 4),
        n=_distinct(np.concatenate([points.days for points in strata])) if strata else 0,
        exposures=sum(int(points.exposures.sum()) for points in strata),
        pairs=test.pairs,
        baseline=_round(baseline),
        recent=_round(recent),
        percent_change=_round(change),
    )


def _distinct(values: IntArray) -> int:
    """len(np.unique(values)), without the hashing that makes np.unique of integers cost ten times a sort."""
    ordered = np.sort(values)
    return int(np.count_nonzero(ordered[1:] != ordered[:-1])) + 1 if len(ordered) else 0


def _edges(values: FloatArray) -> tuple[float | None, float | None]:
    """Means of the first and of the last k values, k = min(5, n // 2), so the two never overlap."""
    k = min(EDGE_SESSIONS, len(values) // 2)
    if not k:
        return None, None
    # np.mean is this sum over the count; called directly, at a third of the cost.
    return float(values[:k].sum() / k), float(values[-k:].sum() / k)


def _matched_edges(strata: Sequence[_Points]) -> tuple[float | None, float | None]:
    """`_edges` within each difficulty (each practised in two or more sessions), averaged weighted by sessions."""
    if not strata:
        return None, None
    weights = np.array([len(points.days) for points in strata], dtype=np.float64)
    edges = np.array([_edges(points.values) for points in strata], dtype=np.float64)
    first, last = weights @ edges / weights.sum()
    return float(first), float(last)


@dataclass(frozen=True, slots=True)
class _Change:
    """A test with the baseline and recent means that describe it to a person."""

    test: KendallTrend
    baseline: float | None
    recent: float | None

    def rounded(self) -> tuple[float, float] | None:
        """The two means as a message shows them (one decimal), so wording and numbers are judged alike."""
        if self.baseline is None or self.recent is None:
            return None
        return round(self.baseline, 1), round(self.recent, 1)

    def from_to(self, direction: int) -> str:
        """' from X to Y' when the shown means move in `direction` (−1 down, +1 up), else ''."""
        means = self.rounded()
        if means is None or (means[1] - means[0]) * direction <= 0:
            return ""
        return f" from {_num(means[0])} to {_num(means[1])}"


def _status(sessions: int, matched: _Change, fall: _Change, climb: _Change) -> tuple[TrendStatus, StatusReason]:
    if sessions < MIN_SESSIONS:
        message = f"A trend needs exposures on {MIN_SESSIONS} different days; you have {sessions} so far."
        return "insufficient_data", StatusReason("too_few_sessions", message)
    if matched.test.significant(-1):
        message = f"At the same difficulty, your peak distress is falling{matched.from_to(-1)}."
        return "improving", StatusReason("falling_at_same_difficulty", message)
    if matched.test.significant(+1):
        message = f"At the same difficulty, your peak distress is rising{matched.from_to(+1)}."
        return "worsening", StatusReason("rising_at_same_difficulty", message)
    if climb.test.significant(+1) and not fall.test.significant(+1):
        levels = climb.rounded()
        harder = f" (mean difficulty {_num(levels[0])} → {_num(levels[1])})" if levels and levels[1] > levels[0] else ""
        peaks = fall.rounded()
        steady = (
            f" while your peak distress did not rise ({_num(peaks[0])} at the start, {_num(peaks[1])} recently)"
            if peaks and peaks[1] <= peaks[0]
            else " without a clear rise in your peak distress"
        )
        return "improving", StatusReason(
            "harder_asks_same_distress", f"You have moved up to harder asks{harder}{steady}."
        )
    if matched.test.pairs == 0:
        message = "No clear change yet: repeat a difficulty on more days to compare like with like."
    else:
        message = "No clear change yet in your peak distress at the same difficulty."
    return "stable", StatusReason("no_clear_change", message)


# --- the ladder and support ------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Strain:
    """How hard the latest asks were, as the ladder and the support note read it."""

    exposures: int  # the last HARD_WINDOW exposures in `recent` (fewer if there are fewer)
    hard: int  # of them, peaked at HARD_PEAK or more
    attempts: int  # the last AVOIDANCE_WINDOW attempts
    avoided: int  # of them, avoided
    sessions: int  # the last SUSTAINED_SESSIONS sessions
    sustained: float | None  # their mean of session mean peaks; None with fewer than SUSTAINED_MIN_SESSIONS

    @property
    def very_hard(self) -> bool:
        return self.hard >= HARD_COUNT

    @property
    def sustained_high(self) -> bool:
        return self.sustained is not None and self.sustained >= SUSTAINED_PEAK

    @property
    def avoiding(self) -> bool:
        return self.avoided >= AVOIDANCE_COUNT


def _strain(recent: Sequence[RecentAttempt], session_means: FloatArray) -> _Strain:
    exposures = [a for a in recent if a.outcome != AVOIDED][-HARD_WINDOW:]
    attempts = recent[-AVOIDANCE_WINDOW:]
    last_sessions = session_means[-SUSTAINED_SESSIONS:]
    return _Strain(
        exposures=len(exposures),
        hard=sum(a.distress_peak is not None and a.distress_peak >= HARD_PEAK for a in exposures),
        attempts=len(attempts),
        avoided=sum(a.outcome == AVOIDED for a in attempts),
        sessions=len(last_sessions),
        sustained=float(np.mean(last_sessions)) if len(last_sessions) >= SUSTAINED_MIN_SESSIONS else None,
    )


def _first_sessions(history: _History) -> dict[int, tuple[int, float]]:
    """Per difficulty, the first session's day (ordinal) and its mean peak at that difficulty."""
    return {d: (int(p.days[0]), float(p.values[0])) for d, p in history.by_difficulty.items() if len(p.days)}


def assess_level(practice: Practice) -> Level:
    """The current rung of the ladder and the next one (see `_assess`)."""
    history = _history(practice.cells)
    recent = practice.recent
    return _assess(recent, _strain(recent, history.sessions.values), _first_sessions(history))


def _assess(recent: Sequence[RecentAttempt], strain: _Strain, first_sessions: dict[int, tuple[int, float]]) -> Level:
    """The ladder rules, first match wins; the schema's LevelReason describes them."""
    if not recent:
        return _level(
            NEW_USER_LEVEL,
            NEW_USER_LEVEL,
            "new_user",
            f"No attempts yet: start with an easy ask at difficulty {NEW_USER_LEVEL}.",
        )
    exposures = [a for a in recent if a.outcome != AVOIDED]
    median = statistics.median(a.difficulty for a in (exposures or list(recent))[-LEVEL_WINDOW:])
    current = min(MAX_LEVEL, max(MIN_LEVEL, math.floor(median + 0.5)))
    down = max(MIN_LEVEL, current - 1)

    if strain.very_hard or strain.sustained_high:
        causes = []
        if strain.very_hard:
            causes.append(f"{strain.hard} of the last {strain.exposures} asks you made peaked at {HARD_PEAK} or more")
        if strain.sustained_high:
            causes.append(
                f"your last {strain.sessions} practice days averaged a peak distress of {_num(strain.sustained)}"
            )
        return _level(current, down, "step_down", f"{_sentence(' and '.join(causes))}: {_gentler(current, down)}")
    if strain.avoiding:
        message = f"You avoided {strain.avoided} of your last {strain.attempts} asks: {_gentler(current, down)}"
        return _level(current, down, "step_down_avoidance", message)

    return _practise(current, recent, first_sessions)


def _practise(current: int, recent: Sequence[RecentAttempt], first_sessions: dict[int, tuple[int, float]]) -> Level:
    """The rules at the current level, once no step down is due."""
    at_level = [a for a in recent if a.difficulty == current]
    avoided_here = sum(a.outcome == AVOIDED for a in at_level[-LEVEL_WINDOW:])
    if avoided_here:
        message = (
            f"You avoided {avoided_here} of your last {len(at_level[-LEVEL_WINDOW:])} asks at difficulty {current}: "
            "stay at this level, without stepping up, until you no longer avoid asks here."
        )
        return _level(current, current, "avoided_at_level", message)
    peaks = [a for a in at_level if a.outcome != AVOIDED and a.distress_peak is not None]
    if len(peaks) < STEP_UP_WINDOW:
        done = f"{len(peaks)} ask{'' if len(peaks) == 1 else 's'}" if peaks else "no asks yet"
        message = (
            f"You have done {done} at difficulty {current}: do at least {STEP_UP_WINDOW} before deciding "
            "whether to step up."
        )
        return _level(current, current, "building_up", message)

    last = peaks[-STEP_UP_WINDOW:]
    highest = max(a.distress_peak or 0 for a in last)
    last_mean = round(statistics.fmean(a.distress_peak or 0 for a in last), 1)
    first = first_sessions.get(current)
    # The first session counts as "before" only when it is older than all the asks it is compared with.
    first_mean = round(first[1], 1) if first is not None and first[0] < last[0].day.toordinal() else None
    if highest <= STEP_UP_PEAK:
        code: LevelCode = "step_up_low_distress"
        why = f"Your last {STEP_UP_WINDOW} asks at difficulty {current} peaked at {STEP_UP_PEAK} or less"
    elif first_mean is not None and highest <= first_mean / 2:
        code = "step_up_halved"
        why = (
            f"Your last {STEP_UP_WINDOW} asks at difficulty {current} peaked at {highest} or less, half or less of "
            f"the {_num(first_mean)} of your first day at this level"
        )
    elif first_mean is not None and last_mean < first_mean:
        message = (
            f"Distress at difficulty {current} is coming down from {_num(first_mean)} to {_num(last_mean)}: "
            "stay here a little longer."
        )
        return _level(current, current, "stay_coming_down", message)
    else:
        message = (
            f"Distress at difficulty {current} has not come down yet (your last {STEP_UP_WINDOW} asks there "
            f"averaged a peak of {_num(last_mean)}): stay here a little longer."
        )
        return _level(current, current, "stay", message)
    if current == MAX_LEVEL:
        return _level(current, current, "at_top_level", f"{why}: you are at the top level, keep practising here.")
    return _level(current, current + 1, code, f"{why}: you are ready to step up to difficulty {current + 1}.")


def _gentler(current: int, down: int) -> str:
    if down < current:
        return f"step down to difficulty {down} for a while."
    return f"stay at difficulty {current}, the gentlest level, for a while."


def _level(current: int, recommended: int, code: LevelCode, message: str) -> Level:
    return Level(current, recommended, LevelReason(code=code, message=message))


def _support(strain: _Strain, matched: _Change, fall: _Change, climb: _Change, configured: str) -> Support | None:
    reason: SupportReason
    if strain.very_hard:
        reason, why = (
            "high_distress",
            f"{strain.hard} of the last {strain.exposures} asks you made peaked at {HARD_PEAK} or more.",
        )
    elif strain.sustained_high:
        reason = "sustained_distress"
        why = f"Your last {strain.sessions} practice days averaged a peak distress of {_num(strain.sustained)}."
    elif matched.test.significant(+1):
        reason, why = (
            "rising_distress",
            f"At the same difficulty, your peak distress has been rising{matched.from_to(+1)}.",
        )
    elif fall.test.significant(+1) and not climb.test.significant(+1):
        reason = "rising_distress"
        why = f"Your peak distress has been rising{fall.from_to(+1)}, while your asks have not clearly become harder."
    elif strain.avoiding:
        reason, why = "frequent_avoidance", f"You avoided {strain.avoided} of your last {strain.attempts} asks."
    else:
        return None
    return Support(reason=reason, message=f"{why} {configured}" if configured else why)


# --- the rest: counts, habituation, expectancy, streaks, series, categories -----------------------------


def _habituation(totals: Totals) -> Habituation:
    exposures = totals.attempts - totals.avoided
    return Habituation(
        within_session_drop=_round(_ratio(totals.after_peak_sum - totals.after_sum, totals.after_n)),
        mean_distress_before=_round(_ratio(totals.before_sum, exposures)),
        mean_distress_peak=_round(_ratio(totals.peak_sum, exposures)),
        mean_distress_after=_round(_ratio(totals.after_sum, totals.after_n)),
        n=totals.after_n,
    )


def _expectancy(totals: Totals) -> Expectancy:
    """Predicted chance of a no against the share of noes, over the same exposures: those with a prediction."""
    expected = _ratio(totals.predicted_sum, totals.predicted_n)
    actual = _ratio(totals.predicted_rejected, totals.predicted_n, 100)
    return Expectancy(
        expected_rejection_mean=_round(expected),
        actual_rejection_rate=_round(actual),
        gap=_round(expected - actual) if expected is not None and actual is not None else None,
        paired=totals.predicted_n,
    )


def _learning(expectancy: Expectancy, totals: Totals, predictions: _Points, origin: int) -> Learning:
    """Expectancy's paired numbers (the same values), predictions made in advance, surprise, and whether the
    predicted chance of a no moves over time.

    That line is fitted as distress_trend's is, one point per session: each session's mean prediction, so a day
    with ten predictions weighs as much as a day with one. Below MIN_SESSIONS such sessions it is not fitted.
    """
    slope = low = high = p_value = None
    change: ExpectationChange | None = None
    if len(predictions.days) >= MIN_SESSIONS:
        test = kendall_trend([((predictions.days - origin) / WEEK_DAYS, predictions.values)])
        slope, low, high, p_value = test.slope, test.ci_low, test.ci_high, test.p_value
        # Read from the test, as `status` is: predictions in steps of 5 or 10 tie, and the slope can then be 0.
        change = "falling" if test.significant(-1) else "rising" if test.significant(+1) else "no_clear_change"
    return Learning(
        paired=expectancy.paired,
        predicted_in_advance=totals.advance_n,
        expected_rejection_mean=expectancy.expected_rejection_mean,
        actual_rejection_rate=expectancy.actual_rejection_rate,
        gap=expectancy.gap,
        mean_surprise=_round(_ratio(totals.surprise_sum, totals.surprise_n)),
        sessions=len(predictions.days),
        expected_rejection_slope_per_week=_round(slope, 3),
        expected_rejection_ci_low=_round(low, 3),
        expected_rejection_ci_high=_round(high, 3),
        expected_rejection_p_value=_finite(p_value),
        expected_rejection_change=change,
    )


def streak(days: IntArray, today: date, paused: Collection[int] = frozenset()) -> Streak:
    """Runs of consecutive days with an exposure (ordinals, ascending, each once); the current run ends today, or
    yesterday if none today.

    Paused days without an exposure are taken out of the calendar: they neither count for a run nor break it, so a
    run goes on across a pause, and a paused today or yesterday keeps the current run. A paused day with an exposure
    counts like any other.
    """
    # Sorted for searchsorted (setdiff1d keeps the order it was given when told the values are unique).
    skipped = np.sort(np.setdiff1d(np.fromiter(paused, np.int64, len(paused)), days, assume_unique=True))
    # Two days with exposures are neighbours when every day between them was paused: the days between them
    # less the paused ones among them (all of them skipped: a paused day with an exposure is in `days`).
    missed = np.diff(days) - 1 - np.diff(np.searchsorted(skipped, days))
    starts = np.concatenate(([0], np.flatnonzero(missed) + 1, [len(days)]))
    longest = int(np.diff(starts).max()) if len(days) else 0
    end = today.toordinal()
    if end not in days and end not in paused:
        end -= 1
    # The current run is the one of the last day with an exposure up to `end`, if every day after it up to
    # `end` was skipped.
    last = int(np.searchsorted(days, end, side="right")) - 1
    current = 0
    if last >= 0:
        after = int(days[last])
        if end - after == np.count_nonzero((skipped > after) & (skipped <= end)):
            current = last + 1 - int(starts[np.searchsorted(starts, last, side="right") - 1])
    return Streak(current_days=current, longest_days=longest)


def _series(history: _History) -> list[SeriesPoint]:
    """One point per local day with attempts; the rolling mean pools every exposure of that day and the 6 before."""
    days = history.days
    peak_prefix = np.concatenate(([0], np.cumsum(history.day_peak_sums)))
    exposure_prefix = np.concatenate(([0], np.cumsum(history.day_exposures)))
    starts = np.searchsorted(days, days - (ROLLING_DAYS - 1), side="left")
    ends = np.arange(1, len(days) + 1)
    window_exposures = exposure_prefix[ends] - exposure_prefix[starts]
    # Rounded as arrays: one round() per value would cost more than the rest of the series.
    means = _rounded_means(history.day_peak_sums, history.day_exposures)
    rolling = _rounded_means(peak_prefix[ends] - peak_prefix[starts], window_exposures)
    hardest = history.day_max_difficulty
    # Positional, through map: keyword arguments cost as much again as the rest of the series.
    return list(
        map(
            SeriesPoint,
            _dates(days),
            history.day_attempts.tolist(),
            history.day_exposures.tolist(),
            history.day_rejections.tolist(),
            means,
            rolling,
            _or_none(hardest, hardest > 0),
        )
    )


def _dates(days: IntArray) -> list[date]:
    """The days (ordinals) as dates, through NumPy's datetime64: a third of the cost of date.fromordinal each."""
    dates: list[date] = (days - _UNIX_EPOCH).astype("datetime64[D]").tolist()
    return dates


def _rounded_means(sums: IntArray, counts: IntArray) -> list[float | None]:
    """sums / counts to 2 decimals, None where a count is 0."""
    present = counts > 0
    means = np.divide(sums, counts, out=np.zeros(len(sums)), where=present)
    return _or_none(np.round(means, 2), present)


def _or_none(values: npt.NDArray[np.generic], present: npt.NDArray[np.bool_]) -> list[Any]:
    """The values as Python numbers, None where not `present`: masked in numpy, not one test per value."""
    shown = values.astype(object)
    shown[~present] = None
    result: list[Any] = shown.tolist()
    return result


def _by_category(history: _History, origin: int) -> list[CategoryTrend]:
    result = []
    lines = sum(len(points.days) >= 2 for points in history.by_category)
    for i, name in enumerate(history.categories):
        points = history.by_category[i]
        slope = (
            median_slope((points.days - origin) / WEEK_DAYS, points.values, lines=lines)
            if len(points.days) >= 2
            else None
        )
        result.append(
            CategoryTrend(
                category=name,
                attempts=int(history.category_attempts[i]),
                exposures=int(history.category_exposures[i]),
                sessions=len(points.days),
                mean_distress_peak=_round(
                    _ratio(int(history.category_peak_sums[i]), int(history.category_exposures[i]))
                ),
                slope_per_week=_round(slope, 3),
            )
        )
    return result


def _sentence(text: str) -> str:
    return text[:1].upper() + text[1:]


def _num(value: float | None) -> str:
    """A mean as a message shows it: one decimal, none when it is whole (62.5, 60)."""
    return "" if value is None else f"{round(value, 1):g}"


def _ratio(part: int, whole: int, scale: float = 1) -> float | None:
    return part / whole * scale if whole else None


def _finite(value: float | None) -> float | None:
    return value if value is not None and math.isfinite(value) else None


def _round(value: float | None, digits: int = 2) -> float | None:
    value = _finite(value)
    return None if value is None else round(value, digits)
