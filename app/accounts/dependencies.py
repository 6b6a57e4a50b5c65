"""Who the caller is: the bearer schemes and the user dependencies every router takes from here.

Which one a route should use:
- `CurrentUser` reads the caller's account: for every route that needs it (its time zone, its admin flag)
  or must refuse a deleted account itself. The safe default.
- `TokenUserId` promises only that a valid token names this user id, without reading the account when
  the token is an access token (a personal API token is looked up anyway). It is one round trip less for
  the phones' hottest request, logging an attempt, and is right only for routes that write rows
  referencing `users.id` and answer 401 when that foreign key refuses a deleted account.
- `AdminUser` is `CurrentUser` with the admin flag set, else 403.
"""

import uuid
from typing import Annotated

from fastapi import Depends
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer, OAuth2PasswordBearer

from app.accounts.models import User
from app.accounts.service import user_for_token, user_id_for_token
from app.core.deps import SessionDep, SettingsDep
from app.core.errors import Forbidden, Unauthorized

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


async def get_token_user_id(session: SessionDep, settings: SettingsDep, token: BearerToken) -> uuid.UUID:
    user_id = await user_id_for_token(session, token, settings)
    if user_id is None:
        raise Unauthorized()
    return user_id


# See the module docstring for when this, and not CurrentUser, is right.
TokenUserId = Annotated[uuid.UUID, Depends(get_token_user_id)]


async def get_admin_user(user: CurrentUser) -> User:
    if not user.is_admin:
        raise Forbidden("This needs an admin account.")
    return user


AdminUser = Annotated[User, Depends(get_admin_user)]
