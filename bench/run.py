"""The benchmark harness: the service against a minimal baseline, on PostgreSQL, under wrk.

    make bench                      # .venv/bin/python -m bench.run          (~5 minutes)
    make bench-scale                # .venv/bin/python -m bench.run --scale  (1,000,000 attempts, ~4 minutes)

Starts PostgreSQL if it is not running, (re)creates its own databases (rt_bench,
rt_bench_baseline, rt_bench_scale, rt_bench_scale_small; nothing else is touched), seeds users and attempts
with COPY, starts `rejection-tracker serve --workers 2` and the baseline app
(bench/baseline_app.py, also 2 workers), drives each with wrk on loopback in bounded
runs (fixed duration and connections), and writes bench/RESULTS.md (and the raw
figures to bench/results.json). Baseline and service runs alternate, in the same
session, so their ratio holds on a noisy machine.
"""

import argparse
import asyncio
import json
import os
import platform
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack, contextmanager
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import numpy as np
from sqlalchemy import insert

from app.accounts.models import User
from app.catalog.models import Category, Challenge
from app.core.config import Settings
from app.core.db import create_engine, create_sessionmaker, unit_of_work
from app.core.migrations import upgrade_to_head
from app.core.security import create_access_token, hash_password
from app.models import Base
from app.progress import stats
from bench import seed

ROOT = Path(__file__).resolve().parents[1]
BENCH = ROOT / "bench"
BIN = Path(sys.executable).parent
PG_HOST, PG_PORT = "127.0.0.1", 5432
ADMIN_DSN = f"postgresql://postgres@{PG_HOST}:{PG_PORT}/postgres"
WORKERS = 2
SECRET_KEY = "bench-secret-key-" + "x" * 32
PASSWORD = "correct horse battery staple"
WRITERS = 100  # users whose tokens the POST runs take in turn
MIN_LOOKERS = 8  # users of the log-then-look runs: one per connection, at least this many
LOOKER_ATTEMPTS, LOOKER_DAYS = 1_000, 100  # each looker's history before the runs
# Other practisers with the lookers' history, whom no run reads: a service's tables hold many users, and with the
# trend users alone the one with 100,000 attempts owned a quarter of `session_stats`, so PostgreSQL scanned the whole
# table for that user's rows instead of taking the index (3.9 against 3.1 ms for the trend's statement).
CROWD_USERS = 300
# The trend users: role -> (attempts, days they span).
TREND_USERS = {"trend1k": (1_000, 100), "trend100k": (100_000, 1_000)}

# Targets from issues 7 and 12, as ratios.
POST_THROUGHPUT_MIN = 0.70  # service POST / baseline POST
POST_P99_MAX = 3.0  # service POST p99 / baseline p99
LOG_LOOK_THROUGHPUT_MIN = 0.50  # log then look (POST and GET /me/trend together) / baseline POST
LOG_LOOK_P99_MAX = 3.0  # log then look p99 / baseline POST p99
TREND_THROUGHPUT_MIN = 0.25  # trend (1,000 attempts) / baseline POST
TREND_SCALE_MAX = 2.0  # trend p50, 100,000 attempts over 1,000 days / 1,000 over 100 days
SCALE_MAX = 1.25  # p50 with 1,000,000 attempts in the database / with 10,000
RSS_MAX_MB = 200.0


def pg_url(database: str) -> str:
    return f"postgresql+asyncpg://postgres@{PG_HOST}:{PG_PORT}/{database}"


# --- PostgreSQL ------------------------------------------------------------------------


async def _pg_ready() -> bool:
    try:
        conn = await asyncpg.connect(ADMIN_DSN, timeout=2)
    except (OSError, asyncpg.PostgresError):
        return False
    await conn.close()
    return True


def ensure_postgres() -> None:
    """Start the local cluster (Debian's pg_ctlcluster, else the service script) when nothing answers."""
    if asyncio.run(_pg_ready()):
        return
    print("PostgreSQL is not answering: starting it", flush=True)
    clusters = subprocess.run(["pg_lsclusters", "-h"], capture_output=True, text=True, check=False)
    started = False
    for line in clusters.stdout.splitlines():
        version, name = line.split()[:2]
        started = subprocess.run(["pg_ctlcluster", version, name, "start"], check=False).returncode == 0 or started
    if not started:
        subprocess.run(["service", "postgresql", "start"], check=False)
    deadline = time.monotonic() + 60
    while not asyncio.run(_pg_ready()):
        if time.monotonic() > deadline:
            raise SystemExit(f"PostgreSQL does not answer at {PG_HOST}:{PG_PORT}")
        time.sleep(1)


async def recreate_database(name: str) -> None:
    assert re.fullmatch(r"rt_bench\w*", name), name  # only ever our own databases
    conn = await asyncpg.connect(ADMIN_DSN)
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await conn.execute(f'CREATE DATABASE "{name}"')
    finally:
        await conn.close()


async def database_size(name: str) -> int:
    conn = await asyncpg.connect(ADMIN_DSN)
    try:
        size: int = await conn.fetchval("SELECT pg_database_size($1)", name)
        return size
    finally:
        await conn.close()


# --- seeding -----------------------------------------------------------------------------


@dataclass
class Fixture:
    """What the runs need from a seeded service database."""

    challenge_id: str
    writer_ids: list[uuid.UUID] = field(default_factory=list)
    writer_tokens: list[str] = field(default_factory=list)  # access tokens (JWT)
    writer_api_tokens: list[str] = field(default_factory=list)
    looker_ids: list[uuid.UUID] = field(default_factory=list)
    looker_tokens: list[str] = field(default_factory=list)
    users: dict[str, str] = field(default_factory=dict)  # role -> access token
    cells: dict[str, int] = field(default_factory=dict)  # role -> its rows in session_stats
    login_email: str = ""


async def prepare_baseline(database: str) -> str:
    """The baseline database: our tables without migrations (so without triggers), one user, one challenge."""
    engine = create_engine(pg_url(database))
    async with engine.begin() as conn:
        await conn.run_sync(Base.metadata.create_all)
        user_id, challenge_id = uuid.uuid4(), uuid.uuid4()
        await conn.execute(insert(User).values(id=user_id, email="baseline@example.com", password_hash="!"))
        await conn.execute(insert(Category).values(slug="everyday", name="Everyday", description=""))
        await conn.execute(
            insert(Challenge).values(
                id=challenge_id,
                slug="baseline",
                title="Baseline",
                description="-",
                category_slug="everyday",
                difficulty=3,
                tips=[],
                status="published",
            )
        )
    await engine.dispose()
    return str(challenge_id)


async def seed_catalog(database: str) -> None:
    from app.catalog import importer

    engine = create_engine(pg_url(database))
    async with unit_of_work(create_sessionmaker(engine)) as session:
        await importer.seed_catalog(session)
    await engine.dispose()


def access_token(user_id: uuid.UUID) -> str:
    settings = Settings(environment="production", secret_key=SECRET_KEY, access_token_expire_minutes=24 * 60)
    return create_access_token(user_id, settings)[0]


async def prepare_service(
    database: str, trend_users: dict[str, tuple[int, int | None]], *, lookers: int = 0, crowd: int = 0
) -> Fixture:
    """The shipped catalog, writers with tokens, users with `trend_users` histories (attempts over days),
    and `lookers` and `crowd` users with LOOKER_ATTEMPTS each, on a migrated schema."""
    url = pg_url(database)
    await seed_catalog(database)
    password_hash = hash_password(PASSWORD)  # production Argon2 parameters, for the login run
    conn = await asyncpg.connect(seed.asyncpg_dsn(url))
    try:
        challenges = await seed.catalog_challenges(conn)
        writers = await seed.add_users(conn, WRITERS, prefix="writer", password_hash=password_hash)
        fixture = Fixture(challenge_id=str(challenges[0].id), login_email="writer0@example.com")
        fixture.writer_ids = writers
        fixture.writer_tokens = [access_token(u) for u in writers]
        fixture.writer_api_tokens = await seed.add_api_tokens(conn, writers)
        for role, (n, days) in trend_users.items():
            (user_id,) = await seed.add_users(conn, 1, prefix=role, password_hash=password_hash)
            await seed.add_attempts(conn, [user_id], n, challenges, days=days)
            fixture.users[role] = access_token(user_id)
            fixture.cells[role] = await conn.fetchval("SELECT count(*) FROM session_stats WHERE user_id = $1", user_id)
        if lookers:
            fixture.looker_ids = await seed.add_users(conn, lookers, prefix="looker", password_hash=password_hash)
            await seed.add_attempts(conn, fixture.looker_ids, LOOKER_ATTEMPTS, challenges, seed=12, days=LOOKER_DAYS)
            fixture.looker_tokens = [access_token(u) for u in fixture.looker_ids]
        if crowd:
            others = await seed.add_users(conn, crowd, prefix="crowd", password_hash="!")
            await seed.add_attempts(conn, others, LOOKER_ATTEMPTS, challenges, seed=13, days=LOOKER_DAYS)
        await conn.execute("VACUUM ANALYZE")
    finally:
        await conn.close()
    return fixture


# --- processes -------------------------------------------------------------------------


@dataclass
class Server:
    name: str
    url: str
    process: subprocess.Popen[bytes]

    def worker_rss_mb(self) -> list[float]:
        """Resident memory of each worker process (the children of uvicorn's supervisor)."""
        return [rss / 1024 for pid in _children(self.process.pid) if (rss := _worker_rss_kb(pid)) is not None]


def _children(pid: int) -> list[int]:
    try:
        return [int(child) for child in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
    except OSError:
        return []


def _worker_rss_kb(pid: int) -> int | None:
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ")
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return None
    # uvicorn's workers are spawned interpreters; multiprocessing's resource tracker is not one.
    if b"spawn_main" not in cmdline or b"resource_tracker" in cmdline:
        return None
    match = re.search(r"^VmRSS:\s+(\d+) kB", status, re.MULTILINE)
    return int(match.group(1)) if match else None


def free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@contextmanager
def server(name: str, command: list[str], env: dict[str, str], health_path: str, logs: Path) -> Iterator[Server]:
    port = free_port()
    log = (logs / f"{name}.log").open("wb")
    process = subprocess.Popen(
        [*command, "--port", str(port)],
        cwd=ROOT,
        env={**os.environ, **env},
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,  # its own process group: stopped as one, workers included
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            if process.poll() is not None:
                raise SystemExit(f"{name} exited; see {log.name}")
            try:
                if httpx.get(url + health_path, timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                raise SystemExit(f"{name} did not start; see {log.name}")
            time.sleep(0.2)
        yield Server(name, url, process)
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
        log.close()


def service_env(database: str) -> dict[str, str]:
    return {
        "DATABASE_URL": pg_url(database),
        "ENVIRONMENT": "production",
        "SECRET_KEY": SECRET_KEY,
        "ACCESS_TOKEN_EXPIRE_MINUTES": str(24 * 60),
        "REDIS_URL": "redis://127.0.0.1:6379/15",
        # The login run measures Argon2, not the rate limiter.
        "LOGIN_LIMIT_PER_CLIENT": str(10**9),
        "LOGIN_LIMIT_PER_ACCOUNT": str(10**9),
    }


def start_service(database: str, logs: Path, name: str = "service") -> Any:
    return server(name, _serve_command(WORKERS), service_env(database), "/ready", logs)


def start_baseline(database: str, logs: Path) -> Any:
    command = [
        str(BIN / "uvicorn"),
        "bench.baseline_app:app",
        "--workers",
        str(WORKERS),
        "--no-access-log",
        "--log-level",
        "warning",
    ]
    return server("baseline", command, {"DATABASE_URL": pg_url(database)}, "/openapi.json", logs)


# --- wrk ---------------------------------------------------------------------------------


def _busy_and_total_ticks() -> tuple[int, int]:
    user, nice, system, idle, iowait, irq, softirq, steal = map(int, Path("/proc/stat").read_text().split()[1:9])
    busy = user + nice + system + irq + softirq
    return busy, busy + idle + iowait + steal


def settle(*, idle_below: float = 0.15, window: float = 0.5, limit: float = 60.0) -> float:
    """Wait until the machine is nearly idle, so a run does not pay for the last one's leftovers.

    Requests wrk gave up on are still served when it stops (a windowed trend queued behind
    others takes seconds), and PostgreSQL writes back what a run dirtied; either would be
    counted against the next run. Returns the seconds it waited.
    """
    began = time.monotonic()
    while time.monotonic() < began + limit:
        busy_before, total_before = _busy_and_total_ticks()
        time.sleep(window)
        busy_after, total_after = _busy_and_total_ticks()
        if busy_after - busy_before <= idle_below * max(total_after - total_before, 1):
            break
    return time.monotonic() - began


@dataclass
class Run:
    label: str
    requests: int
    seconds: float
    p50_ms: float
    p90_ms: float
    p99_ms: float
    errors: int
    connections: int
    posts: int | None = None  # POSTs answered, when the script mixes them with GETs (log then look)

    @property
    def rps(self) -> float:
        return self.requests / self.seconds


@dataclass
class Wrk:
    duration: int
    connections: int
    threads: int
    workdir: Path

    def run(
        self,
        label: str,
        url: str,
        script: str,
        *,
        tokens: list[str] | None = None,
        connections: int | None = None,
        threads: int | None = None,
        duration: int | None = None,
        wait_for_idle: bool = True,
        **env: str,
    ) -> Run:
        connections = connections or self.connections
        threads = min(threads or self.threads, connections)
        tokens_file = self.workdir / f"tokens-{uuid.uuid4().hex}.txt"
        tokens_file.write_text("\n".join(tokens or []) + "\n")
        command = [
            "wrk",
            f"-t{threads}",
            f"-c{connections}",
            f"-d{duration or self.duration}s",
            "--timeout",
            "10s",
            "-s",
            str(BENCH / "wrk" / script),
            url,
        ]
        environment = {
            **os.environ,
            "BENCH_LUA_DIR": str(BENCH / "wrk"),
            "BENCH_TOKENS_FILE": str(tokens_file),
            "BENCH_THREADS": str(threads),
            "BENCH_RUN_ID": uuid.uuid4().hex[:12],
            **env,
        }
        waited = settle() if wait_for_idle else 0.0
        done = subprocess.run(command, env=environment, capture_output=True, text=True, check=True)
        tokens_file.unlink()
        line = next(x for x in done.stdout.splitlines() if x.startswith("BENCH_JSON "))
        raw = json.loads(line.removeprefix("BENCH_JSON "))
        errors = sum(raw[k] for k in raw if k.startswith("errors_"))
        result = Run(
            label=label,
            requests=raw["requests"],
            seconds=raw["duration_us"] / 1e6,
            p50_ms=raw["p50_us"] / 1e3,
            p90_ms=raw["p90_us"] / 1e3,
            p99_ms=raw["p99_us"] / 1e3,
            errors=errors,
            connections=connections,
            posts=raw.get("posts"),
        )
        print(
            f"  {label:<44} {result.rps:>8.0f} req/s  p50 {result.p50_ms:>7.2f} ms  "
            f"p99 {result.p99_ms:>7.2f} ms  errors {errors}" + (f"  (waited {waited:.0f} s for idle)" * (waited >= 2)),
            flush=True,
        )
        return result


# --- the runs ------------------------------------------------------------------------------


def machine() -> dict[str, str]:
    cpu = "unknown CPU"
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            cpu = line.split(":", 1)[1].strip()
            break
    memory_kb = int(re.search(r"MemTotal:\s+(\d+)", Path("/proc/meminfo").read_text()).group(1))  # type: ignore[union-attr]
    pg = subprocess.run(
        ["psql", "-h", PG_HOST, "-U", "postgres", "-Atc", "SHOW server_version"],
        capture_output=True,
        text=True,
        check=False,
    ).stdout.strip()
    wrk_version = subprocess.run(["wrk", "--version"], capture_output=True, text=True, check=False).stdout
    return {
        "cpu": f"{cpu}, {os.cpu_count()} cores",
        "memory": f"{memory_kb / 1024 / 1024:.1f} GiB",
        "os": f"{platform.system()} {platform.release()}",
        "python": platform.python_version(),
        "postgresql": pg or "unknown",
        "wrk": wrk_version.split(" [")[0].strip() or "wrk",
        # The trend's figures depend on it: np.sort and np.partition, the faster of which reads Sen's slopes out of
        # up to 20,000, differ by up to ten times from one CPU to the next (app/progress/stats.py).
        "numpy": f"NumPy {np.__version__} ({', '.join(np.show_config(mode='dicts')['SIMD Extensions']['found'])};"
        f" order statistics by {'np.sort' if stats._SELECT is stats._sorting else 'np.partition'})",
        "date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
    }


async def count_attempts(database: str) -> int:
    return (await count_rows(database))[0]


async def count_rows(database: str, user_ids: list[uuid.UUID] | None = None) -> tuple[int, int, int]:
    """Attempts, idempotency records, and distinct keys among the records (of `user_ids` only, if given)."""
    conn = await asyncpg.connect(seed.asyncpg_dsn(pg_url(database)))
    try:
        if user_ids is None:
            row = await conn.fetchrow(
                "SELECT (SELECT count(*) FROM attempts), count(*), count(DISTINCT (user_id, key)) "
                "FROM idempotency_records"
            )
        else:
            row = await conn.fetchrow(
                "SELECT (SELECT count(*) FROM attempts WHERE user_id = ANY($1::uuid[])), count(*), "
                "count(DISTINCT (user_id, key)) FROM idempotency_records WHERE user_id = ANY($1::uuid[])",
                user_ids,
            )
        return row[0], row[1], row[2]
    finally:
        await conn.close()


def integrity(before: tuple[int, int, int], after: tuple[int, int, int], runs: list[Run]) -> dict[str, Any]:
    """Every answered POST stored once, under its own key; wrk does not count requests still in flight
    when a run ends, but the service may have stored them, so up to one per connection per run more."""
    stored, records, keys = (a - b for a, b in zip(after, before, strict=True))
    answered = sum(r.requests if r.posts is None else r.posts for r in runs)
    in_flight = sum(r.connections for r in runs)
    ok = stored == records == keys and answered <= stored <= answered + in_flight
    return {"answered": answered, "stored": stored, "records": records, "in_flight_max": in_flight, "ok": ok}


def trend_etag(url: str, token: str) -> str:
    response = httpx.get(f"{url}/api/v1/me/trend", headers={"Authorization": f"Bearer {token}"}, timeout=30)
    response.raise_for_status()
    return response.headers["ETag"]


def main_runs(args: argparse.Namespace, wrk: Wrk, logs: Path) -> dict[str, Any]:
    ensure_postgres()
    print("Preparing databases rt_bench and rt_bench_baseline …", flush=True)
    asyncio.run(recreate_database("rt_bench_baseline"))
    asyncio.run(recreate_database("rt_bench"))
    baseline_challenge = asyncio.run(prepare_baseline("rt_bench_baseline"))
    upgrade_to_head(pg_url("rt_bench"))
    lookers = max(MIN_LOOKERS, args.connections)
    began = time.monotonic()
    fixture = asyncio.run(prepare_service("rt_bench", dict(TREND_USERS), lookers=lookers, crowd=CROWD_USERS))
    seed_seconds = round(time.monotonic() - began, 1)
    runs: dict[str, list[Run]] = {}

    def keep(key: str, run: Run) -> None:
        runs.setdefault(key, []).append(run)

    with start_baseline("rt_bench_baseline", logs) as baseline, start_service("rt_bench", logs) as service:
        post_base = f"{baseline.url}/attempts"
        post_service = f"{service.url}/api/v1/attempts"
        trend = f"{service.url}/api/v1/me/trend"

        def log_then_look(label: str, **options: Any) -> Run:
            # One wrk thread per connection: the script alternates per thread, so per connection.
            connections = options.pop("connections", None) or wrk.connections
            return wrk.run(
                label,
                f"{service.url}/api/v1",
                "log_then_look.lua",
                tokens=fixture.looker_tokens,
                connections=connections,
                threads=connections,
                BENCH_CHALLENGE_ID=fixture.challenge_id,
                **options,
            )

        print("Warming up …", flush=True)
        wrk.run("warm-up baseline", post_base, "post_attempt.lua", duration=3, BENCH_CHALLENGE_ID=baseline_challenge)
        wrk.run(
            "warm-up service",
            post_service,
            "post_attempt.lua",
            duration=3,
            tokens=fixture.writer_tokens,
            BENCH_CHALLENGE_ID=fixture.challenge_id,
        )
        for role in TREND_USERS:
            wrk.run(f"warm-up trend {role}", trend, "get.lua", duration=2, tokens=[fixture.users[role]])
        log_then_look("warm-up log then look", duration=2)
        before = asyncio.run(count_rows("rt_bench", fixture.writer_ids))
        looks_before = asyncio.run(count_rows("rt_bench", fixture.looker_ids))
        post_runs: list[Run] = []
        for round_number in range(1, args.rounds + 1):
            print(f"Round {round_number} of {args.rounds}:", flush=True)
            keep(
                "baseline_post",
                wrk.run(
                    "baseline POST /attempts", post_base, "post_attempt.lua", BENCH_CHALLENGE_ID=baseline_challenge
                ),
            )
            run = wrk.run(
                "service POST /attempts (JWT, 100 users)",
                post_service,
                "post_attempt.lua",
                tokens=fixture.writer_tokens,
                BENCH_CHALLENGE_ID=fixture.challenge_id,
            )
            post_runs.append(run)
            keep("service_post", run)
            keep(
                "trend_1k",
                wrk.run("service GET /me/trend (1,000 attempts)", trend, "get.lua", tokens=[fixture.users["trend1k"]]),
            )
            keep(
                "trend_100k",
                wrk.run(
                    "service GET /me/trend (100,000 attempts)", trend, "get.lua", tokens=[fixture.users["trend100k"]]
                ),
            )
            keep("log_then_look", log_then_look(f"log then look ({lookers} users)"))
        look_runs = runs["log_then_look"]
        print("Single runs:", flush=True)
        for key, label, tokens in (
            ("service_post_api_token", "service POST /attempts (API token, 100 users)", fixture.writer_api_tokens),
            ("service_post_one_user", "service POST /attempts (JWT, 1 user)", fixture.writer_tokens[:1]),
        ):
            run = wrk.run(
                label, post_service, "post_attempt.lua", tokens=tokens, BENCH_CHALLENGE_ID=fixture.challenge_id
            )
            post_runs.append(run)
            keep(key, run)
        posts = integrity(before, asyncio.run(count_rows("rt_bench", fixture.writer_ids)), post_runs)
        looks = integrity(looks_before, asyncio.run(count_rows("rt_bench", fixture.looker_ids)), look_runs)
        _read_runs(wrk, service, fixture, keep)
        rss = {"service": service.worker_rss_mb(), "baseline": baseline.worker_rss_mb()}
    scale_out = two_instances(wrk, logs, fixture)
    return {
        "runs": {k: [asdict(r) | {"rps": r.rps} for r in v] for k, v in runs.items()},
        "scale_out": scale_out,
        "rss_mb": rss,
        "posts": posts,
        "log_then_look": looks | {"users": lookers},
        "trend_users": {
            role: {"attempts": n, "days": days, "cells": fixture.cells[role]} for role, (n, days) in TREND_USERS.items()
        },
        "seed_seconds": seed_seconds,
        "rounds": args.rounds,
    }


def _read_runs(wrk: Wrk, service: Server, fixture: Fixture, keep: Callable[[str, Run], None]) -> None:
    """The single read runs: 304, a trend window, the attempts list, GET /me with both kinds of token, login."""
    trend = f"{service.url}/api/v1/me/trend"
    etag = trend_etag(service.url, fixture.users["trend1k"])
    if etag:
        keep(
            "trend_1k_304",
            wrk.run(
                "service GET /me/trend, If-None-Match → 304",
                trend,
                "get.lua",
                tokens=[fixture.users["trend1k"]],
                BENCH_IF_NONE_MATCH=etag,
            ),
        )
    keep(
        "trend_window_1k",
        wrk.run(
            "service GET /me/trend?since=… (1,000)",
            trend,
            "get.lua",
            tokens=[fixture.users["trend1k"]],
            BENCH_UNIQUE_SINCE="1",
        ),
    )
    keep(
        "attempts_list",
        wrk.run(
            "service GET /attempts (first page of 50)",
            f"{service.url}/api/v1/attempts",
            "get.lua",
            tokens=[fixture.users["trend1k"]],
        ),
    )
    keep(
        "me_jwt",
        wrk.run("service GET /me (JWT)", f"{service.url}/api/v1/me", "get.lua", tokens=fixture.writer_tokens),
    )
    keep(
        "me_api_token",
        wrk.run("service GET /me (API token)", f"{service.url}/api/v1/me", "get.lua", tokens=fixture.writer_api_tokens),
    )
    keep(
        "login",
        wrk.run(
            "service POST /auth/token (Argon2)",
            f"{service.url}/api/v1/auth/token",
            "login.lua",
            connections=4,
            BENCH_EMAIL=fixture.login_email,
            BENCH_PASSWORD=PASSWORD,
        ),
    )


def two_instances(wrk: Wrk, logs: Path, fixture: Fixture) -> dict[str, Any]:
    """Two separate `serve` processes (1 worker each) on rt_bench, each under its own wrk at once."""
    print("Two instances, one database:", flush=True)
    before = asyncio.run(count_rows("rt_bench"))
    with (
        server("instance-a", _serve_command(1), service_env("rt_bench"), "/ready", logs) as a,
        server("instance-b", _serve_command(1), service_env("rt_bench"), "/ready", logs) as b,
    ):
        half = len(fixture.writer_tokens) // 2
        jobs = [
            (a, fixture.writer_tokens[:half]),
            (b, fixture.writer_tokens[half:]),
        ]
        with ThreadPoolExecutor(len(jobs)) as pool:
            results = list(
                pool.map(
                    lambda job: wrk.run(
                        f"{job[0].name} POST /attempts",
                        f"{job[0].url}/api/v1/attempts",
                        "post_attempt.lua",
                        tokens=job[1],
                        connections=wrk.connections // 2,
                        BENCH_CHALLENGE_ID=fixture.challenge_id,
                    ),
                    jobs,
                )
            )
    return {
        "runs": [asdict(r) | {"rps": r.rps} for r in results],
        "errors": sum(r.errors for r in results),
        "posts": integrity(before, asyncio.run(count_rows("rt_bench")), results),
    }


def _serve_command(workers: int) -> list[str]:
    return [str(BIN / "rejection-tracker"), "serve", "--workers", str(workers)]


def scale_runs(args: argparse.Namespace, wrk: Wrk, logs: Path) -> dict[str, Any]:
    """The same kind of user read with 10,000 and with 1,000,000 attempts in the database.

    Both databases are served at once and their runs alternate, round by round, so a
    machine that slows down during the run slows both sides alike.
    """
    ensure_postgres()
    sizes = {"10k": ("rt_bench_scale_small", 0), "1m": ("rt_bench_scale", 9_900)}
    results: dict[str, Any] = {}
    tokens: dict[str, str] = {}
    for label, (database, extra_users) in sizes.items():
        asyncio.run(recreate_database(database))
        print(f"{database}: 100 users × 100 attempts …", flush=True)
        upgrade_to_head(pg_url(database))
        tokens[label] = asyncio.run(prepare_service(database, {"reader": (100, None)})).users["reader"]
        asyncio.run(_add_crowd(database, users=99, per_user=100))
        if extra_users:
            print(f"{database}: {extra_users:,} more users × 100 attempts …", flush=True)
            began = time.monotonic()
            asyncio.run(_add_crowd(database, users=extra_users, per_user=100))
            results["seed_seconds"] = round(time.monotonic() - began, 1)
        results[label] = {
            "attempts_in_database": asyncio.run(count_attempts(database)),
            "database_bytes": asyncio.run(database_size(database)),
        }
    requests = (
        ("trend", "GET /me/trend", "/api/v1/me/trend", {}),
        ("trend_window", "GET /me/trend?since=…", "/api/v1/me/trend", {"BENCH_UNIQUE_SINCE": "1"}),
        ("attempts", "GET /attempts (first page)", "/api/v1/attempts", {}),
    )
    with ExitStack() as stack:
        services = {
            label: stack.enter_context(start_service(database, logs, name=f"service-{label}"))
            for label, (database, _) in sizes.items()
        }
        print("Warming up …", flush=True)
        for label, service in services.items():
            for _, _, path, _ in requests:
                wrk.run(f"warm-up {label}", service.url + path, "get.lua", tokens=[tokens[label]], duration=2)
        runs: dict[str, dict[str, list[Run]]] = {label: {} for label in sizes}
        for round_number in range(1, args.rounds + 1):
            print(f"Round {round_number} of {args.rounds}:", flush=True)
            for key, name, path, env in requests:
                for label, service in services.items():
                    run = wrk.run(
                        f"{name}, {label} in the database", service.url + path, "get.lua", tokens=[tokens[label]], **env
                    )
                    runs[label].setdefault(key, []).append(run)
        for label, service in services.items():
            results[label] |= {key: [asdict(r) for r in kept] for key, kept in runs[label].items()}
            results[label]["rss_mb"] = service.worker_rss_mb()
    results["rounds"] = args.rounds
    return results


async def _add_crowd(database: str, *, users: int, per_user: int) -> None:
    conn = await asyncpg.connect(seed.asyncpg_dsn(pg_url(database)))
    try:
        challenges = await seed.catalog_challenges(conn)
        prefix = f"crowd-{uuid.uuid4().hex[:6]}-"
        ids = await seed.add_users(conn, users, prefix=prefix, password_hash="!")
        await seed.add_attempts(conn, ids, per_user, challenges, seed=users)
        await conn.execute("VACUUM ANALYZE")
        # The bulk load's dirty pages are written now, not by a checkpoint during the runs.
        await conn.execute("CHECKPOINT")
    finally:
        await conn.close()


# --- the report ----------------------------------------------------------------------------


def _median(runs: list[dict[str, Any]], key: str) -> float:
    return statistics.median(r[key] for r in runs)


def _verdict(ok: bool) -> str:
    return "✅ met" if ok else "❌ missed"


def render(results: dict[str, Any]) -> str:
    lines = [
        "# Benchmark results",
        "",
        "Written by `bench/run.py`; the raw figures are in `bench/results.json`. Targets are from issues 7 and 12",
        "and are ratios against the baseline (bench/baseline_app.py: the same attempt row inserted by a bare",
        "FastAPI + async SQLAlchemy + asyncpg app, no auth or checks), run in the same session on the same machine.",
        "",
    ]
    main = results.get("main")
    if main:
        lines += _render_main(main)
    scale = results.get("scale")
    if scale:
        lines += _render_scale(scale)
    return "\n".join(lines) + "\n"


def _machine_lines(m: dict[str, str]) -> list[str]:
    return [
        f"- Machine: {m['cpu']}, {m['memory']} RAM, {m['os']}; Python {m['python']}, PostgreSQL {m['postgresql']}, "
        f"{m['wrk']}, {m.get('numpy', 'NumPy')}; {m['date']}.",
    ]


SEEDING = (
    "Seeded with COPY (bench/seed.py) as a practiser's history: one session a day, on one or two difficulty "
    "levels next to a current level that climbs slowly (from about 2 to between 5 and 8 over a long history, "
    "wandering around that line over a few weeks) and in one to three categories, mostly the user's three "
    "favourites, so a day fills a handful of the 60 (difficulty, category) cells of the catalog, never all of "
    "them; outcomes in realistic shares, peak distress drifting down with practice (higher above the current "
    "level) with noise. `session_stats` is rebuilt from the copied attempts with the `CELL_SUMS` definitions "
    "of app/progress/service.py (the COPY runs with triggers off)."
)


def _render_main(main: dict[str, Any]) -> list[str]:
    runs = main["runs"]
    cfg = main["config"]
    users = main["trend_users"]
    look = main["log_then_look"]
    base_rps = _median(runs["baseline_post"], "rps")
    base_p99 = _median(runs["baseline_post"], "p99_ms")
    post_rps = _median(runs["service_post"], "rps")
    post_p99 = _median(runs["service_post"], "p99_ms")
    look_rps = _median(runs["log_then_look"], "rps")
    look_p99 = _median(runs["log_then_look"], "p99_ms")
    look_errors = sum(r["errors"] for r in runs["log_then_look"])
    trend_rps = _median(runs["trend_1k"], "rps")
    trend_p50 = _median(runs["trend_1k"], "p50_ms")
    trend100_p50 = _median(runs["trend_100k"], "p50_ms")
    post_errors = sum(
        r["errors"] for k in ("service_post", "service_post_api_token", "service_post_one_user") for r in runs[k]
    )
    rss = main["rss_mb"]
    rss_max = max(rss["service"])
    login_rps = _median(runs["login"], "rps")
    small, large = users["trend1k"], users["trend100k"]
    base_errors = sum(r["errors"] for r in runs["baseline_post"])
    targets = [
        ("Baseline POST errors = 0 (else the ratios below mean nothing)", str(base_errors), base_errors == 0),
        (
            f"POST /attempts throughput ≥ {POST_THROUGHPUT_MIN:.0%} of baseline",
            f"{post_rps / base_rps:.0%}",
            post_rps / base_rps >= POST_THROUGHPUT_MIN,
        ),
        ("POST /attempts p99 ≤ 3× baseline p99", f"{post_p99 / base_p99:.2f}×", post_p99 / base_p99 <= POST_P99_MAX),
        ("POST /attempts errors = 0", str(post_errors), post_errors == 0),
        (
            "Every POST stored once, under its own key (answered / stored)",
            f"{main['posts']['answered']:,} / {main['posts']['stored']:,}",
            main["posts"]["ok"],
        ),
        (
            f"Log then look (POST and GET /me/trend in turn) throughput ≥ {LOG_LOOK_THROUGHPUT_MIN:.0%} of "
            "baseline POST",
            f"{look_rps / base_rps:.0%}",
            look_rps / base_rps >= LOG_LOOK_THROUGHPUT_MIN,
        ),
        (
            "Log then look p99 ≤ 3× baseline POST p99",
            f"{look_p99 / base_p99:.2f}×",
            look_p99 / base_p99 <= LOG_LOOK_P99_MAX,
        ),
        ("Log then look errors = 0", str(look_errors), look_errors == 0),
        (
            "Log then look: every POST stored once (answered / stored)",
            f"{look['answered']:,} / {look['stored']:,}",
            look["ok"],
        ),
        (
            f"GET /me/trend ({small['attempts']:,}) throughput ≥ 25% of baseline POST",
            f"{trend_rps / base_rps:.0%}",
            trend_rps / base_rps >= TREND_THROUGHPUT_MIN,
        ),
        (
            f"GET /me/trend p50, {large['attempts']:,} attempts over {large['days']:,} days ≤ 2× "
            f"{small['attempts']:,} over {small['days']:,}",
            f"{trend100_p50 / trend_p50:.2f}×",
            trend100_p50 / trend_p50 <= TREND_SCALE_MAX,
        ),
        (
            "Every service process (worker) RSS < 200 MB after the runs",
            f"{rss_max:.0f} MB (largest)",
            rss_max < RSS_MAX_MB,
        ),
    ]
    lines = [
        "## Main run",
        "",
        f"- Command: `{cfg['command']}`",
        *_machine_lines(main["machine"]),
        f"- Setup: PostgreSQL on loopback; the service is `rejection-tracker serve --workers {WORKERS}` "
        "(ENVIRONMENT=production, JSON access log at INFO, Redis for rate limits); the baseline runs "
        f"{WORKERS} uvicorn workers. wrk: {cfg['threads']} threads, {cfg['connections']} connections, "
        f"{cfg['duration']} s per run (login: 4 connections; log then look: one thread per connection); "
        f"{main['rounds']} alternating rounds of baseline POST, service POST, trend at both sizes and log then "
        "look, medians reported.",
        f"- Database: the shipped catalog, 100 writer users, {look['users']} looker users with "
        f"{LOOKER_ATTEMPTS:,} attempts over {LOOKER_DAYS} days each, one user with {small['attempts']:,} attempts "
        f"over {small['days']:,} days ({small['cells']:,} rows in `session_stats`) and one with "
        f"{large['attempts']:,} over {large['days']:,} days ({large['cells']:,} rows), {CROWD_USERS} other users "
        "with the lookers' history whom no run reads (a shared table's other rows), plus every attempt the "
        f"POST runs add; seeding took {main['seed_seconds']} s. " + SEEDING,
        "- Log then look: each wrk connection alternates `POST /attempts` (odd requests, a new Idempotency-Key "
        "each) and `GET /me/trend` (even requests) for the same user, one user per connection; req/s and "
        "latencies count both kinds together.",
        "",
        "### Against the targets",
        "",
        "| target | measured | |",
        "| --- | --- | --- |",
        *[f"| {name} | {value} | {_verdict(ok)} |" for name, value, ok in targets],
        "",
        "### Every run",
        "",
        "| run | req/s | p50 ms | p90 ms | p99 ms | errors | ratio to baseline POST req/s |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for key, label in RUN_LABELS.items():
        if key not in runs:
            continue
        group = runs[key]
        rps = _median(group, "rps")
        suffix = f" (median of {len(group)})" if len(group) > 1 else ""
        lines.append(
            f"| {label}{suffix} | {rps:,.0f} | {_median(group, 'p50_ms'):.2f} | {_median(group, 'p90_ms'):.2f} | "
            f"{_median(group, 'p99_ms'):.2f} | {sum(r['errors'] for r in group)} | {rps / base_rps:.0%} |"
        )
    rounds = ", ".join(
        f"{b['p50_ms'] / a['p50_ms']:.2f}×" for a, b in zip(runs["trend_1k"], runs["trend_100k"], strict=True)
    )

    def per_round(key: str) -> str:
        return ", ".join(f"{r['rps'] / b['rps']:.0%}" for b, r in zip(runs["baseline_post"], runs[key], strict=True))

    lines += [
        "",
        f"The trend's p50 ratio ({large['attempts']:,} / {small['attempts']:,} attempts) per round: {rounds}. "
        f"Throughput against the same round's baseline POST: service POST {per_round('service_post')}; log then "
        f"look {per_round('log_then_look')} (the baseline alone moves by up to a third between rounds on this "
        "host, hence the medians). A `since` window (the `?since=…` run) groups the raw attempts inside the "
        "window instead of reading `session_stats`; it is for information, not a target.",
        "",
        "### Integrity of the POST runs",
        "",
        "Writers' POST runs: " + _integrity_text(main["posts"]),
        "",
        "Log then look (POSTs only; wrk's count of answered requests includes the GETs): " + _integrity_text(look),
        "",
        "### Memory",
        "",
        "Resident set size of each process after all runs: service workers "
        + ", ".join(f"{x:.0f} MB" for x in rss["service"])
        + f" ({sum(rss['service']):.0f} MB in all; the service starts no other processes); baseline workers "
        + ", ".join(f"{x:.0f} MB" for x in rss["baseline"])
        + f" ({sum(rss['baseline']):.0f} MB in all).",
        "",
        "### Two instances, one database",
        "",
        *_render_scale_out(main["scale_out"], base_rps),
        "",
        "### Login and API tokens",
        "",
        f"Login (`POST /auth/token`, Argon2id m=19 MiB, t=2, p=1): {login_rps:.1f} logins/s with {WORKERS} workers, "
        f"about {login_rps / WORKERS:.1f} per worker (each login costs tens of ms of CPU and 19 MiB by design, on "
        "the worker's event loop). A personal API token costs one SHA-256 and an indexed lookup, never Argon2: "
        f"`GET /me` answers {_median(runs['me_api_token'], 'rps'):,.0f} req/s with API tokens and "
        f"{_median(runs['me_jwt'], 'rps'):,.0f} req/s with access tokens (JWT).",
        "",
    ]
    return lines


def _integrity_text(posts: dict[str, Any]) -> str:
    verdict = "nothing lost or duplicated" if posts["ok"] else "MISMATCH: attempts lost or duplicated"
    return (
        f"Answered {posts['answered']:,} (wrk counts completed requests only), stored {posts['stored']:,} attempts "
        f"and {posts['records']:,} idempotency records, at most {posts['in_flight_max']} still in flight when the "
        f"runs stopped: {verdict}."
    )


def _render_scale_out(scale_out: dict[str, Any], base_rps: float) -> list[str]:
    total = sum(r["rps"] for r in scale_out["runs"])
    each = ", ".join(
        f"{r['label'].split()[0]} {r['rps']:,.0f} req/s (p99 {r['p99_ms']:.1f} ms)" for r in scale_out["runs"]
    )
    return [
        "Two separate `rejection-tracker serve --workers 1` processes on two ports, one PostgreSQL, each "
        f"driven by its own wrk at the same time (half the connections and half the writers each): {each}; "
        f"together {total:,.0f} req/s ({total / base_rps:.0%} of the baseline POST), "
        f"{scale_out['errors']} errors. "
        + _integrity_text(scale_out["posts"])
        + " Replays across instances are checked by tests/service/test_scale_out.py.",
    ]


RUN_LABELS = {
    "baseline_post": "baseline POST /attempts",
    "service_post": "service POST /attempts (access token, 100 users in turn)",
    "service_post_api_token": "service POST /attempts (API token, 100 users in turn)",
    "service_post_one_user": "service POST /attempts (access token, 1 user)",
    "log_then_look": "service log then look: POST /attempts and GET /me/trend in turn per connection",
    "trend_1k": "service GET /me/trend, 1,000 attempts over 100 days",
    "trend_100k": "service GET /me/trend, 100,000 attempts over 1,000 days",
    "trend_1k_304": "service GET /me/trend, 1,000 attempts, If-None-Match → 304",
    "trend_window_1k": "service GET /me/trend?since=… (a new window each time), 1,000 attempts",
    "attempts_list": "service GET /attempts, first page of 50",
    "me_jwt": "service GET /me (access token)",
    "me_api_token": "service GET /me (API token)",
    "login": "service POST /auth/token (login)",
}


def _render_scale(scale: dict[str, Any]) -> list[str]:
    small, large = scale["10k"], scale["1m"]
    cfg = scale["config"]
    rows = []
    for key, label in (
        ("trend", "GET /me/trend"),
        ("trend_window", "GET /me/trend?since=… (groups the attempts in the window)"),
        ("attempts", "GET /attempts"),
    ):
        if key not in small or key not in large:
            continue
        a, b = _median(small[key], "p50_ms"), _median(large[key], "p50_ms")
        target = key in ("trend", "attempts")
        verdict = _verdict(b / a <= SCALE_MAX) if target else "(for information)"
        rows.append(f"| {label} | {a:.2f} | {b:.2f} | {b / a:.2f}× | {verdict} |")
    rss = max(small["rss_mb"] + large["rss_mb"])
    return [
        "## Scale run",
        "",
        f"- Command: `{cfg['command']}`",
        *_machine_lines(scale["machine"]),
        f"- The same user (100 attempts) read with {small['attempts_in_database']:,} attempts in the database "
        f"(100 users) and with {large['attempts_in_database']:,} ({large['attempts_in_database'] // 100:,} users, "
        f"{large['database_bytes'] / 1e9:.2f} GB; COPY took {scale.get('seed_seconds', 0)} s). "
        f"wrk: {cfg['threads']} threads, {cfg['connections']} connections, {cfg['duration']} s per run. "
        f"Both databases are served at once (2 workers each) and their runs alternate, {scale['rounds']} rounds; "
        "p50 is the median of the rounds' p50s.",
        "",
        "| request | p50 ms, 10,000 in the database | p50 ms, 1,000,000 | ratio (target ≤ 1.25×) | |",
        "| --- | ---: | ---: | ---: | --- |",
        *rows,
        "",
        f"Largest RSS of a service worker after the scale runs: {rss:.0f} MB.",
        "",
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description="Benchmark the service against the baseline (see bench/run.py).")
    parser.add_argument("--scale", action="store_true", help="run the 1,000,000-attempt scale comparison instead")
    parser.add_argument("--duration", type=int, default=10, help="seconds per wrk run (default 10)")
    parser.add_argument("--connections", type=int, default=32, help="wrk connections (default 32)")
    parser.add_argument("--threads", type=int, default=2, help="wrk threads (default 2)")
    parser.add_argument("--rounds", type=int, default=5, help="alternating baseline/service rounds (default 5)")
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        raise SystemExit("wrk is not installed: apt-get install -y wrk")

    results_file = BENCH / "results.json"
    results = json.loads(results_file.read_text()) if results_file.exists() else {}
    with tempfile.TemporaryDirectory(prefix="rt-bench-") as folder:
        logs = Path(folder)
        wrk = Wrk(duration=args.duration, connections=args.connections, threads=args.threads, workdir=logs)
        began = time.monotonic()
        try:
            key, outcome = (
                ("scale", scale_runs(args, wrk, logs)) if args.scale else ("main", main_runs(args, wrk, logs))
            )
        except BaseException:
            for log in sorted(logs.glob("*.log")):
                print(f"--- {log.name} (last lines)\n" + "\n".join(log.read_text().splitlines()[-20:]), file=sys.stderr)
            raise
    outcome["machine"] = machine()
    outcome["config"] = {
        "command": "make bench-scale" if args.scale else "make bench",
        "duration": args.duration,
        "connections": args.connections,
        "threads": args.threads,
        "seconds": round(time.monotonic() - began),
    }
    results[key] = outcome
    results_file.write_text(json.dumps(results, indent=2) + "\n")
    (BENCH / "RESULTS.md").write_text(render(results))
    print(f"Done in {outcome['config']['seconds']} s: bench/RESULTS.md", flush=True)


if __name__ == "__main__":
    main()
