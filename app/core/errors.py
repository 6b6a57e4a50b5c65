"""Errors as RFC 9457 problem details.

Handlers raise an `AppError`; one set of exception handlers renders every 4xx and
5xx (ours, FastAPI's validation errors, Starlette's 404/405, database outages and
unexpected crashes) as `application/problem+json`.
"""

import logging
from collections.abc import Sequence
from http import HTTPStatus
from typing import Any, ClassVar

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.routing import iter_route_contexts
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy.exc import DBAPIError
from sqlalchemy.exc import TimeoutError as PoolTimeoutError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import compile_path

logger = logging.getLogger("app.errors")

PROBLEM_JSON = "application/problem+json"
TYPE_PREFIX = "urn:rejection-tracker:problem:"


class ValidationIssue(BaseModel):
    loc: list[str | int] = Field(
        description="Where the problem is: `body`, `query`, `header` or `path`, then the field."
    )
    msg: str = Field(description="What is wrong, for a person.")
    type: str = Field(description="A stable code for the kind of problem.")


class Problem(BaseModel):
    """RFC 9457 problem details."""

    model_config = ConfigDict(
        json_schema_extra={
            "example": {
                "type": "urn:rejection-tracker:problem:not-found",
                "title": "Not Found",
                "status": 404,
                "detail": "No challenge with that id.",
            }
        }
    )

    type: str = Field(description="A URI naming the kind of problem; stable, for programs to switch on.")
    title: str = Field(description="A short summary of the kind of problem.")
    status: int = Field(description="The HTTP status code.")
    detail: str = Field(description="What went wrong in this case, for a person.")
    errors: list[ValidationIssue] | None = Field(
        default=None, description="With 422 only: one entry per invalid input."
    )


class AppError(Exception):
    status_code: int = 500
    code: str = "internal-error"
    detail: str = "The server could not handle the request."
    default_headers: ClassVar[dict[str, str]] = {}
    errors: list[dict[str, Any]] | None = None

    def __init__(self, detail: str | None = None, *, headers: dict[str, str] | None = None) -> None:
        super().__init__(detail or self.detail)
        if detail is not None:
            self.detail = detail
        self.headers = {**self.default_headers, **(headers or {})}


class BadRequest(AppError):
    status_code, code, detail = 400, "bad-request", "The request could not be understood."


class Unauthorized(AppError):
    status_code, code, detail = 401, "unauthorized", "Missing, invalid or expired credentials."
    default_headers: ClassVar[dict[str, str]] = {"WWW-Authenticate": "Bearer"}


class Forbidden(AppError):
    status_code, code, detail = 403, "forbidden", "You are not allowed to do this."


class NotFound(AppError):
    status_code, code, detail = 404, "not-found", "Not found."


class Conflict(AppError):
    status_code, code, detail = 409, "conflict", "The request conflicts with what is stored."


class PreconditionFailed(AppError):
    status_code, code, detail = 412, "precondition-failed", "The resource changed since you read it."


class PayloadTooLarge(AppError):
    status_code, code, detail = 413, "payload-too-large", "The request body is too large."


class InvalidInput(AppError):
    """A 422 found after schema validation (it needs the database, or several fields), shaped like the schema's own."""

    status_code, code, detail = 422, "validation-error", "The input is not valid."

    def __init__(
        self, detail: str | None = None, *, loc: Sequence[str | int] = (), error_type: str = "value_error"
    ) -> None:
        super().__init__(detail)
        self.errors = [{"loc": list(loc), "msg": self.detail, "type": error_type}]


class TooManyRequests(AppError):
    status_code, code, detail = 429, "rate-limited", "Too many requests; try again later."


class ServiceUnavailable(AppError):
    status_code, code, detail = 503, "service-unavailable", "The database is unavailable; try again shortly."
    default_headers: ClassVar[dict[str, str]] = {"Retry-After": "5"}


def problem_response(
    status: int,
    detail: str,
    *,
    code: str | None = None,
    headers: dict[str, str] | None = None,
    errors: list[dict[str, Any]] | None = None,
) -> JSONResponse:
    title = HTTPStatus(status).phrase
    body: dict[str, Any] = {
        "type": TYPE_PREFIX + (code or title.lower().replace(" ", "-").replace("'", "")),
        "title": title,
        "status": status,
        "detail": detail,
    }
    if errors is not None:
        body["errors"] = errors
    return JSONResponse(body, status_code=status, headers=headers, media_type=PROBLEM_JSON)


def problem_responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """`responses=` entries declaring the problems a route can answer."""
    return {
        status: {"model": Problem, "content": {PROBLEM_JSON: {}}, "description": HTTPStatus(status).phrase}
        for status in statuses
    }


def _clean_validation_errors(errors: Any) -> list[dict[str, Any]]:
    # Never echo the offending input back: it can be a password or a note.
    return [
        {
            "loc": [str(p) if not isinstance(p, int) else p for p in err.get("loc", ())],
            "msg": err.get("msg", ""),
            "type": err.get("type", ""),
        }
        for err in errors
    ]


async def _app_error(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, AppError)
    return problem_response(exc.status_code, exc.detail, code=exc.code, headers=exc.headers, errors=exc.errors)


async def _validation_error(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    errors = _clean_validation_errors(exc.errors())
    return problem_response(422, "The input is not valid; see `errors`.", code="validation-error", errors=errors)


# FastAPI's answer to a body it cannot decode at all (not UTF-8, a broken form).
_UNREADABLE_BODY = "There was an error parsing the body"


def _allowed_methods(request: Request) -> str:
    """Every method some route serves at this path: Starlette's 405 names only the first route's."""
    methods: set[str] = set()
    for route in iter_route_contexts(request.app.router.routes):
        if route.methods and route.path and compile_path(route.path)[0].match(request.scope["path"]):
            methods |= route.methods
    return ", ".join(sorted(methods))


async def _http_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    detail = exc.detail if isinstance(exc.detail, str) else HTTPStatus(exc.status_code).phrase
    headers = dict(exc.headers or {})
    if exc.status_code == 400 and detail == _UNREADABLE_BODY:
        # Like malformed JSON: one kind of bad input, one status.
        issue = {"loc": ["body"], "msg": "The body could not be read as JSON; send UTF-8 JSON.", "type": "json_invalid"}
        return problem_response(422, "The input is not valid; see `errors`.", code="validation-error", errors=[issue])
    if exc.status_code == 404 and detail == "Not Found":
        detail = "No such route."
    if exc.status_code == 405:
        headers["Allow"] = _allowed_methods(request)
    return problem_response(exc.status_code, detail, headers=headers or None)


async def _database_error(_request: Request, exc: Exception) -> JSONResponse:
    if isinstance(exc, DBAPIError) and not _is_connectivity_error(exc):
        return await _unhandled(_request, exc)
    logger.warning("database unavailable: %s", type(exc.__cause__ or exc).__name__)
    return await _app_error(_request, ServiceUnavailable())


def _is_connectivity_error(exc: DBAPIError) -> bool:
    if exc.connection_invalidated:
        return True
    orig = exc.orig
    name = type(orig).__name__ if orig is not None else ""
    text = str(orig).lower() if orig is not None else ""
    return (
        isinstance(orig, (ConnectionError, OSError, TimeoutError))
        or name in {"ConnectionDoesNotExistError", "CannotConnectNowError", "InterfaceError"}
        or "connection" in text
        or "database is locked" in text
    )


async def _unhandled(request: Request, exc: Exception) -> JSONResponse:
    # The exception type and route only: its message may quote user data.
    logger.error(
        "unhandled error on %s %s: %s", request.method, request.scope.get("route", request.url.path), type(exc).__name__
    )
    return problem_response(500, AppError.detail, code=AppError.code)


def install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(AppError, _app_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(DBAPIError, _database_error)
    app.add_exception_handler(PoolTimeoutError, _database_error)
    app.add_exception_handler(OSError, _database_error)
    app.add_exception_handler(Exception, _unhandled)
