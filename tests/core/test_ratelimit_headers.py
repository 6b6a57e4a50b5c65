"""The IETF RateLimit fields (draft-ietf-httpapi-ratelimit-headers) on every answer of a rate-limited route."""

import re

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.core.config import Settings
from app.main import create_app
from tests.conftest import PASSWORD

# One list member: a quoted policy name and its integer parameters.
MEMBER = re.compile(r'^"(?P<policy>[^"\\]+)"(?P<params>(?:;[a-z]+=\d+)+)$')


def _parse(field: str) -> dict[str, dict[str, int]]:
    parsed = {}
    for member in field.split(", "):
        match = MEMBER.match(member)
        assert match, field
        params = dict(param.split("=") for param in match["params"].lstrip(";").split(";"))
        parsed[match["policy"]] = {name: int(value) for name, value in params.items()}
    return parsed


@pytest.fixture
def limited_app(settings: Settings, sessionmaker: async_sessionmaker[AsyncSession]) -> object:
    limits = {"login_limit_per_client": 2, "login_limit_per_account": 10, "register_limit_per_client": 5}
    return create_app(settings.model_copy(update=limits), sessionmaker=sessionmaker)


def _client(app: object) -> httpx.AsyncClient:
    transport = httpx.ASGITransport(app=app, client=("203.0.113.9", 50000))  # type: ignore[arg-type]
    return httpx.AsyncClient(transport=transport, base_url="http://test")


async def test_sign_ins_carry_the_policies_and_what_is_left_until_the_429(limited_app: object) -> None:
    form = {"grant_type": "password", "username": "nobody@example.com", "password": "wrong password"}
    async with _client(limited_app) as client:
        answers = [await client.post("/api/v1/auth/token", data=form) for _ in range(3)]
    assert [a.status_code for a in answers] == [401, 401, 429]
    for answer in answers[:2]:
        assert _parse(answer.headers["ratelimit-policy"]) == {
            "login:client": {"q": 2, "w": 60},
            "login:account": {"q": 10, "w": 300},
        }
    first, second = (_parse(a.headers["ratelimit"]) for a in answers[:2])
    assert (first["login:client"]["r"], first["login:account"]["r"]) == (1, 9)
    assert (second["login:client"]["r"], second["login:account"]["r"]) == (0, 8)
    assert 1 <= second["login:client"]["t"] <= 60
    assert 1 <= second["login:account"]["t"] <= 300
    # The 429 names the quota that ran out; the account's was not counted, the address's stopped first.
    assert _parse(answers[2].headers["ratelimit-policy"]) == {"login:client": {"q": 2, "w": 60}}
    assert _parse(answers[2].headers["ratelimit"]) == {
        "login:client": {"r": 0, "t": int(answers[2].headers["retry-after"])}
    }


async def test_a_success_carries_them_and_an_unlimited_route_does_not(limited_app: object) -> None:
    async with _client(limited_app) as client:
        registered = await client.post(
            "/api/v1/auth/register", json={"email": "fields@example.com", "password": PASSWORD}
        )
        health = await client.get("/health")
    assert registered.status_code == 201
    policies = _parse(registered.headers["ratelimit-policy"])
    assert policies["register:client"] == {"q": 5, "w": 3600}
    assert _parse(registered.headers["ratelimit"])["register:client"]["r"] == 4
    # The email's quota is named by its kind only: no address or digest of it leaves the server.
    assert set(policies) == {"register:client", "register:email"}
    assert "ratelimit" not in health.headers
    assert "ratelimit-policy" not in health.headers
