"""The OpenAPI document as client generators read it: valid examples, typed errors, named enums, declared headers."""

from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from jsonschema import Draft202012Validator
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

from app.core.config import Settings
from app.main import create_app
from tests.conftest import Account, MakeChallenge

DOCUMENT_URI = "urn:rejection-tracker:openapi"
PROBLEM = {"application/problem+json": {"schema": {"$ref": "#/components/schemas/Problem"}}}
METHODS = {"get", "put", "post", "delete", "patch", "head", "options", "trace"}


@pytest.fixture(scope="module")
def document() -> dict[str, Any]:
    return create_app(Settings(environment="test")).openapi()


def _operations(document: dict[str, Any]) -> Iterator[tuple[str, dict[str, Any]]]:
    for path, item in document["paths"].items():
        for method, operation in item.items():
            if method in METHODS:
                yield f"{method.upper()} {path}", operation


def _pointer(path: list[str | int]) -> str:
    return "".join("/" + str(part).replace("~", "~0").replace("/", "~1") for part in path)


def _examples(node: Any, path: list[str | int]) -> Iterator[tuple[str, str, Any]]:
    """(where, pointer to the schema it must match, example), for every example anywhere in the document."""
    if isinstance(node, list):
        for index, item in enumerate(node):
            yield from _examples(item, [*path, index])
        return
    if not isinstance(node, dict):
        return
    # A parameter, header or media type holds its examples beside its `schema`; a schema holds its own.
    target = _pointer([*path, "schema"]) if "schema" in node else _pointer(path)
    if "example" in node:
        yield _pointer([*path, "example"]), target, node["example"]
    examples = node.get("examples")
    if isinstance(examples, list):  # JSON Schema's `examples`: values
        for index, value in enumerate(examples):
            yield _pointer([*path, "examples", index]), target, value
    elif isinstance(examples, dict):  # OpenAPI's `examples`: Example objects by name
        for name, example in examples.items():
            yield _pointer([*path, "examples", name]), target, example["value"]
    for key, value in node.items():
        if key not in ("example", "examples"):
            yield from _examples(value, [*path, key])


def test_every_example_matches_its_schema(document: dict[str, Any]) -> None:
    registry: Registry[Any] = Registry().with_resource(DOCUMENT_URI, Resource(document, specification=DRAFT202012))
    found = list(_examples(document, []))
    assert len(found) > 100
    invalid = []
    for where, schema_pointer, example in found:
        validator = Draft202012Validator(
            {"$ref": f"{DOCUMENT_URI}#{schema_pointer}"},
            registry=registry,
            format_checker=Draft202012Validator.FORMAT_CHECKER,
        )
        invalid += [f"{where}{error.json_path[1:]}: {error.message}" for error in validator.iter_errors(example)]
    assert invalid == []


def test_every_operation_has_a_summary_and_a_description(document: dict[str, Any]) -> None:
    undescribed = {name for name, op in _operations(document) if not op.get("summary") or not op.get("description")}
    assert undescribed == set()


def test_every_error_is_a_problem_and_only_a_problem(document: dict[str, Any]) -> None:
    for name, operation in _operations(document):
        for status, response in operation["responses"].items():
            if int(status) >= 400:
                assert response["content"] == PROBLEM, f"{name} {status}"
        assert "500" in operation["responses"], name
    schemas = document["components"]["schemas"]
    assert "HTTPValidationError" not in schemas
    assert schemas["Problem"]["properties"]["errors"]["anyOf"][0]["items"] == {
        "$ref": "#/components/schemas/ValidationIssue"
    }


def test_every_route_with_a_database_session_declares_503(document: dict[str, Any]) -> None:
    without_database = {"GET /health", "GET /metrics"}
    for name, operation in _operations(document):
        if name not in without_database:
            assert operation["responses"]["503"]["headers"]["Retry-After"], name


def _inline_enums(node: Any, path: list[str | int]) -> Iterator[str]:
    if isinstance(node, dict):
        # Only a component itself may list an enum's values: everything else refers to it by name.
        if "enum" in node and not (len(path) == 3 and path[:2] == ["components", "schemas"]):
            yield _pointer(path)
        for key, value in node.items():
            yield from _inline_enums(value, [*path, key])
    elif isinstance(node, list):
        for index, item in enumerate(node):
            yield from _inline_enums(item, [*path, index])


def test_every_enum_is_one_named_component(document: dict[str, Any]) -> None:
    assert list(_inline_enums(document, [])) == []
    schemas = document["components"]["schemas"]
    for name in ("Outcome", "ChallengeStatus", "TrendStatus", "StatusCode", "LevelCode", "SupportReason", "TokenScope"):
        assert "enum" in schemas[name], name
    outcome = {"$ref": "#/components/schemas/Outcome"}
    assert schemas["AttemptCreate"]["properties"]["outcome"]["$ref"] == outcome["$ref"]
    assert schemas["AttemptUpdate"]["properties"]["outcome"]["$ref"] == outcome["$ref"]
    assert schemas["AttemptPublic"]["properties"]["outcome"]["$ref"] == outcome["$ref"]
    listing = document["paths"]["/api/v1/attempts"]["get"]["parameters"]
    assert next(p for p in listing if p["name"] == "outcome")["schema"]["anyOf"][0] == outcome


def test_every_201_declares_location(document: dict[str, Any]) -> None:
    created = [(name, op["responses"]["201"]) for name, op in _operations(document) if "201" in op["responses"]]
    assert len(created) >= 6
    without = {name for name, response in created if "Location" not in response.get("headers", {})}
    assert without == set()


def test_rate_limited_routes_declare_429_and_the_ratelimit_fields(document: dict[str, Any]) -> None:
    limited = {name: operation for name, operation in _operations(document) if "429" in operation["responses"]}
    assert set(limited) == {
        "POST /api/v1/auth/register",
        "POST /api/v1/auth/token",
        "POST /api/v1/auth/password-reset",
        "POST /api/v1/auth/password-reset/confirm",
        "POST /api/v1/me/password",
        "GET /api/v1/calendar/{token}.ics",
    }
    for name, operation in limited.items():
        for status, response in operation["responses"].items():
            headers = response.get("headers", {})
            if status == "429":
                assert headers["Retry-After"] == {"$ref": "#/components/headers/Retry-After"}, name
            if int(status) < 500:
                assert {"RateLimit-Policy", "RateLimit"} <= set(headers), f"{name} {status}"
    assert {"Retry-After", "RateLimit-Policy", "RateLimit"} <= set(document["components"]["headers"])


def test_the_export_is_one_media_type_per_operation(document: dict[str, Any]) -> None:
    json_export = document["paths"]["/api/v1/me/export"]["get"]["responses"]["200"]["content"]
    csv_export = document["paths"]["/api/v1/me/export/attempts.csv"]["get"]["responses"]["200"]["content"]
    assert set(json_export) == {"application/json"}
    assert set(csv_export) == {"text/csv"}


async def test_the_declared_created_headers_are_sent(
    client: httpx.AsyncClient, alice: Account, admin: Account, make_challenge: MakeChallenge
) -> None:
    challenge = await make_challenge()
    body = {"challenge_id": str(challenge.id), "outcome": "rejected", "distress_before": 40, "distress_peak": 60}
    headers = {**alice.headers, "Idempotency-Key": "document-test-1"}
    first = await client.post("/api/v1/attempts", json=body, headers=headers)
    again = await client.post("/api/v1/attempts", json=body, headers=headers)
    assert first.status_code == again.status_code == 201
    assert "idempotent-replayed" not in first.headers
    assert again.headers["idempotent-replayed"] == "true"
    assert first.headers["location"] == again.headers["location"] == f"http://test/api/v1/attempts/{first.json()['id']}"

    own = {
        "title": "Ask for a window seat",
        "description": "At check-in, ask whether a window seat is free.",
        "category": challenge.category_slug,
        "difficulty": 2,
    }
    created = await client.post("/api/v1/challenges", json=own, headers=alice.headers)
    assert created.status_code == 201, created.text
    assert (await client.get(created.headers["location"], headers=alice.headers)).json() == created.json()

    catalog = {**own, "slug": "ask-for-a-window-seat-catalog", "title": "Ask for a window seat, please"}
    created = await client.post("/api/v1/admin/challenges", json=catalog, headers=admin.headers)
    assert created.status_code == 201, created.text
    assert (await client.get(created.headers["location"], headers=admin.headers)).json() == created.json()

    category = {"slug": "travel-doc-test", "name": "Travel", "description": "Trains, planes, hotels."}
    created = await client.post("/api/v1/admin/categories", json=category, headers=admin.headers)
    assert created.status_code == 201, created.text
    assert created.headers["location"] == "http://test/api/v1/admin/categories/travel-doc-test"
    renamed = await client.patch(created.headers["location"], json={"name": "Journeys"}, headers=admin.headers)
    assert renamed.status_code == 200
