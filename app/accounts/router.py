import hashlib
import uuid
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request, Response, status
from fastapi.security import OAuth2PasswordRequestForm

from app.accounts import service
from app.accounts.dependencies import CurrentUser
from app.accounts.schemas import (
    AccessToken,
    ApiTokenCreate,
    ApiTokenCreated,
    ApiTokenPublic,
    UserCreate,
    UserPublic,
    UserUpdate,
)
from app.core.deps import RateLimiterDep, SessionDep, SettingsDep
from app.core.errors import Unauthorized, problem_responses
from app.core.schemas import Limit, Page
from app.core.security import create_access_token

auth_router = APIRouter(prefix="/auth", tags=["auth"])


def _client(request: Request) -> str:
    # Behind a proxy, uvicorn's proxy headers support has already put the real client here.
    return request.client.host if request.client else "unknown"


me_router = APIRouter(prefix="/me", tags=["me"], responses=problem_responses(401))


@auth_router.post(
    "/register",
    status_code=status.HTTP_201_CREATED,
    response_model=UserPublic,
    responses=problem_responses(409, 413, 422, 429),
    summary="Create an account",
)
async def register(
    data: UserCreate, request: Request, session: SessionDep, settings: SettingsDep, limiter: RateLimiterDep
) -> UserPublic:
    """Create an account. The email must be free; the password needs at least 10 characters."""
    await limiter.check(f"register:client:{_client(request)}", settings.register_limit_per_client, 3600)
    user = await service.register(session, data)
    return UserPublic.model_validate(user)


@auth_router.post(
    "/token",
    response_model=AccessToken,
    responses=problem_responses(401, 413, 422, 429),
    summary="Log in (OAuth2 password form)",
)
async def token(
    form: Annotated[OAuth2PasswordRequestForm, Depends()],
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    limiter: RateLimiterDep,
) -> AccessToken:
    """Exchange email (`username`) and password for a short-lived access token.

    This is what the **Authorize** button in `/docs` calls. Logins are rate limited per
    client and per account (429 with `Retry-After`).
    """
    await limiter.check(f"login:client:{_client(request)}", settings.login_limit_per_client, 60)
    account = hashlib.sha256(form.username.strip().lower().encode()).hexdigest()
    await limiter.check(f"login:account:{account}", settings.login_limit_per_account, 300)
    user = await service.authenticate(session, form.username, form.password)
    if user is None:
        raise Unauthorized("Wrong email or password.")
    access_token, expires_in = create_access_token(user.id, settings)
    return AccessToken(access_token=access_token, expires_in=expires_in)


@me_router.get("", response_model=UserPublic, summary="Your account")
async def read_me(user: CurrentUser) -> UserPublic:
    return UserPublic.model_validate(user)


@me_router.patch("", response_model=UserPublic, responses=problem_responses(413, 422), summary="Change your account")
async def update_me(data: UserUpdate, user: CurrentUser, session: SessionDep) -> UserPublic:
    """Change `display_name` and `timezone`; fields left out keep their value."""
    user = await service.update_user(session, user, data)
    return UserPublic.model_validate(user)


@me_router.delete("", status_code=status.HTTP_204_NO_CONTENT, summary="Delete your account and all your data")
async def delete_me(user: CurrentUser, session: SessionDep) -> Response:
    """Remove the account and every row that is yours: attempts, custom challenges, tokens. This cannot be undone."""
    await service.delete_user(session, user)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@me_router.post(
    "/tokens",
    status_code=status.HTTP_201_CREATED,
    response_model=ApiTokenCreated,
    responses=problem_responses(413, 422),
    summary="Create a personal API token",
)
async def create_token(data: ApiTokenCreate, user: CurrentUser, session: SessionDep) -> ApiTokenCreated:
    """A token for scripts: send it as `Authorization: Bearer rt_…`. The token is shown only in this answer."""
    row, secret = await service.create_api_token(session, user, data)
    return ApiTokenCreated(token=secret, **ApiTokenPublic.model_validate(row).model_dump())


@me_router.get(
    "/tokens", response_model=Page[ApiTokenPublic], responses=problem_responses(422), summary="Your API tokens"
)
async def list_tokens(
    user: CurrentUser,
    session: SessionDep,
    limit: Annotated[Limit, Query()] = 50,
    cursor: Annotated[str | None, Query(max_length=500)] = None,
) -> Page[ApiTokenPublic]:
    rows, next_cursor = await service.list_api_tokens(session, user, limit, cursor)
    return Page(items=[ApiTokenPublic.model_validate(r) for r in rows], next_cursor=next_cursor)


@me_router.delete(
    "/tokens/{token_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    responses=problem_responses(404, 422),
    summary="Revoke an API token",
)
async def revoke_token(token_id: uuid.UUID, user: CurrentUser, session: SessionDep) -> Response:
    await service.revoke_api_token(session, user, token_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)
