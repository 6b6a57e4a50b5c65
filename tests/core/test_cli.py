"""The command line: migrate, create-admin and serve, run as a user would."""

import asyncio
import os
import re
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from app.cli import main
from app.core.config import Settings, get_settings
from app.core.db import create_engine, create_sessionmaker
from app.main import create_app
from tests.servers import free_port, running_service


@pytest.fixture
def cli_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    url = f"sqlite+aiosqlite:///{tmp_path / 'cli.db'}"
    monkeypatch.setenv("DATABASE_URL", url)
    monkeypatch.setenv("SECRET_KEY", "cli-test-secret-key-long-enough-for-hs256")
    monkeypatch.delenv("ADMIN_PASSWORD", raising=False)
    get_settings.cache_clear()
    yield url
    get_settings.cache_clear()


def test_migrate_then_create_admin_then_promote(cli_env: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["migrate"]) == 0
    assert main(["create-admin", "Root@Example.com", "--password", "a long password"]) == 0
    assert "Created admin root@example.com" in capsys.readouterr().out
    # Running it again on the same email promotes and re-sets the password instead of failing.
    assert main(["create-admin", "root@example.com", "--password", "another long password"]) == 0
    assert "made it an admin" in capsys.readouterr().out


def test_create_admin_takes_the_password_from_the_environment(
    cli_env: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("ADMIN_PASSWORD", "from the environment")
    assert main(["create-admin", "env@example.com"]) == 0
    assert "Created admin" in capsys.readouterr().out


def test_create_admin_refuses_a_short_password(cli_env: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["create-admin", "short@example.com", "--password", "short"]) == 2
    assert "password" in capsys.readouterr().err


def test_serve_migrates_and_serves_docs_at_the_printed_address(tmp_path: Path) -> None:
    port = free_port()
    env = {**os.environ, "DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path / 'serve.db'}"}
    env.pop("SECRET_KEY", None)
    log = tmp_path / "serve.log"
    with log.open("w") as output:
        process = subprocess.Popen(
            [sys.executable, "-m", "app.cli", "serve", "--port", str(port)],
            env=env,
            stdout=output,
            stderr=subprocess.STDOUT,
            text=True,
        )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                if httpx.get(f"{base}/health").status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert process.poll() is None, log.read_text()
            assert time.monotonic() < deadline, "the server did not start"
            time.sleep(0.2)
        assert f"{base}/docs" in log.read_text()
        assert httpx.get(f"{base}/ready").status_code == 200
        assert httpx.get(f"{base}/docs").status_code == 200
        registered = httpx.post(
            f"{base}/api/v1/auth/register", json={"email": "s@example.com", "password": "long enough pw"}
        )
        assert registered.status_code == 201
    finally:
        process.terminate()
        process.wait(timeout=30)
    # uvicorn shuts down gracefully on SIGTERM, then re-raises it as its exit status.
    assert process.returncode in (0, -15)
    assert "Application shutdown complete" in log.read_text()


def _logins_from_three_addresses(base_url: str) -> list[int]:
    """Three failed logins, each with another X-Forwarded-For address: the status of each."""
    statuses = []
    for i in range(3):
        response = httpx.post(
            f"{base_url}/api/v1/auth/token",
            data={"username": f"nobody{i}@example.com", "password": "wrong password"},
            headers={"X-Forwarded-For": f"198.51.100.{i + 1}"},
            timeout=10,
        )
        statuses.append(response.status_code)
    return statuses


@pytest.mark.parametrize(
    ("allowed", "expected"),
    [
        # The default believes the proxy on this host: each forwarded address has a limit of its own.
        (None, [401, 401, 401]),
        # A proxy elsewhere is not this connection: its header is ignored and one address takes all.
        ("192.0.2.10", [401, 401, 429]),
    ],
)
def test_serve_believes_forwarded_addresses_only_from_the_allowed_proxies(
    tmp_path: Path, allowed: str | None, expected: list[int]
) -> None:
    env = {"LOGIN_LIMIT_PER_CLIENT": "2", "LOGIN_LIMIT_PER_ACCOUNT": "100"}
    if allowed is not None:
        env["FORWARDED_ALLOW_IPS"] = allowed
    with running_service(f"sqlite+aiosqlite:///{tmp_path / 'forwarded.db'}", tmp_path, **env) as service:
        assert _logins_from_three_addresses(service.base_url) == expected


@pytest.mark.parametrize(
    ("environment", "log_json", "as_json"),
    [("development", None, False), ("production", None, True), ("test", None, True), ("development", True, True)],
)
def test_logs_are_plain_lines_in_development_and_json_elsewhere(
    environment: str, log_json: bool | None, as_json: bool
) -> None:
    settings = Settings(environment=environment, secret_key="k" * 40, log_json=log_json)
    assert settings.logs_as_json is as_json


async def _demo_as_a_frontend_sees_it(database_url: str, password: str, old_password: str) -> dict[str, object]:
    """Sign in to the demo account through the API and read what a frontend draws."""
    settings = Settings(
        environment="test", database_url=database_url, secret_key="cli-test-secret-key-long-enough-for-hs256"
    )
    engine = create_engine(database_url)
    app = create_app(settings, sessionmaker=create_sessionmaker(engine))
    try:
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test") as client:
            login = {"username": "demo@example.com", "password": old_password}
            stale = await client.post("/api/v1/auth/token", data=login)
            signed_in = await client.post("/api/v1/auth/token", data=login | {"password": password})
            assert signed_in.status_code == 200, signed_in.text
            headers = {"Authorization": f"Bearer {signed_in.json()['access_token']}"}
            trend = await client.get("/api/v1/me/trend", headers=headers)
            avoided = await client.get("/api/v1/attempts", params={"outcome": "avoided"}, headers=headers)
            return {"stale": stale.status_code, "trend": trend.json(), "avoided": avoided.json()["items"]}
    finally:
        await engine.dispose()


def test_demo_makes_an_account_with_practice_to_draw_and_remakes_it(
    cli_env: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["demo", "--password", "the first demo password"]) == 0
    assert "password: the first demo password" in capsys.readouterr().out
    # Run again, it makes the account afresh (the practice ends today again) with a new random password.
    assert main(["demo"]) == 0
    printed = capsys.readouterr().out
    assert "email:    demo@example.com" in printed
    found = re.search(r"password: (\S+)", printed)
    assert found is not None

    seen = asyncio.run(_demo_as_a_frontend_sees_it(cli_env, found.group(1), "the first demo password"))

    assert seen["stale"] == 401
    trend = seen["trend"]
    assert isinstance(trend, dict)
    assert trend["status"] == "improving", trend["status_reason"]
    assert trend["status_reason"]["code"] == "falling_at_same_difficulty"
    assert trend["streak"]["current_days"] == 28
    level = trend["level"]
    assert level["reason"]["code"] == "step_down"
    assert level["recommended_difficulty"] == level["current_difficulty"] - 1
    assert trend["avoidance_rate"] > 0
    assert isinstance(seen["avoided"], list)
    assert len(seen["avoided"]) == 1


def test_demo_is_refused_in_production(cli_env: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ENVIRONMENT", "production")
    get_settings.cache_clear()
    assert main(["demo"]) == 2
