"""Nothing sensitive in the logs: the whole flow with every logger at DEBUG, then the output is scanned.

Logging is set up as `serve` sets it up with LOG_LEVEL=DEBUG and JSON logs (the same levels and
formatter), and the root logger is
lowered to DEBUG too, so third-party loggers (the database drivers, SQLAlchemy, httpx) speak as much as
the app's configuration lets them. No password, access or API token (nor its stored digest), note text
or distress value may appear.
"""

import io
import json
import logging
import re
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from app.core.observability import JsonFormatter, logging_config
from app.core.security import api_token_digest
from app.main import API_PREFIX
from tests.conftest import MakeChallenge

PASSWORD = "Zebra-Quartz-5511-never-logged"
NOTES = ("Marmalade-Obelisk-7731 she smiled", "Tangerine-Periscope-4402 went fine")
EDITED_NOTES = "Cobalt-Harmonica-9068 edited"
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


async def _flow(client: httpx.AsyncClient, challenge_id: str) -> list[str]:
    """Everything a user does, start to end; returns the secrets it was handed."""
    email = "private.person@example.com"
    registered = await client.post(f"{API_PREFIX}/auth/register", json={"email": email, "password": PASSWORD})
    assert registered.status_code == 201
    wrong = await client.post(f"{API_PREFIX}/auth/token", data={"username": email, "password": PASSWORD + "x"})
    assert wrong.status_code == 401
    login = await client.post(f"{API_PREFIX}/auth/token", data={"username": email, "password": PASSWORD})
    access_token = login.json()["access_token"]
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
    assert (await client.get(f"{API_PREFIX}/attempts", headers=auth)).status_code == 200
    assert (await client.get(f"{API_PREFIX}/attempts/{ids[1]}", headers=auth)).status_code == 200
    assert (await client.get(f"{API_PREFIX}/me/trend", headers=auth)).status_code == 200
    assert (await client.get(f"{API_PREFIX}/me/export", headers=auth)).status_code == 200
    assert (await client.get(f"{API_PREFIX}/me/export", params={"format": "csv"}, headers=auth)).status_code == 200
    assert (await client.delete(f"{API_PREFIX}/attempts/{ids[1]}", headers=auth)).status_code == 204
    assert (await client.delete(f"{API_PREFIX}/me", headers=auth)).status_code == 204
    assert (await client.get(f"{API_PREFIX}/me", headers=auth)).status_code == 401
    return [access_token, api_token, api_token_digest(api_token)]


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
    client: httpx.AsyncClient, make_challenge: MakeChallenge, debug_logs: io.StringIO
) -> None:
    challenge = await make_challenge()
    secrets = await _flow(client, str(challenge.id))
    output = debug_logs.getvalue()
    lines = [line for line in output.splitlines() if line.strip()]
    entries = [json.loads(line) for line in lines]
    # The flow was logged: one access line per request, each with its request id.
    access = [e for e in entries if e["logger"] == "app.access"]
    assert len(access) == 17
    assert all(e.get("request_id") and e.get("route") for e in access)

    for text in (PASSWORD, *NOTES, EDITED_NOTES, *secrets):
        assert text not in output
    # Halves too, in case something truncates what it logs.
    for text in (PASSWORD, *NOTES, *secrets):
        assert text[: len(text) // 2] not in output
    # A score standing alone, not a piece of a UUID, hex id or decimal.
    standalone = re.compile(r"(?<![\w.-])(" + "|".join(map(str, DISTRESS)) + r")(?![\w.-])")
    for entry in entries:
        for key, value in _values(entry):
            if isinstance(value, int | float) and not isinstance(value, bool) and key not in MEASUREMENT_FIELDS:
                assert value not in DISTRESS, (key, entry)
            if isinstance(value, str) and key not in ("time", "request_id"):
                assert not standalone.search(value), (key, entry)
