"""Who the caller is: the bearer schemes and the user dependencies every router takes from here.

Which one a route should use:
- `CurrentUser` reads the caller's account: for every route that needs it (its time zone, its admin flag)
  or must refuse a deleted account itself. The safe default.
- `TokenUserId` promises only that a valid token names this user id, without reading the account when
  the token is an access token (a personal API token is looked up anyway). It is one round trip less for
  the phones' hottest requests, logging an attempt and reading the trend, and is right only for routes that
  write rows referencing `users.id` and answer 401 when that foreign key refuses a deleted account, or that
  read what they need of the account in their own statement and answer 401 when it finds none.
- `AdminUser` is `CurrentUser` with the admin flag set and a token with the `admin` scope, else 403.
- `CurrentCaller` is `CurrentUser` with what the token proves besides (its scopes, its session).

Every one of them checks the token's scopes the same way (`_check_scopes`): a request that may change
data (any method but GET, HEAD and OPTIONS) needs `write`, so a read-only token is refused on every
such route without the route saying so.
"""

import uuid
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer, OAuth2PasswordBearer

from app.accounts.models import User
from app.accounts.service import Credentials, credentials_for_token, user_for_token
from app.core.deps import SessionDep, SettingsDep
from app.core.errors import Forbidden, Unauthorized
from app.core.security import TokenScope

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


_READING_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


def _check_scopes(request: Request, credentials: Credentials) -> None:
    if request.method not in _READING_METHODS and TokenScope.WRITE not in credentials.scopes:
        raise Forbidden("This token may only read: it lacks the `write` scope.")
    if request.method in _READING_METHODS and TokenScope.READ not in credentials.scopes:
        raise Forbidden("This token lacks the `read` scope.")


@dataclass(frozen=True, slots=True)
class Caller:
    user: User
    credentials: Credentials


async def get_caller(request: Request, session: SessionDep, settings: SettingsDep, token: BearerToken) -> Caller:
    found = await user_for_token(session, token, settings)
    if found is None:
        raise Unauthorized()
    user, credentials = found
    _check_scopes(request, credentials)
    return Caller(user, credentials)


CurrentCaller = Annotated[Caller, Depends(get_caller)]


async def get_current_user(caller: CurrentCaller) -> User:
    return caller.user


CurrentUser = Annotated[User, Depends(get_current_user)]


async def get_token_user_id(
    request: Request, session: SessionDep, settings: SettingsDep, token: BearerToken
) -> uuid.UUID:
    credentials = await credentials_for_token(session, token, settings)
    if credentials is None:
        raise Unauthorized()
    _check_scopes(request, credentials)
    return credentials.user_id


# See the module docstring for when this, and not CurrentUser, is right.
TokenUserId = Annotated[uuid.UUID, Depends(get_token_user_id)]


async def get_admin_user(caller: CurrentCaller) -> User:
    if not caller.user.is_admin:
        raise Forbidden("This needs an admin account.")
    if TokenScope.ADMIN not in caller.credentials.scopes:
        raise Forbidden("This token lacks the `admin` scope.")
    return caller.user


AdminUser = Annotated[User, Depends(get_admin_user)]
