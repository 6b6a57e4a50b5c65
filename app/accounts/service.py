import logging
import re
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from sqlalchemy import bindparam, delete, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.accounts.models import USER_AGENT_LENGTH, ApiToken, AuthSession, PasswordResetCode, RefreshToken, User
from app.accounts.schemas import (
    AccessToken,
    ApiTokenCreate,
    PasswordChange,
    PasswordResetConfirm,
    UserCreate,
    UserUpdate,
)
from app.core import security
from app.core.config import Settings
from app.core.db import conflict_insert, unit_of_work
from app.core.errors import DATABASE_ERROR_TYPES, BadRequest, Conflict, Forbidden, NotFound, Unauthorized
from app.core.mail import Mailer, build_message, deliver
from app.core.models import utcnow
from app.core.pagination import paginate
from app.core.security import DEFAULT_SCOPES, TokenScope

# A refresh retried this soon after it succeeded (the phone lost the answer, or sent it twice at once)
# answers the same new refresh token instead of counting as reuse.
REFRESH_GRACE = timedelta(seconds=60)
# Signing in anew beyond this many live sessions ends the one unused longest: the list stays short,
# and a script that signs in with a password on every run does not pile sessions up.
MAX_SESSIONS_PER_USER = 50
RESET_CODE_LIFETIME = timedelta(minutes=30)
# Confirmations a code takes, the right one included; then it is burnt and a new one must be asked for.
RESET_CODE_TRIES = 5

logger = logging.getLogger("app.accounts")


@dataclass(frozen=True, slots=True)
class Credentials:
    """What a bearer token proves: whose it is, what it may do, and (for an access token from a sign-in)
    its session."""

    user_id: uuid.UUID
    scopes: frozenset[str]
    session_id: uuid.UUID | None = None


def login_scopes(is_admin: bool) -> frozenset[str]:
    """Every scope an account has: a password sign-in may do all its account may."""
    return frozenset(TokenScope) if is_admin else DEFAULT_SCOPES


async def register(session: AsyncSession, data: UserCreate, *, is_admin: bool = False) -> User:
    user = User(
        email=data.email,
        password_hash=security.hash_password(data.password),
        display_name=data.display_name,
        timezone=data.timezone,
        is_admin=is_admin,
    )
    # The unique index decides, so two racing registrations cannot both succeed.
    try:
        async with session.begin_nested():
            session.add(user)
    except IntegrityError:
        raise Conflict("An account with this email already exists.") from None
    return user


async def authenticate(session: AsyncSession, email: str, password: str) -> User | None:
    user = await session.scalar(select(User).where(User.email == email.strip().lower()))
    valid, updated_hash = security.verify_password(password, user.password_hash if user else None)
    if not valid or user is None:
        return None
    if updated_hash is not None:
        # Hashed with older parameters: upgrade it while the password is at hand.
        user.password_hash = updated_hash
    return user


async def user_for_token(session: AsyncSession, token: str, settings: Settings) -> tuple[User, Credentials] | None:
    if token.startswith(security.API_TOKEN_PREFIX):
        row = await session.execute(_API_TOKEN_USER, {"digest": security.api_token_digest(token)})
        found = row.first()
        if found is None or not _live(found.expires_at):
            return None
        owner: User = found.User
        return owner, Credentials(owner.id, frozenset(found.scopes.split()))
    claims = security.decode_access_token(token, settings)
    if claims is None:
        return None
    user = await session.scalar(_USER_BY_ID, {"user_id": claims.user_id})
    return (user, Credentials(user.id, claims.scopes, claims.session_id)) if user is not None else None


async def credentials_for_token(session: AsyncSession, token: str, settings: Settings) -> Credentials | None:
    """What a token proves; only a personal API token is looked up.

    An access token is trusted for its signature and expiry without reading the account:
    callers must only write rows that reference `users.id`, whose foreign key refuses the
    account once it is deleted (see `TokenUserId` in app/accounts/dependencies.py).
    """
    if token.startswith(security.API_TOKEN_PREFIX):
        found = (await session.execute(_API_TOKEN_OWNER, {"digest": security.api_token_digest(token)})).first()
        if found is None or not _live(found.expires_at):
            return None
        return Credentials(found.user_id, frozenset(found.scopes.split()))
    claims = security.decode_access_token(token, settings)
    return Credentials(claims.user_id, claims.scopes, claims.session_id) if claims is not None else None


def _live(expires_at: datetime | None) -> bool:
    return expires_at is None or expires_at > utcnow()


# Every request with a token runs one of these: built once, so their cache keys are computed once too.
_USER_BY_ID = select(User).where(User.id == bindparam("user_id"))
_API_TOKEN_USER = (
    select(User, ApiToken.expires_at, ApiToken.scopes)
    .join(ApiToken, ApiToken.user_id == User.id)
    .where(ApiToken.digest == bindparam("digest"))
)
_API_TOKEN_OWNER = select(ApiToken.user_id, ApiToken.expires_at, ApiToken.scopes).where(
    ApiToken.digest == bindparam("digest")
)


async def update_user(session: AsyncSession, user: User, data: UserUpdate) -> User:
    for field, value in data.model_dump(exclude_unset=True).items():
        setattr(user, field, value)
    await session.flush()
    return user


async def delete_user(session: AsyncSession, user: User) -> None:
    # Every table that holds a user's rows references users.id with ON DELETE CASCADE.
    await session.execute(delete(User).where(User.id == user.id))


async def create_api_token(
    session: AsyncSession, user: User, granted: frozenset[str], data: ApiTokenCreate
) -> tuple[ApiToken, str]:
    """A new personal token with the scopes asked for, which must lie within what the caller's own token
    may do (`granted`), so no token can make a mightier one."""
    wanted = frozenset(data.scopes)
    if TokenScope.ADMIN in wanted and not user.is_admin:
        raise Forbidden("Only an admin account can create a token with the `admin` scope.")
    if not wanted <= granted:
        raise Forbidden("A token cannot grant a scope the token creating it lacks.")
    token = security.new_api_token()
    now = utcnow()
    row = ApiToken(
        user_id=user.id,
        name=data.name,
        digest=security.api_token_digest(token),
        prefix=token[:8],
        created_at=now,
        expires_at=now + timedelta(days=data.expires_in_days) if data.expires_in_days else None,
        scopes=" ".join(sorted(wanted)),
    )
    session.add(row)
    await session.flush()
    return row, token


async def list_api_tokens(
    session: AsyncSession, user: User, limit: int, cursor: str | None
) -> tuple[list[ApiToken], str | None]:
    query = select(ApiToken).where(ApiToken.user_id == user.id)
    return await paginate(session, query, [ApiToken.created_at, ApiToken.id], limit=limit, cursor=cursor)


async def revoke_api_token(session: AsyncSession, user: User, token_id: uuid.UUID) -> None:
    result = await session.execute(
        delete(ApiToken).where(ApiToken.id == token_id, ApiToken.user_id == user.id).returning(ApiToken.id)
    )
    if result.first() is None:
        raise NotFound("No API token with that id.")


# --- sessions and refresh tokens ---------------------------------------------------------------------

_UNPRINTABLE = re.compile(r"[\x00-\x1f\x7f]")


def _user_agent(value: str | None) -> str | None:
    if not value:
        return None
    return _UNPRINTABLE.sub("", value)[:USER_AGENT_LENGTH] or None


def _lapse_cutoff(settings: Settings, now: datetime) -> datetime:
    """Sessions last used before this have lapsed."""
    return now - timedelta(days=settings.refresh_token_expire_days)


def _token_pair(
    user_id: uuid.UUID, scopes: frozenset[str], session_id: uuid.UUID, refresh_token: str, settings: Settings
) -> AccessToken:
    access_token, expires_in = security.create_access_token(user_id, settings, session_id=session_id, scopes=scopes)
    return AccessToken(
        access_token=access_token,
        expires_in=expires_in,
        refresh_token=refresh_token,
        refresh_expires_in=settings.refresh_token_expire_days * 86400,
    )


async def start_session(session: AsyncSession, user: User, settings: Settings, user_agent: str | None) -> AccessToken:
    """A new session after a password sign-in, and its first refresh token."""
    now = utcnow()
    await session.execute(
        delete(AuthSession).where(
            AuthSession.user_id == user.id, AuthSession.last_used_at < _lapse_cutoff(settings, now)
        )
    )
    newest = (
        select(AuthSession.id)
        .where(AuthSession.user_id == user.id)
        .order_by(AuthSession.last_used_at.desc(), AuthSession.id)
        .limit(MAX_SESSIONS_PER_USER - 1)
    )
    await session.execute(
        delete(AuthSession).where(AuthSession.user_id == user.id, AuthSession.id.not_in(newest.scalar_subquery()))
    )
    started = AuthSession(user_id=user.id, created_at=now, last_used_at=now, user_agent=_user_agent(user_agent))
    session.add(started)
    await session.flush()
    token = security.new_refresh_token()
    session.add(RefreshToken(session_id=started.id, digest=security.api_token_digest(token), created_at=now))
    await session.flush()
    return _token_pair(user.id, login_scopes(user.is_admin), started.id, token, settings)


async def _end_now(session: AsyncSession, session_id: uuid.UUID) -> None:
    """End a session and commit: the caller answers 401 next, and raising rolls back what is not committed."""
    await session.execute(delete(AuthSession).where(AuthSession.id == session_id))
    await session.commit()


async def refresh(session: AsyncSession, token: str, settings: Settings, user_agent: str | None) -> AccessToken:
    """Spend a refresh token for a new access token and the next refresh token of its session.

    Exactly one request spends a token: the conditional UPDATE below. Racing refreshes of one session
    wait for each other's commit (on PostgreSQL at the session's row, which each updates first; SQLite
    runs one writing transaction at a time), so the losers see the winner's successor. A request that
    finds the token spent answers the same successor (it is derived from the token) when the spend is
    at most REFRESH_GRACE old and the successor unspent; otherwise the token was copied and used twice,
    so the whole session ends (RFC 9700, section 4.14.2).
    """
    digest = security.api_token_digest(token)
    found = (await session.execute(_REFRESH_TOKEN_SESSION, {"digest": digest})).first()
    if found is None:
        raise Unauthorized("This refresh token is unknown or its session has ended: sign in again.")
    now = utcnow()
    scopes = login_scopes(found.is_admin)
    if found.last_used_at < _lapse_cutoff(settings, now):
        await _end_now(session, found.session_id)
        raise Unauthorized("The session lapsed unused: sign in again.")
    # The session's row first, as ending a session takes it before its tokens (the cascade): on PostgreSQL
    # a refresh racing a logout or a detected reuse then waits instead of deadlocking.
    await session.execute(
        update(AuthSession)
        .where(AuthSession.id == found.session_id)
        .values(last_used_at=now, user_agent=_user_agent(user_agent))
    )
    child = security.child_refresh_token(token, settings)
    child_digest = security.api_token_digest(child)
    spent = await session.execute(
        update(RefreshToken)
        .where(RefreshToken.digest == digest, RefreshToken.spent_at.is_(None))
        .values(spent_at=now)
        .returning(RefreshToken.id)
    )
    if spent.first() is not None:
        session.add(RefreshToken(session_id=found.session_id, digest=child_digest, created_at=now))
        # Spent tokens are kept to recognise a copied one; one spent longer ago than a session can lie
        # unused belongs to a chain that has moved on for good.
        await session.execute(
            delete(RefreshToken).where(
                RefreshToken.session_id == found.session_id, RefreshToken.spent_at < _lapse_cutoff(settings, now)
            )
        )
        await session.flush()
        return _token_pair(found.user_id, scopes, found.session_id, child, settings)
    parent_spent_at = await session.scalar(select(RefreshToken.spent_at).where(RefreshToken.digest == digest))
    successor = (
        await session.execute(select(RefreshToken.spent_at).where(RefreshToken.digest == child_digest))
    ).first()
    if (
        parent_spent_at is not None
        and parent_spent_at >= now - REFRESH_GRACE
        and successor is not None
        and successor.spent_at is None
    ):
        return _token_pair(found.user_id, scopes, found.session_id, child, settings)
    await _end_now(session, found.session_id)
    raise Unauthorized("This refresh token was already used, so it may have been copied: its session has ended.")


_REFRESH_TOKEN_SESSION = (
    select(RefreshToken.session_id, AuthSession.user_id, AuthSession.last_used_at, User.is_admin)
    .join(AuthSession, AuthSession.id == RefreshToken.session_id)
    .join(User, User.id == AuthSession.user_id)
    .where(RefreshToken.digest == bindparam("digest"))
)


async def logout(session: AsyncSession, token: str) -> None:
    """End the session a refresh token (spent or not) belongs to; an unknown token ends nothing."""
    owner = select(RefreshToken.session_id).where(RefreshToken.digest == security.api_token_digest(token))
    await session.execute(delete(AuthSession).where(AuthSession.id.in_(owner.scalar_subquery())))


async def list_sessions(session: AsyncSession, user: User, settings: Settings) -> list[AuthSession]:
    """The account's live sessions, the one used last first (at most MAX_SESSIONS_PER_USER)."""
    rows = await session.scalars(
        select(AuthSession)
        .where(AuthSession.user_id == user.id, AuthSession.last_used_at >= _lapse_cutoff(settings, utcnow()))
        .order_by(AuthSession.last_used_at.desc(), AuthSession.id)
    )
    return list(rows)


async def end_session(session: AsyncSession, user: User, session_id: uuid.UUID) -> None:
    result = await session.execute(
        delete(AuthSession)
        .where(AuthSession.id == session_id, AuthSession.user_id == user.id)
        .returning(AuthSession.id)
    )
    if result.first() is None:
        raise NotFound("No session with that id.")


async def end_sessions(session: AsyncSession, user_id: uuid.UUID, *, keep: uuid.UUID | None = None) -> None:
    """End every session of the account but `keep`."""
    ending = delete(AuthSession).where(AuthSession.user_id == user_id)
    if keep is not None:
        ending = ending.where(AuthSession.id != keep)
    await session.execute(ending)


async def change_password(session: AsyncSession, user: User, data: PasswordChange, keep: uuid.UUID | None) -> None:
    """Set a new password after checking the current one; every session but `keep` ends."""
    valid, _ = security.verify_password(data.current_password, user.password_hash)
    if not valid:
        raise Forbidden("The current password is wrong.")
    user.password_hash = security.hash_password(data.new_password)
    await end_sessions(session, user.id, keep=keep)
    await session.flush()


# --- password reset ----------------------------------------------------------------------------------


async def account_for_email(session: AsyncSession, email: str) -> uuid.UUID | None:
    user_id: uuid.UUID | None = await session.scalar(select(User.id).where(User.email == email))
    return user_id


async def store_reset_code(session: AsyncSession, user_id: uuid.UUID, digest: str) -> None:
    """The account's one live code, replacing any earlier one in one statement (two racing requests leave
    the later one's code)."""
    now = utcnow()
    insert = conflict_insert(session.get_bind().dialect.name, PasswordResetCode)
    fresh = {"digest": digest, "created_at": now, "expires_at": now + RESET_CODE_LIFETIME, "tries": 0, "used_at": None}
    await session.execute(
        insert.values(user_id=user_id, **fresh).on_conflict_do_update(index_elements=["user_id"], set_=fresh)
    )


def _reset_text(settings: Settings, email: str, code: str) -> str:
    minutes = int(RESET_CODE_LIFETIME.total_seconds() // 60)
    lines = [
        "Someone asked to reset the password of your Rejection Tracker account.",
        "",
        f"Your code: {code}",
        "",
        f"It works once, within {minutes} minutes. A newer request replaces it.",
    ]
    if settings.password_reset_url:
        parts = urlsplit(settings.password_reset_url)
        query = urlencode([*parse_qsl(parts.query), ("email", email), ("code", code)])
        lines += ["", "Or open this link to choose a new password:", urlunsplit(parts._replace(query=query))]
    lines += ["", "If it was not you, ignore this email: your password stays as it is."]
    return "\n".join(lines)


async def send_reset_code(
    sessionmaker: async_sessionmaker[AsyncSession],
    mailer: Mailer,
    settings: Settings,
    *,
    user_id: uuid.UUID | None,
    email: str,
    code: str,
) -> None:
    """Store the code and mail it, after the answer has gone out: the request did the same work whether
    or not the email has an account, and this part, which differs, cannot be timed by the caller.
    Failures are logged without the address or the code, as `deliver` does."""
    if user_id is None:
        return
    try:
        async with unit_of_work(sessionmaker) as session:
            await store_reset_code(session, user_id, security.reset_code_digest(user_id, code, settings))
    except DATABASE_ERROR_TYPES as exc:
        logger.warning("password-reset code not stored: %s", type(exc).__name__)
        return
    message = build_message(
        settings,
        to=email,
        subject="Your Rejection Tracker password reset code",
        text=_reset_text(settings, email, code),
    )
    await deliver(mailer, message)


# Digested for an unknown email, so a wrong guess there costs what it costs for an account.
_NOBODY = uuid.UUID(int=0)


async def confirm_password_reset(session: AsyncSession, data: PasswordResetConfirm, settings: Settings) -> None:
    """Set a new password with a reset code; every session of the account ends.

    Each confirmation counts a try before the code is compared, in one conditional UPDATE, so even
    racing guesses get RESET_CODE_TRIES comparisons in all. A wrong, used, expired or burnt code and an
    email without an account are one answer: 400.
    """
    user = await session.scalar(select(User).where(User.email == data.email))
    now = utcnow()
    stored = None
    if user is not None:
        stored = await session.scalar(
            update(PasswordResetCode)
            .where(
                PasswordResetCode.user_id == user.id,
                PasswordResetCode.used_at.is_(None),
                PasswordResetCode.expires_at > now,
                PasswordResetCode.tries < RESET_CODE_TRIES,
            )
            .values(tries=PasswordResetCode.tries + 1)
            .returning(PasswordResetCode.digest)
        )
    given = security.reset_code_digest(user.id if user is not None else _NOBODY, data.code, settings)
    refused = BadRequest("The code is wrong, used or expired. Check it, or ask for a new one.")
    if user is None or stored is None or not security.digests_match(given, stored):
        # The counted try must outlive the 400, which rolls back what is not committed.
        await session.commit()
        raise refused
    # The counting UPDATE holds the row (PostgreSQL's row lock, SQLite's write lock) until this commits,
    # so no racing confirmation can use the code in between.
    await session.execute(update(PasswordResetCode).where(PasswordResetCode.user_id == user.id).values(used_at=now))
    user.password_hash = security.hash_password(data.new_password)
    await end_sessions(session, user.id)
    await session.flush()
