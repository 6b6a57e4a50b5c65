import uuid
from datetime import datetime
from enum import StrEnum

from sqlalchemy import CheckConstraint, ForeignKey, Index, SmallInteger, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from app.core.models import Base, Timestamps, UUIDPrimaryKey, utcnow


class PlanStatus(StrEnum):
    """`open`: planned, not yet done (also past its time: the user may still go). `done`: an attempt was logged
    with it, and its predictions are fixed. `cancelled`: the user dropped it."""

    OPEN = "open"
    DONE = "done"
    CANCELLED = "cancelled"


_STATUSES_SQL = ", ".join(f"'{status.value}'" for status in PlanStatus)


class Plan(UUIDPrimaryKey, Timestamps, Base):
    """An ask planned in advance, with the prediction written down before it (the attempt that does it names the
    plan in `attempts.plan_id`)."""

    __tablename__ = "plans"
    __table_args__ = (
        CheckConstraint(f"status IN ({_STATUSES_SQL})", name="status_known"),
        CheckConstraint("expected_rejection BETWEEN 0 AND 100", name="expected_rejection_range"),
        CheckConstraint("expected_distress_peak BETWEEN 0 AND 100", name="expected_distress_peak_range"),
        # A user's plans are listed by status, soonest first; the calendar feed reads the open ones.
        Index("ix_plans_user_id_status_planned_for", "user_id", "status", "planned_for"),
    )

    user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    # A challenge with attempts is never removed (it is archived), so only plans that were never done go with one.
    challenge_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("challenges.id", ondelete="CASCADE"), index=True)
    planned_for: Mapped[datetime | None]
    expected_outcome: Mapped[str | None] = mapped_column(Text)
    expected_rejection: Mapped[int] = mapped_column(SmallInteger)
    expected_distress_peak: Mapped[int | None] = mapped_column(SmallInteger)
    status: Mapped[str] = mapped_column(String(16), default=PlanStatus.OPEN.value)


class CalendarFeed(Base):
    """A user's secret calendar URL: only the SHA-256 of its token is kept, so a copy of the database cannot
    read anyone's plans through it."""

    __tablename__ = "calendar_feeds"

    user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), primary_key=True)
    digest: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
