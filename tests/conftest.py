"""Test fixtures: a real database built by `alembic upgrade head`, one rolled-back transaction per test.

SQLite by default; PostgreSQL when TEST_DATABASE_URL is set
(e.g. `postgresql+asyncpg://postgres@127.0.0.1:5432/rejection_tracker_test`).
"""

import asyncio
import email
import email.policy
import logging
import os
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from email.message import EmailMessage
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx
import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, AuthResult, Envelope, LoginPassword, Session
from pwdlib import PasswordHash
from pwdlib.hashers.argon2 import Argon2Hasher
from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, AsyncSession, async_sessionmaker

from app.accounts import service as accounts
from app.accounts.models import User
from app.accounts.schemas import UserCreate
from app.attempts.models import Attempt
from app.catalog.models import Category, Challenge
from app.core import security
from app.core.config import Settings
from app.core.db import create_engine, create_sessionmaker, local_date_in
from app.core.migrations import upgrade_to_head
from app.core.models import utcnow
from app.core.security import create_access_token
from app.main import create_app
from tests.servers import free_port

PASSWORD = "correct horse battery"


def is_postgres(url: str) -> bool:
    return url.startswith("postgresql")


async def admin_execute(url: str, statement: str) -> None:
    """One statement outside a transaction (CREATE / DROP DATABASE)."""
    engine = create_engine(url, isolation_level="AUTOCOMMIT")
    async with engine.connect() as conn:
        await conn.execute(text(statement))
    await engine.dispose()


@contextmanager
def scratch_database(database_url: str, folder: Path, name: str) -> Iterator[str]:
    """An empty database on the suite's backend, beside the test database: a file in `folder` on SQLite, a
    new database on the PostgreSQL server (dropped afterwards)."""
    if not is_postgres(database_url):
        yield f"sqlite+aiosqlite:///{folder / f'{name}.db'}"
        return
    database = f"rt_{name}_{uuid.uuid4().hex[:8]}"
    asyncio.run(admin_execute(database_url, f'CREATE DATABASE "{database}"'))
    try:
        yield make_url(database_url).set(database=database).render_as_string(hide_password=False)
    finally:
        asyncio.run(admin_execute(database_url, f'DROP DATABASE "{database}" WITH (FORCE)'))


async def reset_postgres(url: str) -> None:
    engine = create_engine(url)
    async with engine.begin() as conn:
        await conn.execute(text("DROP SCHEMA public CASCADE"))
        await conn.execute(text("CREATE SCHEMA public"))
    await engine.dispose()


@pytest.fixture(scope="session", autouse=True)
def cheap_password_hashing() -> Iterator[None]:
    """Argon2 with minimal cost: still real hashing, but hundreds of test accounts stay fast.

    Production parameters are unchanged; tests that start the service as a subprocess use them.
    """
    fast = PasswordHash((Argon2Hasher(time_cost=1, memory_cost=1024, parallelism=1),))
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(security, "_password_hash", fast)
        patch.setattr(security, "_DUMMY_HASH", fast.hash("dummy password for unknown emails"))
        yield


@pytest.fixture(scope="session")
def database_url(tmp_path_factory: pytest.TempPathFactory) -> str:
    url = os.environ.get("TEST_DATABASE_URL")
    if url:
        asyncio.run(reset_postgres(url))
    else:
        url = f"sqlite+aiosqlite:///{tmp_path_factory.mktemp('db') / 'test.db'}"
    upgrade_to_head(url)
    return url


@pytest.fixture(scope="session")
def settings(database_url: str) -> Settings:
    return Settings(
        environment="test",
        database_url=database_url,
        secret_key="test-secret-key-that-is-long-enough-for-hs256",
    )


@pytest.fixture(scope="session")
async def engine(settings: Settings) -> AsyncIterator[AsyncEngine]:
    engine = create_engine(settings.database_url)
    yield engine
    await engine.dispose()


@pytest.fixture
async def connection(engine: AsyncEngine) -> AsyncIterator[AsyncConnection]:
    async with engine.connect() as conn:
        transaction = await conn.begin()
        yield conn
        await transaction.rollback()


@pytest.fixture
def sessionmaker(connection: AsyncConnection) -> async_sessionmaker[AsyncSession]:
    # Every request's commit becomes a SAVEPOINT release inside the test's transaction.
    return create_sessionmaker(connection, join_transaction_mode="create_savepoint")


@pytest.fixture
async def session(sessionmaker: async_sessionmaker[AsyncSession]) -> AsyncIterator[AsyncSession]:
    async with sessionmaker() as session:
        yield session


@pytest.fixture
async def client(
    settings: Settings, sessionmaker: async_sessionmaker[AsyncSession]
) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(settings, sessionmaker=sessionmaker)
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        yield client


@dataclass
class Account:
    user: User
    token: str
    password: str = PASSWORD

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}


MakeUser = Callable[..., Awaitable[Account]]


@pytest.fixture
def make_user(session: AsyncSession, settings: Settings) -> MakeUser:
    """A factory for accounts with a valid access token."""
    counter = 0

    async def make(email: str | None = None, *, is_admin: bool = False, timezone: str = "UTC") -> Account:
        nonlocal counter
        counter += 1
        data = UserCreate(email=email or f"user{counter}@example.com", password=PASSWORD, timezone=timezone)
        user = await accounts.register(session, data, is_admin=is_admin)
        await session.commit()
        # The scopes a password sign-in gives: admin routes need `admin` on an admin's token.
        token, _ = create_access_token(user.id, settings, scopes=accounts.login_scopes(is_admin))
        return Account(user=user, token=token)

    return make


@pytest.fixture
async def alice(make_user: MakeUser) -> Account:
    return await make_user("alice@example.com")


@pytest.fixture
async def bob(make_user: MakeUser) -> Account:
    return await make_user("bob@example.com")


@pytest.fixture
async def admin(make_user: MakeUser) -> Account:
    return await make_user("admin@example.com", is_admin=True)


# The contract's Challenge shape.
CHALLENGE_FIELDS = {
    "id",
    "slug",
    "title",
    "description",
    "category",
    "difficulty",
    "tips",
    "status",
    "is_custom",
    "created_at",
    "updated_at",
}

MakeChallenge = Callable[..., Awaitable[Challenge]]
MakeAttempt = Callable[..., Awaitable[Attempt]]


@pytest.fixture
def make_challenge(session: AsyncSession) -> MakeChallenge:
    """A factory for challenges (published catalog ones unless told otherwise), creating the category if needed."""
    counter = 0

    async def make(
        *,
        difficulty: int = 3,
        category: str = "everyday",
        status: str = "published",
        owner: User | None = None,
        title: str | None = None,
        slug: str | None = None,
    ) -> Challenge:
        nonlocal counter
        counter += 1
        if await session.get(Category, category) is None:
            session.add(Category(slug=category, name=category.replace("-", " ").title(), description=""))
        challenge = Challenge(
            slug=slug or f"test-challenge-{uuid.uuid4().hex[:10]}",
            title=title or f"Ask for test thing {counter}",
            description="Ask politely; thank them whatever they answer.",
            category_slug=category,
            difficulty=difficulty,
            tips=["They said no to the request, not to you."],
            status=status,
            owner_id=owner.id if owner else None,
        )
        session.add(challenge)
        await session.commit()
        return challenge

    return make


@pytest.fixture
async def everyday(session: AsyncSession) -> Category:
    """The `everyday` category, for tests that create challenges through the API."""
    category = await session.get(Category, "everyday")
    if category is None:
        category = Category(slug="everyday", name="Everyday asks", description="Small asks of strangers.")
        session.add(category)
        await session.commit()
    return category


@pytest.fixture
def make_attempt(session: AsyncSession) -> MakeAttempt:
    """A factory that stores an attempt row directly (no API), for reading and trend tests."""

    async def make(
        user: User,
        challenge: Challenge,
        *,
        occurred_at: datetime | None = None,
        outcome: str = "rejected",
        distress_before: int = 50,
        distress_peak: int | None = 60,
        distress_after: int | None = 30,
        expected_rejection: int | None = 70,
        predicted_at: datetime | None = None,
        surprise: int | None = None,
        notes: str | None = None,
    ) -> Attempt:
        occurred_at = occurred_at or utcnow()
        attempt = Attempt(
            user_id=user.id,
            challenge_id=challenge.id,
            occurred_at=occurred_at,
            local_date=local_date_in(occurred_at, user.timezone),
            outcome=outcome,
            distress_before=distress_before,
            distress_peak=distress_peak,
            distress_after=distress_after,
            expected_rejection=expected_rejection,
            predicted_at=predicted_at,
            surprise=surprise,
            notes=notes,
            difficulty=challenge.difficulty,
            category=challenge.category_slug,
            request_hash="stored-by-test-factory",
        )
        session.add(attempt)
        await session.commit()
        return attempt

    return make


@pytest.fixture(scope="session")
def project_root() -> Path:
    return Path(__file__).resolve().parents[1]


class SmtpTestServer:
    """A real SMTP server (aiosmtpd) on 127.0.0.1 that keeps what it receives. Given a user, it demands
    AUTH (LOGIN or PLAIN) before it takes mail, and `url` carries the credentials, percent-encoded."""

    def __init__(self, user: str | None = None, password: str | None = None) -> None:
        self.port = free_port()
        self._user = user
        self._password = password or ""
        credentials = "" if user is None else f"{quote(user, safe='')}:{quote(self._password, safe='')}@"
        self.url = f"smtp://{credentials}127.0.0.1:{self.port}"
        self._received: list[tuple[frozenset[str], EmailMessage]] = []
        self._controller = Controller(
            self,
            hostname="127.0.0.1",
            port=self.port,
            server_hostname="localhost",
            authenticator=self._authenticate if user is not None else None,
            # aiosmtpd offers AUTH only after STARTTLS otherwise, and these connections are plain.
            auth_require_tls=False,
        )

    @property
    def messages(self) -> list[EmailMessage]:
        return [message for _, message in self._received]

    async def wait_for(self, to: str, timeout: float = 5) -> EmailMessage:  # noqa: ASYNC109 (a deadline per call)
        """The first message whose envelope names `to` (case-insensitively), waiting for it to arrive."""
        try:
            async with asyncio.timeout(timeout):
                while True:
                    for recipients, message in self._received:
                        if to.lower() in recipients:
                            return message
                    await asyncio.sleep(0.01)
        except TimeoutError:
            raise AssertionError(f"no mail to {to} within {timeout} s ({len(self._received)} received)") from None

    def _authenticate(
        self, server: SMTP, session: Session, envelope: Envelope, mechanism: str, data: Any
    ) -> AuthResult:
        expected = LoginPassword((self._user or "").encode(), self._password.encode())
        # handled=False: aiosmtpd then answers a failure with 535 itself instead of leaving the client waiting.
        return AuthResult(success=data == expected, handled=False)

    async def handle_MAIL(  # noqa: N802 (aiosmtpd's hook name)
        self, server: SMTP, session: Session, envelope: Envelope, address: str, mail_options: list[str]
    ) -> str:
        # aiosmtpd's own auth_required warns about plain connections on every session: the same rule, here.
        if self._user is not None and not session.authenticated:
            return "530 5.7.0 Authentication required"
        envelope.mail_from = address
        envelope.mail_options.extend(mail_options)
        return "250 OK"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:  # noqa: N802
        assert isinstance(envelope.content, bytes)
        # Line ends as in a stored mail file, not SMTP's CRLF: a text body then reads back as it was written.
        message = email.message_from_bytes(envelope.content.replace(b"\r\n", b"\n"), policy=email.policy.default)
        assert isinstance(message, EmailMessage)
        self._received.append((frozenset(r.lower() for r in envelope.rcpt_tos), message))
        return "250 Message accepted"

    def start(self) -> None:
        self._controller.start()

    def stop(self) -> None:
        self._controller.stop()


StartSmtpServer = Callable[..., SmtpTestServer]


@pytest.fixture
def start_smtp_server() -> Iterator[StartSmtpServer]:
    """Starts real SMTP servers, `start_smtp_server(user=..., password=...)` for one that demands AUTH;
    all of them stop after the test."""
    servers: list[SmtpTestServer] = []
    # aiosmtpd's debug lines quote every session, codes included: they are the test server's, not the service's logs.
    server_log = logging.getLogger("mail.log")
    level = server_log.level
    server_log.setLevel(logging.WARNING)

    def start(*, user: str | None = None, password: str | None = None) -> SmtpTestServer:
        server = SmtpTestServer(user, password)
        server.start()
        servers.append(server)
        return server

    try:
        yield start
    finally:
        for server in servers:
            server.stop()
        server_log.setLevel(level)


@pytest.fixture
def smtp_server(start_smtp_server: StartSmtpServer) -> SmtpTestServer:
    """A real SMTP server without AUTH: put its `url` in SMTP_URL, read the mail with `await wait_for(to)`."""
    return start_smtp_server()
