"""The OpenAPI document as generated clients need it: what every route can answer, declared once here.

FastAPI declares what a route's own code says; the rest a route answers comes from layers around it,
and is added to the document from what each route depends on:

- every 4xx and 5xx is `application/problem+json` with the `Problem` schema, FastAPI's own 422 included
  (its `HTTPValidationError` is never sent);
- every route can answer 500, and every route that opens a database session 503 (`Retry-After`);
- a route that uses the rate limiter can answer 429 (`Retry-After`), and every answer it gives can
  carry the `RateLimit-Policy` and `RateLimit` fields.
"""

from collections.abc import Callable, Iterator
from http import HTTPStatus
from typing import Any

from fastapi import FastAPI, Request
from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute, iter_route_contexts
from pydantic import BaseModel

from app.core.deps import get_rate_limiter, get_session
from app.core.errors import PROBLEM_JSON, Problem

_REF = "#/components/schemas/{model}"
_PROBLEM_CONTENT = {PROBLEM_JSON: {"schema": {"$ref": _REF.format(model="Problem")}}}
_FASTAPI_VALIDATION_SCHEMAS = ("HTTPValidationError", "ValidationError")

_HEADERS: dict[str, dict[str, Any]] = {
    "Retry-After": {
        "description": "Seconds to wait before trying again.",
        "schema": {"type": "integer", "minimum": 1, "example": 42},
    },
    "RateLimit-Policy": {
        "description": "The quotas this route counts the request against (draft-ietf-httpapi-ratelimit-headers): "
        "a list of policies, each named, with `q` requests per window of `w` seconds.",
        "schema": {"type": "string", "example": '"login:client";q=200;w=60, "login:account";q=10;w=300'},
    },
    "RateLimit": {
        "description": "What is left of each quota in `RateLimit-Policy`: `r` requests for the next `t` seconds, "
        "when its window starts again. Slow down as `r` nears 0 instead of waiting for a 429.",
        "schema": {"type": "string", "example": '"login:client";r=197;t=42, "login:account";r=9;t=280'},
    },
}


# For the `responses=` of a route answering 201: where what it made lives.
LOCATION_HEADER = {
    "Location": {
        "description": "The URL of what was created.",
        "schema": {
            "type": "string",
            "format": "uri",
            "example": "https://rt.example.com/api/v1/attempts/3f2b8c1e-5d6a-4e7b-9c0d-1a2b3c4d5e6f",
        },
    }
}


def created_at(request: Request, key: object) -> str:
    """The `Location` of what a POST to `request`'s collection made, under `key`."""
    # url_for would walk every route to say the same.
    return f"{request.url.replace(query='')}/{key}"


def _header(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/headers/{name}"}


def _calls(dependant: Dependant) -> Iterator[Callable[..., Any]]:
    for sub in dependant.dependencies:
        if sub.call is not None:
            yield sub.call
        yield from _calls(sub)


def _route_calls(app: FastAPI) -> dict[tuple[str, str], set[Callable[..., Any]]]:
    """What each operation, by path and method, depends on."""
    calls: dict[tuple[str, str], set[Callable[..., Any]]] = {}
    for context in iter_route_contexts(app.router.routes):
        route, path = context.route, context.path_format
        if isinstance(route, APIRoute) and route.include_in_schema and path is not None:
            for method in context.methods or ():
                calls[(path, method.lower())] = set(_calls(route.dependant))
    return calls


def _model_examples(app: FastAPI) -> dict[str, Any]:
    """Each model's `example` by schema name, as pydantic writes it: FastAPI drops every null from the
    document, which leaves an example that names a nullable field invalid (a required field missing)."""
    examples: dict[str, Any] = {}
    for context in iter_route_contexts(app.router.routes):
        route = context.route
        if not isinstance(route, APIRoute):
            continue
        for model in (route.response_model, route.body_field and route.body_field.field_info.annotation):
            if not (isinstance(model, type) and issubclass(model, BaseModel)):
                continue
            schema = model.model_json_schema(ref_template=_REF)
            for name, definition in {**schema.get("$defs", {}), schema.get("title", ""): schema}.items():
                if "example" in definition:
                    examples[name] = definition["example"]
    return examples


def _problem(status: int, headers: dict[str, Any] | None = None) -> dict[str, Any]:
    response: dict[str, Any] = {"description": HTTPStatus(status).phrase, "content": _PROBLEM_CONTENT}
    if headers:
        response["headers"] = headers
    return response


def _complete_operation(operation: dict[str, Any], calls: set[Callable[..., Any]]) -> None:
    responses: dict[str, dict[str, Any]] = operation["responses"]
    if get_session in calls:
        responses.setdefault("503", _problem(503))
    responses.setdefault("500", _problem(500))
    if get_rate_limiter in calls:
        responses.setdefault("429", _problem(429))
    for code, response in responses.items():
        status = int(code)
        if status >= 400:
            response["content"] = _PROBLEM_CONTENT
        headers = response.setdefault("headers", {})
        if status in (429, 503):
            headers.setdefault("Retry-After", _header("Retry-After"))
        if get_rate_limiter in calls and status < 500:
            headers.setdefault("RateLimit-Policy", _header("RateLimit-Policy"))
            headers.setdefault("RateLimit", _header("RateLimit"))
        if not headers:
            del response["headers"]
    operation["responses"] = dict(sorted(responses.items()))


def complete_document(app: FastAPI, document: dict[str, Any]) -> dict[str, Any]:
    route_calls = _route_calls(app)
    for path, operations in document["paths"].items():
        for method, operation in operations.items():
            _complete_operation(operation, route_calls.get((path, method), set()))
    components = document.setdefault("components", {})
    schemas = components.setdefault("schemas", {})
    for name in _FASTAPI_VALIDATION_SCHEMAS:
        schemas.pop(name, None)
    for name, example in _model_examples(app).items():
        if name in schemas:
            schemas[name]["example"] = example
    problem = Problem.model_json_schema(ref_template=_REF)
    schemas.update(problem.pop("$defs", {}))
    schemas["Problem"] = problem
    components["schemas"] = dict(sorted(schemas.items()))
    components.setdefault("headers", {}).update(_HEADERS)
    return document


def install_openapi(app: FastAPI) -> None:
    """Serve the completed document at /openapi.json (and from `app.openapi()`)."""
    generate = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            app.openapi_schema = complete_document(app, generate())
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
