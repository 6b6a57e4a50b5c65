"""Every table, imported in one place so `Base.metadata` is complete for Alembic and tests."""

from app.accounts.models import ApiToken, AuthSession, PasswordResetCode, RefreshToken, User
from app.attempts.models import Attempt, IdempotencyRecord
from app.catalog.models import Category, Challenge
from app.core.models import Base
from app.plans.models import CalendarFeed, Plan
from app.progress.models import ChallengeProgress, ChallengeProgressDeferred, LadderStep, Pause, SessionStats

__all__ = [
    "ApiToken",
    "Attempt",
    "AuthSession",
    "Base",
    "CalendarFeed",
    "Category",
    "Challenge",
    "ChallengeProgress",
    "ChallengeProgressDeferred",
    "IdempotencyRecord",
    "LadderStep",
    "PasswordResetCode",
    "Pause",
    "Plan",
    "RefreshToken",
    "SessionStats",
    "User",
]
