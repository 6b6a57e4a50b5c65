import hashlib
import uuid
from typing import Annotated, Literal

from fastapi import APIRouter, BackgroundTasks, Form, Query, Request, Response, status
from typing_extensions import TypeAliasType

from app.accounts import service
from app.accounts.dependencies import CurrentCaller, CurrentUser
from app.accounts.schemas import (
    AccessToken,
    ApiTokenCreate,
    ApiTokenCreated,
    ApiTokenPublic,
    LogoutRequest,
    PasswordChange,
    PasswordResetConfirm,
    PasswordResetRequest,
    SessionPublic,
    UserCreate,
    UserPublic,
    UserUpdate,
)
from app.core.deps import MailerDep, RateLimiterDep, SessionDep, SettingsDep
from app.core.errors import InvalidInput, NotConfigured, Unauthorized, problem_responses
from app.core.openapi import LOCATION_HEADER, created_at
from app.core.schemas import Limit, Page
from app.core.security import new_reset_code

auth_router = APIRouter(prefix="/auth", tags=["auth"])
# Named once in the document, so generated clients share one enum.
GrantType = TypeAliasType("GrantType", Literal["password", "refresh_token"])


def _client(request: Request) -> str:
    # Behind a proxy, uvicorn's proxy headers support has already put the real client here.
    return request.client.host if request.client else "unknown"


def _email_key(email: str) -> str:
    """An email as a rate-limit key: digested, so no address sits in the limiter's store."""
    return hashlib.sha256(email.strip().lower().encode()).hexdigest()


me_router = APIRouter(prefix="/me", tags=["me"], responses=problem_responses(401))


@auth_router.post(
    "/register",
    status_code=status.HTTP_201_CREATED,
    response_model=UserPublic,
    responses={201: {"headers": LOCATION_HEADER}, **problem_responses(409, 413, 422, 429)},
    summary="Create an account",
)
async def register(
    data: UserCreate,
    *,
    request: Request,
    response: Response,
    session: SessionDep,
    settings: SettingsDep,
    limiter: RateLimiterDep,
) -> UserPublic:
    """Create an account. The email must be free; the password needs at least 10 characters.

    Rate limited per client address (generously: behind carrier-grade NAT many phones share one) and
    per email (429 with `Retry-After`).
    """
    await limiter.check(f"register:client:{_client(request)}", settings.register_limit_per_client, 3600)
    await limiter.check(f"register:email:{_email_key(data.email)}", settings.register_limit_per_email, 3600)
    user = await service.register(session, data)
    # The account is read back at /me, by whoever signs in to it.
    response.headers["Location"] = str(request.url_for("read_me"))
    return UserPublic.model_validate(user)


@auth_router.post(
    "/token",
    response_model=AccessToken,
    responses=problem_responses(401, 413, 422, 429),
    summary="Sign in, or refresh a session (OAuth2 form)",
)
async def token(
    *,
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    limiter: RateLimiterDep,
    grant_type: Annotated[
        GrantType,
        Form(description="`password` (the default) to sign in, `refresh_token` to renew a session."),
    ] = "password",
    username: Annotated[str | None, Form(max_length=254, description="With `password`: your email.")] = None,
    password: Annotated[str | None, Form(max_length=1024, description="With `password`: your password.")] = None,
    refresh_token: Annotated[
        str | None, Form(max_length=200, description="With `refresh_token`: the session's latest refresh token.")
    ] = None,
) -> AccessToken:
    """Sign in with email (`username`) and password, or renew a session with its refresh token
    (OAuth 2.0, RFC 6749 sections 4.3 and 6). Both answer a short-lived access token and a refresh token.

    - `grant_type=password` starts a new session (listed in `GET /me/sessions`). This is what the
      **Authorize** button in `/docs` calls. Rate limited per client address and per account (429 with
      `Retry-After`); a wrong email or password is 401.
    - `grant_type=refresh_token` spends the refresh token and answers a new pair. A refresh token works
      once. The same token sent again within 60 seconds (a retry after a lost answer, or two requests at
      once) answers the same new refresh token and a fresh access token; sent later, or after its
      successor was used, it is taken as stolen: 401, and the whole session ends. An unknown refresh
      token, or one of an ended or lapsed session, is 401 too: sign in with the password again.

    Ending a session stops its refresh tokens at once; an access token already issued keeps working until
    it expires (`expires_in`, ACCESS_TOKEN_EXPIRE_MINUTES).
    """
    user_agent = request.headers.get("user-agent")
    if grant_type == "refresh_token":
        if not refresh_token:
            raise InvalidInput("`grant_type=refresh_token` needs `refresh_token`.", loc=("body", "refresh_token"))
        return await service.refresh(session, refresh_token, settings, user_agent)
    if username is None or password is None:
        missing = "username" if username is None else "password"
        raise InvalidInput("`grant_type=password` needs `username` and `password`.", loc=("body", missing))
    await limiter.check(f"login:client:{_client(request)}", settings.login_limit_per_client, 60)
    await limiter.check(f"login:account:{_email_key(username)}", settings.login_limit_per_account, 300)
    user = await service.authenticate(session, username, password)
    if user is None:
        raise Unauthorized("Wrong email or password.")
    return await service.start_session(session, user, settings, user_agent)


@auth_router.post(
    "/logout",
    status_code=status.HTTP_204_NO_CONTENT,
    responses=problem_responses(413, 422),
    summary="End a session",
)
async def logout(data: LogoutRequest, session: SessionDep) -> Response:
    """End the session of this refresh token: its refresh tokens answer 401 from now on. Its access tokens
    keep working until they expire (at most ACCESS_TOKEN_EXPIRE_MINUTES), so the app should forget them too.

    Answers 204 for a token that is unknown or already ended as well (as token revocation does, RFC 7009),
    so signing out twice is no error.
    """
    await service.logout(session, data.refresh_token)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@auth_router.post(
    "/password-reset",
    status_code=status.HTTP_202_ACCEPTED,
    response_class=Response,
    responses=problem_responses(413, 422, 429, 503),
    summary="Email a password-reset code",
)
async def request_password_reset(
    *,
    data: PasswordResetRequest,
    request: Request,
    background: BackgroundTasks,
    session: SessionDep,
    settings: SettingsDep,
    limiter: RateLimiterDep,
    mailer: MailerDep,
) -> Response:
    """Email a one-time code (and a link, when the server has PASSWORD_RESET_URL) to this address, for
    `POST /auth/password-reset/confirm`.

    Answers 202 whether or not the email has an account, after the same work either way: the code is
    stored and mailed after the answer. A code works once, for 30 minutes, and takes 5 tries; a new
    request replaces it. Rate limited per client address and per email (429 with `Retry-After`).
    503 when this server cannot send mail.
    """
    if mailer is None:
        raise NotConfigured("This server sends no mail, so it cannot reset passwords by email.")
    await limiter.check(f"reset:client:{_client(request)}", settings.password_reset_limit_per_client, 3600)
    await limiter.check(f"reset:email:{_email_key(data.email)}", settings.password_reset_limit_per_email, 3600)
    user_id = await service.account_for_email(session, data.email)
    background.add_task(
        service.send_reset_code,
        request.app.state.sessionmaker,
        mailer,
        settings,
        user_id=user_id,
        email=data.email,
        code=new_reset_code(),
    )
    return Response(status_code=status.HTTP_202_ACCEPTED)


@auth_router.post(
    "/password-reset/confirm",
    status_code=status.HTTP_204_NO_CONTENT,
    responses=problem_responses(400, 413, 422, 429),
    summary="Set a new password with a reset code",
)
async def confirm_password_reset(
    data: PasswordResetConfirm, request: Request, session: SessionDep, settings: SettingsDep, limiter: RateLimiterDep
) -> Response:
    """Set a new password with the code from the email. Every session of the account ends (sign in with the
    new password); access tokens already issued run out within ACCESS_TOKEN_EXPIRE_MINUTES.

    400 when the code is wrong, already used, expired or burnt by 5 tries, or the email has no account
    (one answer for all). Rate limited per client address and per email (429 with `Retry-After`).
    """
    await limiter.check(f"reset-confirm:client:{_client(request)}", settings.password_reset_limit_per_client, 3600)
    await limiter.check(
        f"reset-confirm:email:{_email_key(data.email)}",
        settings.password_reset_limit_per_email * service.RESET_CODE_TRIES,
        3600,
    )
    await service.confirm_password_reset(session, data, settings)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@me_router.get("", response_model=UserPublic, summary="Your account")
async def read_me(user: CurrentUser) -> UserPublic:
    """Your account: email, display name, time zone, whether it is an admin's, when it was made."""
    return UserPublic.model_validate(user)


@me_router.patch("", response_model=UserPublic, responses=problem_responses(413, 422), summary="Change your account")
async def update_me(data: UserUpdate, user: CurrentUser, session: SessionDep) -> UserPublic:
    """Change `display_name` and `timezone`. As in every PATCH: a field left out keeps its value, `null`
    clears one that may be empty (`display_name`) and is refused with 422 for one that may not (`timezone`)."""
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
    responses={201: {"headers": LOCATION_HEADER}, **problem_responses(403, 413, 422)},
    summary="Create a personal API token",
)
async def create_token(
    data: ApiTokenCreate, caller: CurrentCaller, session: SessionDep, request: Request, response: Response
) -> ApiTokenCreated:
    """A token for scripts: send it as `Authorization: Bearer rt_…`. The token is shown only in this answer.

    `scopes` limit what it may do (default `["read", "write"]`). 403 for a scope the token making this
    request lacks itself, or `admin` on an account that is no admin's.
    """
    row, secret = await service.create_api_token(session, caller.user, caller.credentials.scopes, data)
    response.headers["Location"] = created_at(request, row.id)
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
    """Your personal API tokens, oldest first, a page at a time (`next_cursor` fetches the next). Only the first
    characters of each (`prefix`) are shown: a token itself is shown once, when it is made."""
    rows, next_cursor = await service.list_api_tokens(session, user, limit, cursor)
    return Page(items=[ApiTokenPublic.model_validate(r) for r in rows], next_cursor=next_cursor)


@me_router.delete(
    "/tokens/{token_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    responses=problem_responses(404, 422),
    summary="Revoke an API token",
)
async def revoke_token(token_id: uuid.UUID, user: CurrentUser, session: SessionDep) -> Response:
    """Revoke one of your tokens: it answers 401 from the next request on. 404 for a token that is not yours."""
    await service.revoke_api_token(session, user, token_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@me_router.get("/sessions", response_model=list[SessionPublic], summary="Your signed-in sessions")
async def list_sessions(caller: CurrentCaller, session: SessionDep, settings: SettingsDep) -> list[SessionPublic]:
    """Every live session of your account (one per password sign-in, on one device each), the one used last
    first; `current` marks the one the access token of this request belongs to. A session lapses when it
    has not refreshed for REFRESH_TOKEN_EXPIRE_DAYS. At most 50: a new sign-in beyond ends the one unused
    longest."""
    rows = await service.list_sessions(session, caller.user, settings)
    current = caller.credentials.session_id
    return [
        SessionPublic(
            id=row.id,
            created_at=row.created_at,
            last_used_at=row.last_used_at,
            user_agent=row.user_agent,
            current=row.id == current,
        )
        for row in rows
    ]


@me_router.delete(
    "/sessions/{session_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    responses=problem_responses(404, 422),
    summary="End one of your sessions",
)
async def end_session(session_id: uuid.UUID, user: CurrentUser, session: SessionDep) -> Response:
    """Sign a device out: the session's refresh tokens answer 401 from now on. Its access tokens keep working
    until they expire (at most ACCESS_TOKEN_EXPIRE_MINUTES)."""
    await service.end_session(session, user, session_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@me_router.post(
    "/password",
    status_code=status.HTTP_204_NO_CONTENT,
    responses=problem_responses(403, 413, 422, 429),
    summary="Change your password",
)
async def change_password(
    data: PasswordChange, caller: CurrentCaller, session: SessionDep, settings: SettingsDep, limiter: RateLimiterDep
) -> Response:
    """Set a new password (at least 10 characters); 403 when `current_password` is wrong. Every other session
    ends: the one of this request's access token stays signed in (with a personal API token, none stays).
    Access tokens already issued to the others run out within ACCESS_TOKEN_EXPIRE_MINUTES. Rate limited per
    account like sign-ins (429 with `Retry-After`)."""
    await limiter.check(f"password:account:{caller.user.id}", settings.login_limit_per_account, 300)
    await service.change_password(session, caller.user, data, keep=caller.credentials.session_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)
