"""Property-based API testing: schemathesis runs every phase and every default check on the in-process app.

The run is `schemathesis run` in-process: the examples, coverage and fuzzing phases per operation, then
the stateful phase, which chains operations through the links schemathesis infers (create a challenge,
read it, change it, log an attempt at it, delete it). Every default check runs on every answer: no 5xx,
status codes, content types, headers and bodies as documented, invalid input refused, valid input
accepted, auth enforced, another identity kept out, deleted resources gone, 405 with a true `Allow`.

The app under test has its own engine (NullPool: schemathesis drives it from its own event loop) on a
scratch database, so fuzzed data never reaches the other tests. An ordinary user and an admin are real
accounts with real access tokens. Run with `-s` to see what was run.
"""

import asyncio
import re
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass

import httpx
import pytest
import schemathesis
from fastapi import FastAPI
from pydantic import SecretStr
from schemathesis import engine
from schemathesis.engine import events
from schemathesis.python import asgi
from schemathesis.specs.openapi.schemas import OpenApiSchema
from sqlalchemy.pool import NullPool

from app.accounts import service as accounts
from app.accounts.schemas import UserCreate
from app.catalog.importer import seed_catalog
from app.core.config import Settings
from app.core.db import create_engine, create_sessionmaker
from app.core.migrations import upgrade_to_head
from app.main import API_PREFIX, create_app
from tests.conftest import PASSWORD, Account, MakeChallenge, SmtpTestServer, scratch_database

# Deterministic, and bounded to well under a minute per database on a 2-core machine.
MAX_EXAMPLES = 100
STATEFUL_MAX_STEPS = 12
DEFAULT_CHECKS = {
    "not_a_server_error",
    "status_code_conformance",
    "content_type_conformance",
    "response_headers_conformance",
    "response_schema_conformance",
    "negative_data_rejection",
    "positive_data_acceptance",
    "missing_required_header",
    "unsupported_method",
    "allow_header_conformance",
    "use_after_free",
    "ensure_resource_availability",
    "ignored_auth",
    "object_level_authorization",
}
POSITIVE_STATUSES = ["2xx", "3xx", "401", "403", "404", "409", "429", "5xx"]

# `positive_data_acceptance` expects every schema-valid request to succeed. These operations check rules
# that JSON Schema cannot state, each documented on the operation, and answer them as the contract says.
# Everything JSON Schema can state is in the schema (control characters and blank text as `pattern`s,
# fields that may not be null), so nothing else is exempt. Time zones are one of them: a name of the tz
# database, documented with examples, as an enum of ~600 names broke generated clients.
BEYOND_THE_SCHEMA = {
    # The email's domain must not be a special-use name (RFC 6761), which `format: email` allows; the zone.
    "auth-register": ["422"],
    # The time zone must be a name of the tz database.
    "me-update_me": ["422"],
    # A cursor is opaque: only one the server issued is valid (any string is schema-valid).
    "me-list_tokens": ["422"],
    # The cursor, and `difficulty_min` not above `difficulty_max`.
    "challenges-list_challenges": ["422"],
    "admin-list_challenges": ["422"],
    # The cursor, and `since` not after `until`.
    "attempts-list_attempts": ["422"],
    "progress-read_trend": ["422"],
    # The challenge must exist and be loggable by the caller, `occurred_at` lie between 2000 and now,
    # and `distress_peak` be given unless the outcome is `avoided`.
    "attempts-create_attempt": ["422"],
    # The same time window, and the peak rule against the stored outcome.
    "attempts-update_attempt": ["422"],
    # The challenge must be loggable by the caller, and `planned_for` lie between 2000 and a year ahead.
    "plans-create_plan": ["422"],
    "plans-update_plan": ["422"],
    # The cursor.
    "plans-list_plans": ["422"],
    "progress-list_pauses": ["422"],
    # Each step a challenge the caller can log, once.
    "progress-replace_ladder": ["422"],
    # Within a year of today, not overlapping another pause; `end_date` not before `start_date`, at most 14 days.
    "progress-create_pause": ["422"],
    # The category must exist.
    "challenges-create_challenge": ["422"],
    "challenges-update_challenge": ["422"],
    "admin-create_challenge": ["422"],
    # And `If-Match` must be an entity tag (400) that is still current (412).
    "admin-update_challenge": ["400", "412", "422"],
    "admin-delete_challenge": ["400", "412"],
    # `username` and `password` with `grant_type=password`, `refresh_token` with `grant_type=refresh_token`.
    "auth-token": ["422"],
    # The email's domain, as for registration; and the code must be the one emailed to it (400 otherwise).
    "auth-request_password_reset": ["422"],
    "auth-confirm_password_reset": ["400", "422"],
    # Each imported attempt as for `attempts-create_attempt`, ids that are not someone else's, and (CSV) a
    # header that names the export's columns.
    "me-import_data": ["422"],
    "me-import_attempts_csv": ["422"],
}
CONFIG = {
    "seed": 20261122,
    "generation": {"max-examples": MAX_EXAMPLES, "deterministic": True, "database": "none"},
    "phases": {"stateful": {"max-steps": STATEFUL_MAX_STEPS}},
    "cache": {"enabled": False},
    "suppress-health-check": ["all"],
    "workers": 1,
    "continue-on-failure": True,
    "operations": [
        {
            "include-operation-id": operation_id,
            "checks": {"positive_data_acceptance": {"expected-statuses": POSITIVE_STATUSES + extra}},
        }
        for operation_id, extra in BEYOND_THE_SCHEMA.items()
    ],
}


@pytest.fixture(scope="module")
def fuzz_database_url(database_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A scratch database beside the test database, migrated to head."""
    with scratch_database(database_url, tmp_path_factory.mktemp("fuzz"), "fuzz") as url:
        upgrade_to_head(url)
        yield url


@dataclass
class FuzzTarget:
    app: FastAPI
    user_token: str
    admin_token: str


def _login(client: asgi.ASGIClient, email: str) -> str:
    response = client.post(f"{API_PREFIX}/auth/token", data={"username": email, "password": PASSWORD})
    assert response.status_code == 200, response.text
    token: str = response.json()["access_token"]
    return token


def _register(client: asgi.ASGIClient, email: str) -> None:
    response = client.post(f"{API_PREFIX}/auth/register", json={"email": email, "password": PASSWORD})
    assert response.status_code == 201, response.text


@pytest.fixture(scope="module")
def fuzz_target(fuzz_database_url: str, settings: Settings) -> Iterator[FuzzTarget]:
    """The app on the scratch database with the catalog seeded, an ordinary user and an admin."""
    db = create_engine(fuzz_database_url, poolclass=NullPool)
    sessionmaker = create_sessionmaker(db)

    async def seed_and_create_admin() -> None:
        async with sessionmaker() as session:
            await seed_catalog(session)
            # As `rejection-tracker create-admin` does it.
            await accounts.register(
                session, UserCreate(email="fuzz-admin@example.com", password=PASSWORD), is_admin=True
            )
            await session.commit()

    asyncio.run(seed_and_create_admin())
    # Generous login and registration limits: the fuzzer should reach the handlers, not the 429s
    # (test_ratelimit.py covers those).
    unlimited = {
        "redis_url": None,
        "login_limit_per_client": 1_000_000,
        "login_limit_per_account": 1_000_000,
        "register_limit_per_client": 1_000_000,
        "register_limit_per_email": 1_000_000,
        "password_reset_limit_per_client": 1_000_000,
        "password_reset_limit_per_email": 1_000_000,
    }
    # Password-reset mail goes to a real SMTP server: without one the reset answers 503.
    smtp_server = SmtpTestServer()
    smtp_server.start()
    mail = {"smtp_url": SecretStr(smtp_server.url)}
    app = create_app(settings.model_copy(update=unlimited | mail), sessionmaker=sessionmaker)
    with asgi.get_client(app) as client:
        _register(client, "fuzz@example.com")
        target = FuzzTarget(app, _login(client, "fuzz@example.com"), _login(client, "fuzz-admin@example.com"))
    yield target
    smtp_server.stop()
    asyncio.run(db.dispose())


def _schema(target: FuzzTarget) -> OpenApiSchema:
    loaded = schemathesis.openapi.from_asgi("/openapi.json", target.app, config=schemathesis.Config.from_dict(CONFIG))
    throwaway = Counter[str]()

    @loaded.auth.auth(refresh_interval=None)
    class Tokens:
        """The admin's token on /admin routes, the user's elsewhere, and a new account for each DELETE /me
        (so the user the rest of the run needs is never deleted)."""

        def get(self, case: schemathesis.Case, _ctx: schemathesis.AuthContext) -> str:
            if case.operation.path.startswith(f"{API_PREFIX}/admin/"):
                return target.admin_token
            if case.operation.path == f"{API_PREFIX}/me" and case.method.upper() == "DELETE":
                throwaway["accounts"] += 1
                email = f"throwaway-{throwaway['accounts']}@example.com"
                with asgi.get_client(target.app) as client:
                    _register(client, email)
                    return _login(client, email)
            return target.user_token

        def set(self, case: schemathesis.Case, data: str, _ctx: schemathesis.AuthContext) -> None:
            case.headers = {**(case.headers or {}), "Authorization": f"Bearer {data}"}

    return loaded


@dataclass
class RunReport:
    cases: Counter[str]
    checks: Counter[str]
    statuses: Counter[int]
    failures: list[str]
    errors: list[str]


def _run(schema: OpenApiSchema) -> RunReport:
    report = RunReport(Counter(), Counter(), Counter(), [], [])
    finished = False
    for event in engine.from_schema(schema).execute():
        if isinstance(event, events.ScenarioFinished):
            recorder = event.recorder
            report.cases[event.phase.value] += len(recorder.cases)
            report.statuses.update(
                i.response.status_code for i in recorder.interactions.values() if i.response is not None
            )
            for node in (node for nodes in recorder.checks.values() for node in nodes):
                report.checks[node.name] += 1
                if node.failure_info is not None:
                    failure = node.failure_info.failure
                    report.failures.append(
                        f"{failure.operation}: {failure.title}: {failure.message}\n{node.failure_info.code_sample}"
                    )
        elif isinstance(event, events.NonFatalError | events.FatalError):
            report.errors.append(repr(event))
        elif isinstance(event, events.EngineFinished):
            finished = True
    assert finished, "the run did not finish"
    return report


def test_schemathesis_finds_no_failure(fuzz_target: FuzzTarget) -> None:
    report = _run(_schema(fuzz_target))
    print(
        f"\nschemathesis {schemathesis.__version__}: {report.cases.total()} cases {dict(report.cases)}; "
        f"checks {dict(report.checks)}; statuses {dict(sorted(report.statuses.items()))}"
    )
    assert not report.errors, "\n".join(report.errors)
    assert not report.failures, "\n\n".join(sorted(set(report.failures)))
    # Guards against a configuration that quietly tests nothing.
    assert set(report.checks) == DEFAULT_CHECKS
    assert all(report.cases[phase] > 0 for phase in ("examples", "coverage", "fuzzing", "stateful"))
    assert sum(n for status, n in report.statuses.items() if 200 <= status < 300) > 500


async def test_the_trend_window_is_rfc3339_only(client: httpx.AsyncClient, alice: Account) -> None:
    response = await client.get(f"{API_PREFIX}/me/trend", params={"until": "0.5"}, headers=alice.headers)
    assert response.status_code == 422


# --- What schemathesis found, fixed, and pinned here so it stays fixed ---------------------------------


async def test_a_whole_number_written_with_a_fraction_is_that_integer(
    client: httpx.AsyncClient, alice: Account, make_challenge: MakeChallenge
) -> None:
    # JSON Schema's `integer` includes 6.0, and JSON has one number type; 6.5 stays refused.
    challenge = await make_challenge()
    body = {"challenge_id": str(challenge.id), "outcome": "rejected", "distress_before": 50.0, "distress_peak": 70}
    logged = await client.post(f"{API_PREFIX}/attempts", json=body, headers=alice.headers)
    assert logged.status_code == 201, logged.text
    assert logged.json()["distress_before"] == 50
    half = await client.post(f"{API_PREFIX}/attempts", json={**body, "distress_before": 50.5}, headers=alice.headers)
    assert half.status_code == 422


async def test_a_time_in_a_query_or_body_is_rfc3339_text_never_a_unix_time(
    client: httpx.AsyncClient, alice: Account, make_challenge: MakeChallenge
) -> None:
    for value in ("0.5", "1700000000"):
        listed = await client.get(f"{API_PREFIX}/attempts", params={"since": value}, headers=alice.headers)
        assert listed.status_code == 422, value
    challenge = await make_challenge()
    body = {"challenge_id": str(challenge.id), "outcome": "avoided", "distress_before": 5, "occurred_at": "1700000000"}
    assert (await client.post(f"{API_PREFIX}/attempts", json=body, headers=alice.headers)).status_code == 422


def test_fields_a_patch_may_not_null_are_documented_as_not_nullable() -> None:
    schema = create_app(Settings(environment="test", secret_key="k" * 40)).openapi()
    update = schema["components"]["schemas"]["AttemptUpdate"]["properties"]
    for name in ("occurred_at", "outcome", "distress_before"):
        assert "anyOf" not in update[name], name
        assert "type" in update[name] or "$ref" in update[name], name
    assert {"type": "null"} in update["distress_peak"]["anyOf"]


def test_text_rules_are_in_the_schema() -> None:
    schemas = create_app(Settings(environment="test", secret_key="k" * 40)).openapi()["components"]["schemas"]
    title = schemas["ChallengeCreate"]["properties"]["title"]["pattern"]
    assert re.search(title, "Ask for water")
    for bad in ("", "   ", "line\nbreak", "nul\x00", "bell\x07"):
        assert not re.search(title, bad), repr(bad)
    notes = schemas["AttemptCreate"]["properties"]["notes"]["anyOf"][0]["pattern"]
    assert re.search(notes, "two\nlines\tand a tab")
    assert re.search(notes, "")
    assert not re.search(notes, "nul\x00")
    assert "Europe/Berlin" in schemas["UserCreate"]["properties"]["timezone"]["examples"]


async def test_the_import_route_answers_405_to_other_methods(client: httpx.AsyncClient, admin: Account) -> None:
    # It used to be read as `GET /admin/challenges/{challenge_id}` with the id "import" (422).
    response = await client.get(f"{API_PREFIX}/admin/challenges/import", headers=admin.headers)
    assert response.status_code == 405
    assert response.headers["allow"] == "POST"
