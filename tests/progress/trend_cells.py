"""Synthetic asks turned into the trend's inputs, grouped as the SQL of app/progress/service.py groups them."""

from collections import defaultdict
from collections.abc import Sequence
from datetime import date, timedelta
from typing import Any, NamedTuple

from app.progress import stats
from app.progress.stats import Cells, Practice, RecentAttempt, Totals

START = date(2026, 3, 2)
TODAY = date(2026, 4, 1)
SUPPORT = "Take it gently."


class Ask(NamedTuple):
    """One synthetic attempt; `day` counts local days from START, and list order is time order."""

    day: int
    peak: int | None
    outcome: str = "rejected"
    difficulty: int = 3
    category: str = "everyday"
    before: int = 50
    after: int | None = 30
    expected: int | None = None
    in_advance: bool = False  # the prediction was written down before the ask
    surprise: int | None = None

    @property
    def date(self) -> date:
        return START + timedelta(days=self.day)


def practice_of(asks: Sequence[Ask]) -> Practice:
    """What the service loads for these asks."""
    return practice(cell_rows(asks), recent_of(asks))


def practice(rows: Sequence[dict[str, Any]], recent: Sequence[RecentAttempt]) -> Practice:
    """A Practice from one dict per cell (keyed by the names of Cells' and Totals' fields)."""
    cells = Cells(*([row[name] for row in rows] for name in Cells._fields))
    return Practice(cells, Totals(*(sum(row[name] for row in rows) for name in Totals._fields)), recent)


def cell_rows(asks: Sequence[Ask]) -> list[dict[str, Any]]:
    """One cell per (local day, difficulty, category), with the sums the SQL takes over its attempts."""
    groups: defaultdict[tuple[date, int, str], list[Ask]] = defaultdict(list)
    for ask in asks:
        groups[ask.date, ask.difficulty, ask.category].append(ask)
    cells = []
    for (day, difficulty, category), group in groups.items():
        exposures = [a for a in group if a.outcome != "avoided"]
        peaks = [a.peak for a in exposures]
        assert all(p is not None for p in peaks), "every exposure has a peak (a database constraint)"
        rated_after = [a for a in exposures if a.after is not None]
        predicted = [a for a in exposures if a.expected is not None]
        cells.append(
            {
                "day": day.toordinal(),
                "difficulty": difficulty,
                "category": category,
                "attempts": len(group),
                "avoided": len(group) - len(exposures),
                "rejected": sum(a.outcome == "rejected" for a in group),
                "accepted": sum(a.outcome == "accepted" for a in group),
                "partial": sum(a.outcome == "partial" for a in group),
                "peak_sum": sum(a.peak or 0 for a in exposures),
                "before_sum": sum(a.before for a in exposures),
                "after_n": len(rated_after),
                "after_sum": sum(a.after or 0 for a in rated_after),
                "after_peak_sum": sum(a.peak or 0 for a in rated_after),
                "predicted_n": len(predicted),
                "predicted_sum": sum(a.expected or 0 for a in predicted),
                "predicted_rejected": sum(a.outcome == "rejected" for a in predicted),
                "advance_n": sum(a.in_advance for a in predicted),
                "surprise_n": sum(a.surprise is not None for a in exposures),
                "surprise_sum": sum(a.surprise or 0 for a in exposures),
            }
        )
    return cells


def recent_of(asks: Sequence[Ask]) -> list[RecentAttempt]:
    """The last RECENT_ATTEMPTS asks, oldest first, as the service passes them."""
    return [
        RecentAttempt(day=a.date, outcome=a.outcome, distress_peak=a.peak, difficulty=a.difficulty)
        for a in asks[-stats.RECENT_ATTEMPTS :]
    ]


def trend_of(asks: Sequence[Ask], *, today: date = TODAY, support: str = SUPPORT) -> stats.Trend:
    return stats.compute_trend(practice_of(asks), timezone="Europe/Berlin", today=today, support_message=support)
