"""Sessions: a password sign-in answers a refresh token; refreshing rotates it, a spent one presented again
ends the session, a retry within the grace window answers the same successor; logout, listing, ending one."""

import uuid
from datetime import timedelta

import httpx
import jwt
from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from app.accounts.models import AuthSession, RefreshToken, User
from app.accounts.service import MAX_SESSIONS_PER_USER, REFRESH_GRACE
from app.core import security
from app.core.config import Settings
from app.core.models import utcnow
from tests.accounts.test_accounts import assert_problem
from tests.conftest import PASSWORD, Account

TOKEN = "/api/v1/auth/token"
LOGOUT = "/api/v1/auth/logout"
SESSIONS = "/api/v1/me/sessions"
ME = "/api/v1/me"
PAIR_FIELDS = {"access_token", "token_type", "expires_in", "refresh_token", "refresh_expires_in"}


async def sign_in(
    client: httpx.AsyncClient, email: str = "alice@example.com", user_agent: str = "RejectionTracker/1.0 (iPhone)"
) -> dict[str, object]:
    response = await client.post(
        TOKEN, data={"username": email, "password": PASSWORD}, headers={"User-Agent": user_agent}
    )
    assert response.status_code == 200, response.text
    body: dict[str, object] = response.json()
    return body


async def refresh(client: httpx.AsyncClient, refresh_token: object) -> httpx.Response:
    return await client.post(TOKEN, data={"grant_type": "refresh_token", "refresh_token": refresh_token})


def bearer(pair: dict[str, object]) -> dict[str, str]:
    return {"Authorization": f"Bearer {pair['access_token']}"}


def session_id_of(pair: dict[str, object]) -> uuid.UUID:
    claims = jwt.decode(str(pair["access_token"]), options={"verify_signature": False})
    return uuid.UUID(claims["sid"])


async def live_sessions(session: AsyncSession, user: User) -> int:
    return (
        await session.scalar(select(func.count()).select_from(AuthSession).where(AuthSession.user_id == user.id)) or 0
    )


async def spent_ago(session: AsyncSession, token: object, ago: timedelta) -> None:
    """Move a spent token's spend into the past, as if its refresh had happened `ago`."""
    digest = security.api_token_digest(str(token))
    await session.execute(update(RefreshToken).where(RefreshToken.digest == digest).values(spent_at=utcnow() - ago))
    await session.commit()


# --- signing in ----------------------------------------------------------------------------------------


async def test_a_sign_in_answers_a_short_access_token_and_a_refresh_token_stored_as_a_digest(
    client: httpx.AsyncClient, session: AsyncSession, alice: Account, settings: Settings
) -> None:
    pair = await sign_in(client)
    assert set(pair) == PAIR_FIELDS
    assert pair["expires_in"] == 15 * 60 == settings.access_token_expire_minutes * 60
    assert pair["refresh_expires_in"] == 60 * 86400 == settings.refresh_token_expire_days * 86400
    token = str(pair["refresh_token"])
    assert token.startswith(security.REFRESH_TOKEN_PREFIX)
    assert len(token) >= 40
    stored = (await session.execute(select(RefreshToken))).scalars().all()
    assert [row.digest for row in stored] == [security.api_token_digest(token)]
    assert stored[0].spent_at is None
    started = await session.get(AuthSession, session_id_of(pair))
    assert started is not None
    assert started.user_id == alice.user.id
    assert started.user_agent == "RejectionTracker/1.0 (iPhone)"
    # The refresh token is no bearer token: it opens nothing but /auth/token.
    assert_problem(await client.get(ME, headers={"Authorization": f"Bearer {token}"}), 401)


def test_access_tokens_last_15_minutes_and_sessions_60_days_by_default(settings: Settings) -> None:
    defaults = Settings(environment="test", secret_key=settings.signing_key)
    assert defaults.access_token_expire_minutes == 15
    assert defaults.refresh_token_expire_days == 60


async def test_a_sign_in_needs_username_and_password(client: httpx.AsyncClient, alice: Account) -> None:
    body = assert_problem(await client.post(TOKEN, data={"username": "alice@example.com"}), 422)
    assert body["errors"] == [{"loc": ["body", "password"], "msg": body["detail"], "type": "value_error"}]
    assert_problem(await client.post(TOKEN, data={"grant_type": "client_credentials"}), 422)
    assert_problem(await client.post(TOKEN, data={"grant_type": "refresh_token"}), 422)


# --- refreshing ----------------------------------------------------------------------------------------


async def test_a_refresh_answers_a_new_pair_and_spends_the_token(
    client: httpx.AsyncClient, session: AsyncSession, alice: Account
) -> None:
    first = await sign_in(client)
    response = await refresh(client, first["refresh_token"])
    assert response.status_code == 200, response.text
    second = response.json()
    assert set(second) == PAIR_FIELDS
    assert second["refresh_token"] != first["refresh_token"]
    assert session_id_of(second) == session_id_of(first)
    me = await client.get(ME, headers=bearer(second))
    assert me.json()["id"] == str(alice.user.id)
    spent = await session.scalar(
        select(RefreshToken.spent_at).where(
            RefreshToken.digest == security.api_token_digest(str(first["refresh_token"]))
        )
    )
    assert spent is not None
    third = await refresh(client, second["refresh_token"])
    assert third.status_code == 200
    assert await live_sessions(session, alice.user) == 1


async def test_a_refresh_restarts_the_lapse_count_and_takes_the_new_user_agent(
    client: httpx.AsyncClient, session: AsyncSession, alice: Account
) -> None:
    pair = await sign_in(client)
    sid = session_id_of(pair)
    await session.execute(
        update(AuthSession).where(AuthSession.id == sid).values(last_used_at=utcnow() - timedelta(days=59))
    )
    await session.commit()
    response = await client.post(
        TOKEN,
        data={"grant_type": "refresh_token", "refresh_token": pair["refresh_token"]},
        headers={"User-Agent": "RejectionTracker/1.1 (iPhone)"},
    )
    assert response.status_code == 200
    row = (await session.execute(select(AuthSession).where(AuthSession.id == sid))).scalar_one()
    await session.refresh(row)
    assert utcnow() - row.last_used_at < timedelta(minutes=1)
    assert row.user_agent == "RejectionTracker/1.1 (iPhone)"


async def test_a_session_unused_for_refresh_token_expire_days_lapses(
    client: httpx.AsyncClient, session: AsyncSession, alice: Account, settings: Settings
) -> None:
    pair = await sign_in(client)
    sid = session_id_of(pair)
    lapsed = utcnow() - timedelta(days=settings.refresh_token_expire_days, minutes=1)
    await session.execute(update(AuthSession).where(AuthSession.id == sid).values(last_used_at=lapsed))
    await session.commit()
    assert (await client.get(SESSIONS, headers=bearer(pair))).json() == []
    assert_problem(await refresh(client, pair["refresh_token"]), 401)
    assert await live_sessions(session, alice.user) == 0


async def test_a_retry_within_the_grace_window_answers_the_same_refresh_token(
    client: httpx.AsyncClient, session: AsyncSession, alice: Account
) -> None:
    first = await sign_in(client)
    second = (await refresh(client, first["refresh_token"])).json()
    await spent_ago(session, first["refresh_token"], REFRESH_GRACE - timedelta(seconds=5))
    retried = await refresh(client, first["refresh_token"])
    assert retried.status_code == 200, retried.text
    assert retried.json()["refresh_token"] == second["refresh_token"]
    assert (await client.get(ME, headers=bearer(retried.json()))).status_code == 200
    # The retry stored nothing new, and the session goes on with the one successor.
    assert await session.scalar(select(func.count()).select_from(RefreshToken)) == 2
    assert (await refresh(client, second["refresh_token"])).status_code == 200


async def test_a_spent_refresh_token_after_the_grace_window_ends_the_whole_session(
    client: httpx.AsyncClient, session: AsyncSession, alice: Account
) -> None:
    other_device = await sign_in(client, user_agent="RejectionTracker/1.0 (Android)")
    first = await sign_in(client)
    second = (await refresh(client, first["refresh_token"])).json()
    await spent_ago(session, first["refresh_token"], REFRESH_GRACE + timedelta(seconds=1))
    stolen = await refresh(client, first["refresh_token"])
    assert_problem(stolen, 401)
    assert "session has ended" in stolen.json()["detail"]
    # Every refresh token of the session is refused now, the latest too; the other device stays signed in.
    assert_problem(await refresh(client, second["refresh_token"]), 401)
    assert await session.get(AuthSession, session_id_of(first)) is None
    assert (await refresh(client, other_device["refresh_token"])).status_code == 200


async def test_a_spent_token_whose_successor_was_used_is_reuse_even_within_the_window(
    client: httpx.AsyncClient, session: AsyncSession, alice: Account
) -> None:
    first = await sign_in(client)
    second = (await refresh(client, first["refresh_token"])).json()
    third = (await refresh(client, second["refresh_token"])).json()
    assert_problem(await refresh(client, first["refresh_token"]), 401)
    assert_problem(await refresh(client, third["refresh_token"]), 401)
    assert await live_sessions(session, alice.user) == 0


async def test_unknown_and_wrong_kinds_of_refresh_tokens_are_401(
    client: httpx.AsyncClient, session: AsyncSession, alice: Account
) -> None:
    pair = await sign_in(client)
    for token in (security.new_refresh_token(), "garbage", str(pair["access_token"])[:200], security.new_api_token()):
        response = await refresh(client, token)
        assert_problem(response, 401)
        assert response.headers["www-authenticate"] == "Bearer"
    assert await live_sessions(session, alice.user) == 1


async def test_a_refresh_answers_the_scopes_the_account_has_now(
    client: httpx.AsyncClient, session: AsyncSession, admin: Account, settings: Settings
) -> None:
    pair = await sign_in(client, "admin@example.com")
    claims = security.decode_access_token(str(pair["access_token"]), settings)
    assert claims is not None
    assert claims.scopes == {"read", "write", "admin"}
    admin.user.is_admin = False
    await session.commit()
    refreshed = (await refresh(client, pair["refresh_token"])).json()
    claims = security.decode_access_token(refreshed["access_token"], settings)
    assert claims is not None
    assert claims.scopes == {"read", "write"}


# --- logout, listing, ending -----------------------------------------------------------------------------


async def test_logout_ends_that_session_only(client: httpx.AsyncClient, session: AsyncSession, alice: Account) -> None:
    phone = await sign_in(client)
    tablet = await sign_in(client, user_agent="RejectionTracker/1.0 (iPad)")
    assert (await client.post(LOGOUT, json={"refresh_token": phone["refresh_token"]})).status_code == 204
    assert_problem(await refresh(client, phone["refresh_token"]), 401)
    assert (await refresh(client, tablet["refresh_token"])).status_code == 200
    # Signing out twice, or with a token nobody knows, is no error and ends nothing else.
    assert (await client.post(LOGOUT, json={"refresh_token": phone["refresh_token"]})).status_code == 204
    unknown = await client.post(LOGOUT, json={"refresh_token": security.new_refresh_token()})
    assert unknown.status_code == 204
    assert await live_sessions(session, alice.user) == 1


async def test_logout_with_a_spent_token_ends_its_session(
    client: httpx.AsyncClient, session: AsyncSession, alice: Account
) -> None:
    first = await sign_in(client)
    second = (await refresh(client, first["refresh_token"])).json()
    assert (await client.post(LOGOUT, json={"refresh_token": first["refresh_token"]})).status_code == 204
    assert_problem(await refresh(client, second["refresh_token"]), 401)


async def test_an_access_token_outlives_its_session_until_it_expires(client: httpx.AsyncClient, alice: Account) -> None:
    # Documented: access tokens are checked by signature alone, so ending a session stops its refresh
    # tokens at once and its access tokens within ACCESS_TOKEN_EXPIRE_MINUTES.
    pair = await sign_in(client)
    assert (await client.post(LOGOUT, json={"refresh_token": pair["refresh_token"]})).status_code == 204
    assert (await client.get(ME, headers=bearer(pair))).status_code == 200


async def test_sessions_are_listed_with_the_current_one_marked(client: httpx.AsyncClient, alice: Account) -> None:
    phone = await sign_in(client)
    tablet = await sign_in(client, user_agent="RejectionTracker/1.0 (iPad)")
    listed = await client.get(SESSIONS, headers=bearer(phone))
    assert listed.status_code == 200
    items = listed.json()
    assert [set(item) for item in items] == [{"id", "created_at", "last_used_at", "user_agent", "current"}] * 2
    by_id = {item["id"]: item for item in items}
    assert by_id[str(session_id_of(phone))]["current"] is True
    assert by_id[str(session_id_of(tablet))]["current"] is False
    assert by_id[str(session_id_of(tablet))]["user_agent"] == "RejectionTracker/1.0 (iPad)"
    # The one used last first.
    assert items[0]["id"] == str(session_id_of(tablet))
    # A personal API token is no session: none is current.
    created = await client.post("/api/v1/me/tokens", json={"name": "script"}, headers=bearer(phone))
    by_script = await client.get(SESSIONS, headers={"Authorization": f"Bearer {created.json()['token']}"})
    assert [item["current"] for item in by_script.json()] == [False, False]


async def test_ending_a_session_by_id(client: httpx.AsyncClient, alice: Account, bob: Account) -> None:
    phone = await sign_in(client)
    lost = await sign_in(client, user_agent="RejectionTracker/1.0 (lost phone)")
    lost_id = session_id_of(lost)
    assert (await client.delete(f"{SESSIONS}/{lost_id}", headers=bearer(phone))).status_code == 204
    assert_problem(await refresh(client, lost["refresh_token"]), 401)
    assert [item["id"] for item in (await client.get(SESSIONS, headers=bearer(phone))).json()] == [
        str(session_id_of(phone))
    ]
    assert_problem(await client.delete(f"{SESSIONS}/{lost_id}", headers=bearer(phone)), 404)
    # Another account's session is not found, and goes on.
    assert_problem(await client.delete(f"{SESSIONS}/{session_id_of(phone)}", headers=bob.headers), 404)
    assert (await refresh(client, phone["refresh_token"])).status_code == 200


async def test_the_user_agent_is_cut_to_a_readable_line(
    client: httpx.AsyncClient, session: AsyncSession, alice: Account
) -> None:
    pair = await sign_in(client, user_agent="App/1.0 " + "x" * 500 + "\x7f")
    stored = await session.scalar(select(AuthSession.user_agent).where(AuthSession.id == session_id_of(pair)))
    assert stored == ("App/1.0 " + "x" * 500)[:200]


async def test_a_sign_in_beyond_the_session_limit_ends_the_one_unused_longest(
    client: httpx.AsyncClient, session: AsyncSession, alice: Account
) -> None:
    now = utcnow()
    old = [
        AuthSession(user_id=alice.user.id, created_at=now, last_used_at=now - timedelta(hours=i + 1))
        for i in range(MAX_SESSIONS_PER_USER)
    ]
    session.add_all(old)
    await session.commit()
    oldest = old[-1].id
    pair = await sign_in(client)
    assert await live_sessions(session, alice.user) == MAX_SESSIONS_PER_USER
    assert await session.scalar(select(func.count()).where(AuthSession.id == oldest)) == 0
    assert str(session_id_of(pair)) in {
        item["id"] for item in (await client.get(SESSIONS, headers=bearer(pair))).json()
    }


async def test_deleting_the_account_removes_its_sessions_and_refresh_tokens(
    client: httpx.AsyncClient, session: AsyncSession, alice: Account, bob: Account
) -> None:
    pair = await sign_in(client)
    await refresh(client, pair["refresh_token"])
    await sign_in(client, "bob@example.com")
    assert (await client.delete(ME, headers=alice.headers)).status_code == 204
    assert await live_sessions(session, alice.user) == 0
    bobs = select(AuthSession.id).where(AuthSession.user_id == bob.user.id)
    assert await session.scalar(select(func.count()).select_from(RefreshToken)) == 1
    assert await session.scalar(select(func.count()).where(RefreshToken.session_id.in_(bobs.scalar_subquery()))) == 1
