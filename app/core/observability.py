"""Structured logs with a request id, and Prometheus metrics.

Logs carry the method, the route template (never the raw path's query string),
the status and the duration. Request bodies, headers and query values are never
logged: they hold passwords, tokens, notes and distress scores.
"""

import json
import logging
import logging.config
import os
import re
import time
import uuid
from contextvars import ContextVar
from typing import Any

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Histogram, generate_latest, multiprocess
from starlette.types import ASGIApp, Message, Receive, Scope, Send

REQUEST_ID_HEADER = "X-Request-ID"
_ACCEPTED_REQUEST_ID = re.compile(r"^[A-Za-z0-9._-]{8,128}$")
request_id_var: ContextVar[str | None] = ContextVar("request_id", default=None)

access_logger = logging.getLogger("app.access")

REQUESTS = Counter("http_requests_total", "HTTP requests answered", ["method", "route", "status"])
LATENCY = Histogram(
    "http_request_duration_seconds",
    "Time to answer an HTTP request",
    ["method", "route"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0),
)


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message, request id and extra fields."""

    # uvicorn adds `color_message`, the same text with terminal colours.
    _STANDARD = frozenset(logging.makeLogRecord({}).__dict__) | {"message", "asctime", "request_id", "color_message"}

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": self.formatTime(record, "%Y-%m-%dT%H:%M:%S") + f".{int(record.msecs):03d}Z",
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        request_id = request_id_var.get()
        if request_id:
            entry["request_id"] = request_id
        entry.update({k: v for k, v in record.__dict__.items() if k not in self._STANDARD})
        if record.exc_info and record.exc_info[0] is not None:
            entry["exception"] = record.exc_info[0].__name__
        return json.dumps(entry, default=str)


JsonFormatter.converter = time.gmtime


def logging_config(level: str, as_json: bool) -> dict[str, Any]:
    """A dictConfig for the app and uvicorn; uvicorn's own access log is replaced by ours."""
    formatter = {"()": JsonFormatter} if as_json else {"format": "%(levelname)s %(name)s: %(message)s"}
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {"default": formatter},
        "handlers": {
            "stderr": {"class": "logging.StreamHandler", "formatter": "default", "stream": "ext://sys.stderr"}
        },
        "root": {"handlers": ["stderr"], "level": "WARNING"},
        "loggers": {
            "app": {"level": level, "handlers": ["stderr"], "propagate": False},
            "uvicorn": {"level": level, "handlers": ["stderr"], "propagate": False},
            "uvicorn.error": {"level": level},
            "uvicorn.access": {"level": "WARNING", "handlers": [], "propagate": False},
            "alembic": {"level": level, "handlers": ["stderr"], "propagate": False},
            # Their debug output is the data itself (statements' rows, the driver's calls with their
            # parameters): notes and distress scores. Never below WARNING, whatever LOG_LEVEL says.
            "sqlalchemy.engine": {"level": "WARNING"},
            "sqlalchemy.pool": {"level": "WARNING"},
            "aiosqlite": {"level": "WARNING"},
            "asyncpg": {"level": "WARNING"},
        },
    }


def configure_logging(level: str, as_json: bool) -> None:
    logging.config.dictConfig(logging_config(level, as_json))


def _route_template(scope: Scope) -> str:
    """The matched route's path template with the prefixes of the routers it was included in.

    FastAPI keeps an included route's own path on the route; the include prefixes
    are the part of the request path in front of what the route's regex matches.
    """
    route = scope.get("route")
    # The template as documented: `{id}`, not the `{id:uuid}` a route may match with.
    template = getattr(route, "path_format", None)
    if not isinstance(template, str):
        return "unmatched"
    regex = getattr(route, "path_regex", None)
    path: str = scope["path"]
    if regex is not None:
        for index, char in enumerate(path):
            if char == "/" and regex.match(path[index:]):
                return path[:index] + template
    return template


class RequestContextMiddleware:
    """Give each request an id (kept from `X-Request-ID` when it looks sane), log it and count it."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        offered = dict(scope["headers"]).get(REQUEST_ID_HEADER.lower().encode(), b"").decode("latin-1")
        request_id = offered if _ACCEPTED_REQUEST_ID.match(offered) else uuid.uuid4().hex
        token = request_id_var.set(request_id)
        started = time.perf_counter()
        status = 500

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                message.setdefault("headers", [])
                message["headers"] = [*message["headers"], (REQUEST_ID_HEADER.lower().encode(), request_id.encode())]
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        finally:
            elapsed = time.perf_counter() - started
            route = _route_template(scope)
            method = scope["method"]
            REQUESTS.labels(method, route, str(status)).inc()
            LATENCY.labels(method, route).observe(elapsed)
            access_logger.info(
                "%s %s %s",
                method,
                route,
                status,
                extra={"method": method, "route": route, "status": status, "duration_ms": round(elapsed * 1000, 2)},
            )
            request_id_var.reset(token)


def metrics_payload() -> tuple[bytes, str]:
    """The metrics exposition; across workers when PROMETHEUS_MULTIPROC_DIR is set."""
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
        return generate_latest(registry), CONTENT_TYPE_LATEST
    return generate_latest(), CONTENT_TYPE_LATEST
