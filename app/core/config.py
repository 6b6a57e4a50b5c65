"""Settings: one pydantic-settings class, read from the environment and `.env`."""

import logging
import secrets
from email.utils import parseaddr
from functools import lru_cache
from typing import Literal

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

# Follows a sentence that says what was noticed (very hard asks, sustained or rising distress,
# frequent avoidance), so it must fit after any of them.
DEFAULT_SUPPORT_MESSAGE = (
    "That is useful to know, not a failure: go at a gentler pace for a while and let easier asks "
    "rebuild your footing. If distress stays high, consider talking it through with a mental-health "
    "professional; this app supports self-help practice and is no substitute for care."
)

# A worker serves many requests at once; a pool smaller than that opens and closes
# connections all the time, which costs more than the queries.
DATABASE_POOL_SIZE = 20
DATABASE_MAX_OVERFLOW = 10


class Settings(BaseSettings):
    # Errors never echo a value: SECRET_KEY, DATABASE_URL and SMTP_URL may hold passwords.
    model_config = SettingsConfigDict(
        env_file=".env", env_file_encoding="utf-8", extra="ignore", case_sensitive=False, hide_input_in_errors=True
    )

    environment: Literal["development", "test", "production"] = "development"
    database_url: str = "sqlite+aiosqlite:///./rejection-tracker.db"
    # Left empty in development so a fresh clone runs; `production` refuses to start without it.
    secret_key: SecretStr | None = None
    # Short: an access token is checked by its signature alone (no database read), so ending a session
    # stops its refresh token at once but its access tokens only when they expire.
    access_token_expire_minutes: int = Field(default=15, ge=1, le=60 * 24 * 30)
    # A session unused this long lapses; every refresh starts the count again.
    refresh_token_expire_days: int = Field(default=60, ge=1, le=3650)
    max_body_bytes: int = Field(default=1_048_576, ge=1024)
    database_timeout_seconds: float = Field(default=5.0, gt=0)
    # PostgreSQL connections per worker process: kept open, and at most this many more under
    # bursts. Size both so that workers x instances x their sum stays under max_connections.
    database_pool_size: int = Field(default=DATABASE_POOL_SIZE, ge=1)
    database_max_overflow: int = Field(default=DATABASE_MAX_OVERFLOW, ge=0)
    docs_enabled: bool = True
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    # One JSON object per line for log collectors; unset, JSON everywhere but in development, where a person
    # reads the lines in a terminal.
    log_json: bool | None = None
    # Addresses whose X-Forwarded-For / X-Forwarded-Proto uvicorn believes: the load balancer's, comma-separated,
    # or "*" behind a private network. Client addresses (and so the rate limits) come from these headers.
    forwarded_allow_ips: str = "127.0.0.1"
    # Browser origins allowed to call the API (CORS); empty allows none.
    cors_origins: list[str] = []
    # A shared store for rate limits across workers and instances; without it,
    # each process counts on its own.
    redis_url: str | None = None
    # Per-address limits are coarse on purpose: behind carrier-grade NAT thousands of phones share one
    # address, so they only stop floods from one machine. The per-email (per-account) limits do the
    # fine-grained work, as guessing one account's password or flooding one inbox needs that email.
    login_limit_per_client: int = Field(default=200, ge=1, description="password logins per minute per client address")
    login_limit_per_account: int = Field(default=10, ge=1, description="logins per 5 minutes per email")
    register_limit_per_client: int = Field(default=200, ge=1, description="registrations per hour per client address")
    register_limit_per_email: int = Field(default=5, ge=1, description="registrations per hour per email")
    password_reset_limit_per_client: int = Field(
        default=100, ge=1, description="password-reset requests, and confirmations, per hour per client address"
    )
    password_reset_limit_per_email: int = Field(
        default=5, ge=1, description="password-reset requests per hour per email (each code may be tried 5 times)"
    )
    support_message: str = DEFAULT_SUPPORT_MESSAGE
    # smtp://[user:password@]host[:port] or smtps://…, read by app/core/mail.py. Without it, development
    # prints mail to the console and production turns password reset off.
    smtp_url: SecretStr | None = None
    mail_from: str = "Rejection Tracker <no-reply@localhost>"
    # The page the password-reset email links to (a frontend's reset form); without it the email gives the code alone.
    password_reset_url: str | None = None

    @field_validator("smtp_url")
    @classmethod
    def _check_smtp_url(cls, value: SecretStr | None) -> SecretStr | None:
        if value is None or not value.get_secret_value():
            return None
        # Imported here: app.core.mail imports this module.
        from app.core.mail import parse_smtp_url

        parse_smtp_url(value.get_secret_value())
        return value

    @field_validator("mail_from")
    @classmethod
    def _check_mail_from(cls, value: str) -> str:
        local, _, domain = parseaddr(value)[1].rpartition("@")
        if not local or not domain or "\r" in value or "\n" in value:
            raise ValueError("MAIL_FROM must be one address, e.g. 'Rejection Tracker <no-reply@example.com>'")
        return value

    @model_validator(mode="after")
    def _require_secret_outside_development(self) -> "Settings":
        if self.secret_key is None or not self.secret_key.get_secret_value():
            if self.environment == "production":
                raise ValueError("SECRET_KEY must be set when ENVIRONMENT=production")
            logging.getLogger("app.config").warning(
                "SECRET_KEY is not set: using a random key, so tokens stop working on restart. "
                "Set SECRET_KEY for anything but local development."
            )
            self.secret_key = SecretStr(secrets.token_urlsafe(48))
        elif self.environment == "production" and len(self.secret_key.get_secret_value()) < 32:
            raise ValueError("SECRET_KEY must be at least 32 characters in production")
        return self

    @property
    def logs_as_json(self) -> bool:
        return self.log_json if self.log_json is not None else self.environment != "development"

    @property
    def is_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite")

    @property
    def signing_key(self) -> str:
        assert self.secret_key is not None  # set by the validator
        return self.secret_key.get_secret_value()


@lru_cache
def get_settings() -> Settings:
    return Settings()
