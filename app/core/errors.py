"""Errors as RFC 9457 problem details.

Handlers raise an `AppError`; one set of exception handlers renders every 4xx and
5xx (ours, FastAPI's validation errors, Starlette's 404/405, database outages and
unexpected crashes) as `application/problem+json`.
"""

import errno
import logging
import sqlite3
from collections.abc import Iterator, Sequence
from http import HTTPStatus
from typing import Any, ClassVar

import asyncpg  # type: ignore[import-untyped]
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.routing import iter_route_contexts
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy.exc import DBAPIError, DisconnectionError, SQLAlchemyError
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


class NotConfigured(AppError):
    """A feature this server was started without (no `Retry-After`: waiting will not bring it)."""

    status_code, code, detail = 503, "not-configured", "This server is not set up for this."


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
    """`responses=` entries declaring the problems a route can answer.

    Not `"model": Problem`: FastAPI would declare it under `application/json`, which is never sent. The
    schema itself joins the document in app/core/openapi.py.
    """
    content = {PROBLEM_JSON: {"schema": {"$ref": "#/components/schemas/Problem"}}}
    return {status: {"description": HTTPStatus(status).phrase, "content": content} for status in statuses}


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


# What says "the database is out of reach", by type and SQLSTATE, never by message text: a
# message is prose (and may quote user data), so "connection" in one says nothing.
#
# SQLSTATEs of a database that is gone or refuses us for now: class 08 (connection exception:
# refused, lost, broken mid-transaction) but 08P01, a protocol violation, which is a bug;
# 57P01-57P03, the server shutting down, crashed or not yet accepting connections (in recovery
# after a crash); 53300, too many connections, the server refusing one more until others go.
_OUTAGE_SQLSTATE_CLASSES = ("08",)
_OUTAGE_SQLSTATES = frozenset({"57P01", "57P02", "57P03", "53300"})
_NOT_OUTAGE_SQLSTATES = frozenset({"08P01"})
# The socket's errors when the server or the network to it is gone (a ConnectionError or a
# TimeoutError is one by type already).
_NETWORK_ERRNOS = frozenset(
    {
        errno.ECONNREFUSED,
        errno.ECONNRESET,
        errno.ECONNABORTED,
        errno.EPIPE,
        errno.ENOTCONN,
        errno.ETIMEDOUT,
        errno.EHOSTUNREACH,
        errno.EHOSTDOWN,
        errno.ENETUNREACH,
        errno.ENETDOWN,
        errno.ENETRESET,
        errno.EADDRNOTAVAIL,
    }
)
# SQLite (primary result codes): the file is locked past the busy timeout (another writer holds
# it; the retry succeeds, as after a pool timeout on PostgreSQL) or cannot be read or opened (its
# disk is gone, as a server would be). SQLITE_FULL, _CORRUPT, _READONLY and the rest need an
# operator or are bugs: 500.
_SQLITE_OUTAGE_CODES = frozenset(
    {sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED, sqlite3.SQLITE_IOERR, sqlite3.SQLITE_CANTOPEN}
)
# SQLAlchemy's pool: it threw a dead connection away, or no connection came free within the pool
# timeout. (asyncpg has a class per SQLSTATE, `sqlstate` on the class: its PostgresConnectionError
# family, CannotConnectNowError, AdminShutdownError, CrashShutdownError and TooManyConnectionsError
# are the SQLSTATEs above.)
_OUTAGE_TYPES: tuple[type[BaseException], ...] = (DisconnectionError, PoolTimeoutError)
# Every type a database outage can reach the handlers as: SQLAlchemy's wrappers and the pool's
# errors, the socket's `OSError` and the driver's own errors escaping unwrapped (from connecting
# while the pool checks a connection out). `_database_error` answers the outages among them 503
# and the rest 500.
DATABASE_ERROR_TYPES: tuple[type[Exception], ...] = (
    SQLAlchemyError,
    OSError,
    asyncpg.exceptions.PostgresError,
    asyncpg.exceptions.InterfaceError,
)


def _causes(exc: BaseException) -> Iterator[BaseException]:
    """`exc`, then what it wraps: the DB-API error under SQLAlchemy's (`.orig`), the driver's
    under the DB-API adapter's (`raise ... from`). Not `__context__`: an error raised while
    another was being handled was not caused by it."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        yield current
        orig = current.orig if isinstance(current, DBAPIError) else None
        current = orig if isinstance(orig, BaseException) and id(orig) not in seen else current.__cause__


def _sqlstate(exc: BaseException) -> str | None:
    # asyncpg's errors and SQLAlchemy's adaptations of them carry `sqlstate`; psycopg's too.
    code = getattr(exc, "sqlstate", None)
    return code if isinstance(code, str) and len(code) == 5 else None


def _is_outage_itself(exc: BaseException) -> bool:
    if isinstance(exc, DBAPIError) and exc.connection_invalidated:
        # The dialect's own verdict: the connection this statement ran on is dead.
        return True
    if (code := _sqlstate(exc)) is not None:
        return code not in _NOT_OUTAGE_SQLSTATES and (
            code in _OUTAGE_SQLSTATES or code.startswith(_OUTAGE_SQLSTATE_CLASSES)
        )
    if isinstance(exc, _OUTAGE_TYPES):
        return True
    if isinstance(exc, sqlite3.Error):
        return getattr(exc, "sqlite_errorcode", -1) & 0xFF in _SQLITE_OUTAGE_CODES
    return isinstance(exc, OSError) and _is_network_error(exc)


def _is_network_error(exc: OSError) -> bool:
    if isinstance(exc, (ConnectionError, TimeoutError)):
        # TimeoutError is also asyncio's: a connect or command timeout.
        return True
    if exc.errno is not None and exc.errno < 0:
        # getaddrinfo's EAI_* codes (socket.gaierror) are negative: the database's host name did not resolve.
        # (This module imports no socket: the OWASP API7 test keeps every network client out of the app.)
        return True
    if type(exc) is OSError and exc.errno is None:
        # asyncio's create_connection reports every address of the host refusing as one bare OSError.
        return True
    return exc.errno in _NETWORK_ERRNOS


def _is_connectivity_error(exc: BaseException) -> bool:
    """Whether `exc` says the database is out of reach (down, crashed, restarting, unreachable, full up)."""
    return any(_is_outage_itself(cause) for cause in _causes(exc))


def _type_chain(exc: BaseException) -> str:
    # Types only: messages may quote user data.
    return " <- ".join(type(cause).__name__ for cause in _causes(exc))


async def _database_error(request: Request, exc: Exception) -> JSONResponse:
    if not _is_connectivity_error(exc):
        return await _unhandled(request, exc)
    logger.warning("database unavailable: %s", _type_chain(exc))
    return await _app_error(request, ServiceUnavailable())


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
    for database_error in DATABASE_ERROR_TYPES:
        app.add_exception_handler(database_error, _database_error)
    app.add_exception_handler(Exception, _unhandled)
