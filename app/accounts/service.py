import uuid
from datetime import datetime, timedelta

from sqlalchemy import bindparam, delete, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from app.accounts.models import ApiToken, User
from app.accounts.schemas import ApiTokenCreate, UserCreate, UserUpdate
from app.core import security
from app.core.config import Settings
from app.core.errors import Conflict, NotFound
from app.core.models import utcnow
from app.core.pagination import paginate


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


async def user_for_token(session: AsyncSession, token: str, settings: Settings) -> User | None:
    if token.startswith(security.API_TOKEN_PREFIX):
        row = await session.execute(
            select(User, ApiToken.expires_at)
            .join(ApiToken, ApiToken.user_id == User.id)
            .where(ApiToken.digest == security.api_token_digest(token))
        )
        found = row.first()
        if found is None:
            return None
        user, expires_at = found
        return user if _live(expires_at) else None
    user_id = security.decode_access_token(token, settings)
    return await session.scalar(_USER_BY_ID, {"user_id": user_id}) if user_id else None


async def user_id_for_token(session: AsyncSession, token: str, settings: Settings) -> uuid.UUID | None:
    """The id of the account a token speaks for; only a personal API token is looked up.

    An access token is trusted for its signature and expiry without reading the account:
    callers must only write rows that reference `users.id`, whose foreign key refuses the
    account once it is deleted (see `TokenUserId` in app/accounts/dependencies.py).
    """
    if token.startswith(security.API_TOKEN_PREFIX):
        found = (await session.execute(_API_TOKEN_OWNER, {"digest": security.api_token_digest(token)})).first()
        return found.user_id if found is not None and _live(found.expires_at) else None
    return security.decode_access_token(token, settings)


def _live(expires_at: datetime | None) -> bool:
    return expires_at is None or expires_at > utcnow()


# Every request with a token runs one of these: built once, so their cache keys are computed once too.
_USER_BY_ID = select(User).where(User.id == bindparam("user_id"))
_API_TOKEN_OWNER = select(ApiToken.user_id, ApiToken.expires_at).where(ApiToken.digest == bindparam("digest"))


async def update_user(session: AsyncSession, user: User, data: UserUpdate) -> User:
    for field, value in data.model_dump(exclude_unset=True).items():
        if value is not None:
            setattr(user, field, value)
    await session.flush()
    return user


async def delete_user(session: AsyncSession, user: User) -> None:
    # Every table that holds a user's rows references users.id with ON DELETE CASCADE.
    await session.execute(delete(User).where(User.id == user.id))


async def create_api_token(session: AsyncSession, user: User, data: ApiTokenCreate) -> tuple[ApiToken, str]:
    token = security.new_api_token()
    now = utcnow()
    row = ApiToken(
        user_id=user.id,
        name=data.name,
        digest=security.api_token_digest(token),
        prefix=token[:8],
        created_at=now,
        expires_at=now + timedelta(days=data.expires_in_days) if data.expires_in_days else None,
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
