import uuid
from datetime import date

from sqlalchemy import Date, ForeignKey, Integer, SmallInteger, String
from sqlalchemy.orm import Mapped, mapped_column

from app.core.models import Base


class SessionStats(Base):
    """Running totals of one user's attempts on one local day, at one difficulty, in one category.

    The trend is computed from these rows, so its cost grows with the number of practice
    sessions, not of attempts. Database triggers on `attempts` (see the migration that
    creates this table) keep them equal to the GROUP BY of the user's attempts in the same
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
