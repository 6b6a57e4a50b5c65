import uuid
from collections.abc import Mapping
from datetime import date, datetime
from typing import Any

from sqlalchemy import (
    CheckConstraint,
    Computed,
    Date,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    SmallInteger,
    String,
    UniqueConstraint,
    literal_column,
)
from sqlalchemy.orm import Mapped, mapped_column

from app.core.db import day_number, packed_row
from app.core.models import Base, UUIDPrimaryKey, utcnow

# What `SessionStats.packed` holds, in this order: the day (as its day_number), the difficulty, then the totals the
# trend reads per cell (stats.Cells'); the other totals it only sums.
PACKED_COLUMNS = (
    "local_date",
    "difficulty",
    "attempts",
    "avoided",
    "rejected",
    "peak_sum",
    "predicted_n",
    "predicted_sum",
)


def packed_cell(columns: Mapping[str, Any]) -> packed_row:
    """`SessionStats.packed` over a cell's values, one for each of PACKED_COLUMNS by name: the stored column's
    definition, and what a window's cells grouped from the attempts are packed with."""
    day, *integers = (columns[name] for name in PACKED_COLUMNS)
    return packed_row(day_number(day), *integers)


class SessionStats(Base):
    """Running totals of one user's attempts on one local day, at one difficulty, in one category.

    The trend is computed from these rows, so its cost grows with the number of practice
    sessions, not of attempts. Database triggers on `attempts` (built by app/progress/session_stats_sql.py for the
    migrations) keep them equal to the GROUP BY of the user's attempts in the same
    transaction as any insert, update or delete, whoever makes it; `CELL_SUMS` in
    app/progress/service.py defines each total and tests/progress/test_session_stats.py checks the two agree.
    """

    __tablename__ = "session_stats"

    user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), primary_key=True)
    local_date: Mapped[date] = mapped_column(Date, primary_key=True)
    difficulty: Mapped[int] = mapped_column(SmallInteger, primary_key=True)
    category: Mapped[str] = mapped_column(String(50), primary_key=True)
    attempts: Mapped[int] = mapped_column(Integer)
    avoided: Mapped[int] = mapped_column(Integer)
    rejected: Mapped[int] = mapped_column(Integer)
    accepted: Mapped[int] = mapped_column(Integer)
    partial: Mapped[int] = mapped_column(Integer)
    peak_sum: Mapped[int] = mapped_column(Integer)
    before_sum: Mapped[int] = mapped_column(Integer)
    after_n: Mapped[int] = mapped_column(Integer)
    after_sum: Mapped[int] = mapped_column(Integer)
    after_peak_sum: Mapped[int] = mapped_column(Integer)
    predicted_n: Mapped[int] = mapped_column(Integer)
    predicted_sum: Mapped[int] = mapped_column(Integer)
    predicted_rejected: Mapped[int] = mapped_column(Integer)
    # Predictions written down before the ask (`predicted_at` earlier than `occurred_at`), and the surprise ratings.
    # Rows from before these columns had none of either: their server default.
    advance_n: Mapped[int] = mapped_column(Integer, server_default="0")
    surprise_n: Mapped[int] = mapped_column(Integer, server_default="0")
    surprise_sum: Mapped[int] = mapped_column(Integer, server_default="0")
    # The cell's integers as one value (`packed_row`), kept by the database: the trend aggregates this one column
    # over a long history's thousands of rows, where packing the columns on every read cost half its statement.
    packed: Mapped[bytes] = mapped_column(
        LargeBinary,
        Computed(
            packed_cell({name: literal_column(name) for name in PACKED_COLUMNS}),
            # Stored on PostgreSQL (before version 18 it has no other kind). SQLite cannot add a stored column to
            # a table: its migration adds a virtual one, computed when read.
            persisted=True,
        ),
    )


class ChallengeProgress(Base):
    """One user's re-tests and mastery of one challenge they have been exposed to, kept by triggers on `attempts`
    (migration c3d1e5f7a9b2) from the rule in app/progress/retest.py, so that reading them never scans the
    history: the trend's `return_of_fear` and `GET /me/next-challenges` read these rows."""

    __tablename__ = "challenge_progress"

    user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), primary_key=True)
    challenge_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("challenges.id", ondelete="CASCADE"), primary_key=True, index=True
    )
    last_exposure_date: Mapped[date] = mapped_column(Date)
    # Exposures since the last one that peaked above 40 (mastered at 2), and the re-tests among them.
    calm_exposures: Mapped[int] = mapped_column(Integer)
    calm_retests: Mapped[int] = mapped_column(Integer)
    retests: Mapped[int] = mapped_column(Integer)
    # Sum over the re-tests of 2 × (peak − mean peak of the two exposures before): whole numbers.
    change2_sum: Mapped[int] = mapped_column(Integer)
    # The latest two exposures: a new latest one is added from these alone, without reading the history.
    last_peak: Mapped[int] = mapped_column(SmallInteger)
    previous_peak: Mapped[int | None] = mapped_column(SmallInteger)
    last_occurred_at: Mapped[datetime]
    last_id: Mapped[uuid.UUID]


class ChallengeProgressDeferred(Base):
    """Users whose `challenge_progress` a bulk write (the import) rebuilds once, at its end, in its transaction."""

    __tablename__ = "challenge_progress_deferred"

    user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), primary_key=True)


class LadderStep(Base):
    """One step of a user's own fear ladder, in the order they will climb it."""

    __tablename__ = "ladder_steps"
    __table_args__ = (
        CheckConstraint("anticipated_distress BETWEEN 0 AND 100", name="anticipated_distress_range"),
        UniqueConstraint("user_id", "challenge_id"),
    )

    user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), primary_key=True)
    position: Mapped[int] = mapped_column(SmallInteger, primary_key=True)
    # A challenge that is removed (one without attempts) leaves the ladder.
    challenge_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("challenges.id", ondelete="CASCADE"), index=True)
    anticipated_distress: Mapped[int] = mapped_column(SmallInteger)


class Pause(UUIDPrimaryKey, Base):
    """Local days (both ends included) that neither count for nor break a streak: illness, holidays."""

    __tablename__ = "pauses"
    __table_args__ = (
        CheckConstraint("end_date >= start_date", name="ends_after_start"),
        Index("ix_pauses_user_id_start_date", "user_id", "start_date"),
    )

    user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    start_date: Mapped[date] = mapped_column(Date)
    end_date: Mapped[date] = mapped_column(Date)
    reason: Mapped[str | None] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
