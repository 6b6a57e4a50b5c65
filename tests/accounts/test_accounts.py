"""Accounts and auth: registration, login, /me, personal API tokens and token edge cases."""

import uuid
from datetime import UTC, datetime, timedelta

import httpx
import jwt
import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.accounts.models import ApiToken, User
from app.core import security
from app.core.config import Settings
from tests.conftest import PASSWORD, Account

REGISTER = "/api/v1/auth/register"
TOKEN = "/api/v1/auth/token"
ME = "/api/v1/me"
TOKENS = "/api/v1/me/tokens"


def assert_problem(response: httpx.Response, status: int) -> dict[str, object]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"
    body: dict[str, object] = response.json()
    assert body["status"] == status
    assert {"type", "title", "detail"} <= body.keys()
    if status == 422:
        # The contract: every validation error names the offending inputs.
        assert isinstance(body["errors"], list)
        assert body["errors"]
    return body


async def login(client: httpx.AsyncClient, email: str, password: str = PASSWORD) -> httpx.Response:
    return await client.post(TOKEN, data={"username": email, "password": password})


# --- registration ---------------------------------------------------------------


async def test_register_creates_a_user(client: httpx.AsyncClient) -> None:
    response = await client.post(
        REGISTER,
        json={"email": "Sam@Example.com", "password": "ten chars!", "display_name": "Sam", "timezone": "Europe/Berlin"},
    )
    assert response.status_code == 201
    assert response.headers["location"] == "http://test/api/v1/me"
    body = response.json()
    assert body["email"] == "sam@example.com"
    assert body["display_name"] == "Sam"
    assert body["timezone"] == "Europe/Berlin"
    assert body["is_admin"] is False
    uuid.UUID(body["id"])
    assert datetime.fromisoformat(body["created_at"]).utcoffset() == timedelta(0)
    assert "password" not in response.text
    assert "hash" not in response.text


async def test_register_defaults_timezone_to_utc(client: httpx.AsyncClient) -> None:
    response = await client.post(REGISTER, json={"email": "a@example.com", "password": PASSWORD})
    assert response.status_code == 201
    assert response.json()["timezone"] == "UTC"


async def test_register_duplicate_email_is_409_case_insensitive(client: httpx.AsyncClient, alice: Account) -> None:
    response = await client.post(REGISTER, json={"email": "ALICE@example.com", "password": PASSWORD})
    assert_problem(response, 409)


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        ({"email": "x@example.com", "password": "short"}, "password"),
        ({"email": "x@example.com", "password": PASSWORD, "timezone": "Mars/Olympus"}, "timezone"),
        ({"email": "x@example.com", "password": PASSWORD, "timezone": "+02:00"}, "timezone"),
        # Files of a server's zoneinfo folder that name no place, and the database's "not set" zone.
        ({"email": "x@example.com", "password": PASSWORD, "timezone": "localtime"}, "timezone"),
        ({"email": "x@example.com", "password": PASSWORD, "timezone": "posixrules"}, "timezone"),
        ({"email": "x@example.com", "password": PASSWORD, "timezone": "Factory"}, "timezone"),
        ({"email": "not-an-email", "password": PASSWORD}, "email"),
        ({"email": "x@example.com", "password": PASSWORD, "is_admin": True}, "is_admin"),
        ({"email": "x@example.com", "password": PASSWORD, "display_name": "bad\x00name"}, "display_name"),
        ({"email": "x@example.com", "password": PASSWORD, "display_name": "x" * 101}, "display_name"),
        ({"email": "x@example.com", "password": "p" * 1025}, "password"),
    ],
)
async def test_register_rejects_bad_input_and_stores_nothing(
    client: httpx.AsyncClient, session: AsyncSession, payload: dict[str, object], field: str
) -> None:
    body = assert_problem(await client.post(REGISTER, json=payload), 422)
    errors = body["errors"]
    assert isinstance(errors, list)
    assert any(field in error["loc"] for error in errors)
    # The offending input is never echoed back.
    assert all("input" not in error for error in errors)
    assert await session.scalar(select(func.count()).select_from(User)) == 0


# --- login -------------------------------------------------------------------------


async def test_login_returns_a_bearer_token_that_works(
    client: httpx.AsyncClient, alice: Account, settings: Settings
) -> None:
    response = await login(client, "Alice@Example.com")
    assert response.status_code == 200
    body = response.json()
    assert body["token_type"] == "bearer"
    assert body["expires_in"] == settings.access_token_expire_minutes * 60
    me = await client.get(ME, headers={"Authorization": f"Bearer {body['access_token']}"})
    assert me.status_code == 200
    assert me.json()["email"] == "alice@example.com"


async def test_login_with_wrong_password_is_401(client: httpx.AsyncClient, alice: Account) -> None:
    assert_problem(await login(client, "alice@example.com", "wrong password"), 401)


async def test_login_with_unknown_email_is_401_and_still_checks_a_hash(
    client: httpx.AsyncClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: list[str] = []
    real_verify = security._password_hash.verify

    def counting_verify(password: str, hashed: str) -> bool:
        calls.append(hashed)
        return real_verify(password, hashed)

    monkeypatch.setattr(security._password_hash, "verify", counting_verify)
    assert_problem(await login(client, "nobody@example.com"), 401)
    # A hash was verified even though no account exists, so timing does not tell.
    assert calls == [security._DUMMY_HASH]


# --- access tokens -----------------------------------------------------------------


def _jwt(settings: Settings, user_id: uuid.UUID, **overrides: object) -> str:
    now = datetime.now(UTC)
    claims: dict[str, object] = {"sub": str(user_id), "iat": now, "exp": now + timedelta(minutes=5), "typ": "access"}
    claims.update(overrides)
    claims = {k: v for k, v in claims.items() if v is not None}
    return jwt.encode(claims, settings.signing_key, algorithm="HS256")


async def test_me_without_token_is_401_with_www_authenticate(client: httpx.AsyncClient) -> None:
    response = await client.get(ME)
    assert_problem(response, 401)
    assert response.headers["www-authenticate"] == "Bearer"


@pytest.mark.parametrize(
    "case", ["expired", "wrong-key", "alg-none", "no-exp", "no-iat", "no-sub", "garbage", "not-a-uuid", "basic"]
)
async def test_bad_access_tokens_are_401(
    client: httpx.AsyncClient, alice: Account, settings: Settings, case: str
) -> None:
    uid = alice.user.id
    past = datetime.now(UTC) - timedelta(hours=2)
    header = {
        "expired": f"Bearer {_jwt(settings, uid, iat=past, exp=past + timedelta(minutes=1))}",
        "wrong-key": "Bearer "
        + jwt.encode(
            {"sub": str(uid), "iat": past, "exp": datetime.now(UTC) + timedelta(hours=1), "typ": "access"},
            "another-key-of-sufficient-length-000",
            algorithm="HS256",
        ),
        "alg-none": "Bearer "
        + jwt.encode(
            {"sub": str(uid), "iat": past, "exp": datetime.now(UTC) + timedelta(hours=1), "typ": "access"},
            None,
            algorithm="none",
        ),
        "no-exp": f"Bearer {_jwt(settings, uid, exp=None)}",
        "no-iat": f"Bearer {_jwt(settings, uid, iat=None)}",
        "no-sub": f"Bearer {_jwt(settings, uid, sub=None)}",
        "garbage": "Bearer not.a.token",
        "not-a-uuid": f"Bearer {_jwt(settings, uid, sub='alice')}",
        "basic": "Basic YWxpY2U6cGFzc3dvcmQ=",
    }[case]
    response = await client.get(ME, headers={"Authorization": header})
    assert_problem(response, 401)
    assert response.headers["www-authenticate"] == "Bearer"


async def test_token_of_a_deleted_user_is_401(client: httpx.AsyncClient, alice: Account) -> None:
    assert (await client.delete(ME, headers=alice.headers)).status_code == 204
    assert_problem(await client.get(ME, headers=alice.headers), 401)


# --- /me -----------------------------------------------------------------------------


async def test_patch_me_changes_only_given_fields(client: httpx.AsyncClient, alice: Account) -> None:
    response = await client.patch(ME, json={"timezone": "America/New_York"}, headers=alice.headers)
    assert response.status_code == 200
    assert response.json()["timezone"] == "America/New_York"
    response = await client.patch(ME, json={"display_name": "Al"}, headers=alice.headers)
    assert response.json() == {**response.json(), "display_name": "Al", "timezone": "America/New_York"}


@pytest.mark.parametrize("zone", ["Asia/Calcutta", "US/Eastern", "Etc/GMT+5", "America/Argentina/Buenos_Aires"])
async def test_aliases_and_etc_zones_are_kept_as_given(client: httpx.AsyncClient, alice: Account, zone: str) -> None:
    # Phones report old aliases (Asia/Calcutta for Asia/Kolkata): refusing them would lock those users out.
    response = await client.patch(ME, json={"timezone": zone}, headers=alice.headers)
    assert response.status_code == 200, response.text
    assert response.json()["timezone"] == zone


async def test_the_time_zone_is_documented_as_a_string_with_examples_not_an_enum(client: httpx.AsyncClient) -> None:
    schemas = (await client.get("/openapi.json")).json()["components"]["schemas"]
    for model in ("UserCreate", "UserUpdate"):
        zone = schemas[model]["properties"]["timezone"]
        assert "enum" not in zone
        assert zone["type"] == "string"
        assert "Europe/Berlin" in zone["examples"]


async def test_patch_me_null_clears_the_display_name(client: httpx.AsyncClient, alice: Account) -> None:
    await client.patch(ME, json={"display_name": "Al"}, headers=alice.headers)
    response = await client.patch(ME, json={"display_name": None}, headers=alice.headers)
    assert response.status_code == 200
    assert response.json()["display_name"] is None


@pytest.mark.parametrize(
    "payload",
    [
        {"timezone": "Nowhere/Land"},
        {"timezone": None},
        {"is_admin": True},
        {"email": "new@example.com"},
        {"display_name": ""},
    ],
)
async def test_patch_me_rejects_bad_fields_and_changes_nothing(
    client: httpx.AsyncClient, alice: Account, payload: dict[str, object]
) -> None:
    assert_problem(await client.patch(ME, json=payload, headers=alice.headers), 422)
    me = (await client.get(ME, headers=alice.headers)).json()
    assert me["is_admin"] is False
    assert me["timezone"] == "UTC"
    assert me["email"] == "alice@example.com"


async def test_delete_me_removes_the_user_and_their_tokens(
    client: httpx.AsyncClient, session: AsyncSession, alice: Account, bob: Account
) -> None:
    await client.post(TOKENS, json={"name": "script"}, headers=alice.headers)
    await client.post(TOKENS, json={"name": "script"}, headers=bob.headers)
    assert (await client.delete(ME, headers=alice.headers)).status_code == 204
    assert await session.scalar(select(func.count()).select_from(User).where(User.id == alice.user.id)) == 0
    assert (
        await session.scalar(select(func.count()).select_from(ApiToken).where(ApiToken.user_id == alice.user.id)) == 0
    )
    # Bob is untouched.
    assert await session.scalar(select(func.count()).select_from(ApiToken).where(ApiToken.user_id == bob.user.id)) == 1
    assert_problem(await login(client, "alice@example.com"), 401)


# --- personal API tokens -------------------------------------------------------------


async def test_api_token_is_shown_once_and_authenticates(
    client: httpx.AsyncClient, session: AsyncSession, alice: Account
) -> None:
    created = await client.post(TOKENS, json={"name": "export script", "expires_in_days": 30}, headers=alice.headers)
    assert created.status_code == 201
    body = created.json()
    assert created.headers["location"] == f"http://test/api/v1/me/tokens/{body['id']}"
    token = body["token"]
    assert token.startswith("rt_")
    assert body["prefix"] == token[:8]
    expires = datetime.fromisoformat(body["expires_at"])
    assert timedelta(days=29) < expires - datetime.now(UTC) <= timedelta(days=30)
    # Stored only as a digest.
    stored = await session.scalar(select(ApiToken).where(ApiToken.user_id == alice.user.id))
    assert stored is not None
    assert stored.digest == security.api_token_digest(token)
    assert token not in (stored.digest, stored.prefix)

    me = await client.get(ME, headers={"Authorization": f"Bearer {token}"})
    assert me.status_code == 200
    assert me.json()["id"] == str(alice.user.id)

    listed = (await client.get(TOKENS, headers=alice.headers)).json()
    assert [t["name"] for t in listed["items"]] == ["export script"]
    assert "token" not in listed["items"][0]
    assert listed["next_cursor"] is None


async def test_revoked_api_token_is_401(client: httpx.AsyncClient, alice: Account) -> None:
    created = (await client.post(TOKENS, json={"name": "temp"}, headers=alice.headers)).json()
    auth = {"Authorization": f"Bearer {created['token']}"}
    assert (await client.delete(f"{TOKENS}/{created['id']}", headers=alice.headers)).status_code == 204
    assert_problem(await client.get(ME, headers=auth), 401)
    assert_problem(await client.delete(f"{TOKENS}/{created['id']}", headers=alice.headers), 404)


async def test_expired_api_token_is_401(client: httpx.AsyncClient, session: AsyncSession, alice: Account) -> None:
    created = (await client.post(TOKENS, json={"name": "temp", "expires_in_days": 1}, headers=alice.headers)).json()
    row = await session.get(ApiToken, uuid.UUID(created["id"]))
    assert row is not None
    row.expires_at = datetime.now(UTC) - timedelta(seconds=1)
    await session.commit()
    assert_problem(await client.get(ME, headers={"Authorization": f"Bearer {created['token']}"}), 401)


async def test_unknown_api_token_is_401(client: httpx.AsyncClient, alice: Account) -> None:
    assert_problem(await client.get(ME, headers={"Authorization": f"Bearer {security.new_api_token()}"}), 401)


async def test_another_users_token_cannot_be_revoked(client: httpx.AsyncClient, alice: Account, bob: Account) -> None:
    created = (await client.post(TOKENS, json={"name": "alice's"}, headers=alice.headers)).json()
    assert_problem(await client.delete(f"{TOKENS}/{created['id']}", headers=bob.headers), 404)
    me = await client.get(ME, headers={"Authorization": f"Bearer {created['token']}"})
    assert me.status_code == 200


@pytest.mark.parametrize(
    "payload",
    [
        {"name": ""},
        {"name": "x" * 101},
        {"name": "a", "expires_in_days": 0},
        {"name": "a", "expires_in_days": 2**70},
        {"name": "a\x00"},
    ],
)
async def test_api_token_bad_input_is_422(
    client: httpx.AsyncClient, alice: Account, payload: dict[str, object]
) -> None:
    assert_problem(await client.post(TOKENS, json=payload, headers=alice.headers), 422)
    assert (await client.get(TOKENS, headers=alice.headers)).json()["items"] == []


async def test_api_tokens_page_with_a_cursor(client: httpx.AsyncClient, alice: Account) -> None:
    for i in range(5):
        await client.post(TOKENS, json={"name": f"t{i}"}, headers=alice.headers)
    seen: list[str] = []
    cursor = None
    while True:
        params: dict[str, str | int] = {"limit": 2} | ({"cursor": cursor} if cursor else {})
        page = (await client.get(TOKENS, params=params, headers=alice.headers)).json()
        seen += [t["name"] for t in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert sorted(seen) == [f"t{i}" for i in range(5)]
    assert len(seen) == 5


@pytest.mark.parametrize("params", [{"limit": 0}, {"limit": 201}, {"cursor": "bm90IGEgY3Vyc29y"}, {"cursor": "%%%"}])
async def test_bad_page_parameters_are_422(
    client: httpx.AsyncClient, alice: Account, params: dict[str, object]
) -> None:
    assert_problem(await client.get(TOKENS, params=params, headers=alice.headers), 422)


async def test_login_upgrades_a_hash_made_with_older_parameters(
    client: httpx.AsyncClient, session: AsyncSession, alice: Account
) -> None:
    from pwdlib import PasswordHash
    from pwdlib.hashers.argon2 import Argon2Hasher

    old = PasswordHash((Argon2Hasher(memory_cost=8192, time_cost=1, parallelism=2),)).hash(PASSWORD)
    alice.user.password_hash = old
    await session.commit()
    assert (await login(client, "alice@example.com")).status_code == 200
    await session.refresh(alice.user)
    assert alice.user.password_hash != old
    assert (await login(client, "alice@example.com")).status_code == 200
