import uuid
from datetime import date, datetime
from typing import Any

from sqlalchemy import JSON, CheckConstraint, Date, ForeignKey, Index, SmallInteger, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from app.core.models import Base, Timestamps, utcnow

OUTCOMES = ("rejected", "accepted", "partial", "avoided")


class Attempt(Timestamps, Base):
    __tablename__ = "attempts"
    __table_args__ = (
        CheckConstraint(f"outcome IN {OUTCOMES!r}", name="outcome_known"),
        CheckConstraint("distress_before BETWEEN 0 AND 100", name="distress_before_range"),
        CheckConstraint("distress_peak BETWEEN 0 AND 100", name="distress_peak_range"),
        CheckConstraint("distress_after BETWEEN 0 AND 100", name="distress_after_range"),
        CheckConstraint("expected_rejection BETWEEN 0 AND 100", name="expected_rejection_range"),
        CheckConstraint("outcome = 'avoided' OR distress_peak IS NOT NULL", name="peak_unless_avoided"),
        CheckConstraint("surprise BETWEEN 0 AND 100", name="surprise_range"),
        # The exposure log and the trend read one user's rows in time order.
        Index("ix_attempts_user_id_occurred_at", "user_id", "occurred_at", "id"),
        # Re-tests read each challenge's attempts of one user in time order.
        Index("ix_attempts_user_id_challenge_id_occurred_at", "user_id", "challenge_id", "occurred_at"),
    )

    # May be made by the client, so an offline phone can retry the same attempt safely.
    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    # No ON DELETE: a challenge with attempts is archived, never removed.
    challenge_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("challenges.id"), index=True)
    occurred_at: Mapped[datetime]
    # The practice session (local day) the attempt counts in, fixed in the time zone the account has when the
    # attempt is logged or its time corrected: a later move to another zone never regroups past sessions.
    local_date: Mapped[date] = mapped_column(Date)
    outcome: Mapped[str] = mapped_column(String(16))
    distress_before: Mapped[int] = mapped_column(SmallInteger)
    distress_peak: Mapped[int | None] = mapped_column(SmallInteger)
    distress_after: Mapped[int | None] = mapped_column(SmallInteger)
    expected_rejection: Mapped[int | None] = mapped_column(SmallInteger)
    notes: Mapped[str | None] = mapped_column(Text)
    # When `expected_rejection` was written down: the plan's time for a planned ask, else when it was entered.
    # Earlier than `occurred_at` means the prediction was made before the ask.
    predicted_at: Mapped[datetime | None]
    # One attempt per plan; a deleted plan leaves its attempt (and the prediction copied from it).
    plan_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("plans.id", ondelete="SET NULL"), unique=True)
    # The reflection afterwards: as private as the notes.
    surprise: Mapped[int | None] = mapped_column(SmallInteger)
    safety_behaviours: Mapped[list[str] | None] = mapped_column(JSON)
    reflection: Mapped[str | None] = mapped_column(Text)
    # The challenge as it was when logged, so later curation never rewrites history.
    difficulty: Mapped[int] = mapped_column(SmallInteger)
    category: Mapped[str] = mapped_column(String(50))
    # Digest of the create request, to tell a replay from a different body with the same id.
    request_hash: Mapped[str] = mapped_column(String(64))


class IdempotencyRecord(Base):
    """The first answer to a POST sent with an `Idempotency-Key`, replayed for retries."""

    __tablename__ = "idempotency_records"

    user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), primary_key=True)
    key: Mapped[str] = mapped_column(String(255), primary_key=True)
    request_hash: Mapped[str] = mapped_column(String(64))
    status_code: Mapped[int] = mapped_column(SmallInteger)
    response_body: Mapped[dict[str, Any]] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(default=utcnow, index=True)
