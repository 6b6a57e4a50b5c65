import uuid
import zoneinfo
from datetime import datetime
from functools import lru_cache
from typing import Annotated, Literal

from pydantic import AfterValidator, EmailStr, Field, StringConstraints

from app.core.schemas import InputModel, OutputModel, SingleLine


@lru_cache(maxsize=1)
def _time_zones() -> frozenset[str]:
    return frozenset(zoneinfo.available_timezones())


def _iana_time_zone(value: str) -> str:
    if value not in _time_zones():
        raise ValueError("must be an IANA time zone name such as 'Europe/Berlin' or 'UTC'")
    return value


TimeZone = Annotated[
    str,
    StringConstraints(min_length=1, max_length=64),
    AfterValidator(_iana_time_zone),
    # Listed in the schema, so clients (and the docs' dropdown) know every name the server takes.
    Field(
        description="An IANA time zone name. An attempt counts in the practice session (local day) of the zone "
        "your account has when it is logged or its time corrected; changing the zone later leaves past sessions "
        "on their days, and streaks count to today in the new zone.",
        examples=["Europe/Berlin"],
        json_schema_extra={"enum": sorted(_time_zones())},
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


class UserCreate(InputModel):
    email: Email = Field(
        description="Your email address. One at a special-use domain (RFC 6761: `.test`, `.invalid`, `.localhost`, "
        "…) can receive no mail and is refused with 422.",
        examples=["sam@example.com"],
    )
    password: Password
    display_name: DisplayName | None = None
    timezone: TimeZone = "UTC"


class UserUpdate(InputModel):
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
    access_token: str = Field(description="Send as `Authorization: Bearer <access_token>`.")
    token_type: Literal["bearer"] = "bearer"  # noqa: S105
    expires_in: int = Field(description="Seconds until the token expires.", examples=[3600])


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


class ApiTokenPublic(OutputModel):
    id: uuid.UUID
    name: str
    prefix: str = Field(description="The token's first characters, to tell tokens apart.")
    created_at: datetime
    expires_at: datetime | None


class ApiTokenCreated(ApiTokenPublic):
    token: str = Field(description="The token itself. Shown only in this answer: store it now.")
