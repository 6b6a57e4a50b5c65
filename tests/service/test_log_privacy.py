"""Nothing sensitive in the logs: the whole flow with every logger at DEBUG, then the output is scanned.

The flow covers the account's whole life: signing in, refreshing (a retry and a theft too), listing and
ending sessions, signing out, changing the password and resetting it by email through a real SMTP server.

Logging is set up as `serve` sets it up with LOG_LEVEL=DEBUG and JSON logs (the same levels and
formatter), and the root logger is
lowered to DEBUG too, so third-party loggers (the database drivers, SQLAlchemy, httpx) speak as much as
the app's configuration lets them. No password, access, refresh or API token (nor its stored digest), email
address, reset code (nor its digest), note text or distress value may appear.
"""

import io
import json
import logging
import re
import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from pydantic import SecretStr
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.core.config import Settings
from app.core.observability import JsonFormatter, logging_config
from app.core.security import api_token_digest, reset_code_digest
from app.main import API_PREFIX, create_app
from tests.conftest import MakeChallenge, SmtpTestServer

PASSWORD = "Zebra-Quartz-5511-never-logged"
CHANGED_PASSWORD = "Walrus-Lantern-8342-never-logged"
RESET_PASSWORD = "Heron-Marble-2290-never-logged"
EMAIL = "private.person@example.com"
NOTES = ("Marmalade-Obelisk-7731 she smiled", "Tangerine-Periscope-4402 went fine")
EDITED_NOTES = "Cobalt-Harmonica-9068 edited"
EXPECTED_OUTCOME = "Saffron-Trombone-5127 they will laugh"
REFLECTION = "Juniper-Lighthouse-6630 a no was fine"
EDITED_REFLECTION = "Quince-Barometer-2795 edited"
SAFETY_BEHAVIOURS = ["Walnut-Compass-3318 rehearsed", "Pewter-Kestrel-8846 no eye contact"]
# Distinctive scores: none is a status code, and each is looked for as a number of its own.
DISTRESS = (87, 93, 71, 64, 58, 46)
# Numbers that are measurements, never data.
MEASUREMENT_FIELDS = {"duration_ms"}


@pytest.fixture
def debug_logs() -> Iterator[io.StringIO]:
    """The service's logging config at DEBUG, JSON lines into a buffer; the suite's logging restored after.

    The config's levels and propagation are applied by hand: `dictConfig` would close the test
    runner's own log handlers.
    """
    buffer = io.StringIO()
    handler = logging.StreamHandler(buffer)
    handler.setFormatter(JsonFormatter())
    config = logging_config("DEBUG", as_json=True)
    loggers = [logging.getLogger(), *(logging.getLogger(name) for name in config["loggers"])]
    saved = [(logger, logger.level, logger.propagate) for logger in loggers]
    for name, spec in config["loggers"].items():
        logger = logging.getLogger(name)
        logger.setLevel(spec["level"])
        logger.propagate = spec.get("propagate", True)
        if spec.get("handlers"):
            logger.addHandler(handler)
    logging.getLogger().setLevel(logging.DEBUG)
    logging.getLogger().addHandler(handler)
    try:
        yield buffer
    finally:
        for logger, level, propagate in saved:
            logger.setLevel(level)
            logger.propagate = propagate
            if handler in logger.handlers:
                logger.removeHandler(handler)


async def _sign_in(client: httpx.AsyncClient, password: str, device: str) -> dict[str, str]:
    response = await client.post(
        f"{API_PREFIX}/auth/token", data={"username": EMAIL, "password": password}, headers={"User-Agent": device}
    )
    assert response.status_code == 200, response.text
    pair: dict[str, str] = response.json()
    return pair


async def _sessions_and_passwords(
    client: httpx.AsyncClient, smtp_server: SmtpTestServer, user_id: uuid.UUID, settings: Settings
) -> tuple[str, list[str]]:
    """Sign in on devices, refresh, sign out, change and reset the password; the access token to go on
    with, and the secrets handed out."""
    token = f"{API_PREFIX}/auth/token"
    phone = await _sign_in(client, PASSWORD, "Phone/1.0")
    auth = {"Authorization": f"Bearer {phone['access_token']}"}
    refreshed = await client.post(token, data={"grant_type": "refresh_token", "refresh_token": phone["refresh_token"]})
    assert refreshed.status_code == 200
    retried = await client.post(token, data={"grant_type": "refresh_token", "refresh_token": phone["refresh_token"]})
    assert retried.json()["refresh_token"] == refreshed.json()["refresh_token"]
    tablet = await _sign_in(client, PASSWORD, "Tablet/1.0")
    listed = await client.get(f"{API_PREFIX}/me/sessions", headers=auth)
    assert len(listed.json()) == 2
    tablet_session = next(s["id"] for s in listed.json() if not s["current"])
    assert (await client.delete(f"{API_PREFIX}/me/sessions/{tablet_session}", headers=auth)).status_code == 204
    laptop = await _sign_in(client, PASSWORD, "Laptop/1.0")
    assert (
        await client.post(f"{API_PREFIX}/auth/logout", json={"refresh_token": laptop["refresh_token"]})
    ).status_code == 204
    gone = await client.post(token, data={"grant_type": "refresh_token", "refresh_token": laptop["refresh_token"]})
    assert gone.status_code == 401
    wrong = await client.post(
        f"{API_PREFIX}/me/password",
        json={"current_password": RESET_PASSWORD, "new_password": CHANGED_PASSWORD},
        headers=auth,
    )
    assert wrong.status_code == 403
    changed = await client.post(
        f"{API_PREFIX}/me/password", json={"current_password": PASSWORD, "new_password": CHANGED_PASSWORD}, headers=auth
    )
    assert changed.status_code == 204

    assert (await client.post(f"{API_PREFIX}/auth/password-reset", json={"email": EMAIL})).status_code == 202
    unknown = await client.post(f"{API_PREFIX}/auth/password-reset", json={"email": "someone.else@example.com"})
    assert unknown.status_code == 202
    mail = await smtp_server.wait_for(EMAIL)
    body = mail.get_body(preferencelist=("plain",))
    assert body is not None
    code = re.search(r"Your code: (\d+)", body.get_content())
    assert code is not None
    confirm = f"{API_PREFIX}/auth/password-reset/confirm"
    wrong_code = f"{(int(code.group(1)) + 1) % 10**8:08d}"
    refused = await client.post(confirm, json={"email": EMAIL, "code": wrong_code, "new_password": RESET_PASSWORD})
    assert refused.status_code == 400
    confirmed = await client.post(confirm, json={"email": EMAIL, "code": code.group(1), "new_password": RESET_PASSWORD})
    assert confirmed.status_code == 204
    # The spent first refresh token again, well after its grace: a theft signal, on a session already ended.
    stolen = await client.post(token, data={"grant_type": "refresh_token", "refresh_token": phone["refresh_token"]})
    assert stolen.status_code == 401
    again = await _sign_in(client, RESET_PASSWORD, "Phone/1.0")
    handed_out = [
        *(
            pair[name]
            for pair in (phone, refreshed.json(), tablet, laptop, again)
            for name in ("access_token", "refresh_token")
        ),
        *(api_token_digest(pair["refresh_token"]) for pair in (phone, refreshed.json(), tablet, laptop, again)),
        code.group(1),
        reset_code_digest(user_id, code.group(1), settings),
        wrong_code,
    ]
    return again["access_token"], handed_out


async def _flow(
    client: httpx.AsyncClient, challenge_id: str, smtp_server: SmtpTestServer, settings: Settings
) -> list[str]:
    """Everything a user does, start to end; returns the secrets it was handed."""
    registered = await client.post(f"{API_PREFIX}/auth/register", json={"email": EMAIL, "password": PASSWORD})
    assert registered.status_code == 201
    user_id = uuid.UUID(registered.json()["id"])
    wrong = await client.post(f"{API_PREFIX}/auth/token", data={"username": EMAIL, "password": PASSWORD + "x"})
    assert wrong.status_code == 401
    access_token, handed_out = await _sessions_and_passwords(client, smtp_server, user_id, settings)
    created = await client.post(
        f"{API_PREFIX}/me/tokens", json={"name": "script"}, headers={"Authorization": f"Bearer {access_token}"}
    )
    api_token = created.json()["token"]
    auth = {"Authorization": f"Bearer {api_token}"}
    assert (await client.get(f"{API_PREFIX}/me", headers=auth)).status_code == 200

    ids = []
    for i, notes in enumerate(NOTES):
        before, peak, after = DISTRESS[i * 3 : i * 3 + 3]
        body = {
            "challenge_id": challenge_id,
            "outcome": "rejected",
            "distress_before": before,
            "distress_peak": peak,
            "distress_after": after,
            "expected_rejection": 100 - before,
            "notes": notes,
        }
        logged = await client.post(f"{API_PREFIX}/attempts", json=body, headers={**auth, "Idempotency-Key": f"k-{i}"})
        assert logged.status_code == 201, logged.text
        ids.append(logged.json()["id"])
    refused = await client.post(
        f"{API_PREFIX}/attempts",
        json={"challenge_id": challenge_id, "outcome": "rejected", "distress_before": 101, "notes": NOTES[0]},
        headers=auth,
    )
    assert refused.status_code == 422
    patched = await client.patch(
        f"{API_PREFIX}/attempts/{ids[0]}", json={"notes": EDITED_NOTES, "distress_after": DISTRESS[0]}, headers=auth
    )
    assert patched.status_code == 200
    feed_url = await _plan_and_reflect(client, auth, challenge_id)
    assert (await client.get(f"{API_PREFIX}/attempts", headers=auth)).status_code == 200
    assert (await client.get(f"{API_PREFIX}/attempts/{ids[1]}", headers=auth)).status_code == 200
    assert (await client.get(f"{API_PREFIX}/me/trend", headers=auth)).status_code == 200
    assert (await client.get(f"{API_PREFIX}/me/export", headers=auth)).status_code == 200
    assert (await client.get(f"{API_PREFIX}/me/export/attempts.csv", headers=auth)).status_code == 200
    assert (await client.delete(f"{API_PREFIX}/attempts/{ids[1]}", headers=auth)).status_code == 204
    assert (await client.delete(f"{API_PREFIX}/me", headers=auth)).status_code == 204
    assert (await client.get(f"{API_PREFIX}/me", headers=auth)).status_code == 401
    feed_token = feed_url.rsplit("/", 1)[1].removesuffix(".ics")
    return [access_token, api_token, api_token_digest(api_token), *handed_out, feed_token, api_token_digest(feed_token)]


async def _as_calendar_app(client: httpx.AsyncClient, url: str) -> int:
    """Fetch the feed as a calendar app does. The test's own HTTP client logs each URL it fetches, the secret
    in this one too: that is the calendar app's log, not the service's, so it is kept out of the scan."""
    client_log = logging.getLogger("httpx")
    level = client_log.level
    client_log.setLevel(logging.WARNING)
    try:
        return (await client.get(url)).status_code
    finally:
        client_log.setLevel(level)


async def _plan_and_reflect(client: httpx.AsyncClient, auth: dict[str, str], challenge_id: str) -> str:
    """Plan an ask, read the calendar feed, log the attempt with the plan and a reflection, edit the reflection,
    replace and revoke the feed; the revoked feed's address."""
    plan = {
        "challenge_id": challenge_id,
        "planned_for": "2026-12-31T10:00:00Z",
        "expected_outcome": EXPECTED_OUTCOME,
        "expected_rejection": DISTRESS[5],
        "expected_distress_peak": DISTRESS[4],
    }
    made = await client.post(f"{API_PREFIX}/plans", json=plan, headers=auth)
    assert made.status_code == 201, made.text
    plan_id = made.json()["id"]
    moved = await client.patch(
        f"{API_PREFIX}/plans/{plan_id}", json={"planned_for": "2026-12-30T10:00:00Z"}, headers=auth
    )
    assert moved.status_code == 200
    assert (await client.get(f"{API_PREFIX}/plans", headers=auth)).status_code == 200
    old_feed = (await client.post(f"{API_PREFIX}/me/calendar", headers=auth)).json()["url"]
    feed = (await client.post(f"{API_PREFIX}/me/calendar", headers=auth)).json()["url"]
    assert await _as_calendar_app(client, feed) == 200
    assert await _as_calendar_app(client, old_feed) == 404
    body = {
        "challenge_id": challenge_id,
        "plan_id": plan_id,
        "outcome": "accepted",
        "distress_before": DISTRESS[3],
        "distress_peak": DISTRESS[4],
        "surprise": DISTRESS[2],
        "safety_behaviours": SAFETY_BEHAVIOURS,
        "reflection": REFLECTION,
    }
    logged = await client.post(f"{API_PREFIX}/attempts", json=body, headers={**auth, "Idempotency-Key": "planned"})
    assert logged.status_code == 201, logged.text
    replayed = await client.post(f"{API_PREFIX}/attempts", json=body, headers={**auth, "Idempotency-Key": "planned"})
    assert replayed.status_code == 201
    refused = await client.patch(
        f"{API_PREFIX}/plans/{plan_id}", json={"expected_outcome": EDITED_REFLECTION}, headers=auth
    )
    assert refused.status_code == 409
    edited = await client.patch(
        f"{API_PREFIX}/attempts/{logged.json()['id']}", json={"reflection": EDITED_REFLECTION}, headers=auth
    )
    assert edited.status_code == 200
    assert (await client.delete(f"{API_PREFIX}/me/calendar", headers=auth)).status_code == 204
    assert await _as_calendar_app(client, feed) == 404
    return feed


def _values(entry: Any, key: str = "") -> Iterator[tuple[str, Any]]:
    if isinstance(entry, dict):
        for name, value in entry.items():
            yield from _values(value, name)
    elif isinstance(entry, list):
        for value in entry:
            yield from _values(value, key)
    else:
        yield key, entry


async def test_the_whole_flow_logs_no_secret_no_note_and_no_distress_value(
    *,
    settings: Settings,
    sessionmaker: async_sessionmaker[AsyncSession],
    smtp_server: SmtpTestServer,
    make_challenge: MakeChallenge,
    debug_logs: io.StringIO,
) -> None:
    challenge = await make_challenge()
    app = create_app(settings.model_copy(update={"smtp_url": SecretStr(smtp_server.url)}), sessionmaker=sessionmaker)
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        secrets = await _flow(client, str(challenge.id), smtp_server, settings)
    output = debug_logs.getvalue()
    lines = [line for line in output.splitlines() if line.strip()]
    entries = [json.loads(line) for line in lines]
    # The flow was logged: one access line per request, each with its request id.
    access = [e for e in entries if e["logger"] == "app.access"]
    assert len(access) == 33 + 13
    assert all(e.get("request_id") and e.get("route") for e in access)

    passwords = (PASSWORD, CHANGED_PASSWORD, RESET_PASSWORD)
    private = (*NOTES, EDITED_NOTES, EXPECTED_OUTCOME, REFLECTION, EDITED_REFLECTION, *SAFETY_BEHAVIOURS)
    for text in (*passwords, EMAIL, "someone.else@example.com", *private, *secrets):
        assert text not in output
    # Halves too, in case something truncates what it logs; not in the request ids, random hex made per request,
    # where the half of a short code turns up by chance (seen once: a code's "4168").
    without_request_ids = re.sub(r'"request_id": "[0-9a-f]+"', "", output)
    assert without_request_ids.count("request_id") == 0
    for text in (*passwords, EMAIL, *private, *secrets):
        assert text[: len(text) // 2] not in without_request_ids
    # A score standing alone, not a piece of a UUID, hex id or decimal.
    standalone = re.compile(r"(?<![\w.-])(" + "|".join(map(str, DISTRESS)) + r")(?![\w.-])")
    for entry in entries:
        for key, value in _values(entry):
            if isinstance(value, int | float) and not isinstance(value, bool) and key not in MEASUREMENT_FIELDS:
                assert value not in DISTRESS, (key, entry)
            if isinstance(value, str) and key not in ("time", "request_id"):
                assert not standalone.search(value), (key, entry)
