"""Password reset by email, through a real SMTP server: the code arrives by mail, works once within 30 minutes,
burns after 5 tries, and setting the new password ends every session."""

import re
from collections.abc import AsyncIterator, Callable
from datetime import timedelta
from email.message import EmailMessage
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from pydantic import SecretStr
from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.accounts.models import PasswordResetCode
from app.accounts.service import RESET_CODE_LIFETIME, RESET_CODE_TRIES
from app.core import security
from app.core.config import Settings
from app.core.models import utcnow
from app.main import create_app
from tests.accounts.test_accounts import assert_problem, login
from tests.accounts.test_sessions import refresh, sign_in
from tests.conftest import Account, SmtpTestServer

RESET = "/api/v1/auth/password-reset"
CONFIRM = "/api/v1/auth/password-reset/confirm"
NEW_PASSWORD = "a brand new passphrase"


@pytest.fixture
async def mailing(
    settings: Settings, sessionmaker: async_sessionmaker[AsyncSession], smtp_server: SmtpTestServer
) -> AsyncIterator[httpx.AsyncClient]:
    """A client on an app that sends its mail to the test's SMTP server."""
    app = create_app(settings.model_copy(update={"smtp_url": SecretStr(smtp_server.url)}), sessionmaker=sessionmaker)
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        yield client


def body_of(message: EmailMessage) -> str:
    part = message.get_body(preferencelist=("plain",))
    assert part is not None
    content: str = part.get_content()
    return content


def code_in(message: EmailMessage) -> str:
    found = re.search(r"Your code: (\d+)", body_of(message))
    assert found is not None, body_of(message)
    return found.group(1)


async def request_code(client: httpx.AsyncClient, smtp_server: SmtpTestServer, email: str) -> str:
    before = len(smtp_server.messages)
    response = await client.post(RESET, json={"email": email})
    assert response.status_code == 202, response.text
    # The app sends after answering; by the time the in-process transport returns, it has sent.
    assert len(smtp_server.messages) == before + 1
    message = smtp_server.messages[before]
    assert message["To"] == email.lower()
    return code_in(message)


async def confirm(client: httpx.AsyncClient, email: str, code: str, password: str = NEW_PASSWORD) -> httpx.Response:
    return await client.post(CONFIRM, json={"email": email, "code": code, "new_password": password})


async def test_the_emailed_code_sets_a_new_password_and_ends_every_session(
    mailing: httpx.AsyncClient, session: AsyncSession, smtp_server: SmtpTestServer, alice: Account, settings: Settings
) -> None:
    phone = await sign_in(mailing)
    tablet = await sign_in(mailing, user_agent="RejectionTracker/1.0 (iPad)")
    code = await request_code(mailing, smtp_server, "Alice@Example.com")
    assert re.fullmatch(r"\d{8}", code)
    message = smtp_server.messages[-1]
    assert "reset" in message["Subject"].lower()
    assert "http" not in body_of(message)  # no PASSWORD_RESET_URL: the code alone
    # Stored as a keyed digest, never as the code.
    stored = await session.scalar(select(PasswordResetCode).where(PasswordResetCode.user_id == alice.user.id))
    assert stored is not None
    assert stored.digest == security.reset_code_digest(alice.user.id, code, settings)
    assert code not in stored.digest
    assert timedelta(minutes=29) < stored.expires_at - utcnow() <= RESET_CODE_LIFETIME

    assert (await confirm(mailing, "alice@example.com", code)).status_code == 204
    assert_problem(await login(mailing, "alice@example.com"), 401)
    assert (await login(mailing, "alice@example.com", NEW_PASSWORD)).status_code == 200
    for device in (phone, tablet):
        assert_problem(await refresh(mailing, device["refresh_token"]), 401)
    # Single use.
    assert_problem(await confirm(mailing, "alice@example.com", code, "yet another passphrase"), 400)
    assert (await login(mailing, "alice@example.com", NEW_PASSWORD)).status_code == 200


async def test_an_unknown_email_gets_the_same_answer_and_no_mail(
    mailing: httpx.AsyncClient, session: AsyncSession, smtp_server: SmtpTestServer, alice: Account
) -> None:
    known = await mailing.post(RESET, json={"email": "alice@example.com"})
    unknown = await mailing.post(RESET, json={"email": "nobody@example.com"})
    assert (known.status_code, unknown.status_code) == (202, 202)
    assert known.content == unknown.content == b""
    same = {"content-type", "content-length", "cache-control"}
    assert {k: v for k, v in known.headers.items() if k in same} == {
        k: v for k, v in unknown.headers.items() if k in same
    }
    assert [m["To"] for m in smtp_server.messages] == ["alice@example.com"]
    assert await session.scalar(select(func.count()).select_from(PasswordResetCode)) == 1
    assert_problem(await confirm(mailing, "nobody@example.com", "12345678"), 400)


async def test_a_code_burns_after_five_tries(
    mailing: httpx.AsyncClient, smtp_server: SmtpTestServer, alice: Account
) -> None:
    code = await request_code(mailing, smtp_server, "alice@example.com")
    wrong = f"{(int(code) + 1) % 10**8:08d}"
    for _ in range(RESET_CODE_TRIES):
        assert_problem(await confirm(mailing, "alice@example.com", wrong), 400)
    assert_problem(await confirm(mailing, "alice@example.com", code), 400)
    assert (await login(mailing, "alice@example.com")).status_code == 200


async def test_the_right_code_on_the_last_try_works(
    mailing: httpx.AsyncClient, smtp_server: SmtpTestServer, alice: Account
) -> None:
    code = await request_code(mailing, smtp_server, "alice@example.com")
    for _ in range(RESET_CODE_TRIES - 1):
        assert_problem(await confirm(mailing, "alice@example.com", "00000000" if code != "00000000" else "1"), 400)
    assert (await confirm(mailing, "alice@example.com", f" {code} ")).status_code == 204


async def test_a_code_expires_after_30_minutes(
    mailing: httpx.AsyncClient, session: AsyncSession, smtp_server: SmtpTestServer, alice: Account
) -> None:
    code = await request_code(mailing, smtp_server, "alice@example.com")
    await session.execute(
        update(PasswordResetCode)
        .where(PasswordResetCode.user_id == alice.user.id)
        .values(expires_at=utcnow() - timedelta(seconds=1))
    )
    await session.commit()
    assert_problem(await confirm(mailing, "alice@example.com", code), 400)


async def test_a_new_request_replaces_the_earlier_code(
    mailing: httpx.AsyncClient, session: AsyncSession, smtp_server: SmtpTestServer, alice: Account
) -> None:
    first = await request_code(mailing, smtp_server, "alice@example.com")
    second = await request_code(mailing, smtp_server, "alice@example.com")
    assert await session.scalar(select(func.count()).select_from(PasswordResetCode)) == 1
    if first != second:
        assert_problem(await confirm(mailing, "alice@example.com", first), 400)
    assert (await confirm(mailing, "alice@example.com", second)).status_code == 204


async def test_the_email_links_to_the_reset_page_when_one_is_set(
    settings: Settings, sessionmaker: async_sessionmaker[AsyncSession], smtp_server: SmtpTestServer, alice: Account
) -> None:
    configured = settings.model_copy(
        update={"smtp_url": SecretStr(smtp_server.url), "password_reset_url": "https://app.example.com/reset?lang=de"}
    )
    transport = httpx.ASGITransport(app=create_app(configured, sessionmaker=sessionmaker))
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        code = await request_code(client, smtp_server, "alice@example.com")
    link = next(line for line in body_of(smtp_server.messages[-1]).splitlines() if line.startswith("https://"))
    parts = urlsplit(link)
    assert (parts.netloc, parts.path) == ("app.example.com", "/reset")
    assert parse_qs(parts.query) == {"lang": ["de"], "email": ["alice@example.com"], "code": [code]}


async def test_without_mail_the_reset_is_503_and_the_confirmation_still_answers(
    client: httpx.AsyncClient, alice: Account
) -> None:
    response = await client.post(RESET, json={"email": "alice@example.com"})
    assert_problem(response, 503)
    assert "retry-after" not in response.headers
    assert_problem(await confirm(client, "alice@example.com", "12345678"), 400)


async def test_a_failing_mail_server_still_answers_202(
    settings: Settings, sessionmaker: async_sessionmaker[AsyncSession], alice: Account
) -> None:
    closed = SmtpTestServer()  # never started: nothing listens on its port
    app = create_app(settings.model_copy(update={"smtp_url": SecretStr(closed.url)}), sessionmaker=sessionmaker)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test") as client:
        assert (await client.post(RESET, json={"email": "alice@example.com"})).status_code == 202


def _confirmation(email: str, i: int) -> dict[str, Any]:
    return {"email": email, "code": f"{i:08d}", "new_password": NEW_PASSWORD}


@pytest.mark.parametrize(
    ("limit", "allowed", "path", "body"),
    [
        ({"password_reset_limit_per_email": 2}, 2, RESET, lambda i: {"email": "alice@example.com"}),
        ({"password_reset_limit_per_client": 2}, 2, RESET, lambda i: {"email": f"someone{i}@example.com"}),
        # Every code a request may send can be tried its 5 times.
        (
            {"password_reset_limit_per_email": 1},
            RESET_CODE_TRIES,
            CONFIRM,
            lambda i: _confirmation("alice@example.com", i),
        ),
        ({"password_reset_limit_per_client": 2}, 2, CONFIRM, lambda i: _confirmation(f"someone{i}@example.com", i)),
    ],
)
async def test_both_endpoints_are_rate_limited_per_address_and_per_email(
    *,
    settings: Settings,
    sessionmaker: async_sessionmaker[AsyncSession],
    smtp_server: SmtpTestServer,
    alice: Account,
    limit: dict[str, int],
    allowed: int,
    path: str,
    body: Callable[[int], dict[str, Any]],
) -> None:
    limited = settings.model_copy(update={"smtp_url": SecretStr(smtp_server.url), **limit})
    app = create_app(limited, sessionmaker=sessionmaker)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test") as client:
        statuses = [(await client.post(path, json=body(i))).status_code for i in range(allowed + 1)]
    assert 429 not in statuses[:-1]
    assert statuses[-1] == 429
