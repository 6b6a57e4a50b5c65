"""Passwords, access tokens (JWT), refresh tokens, personal API tokens, password-reset codes, and the scopes
a token carries."""

import base64
import functools
import hashlib
import hmac
import secrets
import time
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import StrEnum

import jwt
from pwdlib import PasswordHash
from pwdlib.hashers.argon2 import Argon2Hasher

from app.core.config import Settings

JWT_ALGORITHM = "HS256"
API_TOKEN_PREFIX = "rt_"  # noqa: S105
REFRESH_TOKEN_PREFIX = "rtr_"  # noqa: S105
RESET_CODE_DIGITS = 8


class TokenScope(StrEnum):
    """What a token may do. `read`: every GET. `write`: every request that changes data (POST, PUT, PATCH,
    DELETE). `admin`: the admin routes, on an admin's account only."""

    READ = "read"
    WRITE = "write"
    ADMIN = "admin"


DEFAULT_SCOPES = frozenset({TokenScope.READ, TokenScope.WRITE})
# Access tokens issued before scopes existed carry no `scope` claim: they could do everything their
# account could, and keep that until they expire.
_UNSCOPED = frozenset(TokenScope)


@dataclass(frozen=True, slots=True)
class AccessClaims:
    """What a verified access token says: whose it is, the session it belongs to, what it may do."""

    user_id: uuid.UUID
    session_id: uuid.UUID | None
    scopes: frozenset[str]
    expires_at: float


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


def create_access_token(
    user_id: uuid.UUID,
    settings: Settings,
    *,
    session_id: uuid.UUID | None = None,
    scopes: Iterable[str] = DEFAULT_SCOPES,
) -> tuple[str, int]:
    """A signed JWT for `user_id` and its lifetime in seconds; `sid` names the login session it came from."""
    lifetime = timedelta(minutes=settings.access_token_expire_minutes)
    now = datetime.now(UTC)
    claims: dict[str, object] = {
        "sub": str(user_id),
        "iat": now,
        "exp": now + lifetime,
        "typ": "access",
        # RFC 9068's form: scopes space-separated, in one string.
        "scope": " ".join(sorted(scopes)),
    }
    if session_id is not None:
        claims["sid"] = str(session_id)
    return jwt.encode(claims, settings.signing_key, algorithm=JWT_ALGORITHM), int(lifetime.total_seconds())


def decode_access_token(token: str, settings: Settings) -> AccessClaims | None:
    """The claims of a valid access token; None for anything expired, forged or malformed."""
    try:
        claims = _verified_access_token(token, settings.signing_key)
    except (jwt.PyJWTError, ValueError, TypeError, AttributeError):
        return None
    return claims if time.time() < claims.expires_at else None


# A client sends the same token with every request until it expires, so a valid token's
# signature is checked once per process (PyJWT's checks cost more than the rest of the
# authentication); the expiry is still checked on every request. Failures raise, so they
# are never cached: a token refused for a clock skew (`iat` ahead) is checked again.
@functools.lru_cache(maxsize=4096)
def _verified_access_token(token: str, key: str) -> AccessClaims:
    claims = jwt.decode(token, key, algorithms=[JWT_ALGORITHM], options={"require": ["exp", "iat", "sub"]})
    if claims.get("typ") != "access":
        raise jwt.InvalidTokenError("not an access token")
    scope = claims.get("scope")
    return AccessClaims(
        user_id=uuid.UUID(claims["sub"]),
        session_id=uuid.UUID(claims["sid"]) if "sid" in claims else None,
        scopes=_UNSCOPED if scope is None else frozenset(scope.split()) & _UNSCOPED,
        expires_at=float(claims["exp"]),
    )


def new_api_token() -> str:
    return API_TOKEN_PREFIX + secrets.token_urlsafe(32)


def api_token_digest(token: str) -> str:
    """What is stored for a personal API token or a refresh token: its SHA-256, looked up by equality.

    The token carries 256 random bits, so a fast hash is enough; Argon2 is for
    low-entropy passwords and would cost every scripted request tens of milliseconds.
    """
    return hashlib.sha256(token.encode()).hexdigest()


def new_refresh_token() -> str:
    return REFRESH_TOKEN_PREFIX + secrets.token_urlsafe(32)


def child_refresh_token(parent: str, settings: Settings) -> str:
    """The refresh token that replaces `parent`, derived from it, so a retry of the same refresh answers
    the same token again without the server ever storing a token in plain text. Keyed with the signing
    key: only the server can derive it."""
    mac = hmac.new(settings.signing_key.encode(), b"refresh:" + parent.encode(), hashlib.sha256).digest()
    return REFRESH_TOKEN_PREFIX + base64.urlsafe_b64encode(mac).decode().rstrip("=")


def new_reset_code() -> str:
    """A one-time password-reset code: digits, easy to type from an email on a phone."""
    return f"{secrets.randbelow(10**RESET_CODE_DIGITS):0{RESET_CODE_DIGITS}d}"


def reset_code_digest(user_id: uuid.UUID, code: str, settings: Settings) -> str:
    """What is stored for a reset code. An HMAC with the signing key, not a plain hash: the code has
    only 8 digits, so a leaked table must not be enough to find it by trying all 10^8."""
    message = f"password-reset:{user_id}:{code}".encode()
    return hmac.new(settings.signing_key.encode(), message, hashlib.sha256).hexdigest()


def digests_match(given: str, stored: str) -> bool:
    return hmac.compare_digest(given.encode(), stored.encode())
