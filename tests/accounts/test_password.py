"""Changing the password with the current one: every other session ends, the caller's stays."""

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.core.config import Settings
from app.main import create_app
from tests.accounts.test_accounts import assert_problem, login
from tests.accounts.test_sessions import bearer, refresh, sign_in
from tests.conftest import PASSWORD, Account

PASSWORD_URL = "/api/v1/me/password"
NEW_PASSWORD = "a much longer new passphrase"


async def test_a_password_change_keeps_the_callers_session_and_ends_the_others(
    client: httpx.AsyncClient, alice: Account
) -> None:
    phone = await sign_in(client)
    tablet = await sign_in(client, user_agent="RejectionTracker/1.0 (iPad)")
    response = await client.post(
        PASSWORD_URL, json={"current_password": PASSWORD, "new_password": NEW_PASSWORD}, headers=bearer(phone)
    )
    assert response.status_code == 204, response.text
    assert_problem(await login(client, "alice@example.com"), 401)
    assert (await login(client, "alice@example.com", NEW_PASSWORD)).status_code == 200
    assert_problem(await refresh(client, tablet["refresh_token"]), 401)
    assert (await refresh(client, phone["refresh_token"])).status_code == 200


async def test_a_password_change_with_an_api_token_ends_every_session(
    client: httpx.AsyncClient, alice: Account
) -> None:
    phone = await sign_in(client)
    created = await client.post("/api/v1/me/tokens", json={"name": "script"}, headers=bearer(phone))
    script = {"Authorization": f"Bearer {created.json()['token']}"}
    response = await client.post(
        PASSWORD_URL, json={"current_password": PASSWORD, "new_password": NEW_PASSWORD}, headers=script
    )
    assert response.status_code == 204
    assert_problem(await refresh(client, phone["refresh_token"]), 401)
    # The personal token is no session: it keeps working.
    assert (await client.get("/api/v1/me", headers=script)).status_code == 200


async def test_a_wrong_current_password_is_403_and_changes_nothing(client: httpx.AsyncClient, alice: Account) -> None:
    phone = await sign_in(client)
    tablet = await sign_in(client, user_agent="RejectionTracker/1.0 (iPad)")
    response = await client.post(
        PASSWORD_URL, json={"current_password": "not my password", "new_password": NEW_PASSWORD}, headers=bearer(phone)
    )
    assert_problem(response, 403)
    assert (await login(client, "alice@example.com")).status_code == 200
    assert (await refresh(client, tablet["refresh_token"])).status_code == 200


@pytest.mark.parametrize(
    "payload",
    [
        {"current_password": PASSWORD, "new_password": "short"},
        {"current_password": PASSWORD, "new_password": "p" * 1025},
        {"current_password": PASSWORD},
        {"new_password": NEW_PASSWORD},
    ],
)
async def test_a_new_password_follows_the_registration_rules(
    client: httpx.AsyncClient, alice: Account, payload: dict[str, str]
) -> None:
    assert_problem(await client.post(PASSWORD_URL, json=payload, headers=alice.headers), 422)
    assert (await login(client, "alice@example.com")).status_code == 200


async def test_password_changes_are_rate_limited_per_account(
    settings: Settings, sessionmaker: async_sessionmaker[AsyncSession], alice: Account, bob: Account
) -> None:
    # A stolen access token must not become a way to guess the password without limit.
    app = create_app(settings.model_copy(update={"login_limit_per_account": 2}), sessionmaker=sessionmaker)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        guesses = [
            await client.post(
                PASSWORD_URL,
                json={"current_password": f"guess {i}", "new_password": NEW_PASSWORD},
                headers=alice.headers,
            )
            for i in range(3)
        ]
        other = await client.post(
            PASSWORD_URL, json={"current_password": "guess", "new_password": NEW_PASSWORD}, headers=bob.headers
        )
    assert [g.status_code for g in guesses] == [403, 403, 429]
    assert int(guesses[-1].headers["retry-after"]) > 0
    assert other.status_code == 403
