"""Every table, imported in one place so `Base.metadata` is complete for Alembic and tests."""

from app.accounts.models import ApiToken, User
from app.core.models import Base

__all__ = ["ApiToken", "Base", "User"]
