"""Passwords, access tokens (JWT) and personal API tokens."""

import functools
import hashlib
import secrets
import time
import uuid
from datetime import UTC, datetime, timedelta

import jwt
from pwdlib import PasswordHash
from pwdlib.hashers.argon2 import Argon2Hasher

from app.core.config import Settings

JWT_ALGORITHM = "HS256"
API_TOKEN_PREFIX = "rt_"  # noqa: S105

# Argon2id with OWASP's recommended minimum (19 MiB, 2 passes, 1 lane): a login costs
# ~15 ms and 19 MiB instead of pwdlib's default 64 MiB, which kept workers' memory high.
_password_hash = PasswordHash((Argon2Hasher(memory_cost=19456, time_cost=2, parallelism=1),))
# Verified against when the email is unknown, so a failed login costs the same
# time whether or not the account exists.
_DUMMY_HASH = _password_hash.hash(secrets.token_urlsafe(16))


def hash_password(password: str) -> str:
    return _password_hash.hash(password)


def verify_password(password: str, password_hash: str | None) -> tuple[bool, str | None]:
    """Whether the password matches, and a new hash when the stored one used other parameters."""
    if password_hash is None:
        _password_hash.verify(password, _DUMMY_HASH)
        return False, None
    return _password_hash.verify_and_update(password, password_hash)


def create_access_token(user_id: uuid.UUID, settings: Settings) -> tuple[str, int]:
    """A signed JWT for `user_id` and its lifetime in seconds."""
    lifetime = timedelta(minutes=settings.access_token_expire_minutes)
    now = datetime.now(UTC)
    claims = {"sub": str(user_id), "iat": now, "exp": now + lifetime, "typ": "access"}
    return jwt.encode(claims, settings.signing_key, algorithm=JWT_ALGORITHM), int(lifetime.total_seconds())


def decode_access_token(token: str, settings: Settings) -> uuid.UUID | None:
    """The user id in a valid access token; None for anything expired, forged or malformed."""
    try:
        user_id, expires_at = _verified_access_token(token, settings.signing_key)
    except (jwt.PyJWTError, ValueError):
        return None
    return user_id if time.time() < expires_at else None


# A client sends the same token with every request until it expires, so a valid token's
# signature is checked once per process (PyJWT's checks cost more than the rest of the
# authentication); the expiry is still checked on every request. Failures raise, so they
# are never cached: a token refused for a clock skew (`iat` ahead) is checked again.
@functools.lru_cache(maxsize=4096)
def _verified_access_token(token: str, key: str) -> tuple[uuid.UUID, float]:
    claims = jwt.decode(token, key, algorithms=[JWT_ALGORITHM], options={"require": ["exp", "iat", "sub"]})
    if claims.get("typ") != "access":
        raise jwt.InvalidTokenError("not an access token")
    return uuid.UUID(claims["sub"]), float(claims["exp"])


def new_api_token() -> str:
    return API_TOKEN_PREFIX + secrets.token_urlsafe(32)


def api_token_digest(token: str) -> str:
    """What is stored for a personal API token: its SHA-256, looked up by equality.

    The token carries 256 random bits, so a fast hash is enough; Argon2 is for
    low-entropy passwords and would cost every scripted request tens of milliseconds.
    """
    return hashlib.sha256(token.encode()).hexdigest()
