import uuid
from datetime import datetime

from sqlalchemy import ForeignKey, Index, SmallInteger, String
from sqlalchemy.orm import Mapped, mapped_column

from app.core.models import Base, Timestamps, UUIDPrimaryKey, utcnow
from app.core.security import DEFAULT_SCOPES

# A personal token's scopes as stored: space-separated, as OAuth's `scope` parameter writes them.
DEFAULT_SCOPES_TEXT = " ".join(sorted(DEFAULT_SCOPES))


USER_AGENT_LENGTH = 200


class User(UUIDPrimaryKey, Timestamps, Base):
    __tablename__ = "users"

    # Stored lower-cased, so uniqueness is case-insensitive on every backend.
    email: Mapped[str] = mapped_column(String(254), unique=True)
    password_hash: Mapped[str] = mapped_column(String(255))
    display_name: Mapped[str | None] = mapped_column(String(100))
    timezone: Mapped[str] = mapped_column(String(64), default="UTC")
    is_admin: Mapped[bool] = mapped_column(default=False)


class ApiToken(UUIDPrimaryKey, Base):
    __tablename__ = "api_tokens"

    user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(100))
    # SHA-256 of the token; the token itself is shown once and never stored.
    digest: Mapped[str] = mapped_column(String(64), unique=True)
    # The first characters, so a user can tell their tokens apart.
    prefix: Mapped[str] = mapped_column(String(12))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime | None]
    # Tokens made before scopes existed could read and write: the server default keeps them so.
    scopes: Mapped[str] = mapped_column(String(32), default=DEFAULT_SCOPES_TEXT, server_default=DEFAULT_SCOPES_TEXT)


class AuthSession(UUIDPrimaryKey, Base):
    """One sign-in with a password, on one device: it lives as long as its refresh tokens are used.

    It ends when its row is deleted (logout, password change or reset, reuse of a spent refresh token),
    and lapses when unused for REFRESH_TOKEN_EXPIRE_DAYS (derived from `last_used_at`, so a changed
    setting applies to every session at once)."""

    __tablename__ = "auth_sessions"
    __table_args__ = (Index("ix_auth_sessions_user_id_last_used_at", "user_id", "last_used_at"),)

    user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_used_at: Mapped[datetime] = mapped_column(default=utcnow)
    # As the device sent it, cut to a length a person reads, to tell sessions apart.
    user_agent: Mapped[str | None] = mapped_column(String(USER_AGENT_LENGTH))


class RefreshToken(UUIDPrimaryKey, Base):
    """Every refresh token a session was given, spent or not: presenting a spent one again is how a
    stolen token shows itself (RFC 9700, section 4.14.2)."""

    __tablename__ = "refresh_tokens"

    session_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("auth_sessions.id", ondelete="CASCADE"), index=True)
    # SHA-256 of the token; the token itself is never stored.
    digest: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    # Set once, by the one request that exchanged this token for its successor.
    spent_at: Mapped[datetime | None]


class PasswordResetCode(Base):
    """The one live password-reset code of an account: a new request replaces it."""

    __tablename__ = "password_reset_codes"

    user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), primary_key=True)
    # An HMAC of the code (see app/core/security.py); the code itself is only in the email.
    digest: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime]
    # Every confirmation counts one, the right one too; at the limit the code is burnt.
    tries: Mapped[int] = mapped_column(SmallInteger, default=0)
    used_at: Mapped[datetime | None]
