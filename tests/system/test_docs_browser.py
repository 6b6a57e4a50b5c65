"""/docs as an admin console, in a real browser: log in with Authorize, then create and publish a challenge.

Drives Debian's Chromium (/usr/bin/chromium) with Playwright against the real
service started by `rejection-tracker serve`; skipped where that browser is missing.
"""

import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from tests.servers import free_port

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
]
ADMIN_EMAIL = "curator@example.com"
ADMIN_PASSWORD = "a long admin password"

pytestmark = pytest.mark.skipif(not CHROMIUM.exists(), reason=f"needs Debian's Chromium at {CHROMIUM}")


@dataclass
class LiveServer:
    base_url: str
    log: Path


def _command(*args: str) -> list[str]:
    script = Path(sys.executable).with_name("rejection-tracker")
    return [str(script), *args] if script.exists() else [sys.executable, "-m", "app.cli", *args]


@pytest.fixture
def live_server(tmp_path: Path) -> Iterator[LiveServer]:
    """The real service on a free port, with its own SQLite file and an admin made by `create-admin`."""
    env = {
        **{k: v for k, v in os.environ.items() if k not in ("ADMIN_PASSWORD", "TEST_DATABASE_URL")},
        "DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path / 'browser.db'}",
        "SECRET_KEY": "browser-test-secret-key-long-enough-for-hs256",
        "ENVIRONMENT": "development",
    }
    subprocess.run(
        _command("create-admin", ADMIN_EMAIL, "--password", ADMIN_PASSWORD),
        env=env,
        cwd=tmp_path,
        check=True,
        capture_output=True,
        timeout=60,
    )
    port = free_port()
    log = tmp_path / "serve.log"
    with log.open("w") as output:
        process = subprocess.Popen(
            _command("serve", "--port", str(port)), env=env, cwd=tmp_path, stdout=output, stderr=subprocess.STDOUT
        )
    base_url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            assert process.poll() is None, log.read_text()
            try:
                if httpx.get(f"{base_url}/health", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert time.monotonic() < deadline, log.read_text()
            time.sleep(0.1)
        yield LiveServer(base_url, log)
    finally:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def test_an_admin_creates_and_publishes_a_challenge_from_docs(live_server: LiveServer) -> None:
    from playwright.sync_api import expect, sync_playwright

    base = live_server.base_url
    new_challenge = {
        "slug": "ask-a-busker-for-a-song-request",
        "title": "Ask a busker to play a song you name",
        "description": "Drop a coin first, then ask whether they know a song you like. "
        "If not, ask what they enjoy playing most, thank them and listen to a tune.",
        "category": "creative-and-public",
        "difficulty": 4,
        "tips": ["They said no to the request, not to you."],
    }
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True)
        try:
            page = browser.new_page()
            page.set_default_timeout(15_000)
            outside: list[str] = []
            page.on("request", lambda r: outside.append(r.url) if not r.url.startswith(base) else None)
            page.goto(f"{base}/docs")

            # Authorize: the "Login" OAuth2 password scheme.
            page.locator("button.authorize").first.click()
            login = page.locator(".auth-container").filter(has_text="Login (OAuth2, password)")
            login.locator("#oauth_username").fill(ADMIN_EMAIL)
            login.locator("#oauth_password").fill(ADMIN_PASSWORD)
            login.locator("button.authorize").click()
            expect(login.locator("button", has_text="Logout")).to_be_visible()
            page.locator(".modal-ux button.close-modal").click()

            # Try it out: POST /admin/challenges.
            create = page.locator("#operations-admin-admin-create_challenge")
            create.locator(".opblock-summary").click()
            create.get_by_role("button", name="Try it out").click()
            create.locator("textarea.body-param__text").fill(json.dumps(new_challenge))
            with page.expect_response(lambda r: r.url == f"{base}/api/v1/admin/challenges") as created_info:
                create.get_by_role("button", name="Execute").click()
            created = created_info.value
            assert created.status == 201, created.text()
            challenge = created.json()
            assert challenge["status"] == "draft"
            expect(create.locator(".live-responses-table tr.response .response-col_status")).to_have_text("201")

            # Try it out: PATCH it to published, with the ETag just read as If-Match.
            publish = page.locator("#operations-admin-admin-update_challenge")
            publish.locator(".opblock-summary").click()
            publish.get_by_role("button", name="Try it out").click()
            publish.locator('tr[data-param-name="challenge_id"] input').fill(challenge["id"])
            publish.locator('tr[data-param-name="If-Match"] input').fill(created.headers["etag"])
            publish.locator("textarea.body-param__text").fill('{"status": "published"}')
            with page.expect_response(lambda r: r.url.endswith(challenge["id"])) as published_info:
                publish.get_by_role("button", name="Execute").click()
            assert published_info.value.status == 200, published_info.value.text()
            expect(publish.locator(".live-responses-table tr.response .response-col_status")).to_have_text("200")
            assert outside == [], "the docs page loaded something from outside the service"
        finally:
            browser.close()

    token = httpx.post(f"{base}/api/v1/auth/token", data={"username": ADMIN_EMAIL, "password": ADMIN_PASSWORD}).json()[
        "access_token"
    ]
    headers = {"Authorization": f"Bearer {token}"}
    stored = httpx.get(f"{base}/api/v1/admin/challenges/{challenge['id']}", headers=headers)
    assert stored.json()["status"] == "published"
    assert stored.headers["etag"] == '"2"'
    in_catalog = httpx.get(f"{base}/api/v1/challenges", params={"q": "busker to play"}, headers=headers)
    assert [item["id"] for item in in_catalog.json()["items"]] == [challenge["id"]]
    # `serve` seeded the empty database before serving.
    assert "Seeded the catalog" in live_server.log.read_text()
