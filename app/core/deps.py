"""Dependency aliases used by every router."""

import uuid
from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer, OAuth2PasswordBearer
from sqlalchemy.ext.asyncio import AsyncSession

from app.accounts.models import User
from app.accounts.service import user_for_token, user_id_for_token
from app.core.config import Settings
from app.core.db import unit_of_work
from app.core.errors import Forbidden, Unauthorized
from app.core.ratelimit import RateLimiter


# The dependencies are `async def` even where they need not be: FastAPI runs a plain `def`
# dependency in the thread pool, a hop that costs more than the call itself.
async def get_settings_dep(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


async def get_session(request: Request) -> AsyncIterator[AsyncSession]:
    async with unit_of_work(request.app.state.sessionmaker) as session:
        yield session


async def get_rate_limiter(request: Request) -> RateLimiter:
    limiter: RateLimiter = request.app.state.rate_limiter
    return limiter


SettingsDep = Annotated[Settings, Depends(get_settings_dep)]
RateLimiterDep = Annotated[RateLimiter, Depends(get_rate_limiter)]
# scope="function": commit before the response is sent, so a failed commit is
# answered as an error instead of being acknowledged and lost.
SessionDep = Annotated[AsyncSession, Depends(get_session, scope="function")]

oauth2_scheme = OAuth2PasswordBearer(
    tokenUrl="/api/v1/auth/token",
    scheme_name="Login",
    description="Log in with your email as `username` and your password.",
    auto_error=False,
)
api_token_scheme = HTTPBearer(
    scheme_name="APIToken",
    description="A personal API token (`rt_…`) from `POST /api/v1/me/tokens`.",
    auto_error=False,
)


async def get_bearer_token(
    token: Annotated[str | None, Depends(oauth2_scheme)],
    _bearer: Annotated[HTTPAuthorizationCredentials | None, Depends(api_token_scheme)],
) -> str:
    # Both schemes read the same `Authorization: Bearer` header; declaring both
    # lets /docs offer a login form and a field for a personal token.
    if not token:
        raise Unauthorized("Log in or send a personal API token as `Authorization: Bearer <token>`.")
    return token


BearerToken = Annotated[str, Depends(get_bearer_token)]


async def get_current_user(session: SessionDep, settings: SettingsDep, token: BearerToken) -> User:
    user = await user_for_token(session, token, settings)
    if user is None:
        raise Unauthorized()
    return user


CurrentUser = Annotated[User, Depends(get_current_user)]


async def get_current_user_id(session: SessionDep, settings: SettingsDep, token: BearerToken) -> uuid.UUID:
    user_id = await user_id_for_token(session, token, settings)
    if user_id is None:
        raise Unauthorized()
    return user_id


# The caller's id without reading their account when they send an access token: one round
# trip less for the phones' hottest request, logging an attempt. Only for routes that write
# rows referencing users.id and answer 401 when that foreign key refuses a deleted account.
CurrentUserId = Annotated[uuid.UUID, Depends(get_current_user_id)]


async def get_admin_user(user: CurrentUser) -> User:
    if not user.is_admin:
        raise Forbidden("This needs an admin account.")
    return user


AdminUser = Annotated[User, Depends(get_admin_user)]
