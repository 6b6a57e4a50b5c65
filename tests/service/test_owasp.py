"""OWASP API Security Top 10 (2023), one group per risk.

The route-walking tests read the app's own routes and OpenAPI document, so a route added later is
checked without anyone remembering to: a new route with an id must be named in `OWNED_RESOURCES`, a
new public route in `PUBLIC_ROUTES`, a new JSON body in `VALID_BODIES`, or its test fails.
"""

import ast
import re
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import jwt
import pytest
from fastapi import FastAPI
from fastapi.routing import APIRoute, RouteContext, iter_route_contexts
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.catalog.models import Category, Challenge
from app.core.config import Settings
from app.core.middleware import BODY_LIMIT_KEY
from app.core.models import utcnow
from app.main import API_PREFIX, create_app
from tests.conftest import PASSWORD, Account, MakeAttempt, MakeChallenge, SmtpTestServer

PROBLEM = "application/problem+json"
APP_DIR = Path(__file__).resolve().parents[2] / "app"

# Answer without a login. Everything else must answer 401 to a request without a valid token.
PUBLIC_ROUTES = {
    "/health": "liveness probe",
    "/ready": "readiness probe",
    "/metrics": "Prometheus scrape: counts by route template and status, no user data",
    f"{API_PREFIX}/auth/register": "creating an account",
    f"{API_PREFIX}/auth/token": "signing in, and refreshing with a refresh token (the credential itself)",
    f"{API_PREFIX}/auth/logout": "ending a session with its refresh token (the credential itself)",
    f"{API_PREFIX}/auth/password-reset": "asking for a reset code by email: the caller has lost the password",
    f"{API_PREFIX}/auth/password-reset/confirm": "setting a new password with the emailed code (the credential)",
    "/openapi.json": "the API description",
    "/docs": "Swagger UI",
    "/docs/oauth2-redirect": "Swagger UI's login redirect",
    "/static/swagger-ui/{path}": "Swagger UI's own assets",
    f"{API_PREFIX}/calendar/{{token}}.ics": "the calendar feed, for apps that send no header: the address is the key",
}
# Served outside /api/v1 on purpose: probes, metrics and docs, at the paths tools expect.
SERVICE_ROUTES = {
    "/health",
    "/ready",
    "/metrics",
    "/openapi.json",
    "/docs",
    "/docs/oauth2-redirect",
    "/static/swagger-ui/{path}",
}

# Every path with an id, and whose resource the id names. `None`: not owned by a user (reason given).
OWNED_RESOURCES: dict[str, str | None] = {
    f"{API_PREFIX}/me/tokens/{{token_id}}": "token",
    f"{API_PREFIX}/me/sessions/{{session_id}}": "session",
    f"{API_PREFIX}/challenges/{{challenge_id}}": "challenge",
    f"{API_PREFIX}/attempts/{{attempt_id}}": "attempt",
    f"{API_PREFIX}/me/pauses/{{pause_id}}": "pause",
    f"{API_PREFIX}/plans/{{plan_id}}": "plan",
    # The feed's token is a secret, not an id: another user's is as unknown as a made-up one (404).
    f"{API_PREFIX}/calendar/{{token}}.ics": None,
    # Admins curate the catalog; a user's custom challenge stays private even from them.
    f"{API_PREFIX}/admin/challenges/{{challenge_id}}": "challenge",
    # Categories are shared catalog data that no user owns; only admins may change them (API5).
    f"{API_PREFIX}/admin/categories/{{slug}}": None,
}
PATCH_BODIES = {
    "challenge": {"title": "Taken over by someone else"},
    "attempt": {"notes": "Taken over by someone else", "distress_peak": 1},
    "plan": {"expected_outcome": "Taken over by someone else", "status": "cancelled"},
}

# A valid JSON body for every operation that takes one, by operation id.
VALID_BODIES: dict[str, Any] = {
    "auth-register": {"email": "newcomer@example.com", "password": PASSWORD},
    "me-update_me": {"display_name": "Sam"},
    "me-create_token": {"name": "export script"},
    "me-change_password": {"current_password": PASSWORD, "new_password": "a new passphrase"},
    "me-import_data": {"attempts": []},
    "auth-logout": {"refresh_token": "rtr_not-a-real-one"},
    "auth-request_password_reset": {"email": "alice@example.com"},
    "auth-confirm_password_reset": {"email": "alice@example.com", "code": "12345678", "new_password": PASSWORD},
    "challenges-create_challenge": {
        "title": "Ask for a glass of water",
        "description": "At a café counter.",
        "category": "everyday",
        "difficulty": 2,
    },
    "challenges-update_challenge": {"title": "Ask for two glasses of water"},
    "admin-create_challenge": {
        "slug": "ask-for-water",
        "title": "Ask for a glass of water",
        "description": "At a café counter.",
        "category": "everyday",
        "difficulty": 2,
    },
    "admin-update_challenge": {"difficulty": 3},
    "admin-create_category": {"slug": "online", "name": "Online"},
    "admin-update_category": {"name": "Everyday asks"},
    "attempts-create_attempt": {"challenge_id": str(uuid.uuid4()), "outcome": "avoided", "distress_before": 40},
    "attempts-update_attempt": {"notes": "Went fine."},
    "progress-replace_ladder": {"steps": [{"challenge_id": str(uuid.uuid4()), "anticipated_distress": 30}]},
    "progress-create_pause": {"start_date": "2026-12-24", "end_date": "2026-12-27", "reason": "Flu"},
    "plans-create_plan": {"challenge_id": str(uuid.uuid4()), "expected_rejection": 60},
    "plans-update_plan": {"status": "cancelled"},
}
# Fields a client must never set; each is sent to every operation whose body does not declare it.
PRIVILEGED_FIELDS = ("user_id", "owner_id", "is_admin", "is_custom", "created_at", "updated_at", "version", "digest")
# Response fields that would carry a secret; the only ones allowed are the documented one-time answers.
SECRET_FIELD = re.compile(r"(^|_)(password|hash|digest|secret|token)$")
ALLOWED_SECRET_FIELDS = {("auth-token", "access_token"), ("auth-token", "refresh_token"), ("me-create_token", "token")}


@pytest.fixture
def app(settings: Settings, sessionmaker: async_sessionmaker[AsyncSession]) -> FastAPI:
    return create_app(settings, sessionmaker=sessionmaker)


@pytest.fixture
async def api(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        yield client


@pytest.fixture
async def everyday(session: AsyncSession) -> Category:
    category = Category(slug="everyday", name="Everyday", description="")
    session.add(category)
    await session.commit()
    return category


def _served(app: FastAPI) -> Iterator[RouteContext]:
    """Every route the app serves, those of included routers too."""
    return iter_route_contexts(app.routes)


def _path(route: RouteContext) -> str:
    return str(route.path_format or route.path)


def _methods(route: RouteContext) -> set[str]:
    return set(route.methods or set()) - {"HEAD"}


def _fill(path: str) -> str:
    """A concrete URL for a route template: a fresh UUID for each id, a plausible slug for a slug."""
    return re.sub(r"{(\w+)}", lambda m: "everyday" if m.group(1) == "slug" else str(uuid.uuid4()), path)


def _routes(app: FastAPI) -> Iterator[tuple[str, str]]:
    """(method, path template) of every route the app serves, documented or not."""
    for route in _served(app):
        for method in sorted(_methods(route)):
            yield method, _path(route)


def _operations(app: FastAPI) -> Iterator[tuple[str, str, dict[str, Any]]]:
    for path, item in app.openapi()["paths"].items():
        for method, operation in item.items():
            yield method.upper(), path, operation


def _resolve(document: dict[str, Any], schema: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in schema:
        name = schema["$ref"].removeprefix("#/components/schemas/")
        schema = document["components"]["schemas"][name]
    return schema


def _walk(document: dict[str, Any], schema: dict[str, Any], seen: frozenset[str] = frozenset()) -> Iterator[Any]:
    """Every (sub)schema reachable from `schema`, references followed once."""
    ref = schema.get("$ref")
    if ref is not None:
        if ref in seen:
            return
        yield from _walk(document, _resolve(document, schema), seen | {ref})
        return
    yield schema
    for key in ("anyOf", "oneOf", "allOf", "prefixItems"):
        for sub in schema.get(key, []):
            yield from _walk(document, sub, seen)
    for key in ("items", "additionalProperties", "not"):
        if isinstance(schema.get(key), dict):
            yield from _walk(document, schema[key], seen)
    for sub in schema.get("properties", {}).values():
        yield from _walk(document, sub, seen)


def _json_body(operation: dict[str, Any]) -> dict[str, Any] | None:
    content = operation.get("requestBody", {}).get("content", {})
    schema: dict[str, Any] | None = content.get("application/json", {}).get("schema")
    return schema


# --- API1: broken object-level authorization ---------------------------------------------------------


async def test_api1_another_users_resource_is_404_on_every_verb_and_stays_unchanged(
    *,
    app: FastAPI,
    api: httpx.AsyncClient,
    alice: Account,
    bob: Account,
    admin: Account,
    everyday: Category,
    make_challenge: MakeChallenge,
    make_attempt: MakeAttempt,
) -> None:
    catalog = await make_challenge()

    async def token() -> tuple[str, Callable[[], Awaitable[Any]]]:
        created = await api.post(f"{API_PREFIX}/me/tokens", json={"name": "alice's script"}, headers=alice.headers)
        listed = f"{API_PREFIX}/me/tokens"
        return created.json()["id"], lambda: api.get(listed, headers=alice.headers)

    async def challenge() -> tuple[str, Callable[[], Awaitable[Any]]]:
        own: Challenge = await make_challenge(owner=alice.user, title="Alice's own ask")
        return str(own.id), lambda: api.get(f"{API_PREFIX}/challenges/{own.id}", headers=alice.headers)

    async def attempt() -> tuple[str, Callable[[], Awaitable[Any]]]:
        logged = await make_attempt(alice.user, catalog, notes="Alice's private note")
        return str(logged.id), lambda: api.get(f"{API_PREFIX}/attempts/{logged.id}", headers=alice.headers)

    async def session() -> tuple[str, Callable[[], Awaitable[Any]]]:
        signed_in = await api.post(
            f"{API_PREFIX}/auth/token", data={"username": "alice@example.com", "password": PASSWORD}
        )
        claims = jwt.decode(signed_in.json()["access_token"], options={"verify_signature": False})
        return claims["sid"], lambda: api.get(f"{API_PREFIX}/me/sessions", headers=alice.headers)

    async def plan() -> tuple[str, Callable[[], Awaitable[Any]]]:
        made = await api.post(
            f"{API_PREFIX}/plans",
            json={"challenge_id": str(catalog.id), "expected_rejection": 60},
            headers=alice.headers,
        )
        return made.json()["id"], lambda: api.get(f"{API_PREFIX}/plans/{made.json()['id']}", headers=alice.headers)

    async def pause() -> tuple[str, Callable[[], Awaitable[Any]]]:
        today = utcnow().date().isoformat()
        made = await api.post(
            f"{API_PREFIX}/me/pauses", json={"start_date": today, "end_date": today}, headers=alice.headers
        )
        return made.json()["id"], lambda: api.get(f"{API_PREFIX}/me/pauses", headers=alice.headers)

    makers = {
        "token": token,
        "challenge": challenge,
        "attempt": attempt,
        "session": session,
        "plan": plan,
        "pause": pause,
    }
    with_ids = {(method, path) for method, path in _routes(app) if "{" in path}
    assert {path for _, path in with_ids} == set(OWNED_RESOURCES), "name the resource of every path with an id"
    checked = 0
    for method, path in sorted(with_ids):
        kind = OWNED_RESOURCES[path]
        if kind is None:
            continue
        resource_id, read = await makers[kind]()
        before = (await read()).json()
        intruder = admin if path.startswith(f"{API_PREFIX}/admin/") else bob
        url = re.sub(r"{\w+}", resource_id, path)
        response = await api.request(method, url, json=PATCH_BODIES.get(kind), headers=intruder.headers)
        assert response.status_code == 404, (method, path, response.text)
        assert response.headers["content-type"] == PROBLEM
        assert resource_id not in response.text
        assert (await read()).json() == before, (method, path)
        checked += 1
    assert checked >= 10


# --- API2: broken authentication ---------------------------------------------------------------------


async def test_api2_every_route_but_the_public_ones_needs_a_valid_token(app: FastAPI, api: httpx.AsyncClient) -> None:
    served = {_path(route) for route in _served(app)}
    assert set(PUBLIC_ROUTES) <= served, "a public route listed here no longer exists"
    protected = [(m, p) for m, p in _routes(app) if p not in PUBLIC_ROUTES]
    assert len(protected) >= 25
    for method, path in protected:
        body = [] if path.endswith("/import") else {}
        for headers in ({}, {"Authorization": "Bearer not-a-token"}, {"Authorization": "Bearer rt_revoked"}):
            response = await api.request(method, _fill(path), json=body, headers=headers)
            assert response.status_code == 401, (method, path, headers, response.text)
            assert response.headers["content-type"] == PROBLEM
            assert response.headers["www-authenticate"] == "Bearer"


async def test_api2_logins_cannot_be_guessed_without_limit(settings: Settings) -> None:
    # The limits themselves are tested in test_ratelimit.py and test_password_reset.py; here: they are on by
    # default. Per account (email) they are tight; per address only coarse, as behind carrier-grade NAT
    # thousands of phones share one address.
    defaults = Settings(environment="test", secret_key=settings.signing_key)
    assert defaults.login_limit_per_account <= 10
    assert defaults.login_limit_per_client <= 200
    assert defaults.password_reset_limit_per_email <= 5
    assert defaults.password_reset_limit_per_client <= 100


async def test_api2_a_refresh_token_opens_nothing_but_a_refresh(api: httpx.AsyncClient, alice: Account) -> None:
    signed_in = await api.post(f"{API_PREFIX}/auth/token", data={"username": "alice@example.com", "password": PASSWORD})
    refresh_token = signed_in.json()["refresh_token"]
    response = await api.get(f"{API_PREFIX}/me", headers={"Authorization": f"Bearer {refresh_token}"})
    assert response.status_code == 401
    assert response.headers["content-type"] == PROBLEM


# --- API3: broken object property-level authorization ------------------------------------------------


def test_api3_every_request_body_refuses_unknown_fields_in_its_schema(app: FastAPI) -> None:
    document = app.openapi()
    bodies = 0
    for method, path, operation in _operations(app):
        schema = _json_body(operation)
        if schema is None:
            continue
        bodies += 1
        objects = [s for s in _walk(document, schema) if s.get("type") == "object" or "properties" in s]
        assert objects, (method, path)
        for sub in objects:
            assert sub.get("additionalProperties") is False, (method, path, sub.get("title"))
    assert bodies == len(VALID_BODIES) + 1  # and the import, checked item by item below


async def test_api3_privileged_fields_are_refused_and_nothing_is_stored(
    app: FastAPI, api: httpx.AsyncClient, alice: Account, admin: Account, everyday: Category
) -> None:
    document = app.openapi()
    for method, path, operation in _operations(app):
        schema = _json_body(operation)
        if schema is None or operation["operationId"] == "admin-import_challenges":
            continue
        assert operation["operationId"] in VALID_BODIES, f"add a valid body for {method} {path}"
        declared = set(_resolve(document, schema).get("properties", {}))
        headers = admin.headers if path.startswith(f"{API_PREFIX}/admin/") else alice.headers
        for field in PRIVILEGED_FIELDS:
            if field in declared:
                continue
            body = {**VALID_BODIES[operation["operationId"]], field: True}
            response = await api.request(method, _fill(path), json=body, headers=headers)
            assert response.status_code == 422, (method, path, field, response.text)
            errors = response.json()["errors"]
            assert {"loc": ["body", field], "type": "extra_forbidden"} in [
                {"loc": e["loc"], "type": e["type"]} for e in errors
            ], (method, path, field)
    me = (await api.get(f"{API_PREFIX}/me", headers=alice.headers)).json()
    assert me["is_admin"] is False
    assert me["display_name"] is None


async def test_api3_an_import_item_with_privileged_fields_is_rejected_not_stored(
    api: httpx.AsyncClient, admin: Account, everyday: Category
) -> None:
    item = {**VALID_BODIES["admin-create_challenge"], "owner_id": str(uuid.uuid4()), "version": 99}
    response = await api.post(f"{API_PREFIX}/admin/challenges/import", json=[item], headers=admin.headers)
    assert response.status_code == 200
    result = response.json()
    assert result["created"] == 0
    assert {tuple(e["loc"]) for e in result["rejected"][0]["errors"]} == {("owner_id",), ("version",)}


def test_api3_no_response_schema_carries_a_secret_but_the_one_time_tokens(app: FastAPI) -> None:
    document = app.openapi()
    found = set()
    for _, _, operation in _operations(app):
        for response in operation["responses"].values():
            for media in response.get("content", {}).values():
                for sub in _walk(document, media.get("schema", {})):
                    found |= {(operation["operationId"], name) for name in sub.get("properties", {})}
    secrets = {(op, name) for op, name in found if SECRET_FIELD.search(name)}
    assert secrets == ALLOWED_SECRET_FIELDS


async def test_api3_the_export_holds_no_secret(api: httpx.AsyncClient, alice: Account) -> None:
    created = await api.post(f"{API_PREFIX}/me/tokens", json={"name": "script"}, headers=alice.headers)
    secret = created.json()["token"]
    export = await api.get(f"{API_PREFIX}/me/export", headers=alice.headers)
    assert export.status_code == 200
    assert secret not in export.text
    assert alice.token not in export.text
    assert alice.user.password_hash not in export.text
    assert PASSWORD not in export.text
    keys = set(re.findall(r'"(\w+)":', export.text))
    assert not {key for key in keys if SECRET_FIELD.search(key)}


# --- API4: unrestricted resource consumption ---------------------------------------------------------


async def test_api4_every_page_size_is_capped(app: FastAPI, api: httpx.AsyncClient, alice: Account) -> None:
    pages = 0
    for method, path, operation in _operations(app):
        for parameter in operation.get("parameters", []):
            if parameter["name"] != "limit":
                continue
            pages += 1
            assert parameter["schema"]["maximum"] <= 200, path
            too_many = parameter["schema"]["maximum"] + 1
            if path.startswith(f"{API_PREFIX}/admin/"):
                continue  # the same Limit type; answered 403 to alice before it is read
            response = await api.request(method, path, params={"limit": too_many}, headers=alice.headers)
            assert response.status_code == 422, path
    assert pages >= 5


def test_api4_every_input_is_bounded_in_the_schema(app: FastAPI) -> None:
    document = app.openapi()
    for method, path, operation in _operations(app):
        schemas = [p["schema"] for p in operation.get("parameters", [])]
        body = _json_body(operation)
        if body is not None:
            schemas.append(body)
        for schema in schemas:
            for sub in _walk(document, schema):
                where = (method, path, sub.get("title"))
                if sub.get("type") == "string" and "enum" not in sub and sub.get("format") not in ("uuid", "date-time"):
                    assert "maxLength" in sub, where
                if sub.get("type") == "integer":
                    assert "maximum" in sub, where
                if sub.get("type") == "array":
                    assert "maxItems" in sub, where


async def test_api4_every_body_is_capped_in_size(app: FastAPI, api: httpx.AsyncClient, settings: Settings) -> None:
    for method, path, operation in _operations(app):
        if "requestBody" not in operation:
            continue
        assert "413" in operation["responses"], f"{method} {path} does not declare its 413"
        # A file upload declares a larger limit of its own (see app/core/middleware.py).
        limit = max(settings.max_body_bytes, operation.get(BODY_LIMIT_KEY, 0))
        huge = b"[" + b" " * limit + b"]"
        content_type = next(iter(operation["requestBody"]["content"]))
        response = await api.request(method, _fill(path), content=huge, headers={"Content-Type": content_type})
        assert response.status_code == 413, (method, path)
        assert response.headers["content-type"] == PROBLEM


# --- API5: broken function-level authorization -------------------------------------------------------


async def test_api5_every_admin_route_is_401_without_a_token_and_403_for_a_user(
    app: FastAPI, api: httpx.AsyncClient, alice: Account
) -> None:
    admin_routes = [(m, p) for m, p in _routes(app) if p.startswith(f"{API_PREFIX}/admin/")]
    assert len(admin_routes) >= 8
    for method, path in admin_routes:
        body = [] if path.endswith("/import") else {}
        anonymous = await api.request(method, _fill(path), json=body)
        assert anonymous.status_code == 401, (method, path)
        user = await api.request(method, _fill(path), json=body, headers=alice.headers)
        assert user.status_code == 403, (method, path, user.text)
        assert user.headers["content-type"] == PROBLEM
    # The docs list them under the admin tag, where admins look for them.
    assert all(op["tags"] == ["admin"] for _, p, op in _operations(app) if p.startswith(f"{API_PREFIX}/admin/"))


async def test_api5_every_route_that_changes_data_is_403_for_a_read_only_token(
    app: FastAPI, api: httpx.AsyncClient, alice: Account, admin: Account
) -> None:
    readers = {}
    for owner in (alice, admin):
        created = await api.post(
            f"{API_PREFIX}/me/tokens", json={"name": "reader", "scopes": ["read"]}, headers=owner.headers
        )
        readers[owner.user.id] = {"Authorization": f"Bearer {created.json()['token']}"}
    changing = [(m, p) for m, p in _routes(app) if m not in ("GET", "OPTIONS") and p not in PUBLIC_ROUTES]
    assert len(changing) >= 15
    for method, path in changing:
        owner = admin if path.startswith(f"{API_PREFIX}/admin/") else alice
        body: list[object] | dict[str, object] = [] if path.endswith("/import") else {}
        response = await api.request(method, _fill(path), json=body, headers=readers[owner.user.id])
        assert response.status_code == 403, (method, path, response.text)
        assert response.headers["content-type"] == PROBLEM
    assert (await api.get(f"{API_PREFIX}/me", headers=readers[alice.user.id])).status_code == 200


# --- API6: unrestricted access to sensitive business flows -------------------------------------------


async def test_api6_mass_registration_from_one_client_is_refused(
    settings: Settings, sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    # Default limits, not the test's: the flow a bot would abuse is limited out of the box.
    defaults = Settings(environment="test", database_url=settings.database_url, secret_key=settings.signing_key)
    app = create_app(defaults, sessionmaker=sessionmaker)
    transport = httpx.ASGITransport(app=app, client=("203.0.113.66", 40000))
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        statuses = [
            (
                await client.post(
                    f"{API_PREFIX}/auth/register", json={"email": f"bot{i}@example.com", "password": PASSWORD}
                )
            ).status_code
            for i in range(defaults.register_limit_per_client + 1)
        ]
        refused = await client.post(
            f"{API_PREFIX}/auth/register", json={"email": "bot@example.com", "password": PASSWORD}
        )
    assert statuses[:-1] == [201] * defaults.register_limit_per_client
    assert statuses[-1] == 429
    assert refused.status_code == 429
    assert int(refused.headers["retry-after"]) > 0
    assert refused.headers["content-type"] == PROBLEM


async def test_api6_one_inbox_cannot_be_flooded_with_reset_codes(
    settings: Settings, sessionmaker: async_sessionmaker[AsyncSession], smtp_server: SmtpTestServer, alice: Account
) -> None:
    # Default limits, from addresses that differ: the per-email limit holds whoever asks.
    defaults = Settings(
        environment="test",
        database_url=settings.database_url,
        secret_key=settings.signing_key,
        smtp_url=smtp_server.url,
    )
    app = create_app(defaults, sessionmaker=sessionmaker)
    statuses = []
    for i in range(defaults.password_reset_limit_per_email + 1):
        transport = httpx.ASGITransport(app=app, client=(f"198.51.100.{i}", 40000))
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            response = await client.post(f"{API_PREFIX}/auth/password-reset", json={"email": "alice@example.com"})
            statuses.append(response.status_code)
    assert statuses == [202] * defaults.password_reset_limit_per_email + [429]
    assert len(smtp_server.messages) == defaults.password_reset_limit_per_email


# --- API7: server-side request forgery ---------------------------------------------------------------

URL_LIKE = re.compile(r"(url|uri|href|link|callback|webhook|redirect)", re.IGNORECASE)
HTTP_CLIENTS = {"httpx", "requests", "aiohttp", "urllib.request", "urllib3", "http.client", "pycurl", "socket"}


def _imported_modules() -> set[str]:
    modules = set()
    for source in APP_DIR.rglob("*.py"):
        for node in ast.walk(ast.parse(source.read_text())):
            if isinstance(node, ast.Import):
                modules |= {alias.name for alias in node.names}
            elif isinstance(node, ast.ImportFrom) and node.module:
                modules.add(node.module)
    return modules


def test_api7_no_route_takes_a_url_to_fetch(app: FastAPI) -> None:
    document = app.openapi()
    for method, path, operation in _operations(app):
        schemas = [p["schema"] for p in operation.get("parameters", [])]
        names = [p["name"] for p in operation.get("parameters", [])]
        body = _json_body(operation)
        if body is not None:
            schemas.append(body)
        for schema in schemas:
            for sub in _walk(document, schema):
                assert sub.get("format") not in ("uri", "url", "iri"), (method, path)
                names += list(sub.get("properties", {}))
        assert not [name for name in names if URL_LIKE.search(name)], (method, path)


def test_api7_the_app_has_no_http_client_to_forge_requests_with() -> None:
    modules = _imported_modules()
    assert not {m for m in modules if m in HTTP_CLIENTS or m.split(".")[0] in {"httpx", "requests", "aiohttp"}}


# --- API8: security misconfiguration -----------------------------------------------------------------


async def test_api8_security_headers_on_every_kind_of_answer(
    api: httpx.AsyncClient, alice: Account, settings: Settings
) -> None:
    answers = [
        await api.get(f"{API_PREFIX}/me", headers=alice.headers),
        await api.get(f"{API_PREFIX}/me"),
        await api.get(f"{API_PREFIX}/nowhere"),
        await api.put(f"{API_PREFIX}/me"),
        await api.patch(f"{API_PREFIX}/me", json={"timezone": "Mars/Olympus"}, headers=alice.headers),
        await api.post(f"{API_PREFIX}/me/tokens", content=b"x" * (settings.max_body_bytes + 1), headers=alice.headers),
    ]
    assert [a.status_code for a in answers] == [200, 401, 404, 405, 422, 413]
    for answer in answers:
        assert answer.headers["x-content-type-options"] == "nosniff"
        assert answer.headers["x-frame-options"] == "DENY"
        assert answer.headers["cache-control"] == "no-store"
        assert answer.headers["content-security-policy"].startswith("default-src 'none'")
        assert answer.headers["referrer-policy"] == "no-referrer"
        assert "strict-transport-security" not in answer.headers  # only in production, behind TLS
        assert "server" not in answer.headers


async def test_api8_hsts_in_production(settings: Settings, sessionmaker: async_sessionmaker[AsyncSession]) -> None:
    production = settings.model_copy(update={"environment": "production"})
    transport = httpx.ASGITransport(app=create_app(production, sessionmaker=sessionmaker))
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        response = await client.get("/health")
    assert response.headers["strict-transport-security"].startswith("max-age=")


async def test_api8_wrong_methods_answer_405_problem_naming_every_allowed_method(
    app: FastAPI, api: httpx.AsyncClient
) -> None:
    allowed: dict[str, set[str]] = {}
    for method, path in _routes(app):
        if path != "/static/swagger-ui/{path}":
            allowed.setdefault(path, set()).add(method)
    for path, methods in allowed.items():
        wrong = next(m for m in ("PUT", "PATCH", "DELETE", "POST", "GET") if m not in methods)
        response = await api.request(wrong, _fill(path))
        assert response.status_code == 405, (wrong, path)
        assert response.headers["content-type"] == PROBLEM
        assert set(response.headers["allow"].split(", ")) - {"HEAD"} == methods, path


def test_api8_no_debug_mode_and_no_cors_by_default(app: FastAPI) -> None:
    defaults = Settings(environment="production", secret_key="x" * 32)
    assert defaults.cors_origins == []
    assert app.debug is False


async def test_api8_no_cors_headers_unless_origins_are_configured(api: httpx.AsyncClient, alice: Account) -> None:
    preflight = await api.options(
        f"{API_PREFIX}/me",
        headers={"Origin": "https://evil.example.com", "Access-Control-Request-Method": "GET"},
    )
    simple = await api.get(f"{API_PREFIX}/me", headers={**alice.headers, "Origin": "https://evil.example.com"})
    for response in (preflight, simple):
        assert not [h for h in response.headers if h.startswith("access-control-")]


async def test_api8_errors_never_show_internals(api: httpx.AsyncClient, alice: Account) -> None:
    broken = await api.post(
        f"{API_PREFIX}/attempts",
        content=b'{"challenge_id": ',
        headers={**alice.headers, "Content-Type": "application/json"},
    )
    undecodable = await api.post(
        f"{API_PREFIX}/attempts", content=b"\xff\xfe{", headers={**alice.headers, "Content-Type": "application/json"}
    )
    for response in (broken, undecodable):
        assert response.status_code == 422
        assert response.headers["content-type"] == PROBLEM
        assert response.json()["errors"][0]["type"] == "json_invalid"
        assert "Traceback" not in response.text
        assert "app/" not in response.text


async def test_api8_the_docs_can_be_switched_off(
    settings: Settings, sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    app = create_app(settings.model_copy(update={"docs_enabled": False}), sessionmaker=sessionmaker)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        for path in ("/docs", "/openapi.json", "/static/swagger-ui/swagger-ui-bundle.js"):
            assert (await client.get(path)).status_code == 404, path


# --- API9: improper inventory management -------------------------------------------------------------


def test_api9_every_route_is_documented_and_versioned(app: FastAPI) -> None:
    documented = {(m, p) for m, p, _ in _operations(app)}
    for route in _served(app):
        path = _path(route)
        if isinstance(route.original_route, APIRoute) and route.include_in_schema:
            assert {(m, path) for m in _methods(route)} <= documented, path
            assert path in SERVICE_ROUTES or path.startswith(f"{API_PREFIX}/"), path
        else:
            assert path in SERVICE_ROUTES, f"{path} is served but not documented"
    assert {p for _, p in documented if not p.startswith(f"{API_PREFIX}/")} == {"/health", "/ready", "/metrics"}
    assert app.openapi()["info"]["version"]


# --- API10: unsafe consumption of APIs ---------------------------------------------------------------


def test_api10_not_applicable_no_third_party_api_is_consumed() -> None:
    """N/A: the service calls no third-party API. Its only outbound connections are to its own
    database, (optionally) its own Redis for rate limits and the SMTP server that SMTP_URL names for
    mail; test_api7 shows it has no HTTP client."""
    third_party = {"httpx", "requests", "aiohttp", "urllib3", "boto3", "stripe", "openai", "google"}
    assert not {m for m in _imported_modules() if m.split(".")[0] in third_party}
