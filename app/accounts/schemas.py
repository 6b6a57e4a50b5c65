import uuid
from datetime import datetime
from importlib import resources
from typing import Annotated, Literal

from pydantic import AfterValidator, BeforeValidator, EmailStr, Field, StringConstraints

from app.core.schemas import InputModel, OutputModel, PatchModel, SingleLine
from app.core.security import DEFAULT_SCOPES, RESET_CODE_DIGITS, TokenScope


def _tz_database() -> tuple[str, frozenset[str]]:
    """The release and every zone and alias name of the tz database the `tzdata` package ships, the same on
    every server.

    Not the server's own zoneinfo folder (zoneinfo.available_timezones), which also holds files such as
    `localtime` and `posixrules` that name no place. Aliases (`UTC`, `Asia/Calcutta`) stay valid: phones
    report them. `Factory` is a zone of the database that means "not set".
    """
    source = resources.files("tzdata").joinpath("zoneinfo", "tzdata.zi").read_text(encoding="utf-8")
    # tzdata.zi's "Z name …" lines are zones and "L target name" lines aliases (zic's compact form).
    names = {line.split()[1] for line in source.splitlines() if line.startswith("Z ")}
    names |= {line.split()[2] for line in source.splitlines() if line.startswith("L ")}
    release = source.partition("\n")[0].removeprefix("# version ")
    return release, frozenset(names - {"Factory"})


TZ_RELEASE, TIME_ZONES = _tz_database()


def _iana_time_zone(value: str) -> str:
    if value not in TIME_ZONES:
        raise ValueError("must be an IANA time zone name such as 'Europe/Berlin', 'America/New_York' or 'UTC'")
    return value


TimeZone = Annotated[
    str,
    StringConstraints(min_length=1, max_length=64),
    AfterValidator(_iana_time_zone),
    Field(
        description="An IANA time zone name from the tz database (`Europe/Berlin`, `America/Sao_Paulo`, "
        f"`Asia/Kolkata`, `UTC`, …; release {TZ_RELEASE}); aliases such as `Asia/Calcutta` are kept as "
        "given. An attempt counts in the practice session (local day) of the zone your account has when it is "
        "logged or its time corrected; changing the zone later leaves past sessions on their days, and streaks "
        "count to today in the new zone.",
        examples=["Europe/Berlin", "America/New_York", "UTC"],
    ),
]
DisplayName = Annotated[
    str,
    StringConstraints(strip_whitespace=True, min_length=1, max_length=100),
    SingleLine,
    Field(description="How the app greets you.", examples=["Sam"]),
]
Password = Annotated[
    str,
    StringConstraints(min_length=10, max_length=1024),
    Field(description="At least 10 characters.", examples=["correct horse battery"]),
]
Email = Annotated[EmailStr, StringConstraints(max_length=254), AfterValidator(str.lower)]
RefreshTokenText = Annotated[
    str,
    StringConstraints(min_length=1, max_length=200),
    Field(description="A refresh token from `POST /api/v1/auth/token`."),
]


class UserCreate(InputModel):
    email: Email = Field(
        description="Your email address. One at a special-use domain (RFC 6761: `.test`, `.invalid`, `.localhost`, "
        "…) can receive no mail and is refused with 422.",
        examples=["sam@example.com"],
    )
    password: Password
    display_name: DisplayName | None = None
    timezone: TimeZone = "UTC"


class UserUpdate(PatchModel):
    """Fields left out keep their value; `display_name: null` clears the name; `timezone` cannot be null."""

    clearable = frozenset({"display_name"})

    display_name: DisplayName | None = None
    timezone: TimeZone | None = None


class UserPublic(OutputModel):
    id: uuid.UUID
    email: str
    display_name: str | None
    timezone: str
    is_admin: bool
    created_at: datetime


class AccessToken(OutputModel):
    access_token: str = Field(
        description="Send as `Authorization: Bearer <access_token>`. It carries every scope your account has "
        "(`admin` only on an admin's account) and is checked by its signature alone: it keeps working until it "
        "expires, even after its session has ended (logout, password change or reset)."
    )
    token_type: Literal["bearer"] = "bearer"  # noqa: S105
    expires_in: int = Field(
        description="Seconds until the access token expires (ACCESS_TOKEN_EXPIRE_MINUTES). Refresh shortly "
        "before, or when a call answers 401.",
        examples=[900],
    )
    refresh_token: str = Field(
        description="Exchange it at this route with `grant_type=refresh_token` for a new pair. Each one works "
        "once: store the new one and forget the old. The same refresh retried within a minute (a lost answer) "
        "answers the same new refresh token; a spent one presented later ends the whole session (it was copied)."
    )
    refresh_expires_in: int = Field(
        description="Seconds the session lasts unused (REFRESH_TOKEN_EXPIRE_DAYS); every refresh starts it again.",
        examples=[5184000],
    )


def _scope_list(value: object) -> object:
    # Stored space-separated (see ApiToken.scopes); answered as a list.
    return sorted(value.split()) if isinstance(value, str) else value


def _distinct(scopes: list[TokenScope]) -> list[TokenScope]:
    if len(set(scopes)) != len(scopes):
        raise ValueError("must not name a scope twice")
    return scopes


ScopesField = Annotated[
    list[TokenScope],
    AfterValidator(_distinct),
    Field(
        min_length=1,
        max_length=len(TokenScope),
        json_schema_extra={"uniqueItems": True},
        description="What the token may do: `read` (every GET), `write` (every request that changes data; "
        "without it those answer 403), `admin` (the admin routes; only an admin can grant it).",
        examples=[["read"]],
    ),
]


class ApiTokenCreate(InputModel):
    name: Annotated[
        str,
        StringConstraints(strip_whitespace=True, min_length=1, max_length=100),
        SingleLine,
        Field(description="What the token is for.", examples=["weekly export script"]),
    ]
    expires_in_days: int | None = Field(
        default=None,
        ge=1,
        le=3650,
        description="Days until the token stops working (at most 3650); omit for a token that does not expire.",
    )
    scopes: ScopesField = sorted(DEFAULT_SCOPES)


class ApiTokenPublic(OutputModel):
    id: uuid.UUID
    name: str
    prefix: str = Field(description="The token's first characters, to tell tokens apart.")
    scopes: Annotated[list[TokenScope], BeforeValidator(_scope_list)] = Field(description="What the token may do.")
    created_at: datetime
    expires_at: datetime | None


class ApiTokenCreated(ApiTokenPublic):
    token: str = Field(description="The token itself. Shown only in this answer: store it now.")


class LogoutRequest(InputModel):
    refresh_token: RefreshTokenText


class SessionPublic(OutputModel):
    id: uuid.UUID
    created_at: datetime = Field(description="When you signed in with your password.")
    last_used_at: datetime = Field(
        description="When the session last exchanged a refresh token (or signed in). It lapses "
        "REFRESH_TOKEN_EXPIRE_DAYS after this."
    )
    user_agent: str | None = Field(description="The `User-Agent` of the app that signed in or last refreshed.")
    current: bool = Field(description="Whether this is the session of the access token making this request.")


class PasswordChange(InputModel):
    current_password: Annotated[str, StringConstraints(max_length=1024), Field(description="Your password now.")]
    new_password: Password


class PasswordResetRequest(InputModel):
    email: Email = Field(description="The email of the account.", examples=["sam@example.com"])


class PasswordResetConfirm(InputModel):
    email: Email = Field(description="The email the code was sent to.", examples=["sam@example.com"])
    code: Annotated[
        str,
        StringConstraints(strip_whitespace=True, min_length=1, max_length=2 * RESET_CODE_DIGITS),
        Field(description=f"The {RESET_CODE_DIGITS}-digit code from the email.", examples=["04812345"]),
    ]
    new_password: Password
