"""Database outages: what is one (a 503), what is not (a 500), and a throwaway PostgreSQL cluster stopped
or killed under a running service and started again."""

import asyncio
import errno
import socket
import sqlite3
import threading
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import asyncpg  # type: ignore[import-untyped]
import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import exc as sa_exc
from sqlalchemy.dialects.postgresql.asyncpg import AsyncAdapt_asyncpg_dbapi as pg_dbapi

from app.core.errors import install_error_handlers
from tests.servers import Service, ThrowawayPostgres, postgres_bin, running_service, throwaway_postgres, wait_until

needs_postgres = pytest.mark.skipif(postgres_bin() is None, reason="needs PostgreSQL server binaries")

pg = asyncpg.exceptions


def _from_driver(
    driver_error: Exception, adapted: type[Exception] = pg_dbapi.Error, *, invalidated: bool = False
) -> sa_exc.StatementError:
    """A driver's error as SQLAlchemy hands it on: asyncpg's, under the DB-API adapter's, under SQLAlchemy's."""
    translated = adapted(str(driver_error), driver_error)
    translated.__cause__ = driver_error
    return sa_exc.DBAPIError.instance("SELECT 1", None, translated, pg_dbapi.Error, connection_invalidated=invalidated)


def _sqlite_error(tmp: Path, kind: str) -> sa_exc.StatementError:
    """A real sqlite3 error, wrapped as SQLAlchemy wraps it."""
    try:
        if kind == "locked":
            path = tmp / "locked.db"
            holder = sqlite3.connect(path, isolation_level=None)
            holder.execute("BEGIN IMMEDIATE")
            try:
                sqlite3.connect(path, timeout=0, isolation_level=None).execute("BEGIN IMMEDIATE")
            finally:
                holder.close()
        elif kind == "cannot-open":
            sqlite3.connect(tmp / "no such directory" / "x.db")
        else:
            sqlite3.connect(":memory:").execute("SELECT * FROM connection")
    except sqlite3.Error as error:
        return sa_exc.DBAPIError.instance("SELECT 1", None, error, sqlite3.Error)
    raise AssertionError(f"sqlite3 raised nothing for {kind}")


# What reaches the handlers when the database is out of reach; those marked "seen" were seen when a
# cluster was killed with `pg_ctl stop -m immediate` under six writers and started again.
OUTAGES = {
    # seen: connecting while it is down (the pool's pre-ping reconnects, the refusal escapes unwrapped)
    "refused": ConnectionRefusedError(errno.ECONNREFUSED, "Connect call failed ('127.0.0.1', 5432)"),
    # seen: the server killed under a statement or a connect
    "reset": ConnectionResetError(errno.ECONNRESET, "Connection reset by peer"),
    # seen: a pooled connection lost under a statement; SQLAlchemy says so with connection_invalidated
    "lost": _from_driver(pg.ConnectionDoesNotExistError("closed in the middle of operation"), invalidated=True),
    # seen: connecting during crash recovery after the restart (57P03, not invalidated: no connection yet)
    "recovering": _from_driver(pg.CannotConnectNowError("the database system is not yet accepting connections")),
    "starting-up": _from_driver(pg.CannotConnectNowError("the database system is starting up")),
    "shutting-down": _from_driver(pg.CannotConnectNowError("the database system is shutting down")),
    "admin-shutdown": _from_driver(pg.AdminShutdownError("terminating due to administrator command")),
    "crash-shutdown": _from_driver(pg.CrashShutdownError("terminating because of crash of another server process")),
    "too-many": _from_driver(pg.TooManyConnectionsError("sorry, too many clients already")),
    "link-failure": _from_driver(pg.ConnectionFailureError("could not receive data"), pg_dbapi.OperationalError),
    "invalidated": _from_driver(pg.InterfaceError("cannot perform operation"), invalidated=True),
    "raw-asyncpg-lost": pg.ConnectionDoesNotExistError("connection was closed in the middle of operation"),
    "raw-asyncpg-recovering": pg.CannotConnectNowError("the database system is starting up"),
    "disconnection": sa_exc.DisconnectionError("the pool threw a dead connection away"),
    "pool-timeout": sa_exc.TimeoutError("QueuePool limit reached"),
    "connect-timeout": TimeoutError(),
    "name-unresolved": socket.gaierror(socket.EAI_NONAME, "Name or service not known"),
    "unreachable": OSError(errno.EHOSTUNREACH, "No route to host"),
    "every-address-refused": OSError("Multiple exceptions: [Errno 111] ..., [Errno 99] ..."),
}
# Unrelated errors, most of them with a connection in their message.
NOT_OUTAGES = {
    "runtime": RuntimeError("the connection pool of the mail server is exhausted"),
    "value": ValueError("bad connection string"),
    "missing-table": _from_driver(
        pg.UndefinedTableError('relation "connection" does not exist'), pg_dbapi.ProgrammingError
    ),
    "duplicate": _from_driver(
        pg.UniqueViolationError('duplicate key value violates unique constraint "connection_pkey"'),
        pg_dbapi.IntegrityError,
    ),
    "protocol-violation": _from_driver(pg.ProtocolViolationError("unexpected message on the connection")),
    "raw-asyncpg-busy": pg.InterfaceError("cannot perform operation: another operation is in progress"),
    "raw-asyncpg-query": pg.UndefinedColumnError('column "connection" does not exist'),
    "closed-by-us": sa_exc.ResourceClosedError("This Connection is closed"),
    "no-result": sa_exc.NoResultFound("No row was found when one was required (connection)"),
    "file": FileNotFoundError(errno.ENOENT, "No such file or directory", "connection.json"),
    "permission": PermissionError(errno.EACCES, "Permission denied on the connection log"),
}


async def _answer(exc: BaseException) -> httpx.Response:
    """The app's answer to a handler that raised `exc`."""
    app = FastAPI()
    install_error_handlers(app)

    @app.get("/fail")
    async def fail() -> None:
        raise exc

    transport = httpx.ASGITransport(app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        return await client.get("/fail")


@pytest.mark.parametrize("name", OUTAGES)
async def test_an_outage_is_a_503_problem_with_retry_after(name: str) -> None:
    response = await _answer(OUTAGES[name])
    assert response.status_code == 503, name
    assert response.headers["content-type"] == "application/problem+json"
    assert response.headers["retry-after"] == "5"
    assert response.json()["type"] == "urn:rejection-tracker:problem:service-unavailable"


@pytest.mark.parametrize("name", NOT_OUTAGES)
async def test_an_unrelated_error_is_a_500_even_when_it_mentions_a_connection(name: str) -> None:
    response = await _answer(NOT_OUTAGES[name])
    assert response.status_code == 500, name
    assert response.headers["content-type"] == "application/problem+json"
    assert "retry-after" not in response.headers


@pytest.mark.parametrize(("kind", "status"), [("locked", 503), ("cannot-open", 503), ("no-such-table", 500)])
async def test_sqlite_errors_by_result_code(kind: str, status: int, tmp_path: Path) -> None:
    # Locked past the busy timeout: another writer holds the file, a retry succeeds. Cannot open: its disk is gone.
    assert (await _answer(_sqlite_error(tmp_path, kind))).status_code == status


@pytest.fixture(scope="module")
def cluster() -> Iterator[ThrowawayPostgres]:
    with throwaway_postgres() as cluster:
        yield cluster


@pytest.fixture(scope="module")
def service(cluster: ThrowawayPostgres, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Service]:
    with running_service(
        cluster.url, tmp_path_factory.mktemp("outage"), DATABASE_TIMEOUT_SECONDS="2", REDIS_URL=""
    ) as service:
        yield service


def _token(service: Service, email: str = "outage@example.com") -> dict[str, str]:
    credentials = {"email": email, "password": "long enough password"}
    httpx.post(f"{service.base_url}/api/v1/auth/register", json=credentials, timeout=10)
    login = httpx.post(
        f"{service.base_url}/api/v1/auth/token",
        data={"username": credentials["email"], "password": credentials["password"]},
        timeout=10,
    )
    return {"Authorization": f"Bearer {login.json()['access_token']}"}


@needs_postgres
def test_service_answers_503_while_the_database_is_down_and_recovers(
    service: Service, cluster: ThrowawayPostgres, tmp_path: Path
) -> None:
    base = service.base_url
    auth = _token(service)
    acknowledged = []
    for i in range(5):
        created = httpx.post(f"{base}/api/v1/me/tokens", json={"name": f"before-{i}"}, headers=auth, timeout=10)
        assert created.status_code == 201
        acknowledged.append(created.json()["id"])

    cluster.stop()
    try:
        assert httpx.get(f"{base}/health", timeout=5).status_code == 200
        for method, path, body in [
            ("GET", "/ready", None),
            ("GET", "/api/v1/me", None),
            ("POST", "/api/v1/me/tokens", {"name": "during"}),
        ]:
            started = time.monotonic()
            response = httpx.request(method, f"{base}{path}", json=body, headers=auth, timeout=30)
            elapsed = time.monotonic() - started
            assert response.status_code == 503, (path, response.text)
            assert response.headers["content-type"] == "application/problem+json"
            assert response.json()["status"] == 503
            assert "retry-after" in response.headers
            assert elapsed < 10, f"{path} took {elapsed:.1f}s to fail"
        assert httpx.get(f"{base}/health", timeout=5).status_code == 200
    finally:
        cluster.start()

    wait_until(lambda: httpx.get(f"{base}/ready", timeout=5).status_code == 200, 30, "the service to recover")
    listed = httpx.get(f"{base}/api/v1/me/tokens", params={"limit": 200}, headers=auth, timeout=10)
    assert listed.status_code == 200
    stored = {item["id"] for item in listed.json()["items"]}
    # Every acknowledged write survived; the refused one was not stored.
    assert set(acknowledged) <= stored
    assert "during" not in {item["name"] for item in listed.json()["items"]}
    created = httpx.post(f"{base}/api/v1/me/tokens", json={"name": "after"}, headers=auth, timeout=10)
    assert created.status_code == 201


# The crash test's timeline, in seconds: writers log attempts, the database is killed
# (`pg_ctl stop -m immediate`: no shutdown, as a crash or an OOM kill), stays down, comes back.
WRITERS = 6
BEFORE_CRASH = 3.0
DOWN_FOR = 10.0
AFTER_RESTART = 4.0
# How long one attempt may take to be acknowledged, retries included: far more than the outage.
ATTEMPT_DEADLINE = 30.0
# A client's pause before retrying; short, so the test sees the recovery as soon as it happens.
RETRY_PAUSE = 0.05


@dataclass
class WriterLog:
    acknowledged: list[str] = field(default_factory=list)
    statuses: Counter[int] = field(default_factory=Counter)
    transport_errors: Counter[str] = field(default_factory=Counter)
    unexpected: list[tuple[int, str]] = field(default_factory=list)
    unacknowledged: list[str] = field(default_factory=list)
    replays: int = 0


def _write_until_stopped(
    *, base: str, auth: dict[str, str], challenge_id: str, marker: str, stop: threading.Event, log: WriterLog
) -> None:
    """Log attempts one after another as a phone would: each with an id of its own, retried until acknowledged."""
    with httpx.Client(base_url=base, headers=auth, timeout=10) as client:
        while not stop.is_set():
            attempt_id = str(uuid.uuid4())
            body = {
                "id": attempt_id,
                "challenge_id": challenge_id,
                "outcome": "rejected",
                "distress_before": 50,
                "distress_peak": 70,
                "notes": marker,
            }
            give_up = time.monotonic() + ATTEMPT_DEADLINE
            while True:
                if time.monotonic() > give_up:
                    log.unacknowledged.append(attempt_id)
                    return
                try:
                    response = client.post("/api/v1/attempts", json=body)
                except httpx.TransportError as exc:
                    log.transport_errors[type(exc).__name__] += 1
                    time.sleep(RETRY_PAUSE)
                    continue
                log.statuses[response.status_code] += 1
                if response.status_code == 201:
                    assert response.json()["id"] == attempt_id
                    log.acknowledged.append(attempt_id)
                    log.replays += response.headers.get("idempotent-replayed") == "true"
                    break
                if response.status_code == 503:
                    # Retry-After says 5 s; a test client retries sooner to see the recovery.
                    assert response.headers["content-type"] == "application/problem+json"
                    assert "retry-after" in response.headers
                    time.sleep(RETRY_PAUSE)
                    continue
                log.unexpected.append((response.status_code, response.text[:500]))
                break


async def _stored_ids(cluster: ThrowawayPostgres, marker: str) -> Counter[str]:
    connection = await asyncpg.connect(cluster.url.replace("+asyncpg", ""), timeout=10)
    try:
        rows = await connection.fetch("SELECT id FROM attempts WHERE notes = $1", marker)
    finally:
        await connection.close()
    return Counter(str(row["id"]) for row in rows)


@needs_postgres
def test_a_database_crash_under_concurrent_writers_loses_no_acknowledged_attempt(
    service: Service, cluster: ThrowawayPostgres
) -> None:
    base = service.base_url
    wait_until(lambda: httpx.get(f"{base}/ready", timeout=5).status_code == 200, 30, "the database")
    auth = _token(service, "crash@example.com")
    challenges = httpx.get(f"{base}/api/v1/challenges", params={"limit": 1}, headers=auth, timeout=10)
    challenge_id = challenges.json()["items"][0]["id"]
    marker = f"crash-{uuid.uuid4()}"
    stop = threading.Event()
    logs = [WriterLog() for _ in range(WRITERS)]
    common = {"base": base, "auth": auth, "challenge_id": challenge_id, "marker": marker, "stop": stop}
    writers = [
        threading.Thread(target=_write_until_stopped, kwargs={**common, "log": log}, daemon=True) for log in logs
    ]

    def acknowledged() -> int:
        return sum(len(log.acknowledged) for log in logs)

    for writer in writers:
        writer.start()
    try:
        time.sleep(BEFORE_CRASH)
        before_crash = acknowledged()
        cluster.stop("immediate")
        try:
            time.sleep(DOWN_FOR)
            during_outage = acknowledged()
        finally:
            cluster.start()
        time.sleep(AFTER_RESTART)
        after_restart = acknowledged()
    finally:
        stop.set()
        for writer in writers:
            writer.join(ATTEMPT_DEADLINE + 15)
    assert not any(writer.is_alive() for writer in writers)

    statuses = sum((log.statuses for log in logs), Counter[int]())
    transport_errors = sum((log.transport_errors for log in logs), Counter[str]())
    summary = (
        f"acknowledged {before_crash} before the crash, {during_outage} by its end, {after_restart} after the"
        f" restart, {acknowledged()} in all; statuses {dict(statuses)}; transport errors {dict(transport_errors)};"
        f" replays {sum(log.replays for log in logs)}"
    )
    print(summary)
    assert statuses[500] == 0, summary
    assert [problem for log in logs for problem in log.unexpected] == [], summary
    # Every writer's last attempt was acknowledged too: the service recovered for all of them.
    assert [attempt for log in logs for attempt in log.unacknowledged] == [], summary
    # The crash happened under load and was noticed; writes went on after it.
    assert before_crash > 0, summary
    assert statuses[503] + sum(transport_errors.values()) > 0, summary
    assert after_restart > during_outage, summary

    acknowledged_ids = [attempt for log in logs for attempt in log.acknowledged]
    assert len(set(acknowledged_ids)) == len(acknowledged_ids), "an id was acknowledged twice"
    stored = asyncio.run(_stored_ids(cluster, marker))
    missing = set(acknowledged_ids) - set(stored)
    assert not missing, f"{len(missing)} acknowledged attempts were lost; {summary}"
    assert all(count == 1 for count in stored.values())
    # Nothing was stored that no writer sent: every stored attempt was acknowledged, or was the last try of one.
    assert set(stored) == set(acknowledged_ids), summary
