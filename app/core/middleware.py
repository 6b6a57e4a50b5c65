"""ASGI middleware: request body size limit and security headers."""

from typing import Any

from fastapi.routing import APIRoute, iter_route_contexts
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app.core.errors import PayloadTooLarge, problem_response

# An operation that takes larger bodies than MAX_BODY_BYTES (a file upload) declares its own limit in its
# OpenAPI entry, `openapi_extra={BODY_LIMIT_KEY: n}`: the one place both this middleware and clients read it.
BODY_LIMIT_KEY = "x-max-body-bytes"


def _declared_limits(app: Any) -> dict[str, int]:
    """The body limits routes declare, by path (routes without path parameters only)."""
    limits: dict[str, int] = {}
    for context in iter_route_contexts(getattr(app, "routes", ())):
        route, path = context.route, context.path_format
        if isinstance(route, APIRoute) and path is not None and BODY_LIMIT_KEY in (route.openapi_extra or {}):
            limits[path] = int(route.openapi_extra[BODY_LIMIT_KEY])  # type: ignore[index]
    return limits


class BodySizeLimitMiddleware:
    """Answer 413 for bodies over `max_bytes` (or the larger limit a route declares), declared or streamed.

    The body is read up front (at most the limit) and replayed to the app, so an
    oversized chunked upload is refused before any handler sees it.
    """

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes
        # Read from the app on the first request: the middleware is built before the routes exist.
        self._larger: dict[str, int] | None = None

    def _limit(self, scope: Scope) -> int:
        if self._larger is None:
            self._larger = _declared_limits(scope.get("app"))
        return max(self.max_bytes, self._larger.get(scope["path"], 0))

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] in ("GET", "HEAD", "OPTIONS", "DELETE"):
            await self.app(scope, receive, send)
            return
        limit = self._limit(scope)
        declared = next((value for name, value in scope["headers"] if name == b"content-length"), None)
        if declared is not None and (not declared.isdigit() or int(declared) > limit):
            await self._refuse(scope, receive, send, limit)
            return
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > limit:
                await self._refuse(scope, receive, send, limit)
                return
            chunks.append(chunk)
            if not message.get("more_body", False):
                break
        body = b"".join(chunks)
        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        await self.app(scope, replay, send)

    async def _refuse(self, scope: Scope, receive: Receive, send: Send, limit: int) -> None:
        response = problem_response(
            PayloadTooLarge.status_code,
            f"The request body is larger than {limit} bytes.",
            code=PayloadTooLarge.code,
            headers={"Connection": "close"},
        )
        await response(scope, receive, send)


_API_CSP = b"default-src 'none'; frame-ancestors 'none'"
# Swagger UI: our own script and styles, FastAPI's inline bootstrap, data: images; nothing third-party.
_DOCS_CSP = (
    b"default-src 'self'; script-src 'self' 'unsafe-inline'; style-src 'self' 'unsafe-inline'; "
    b"img-src 'self' data:; connect-src 'self'; frame-ancestors 'none'; form-action 'self'"
)


class SecurityHeadersMiddleware:
    """Headers that keep browsers from sniffing, framing or caching personal data."""

    def __init__(self, app: ASGIApp, hsts: bool) -> None:
        self.app = app
        common = [
            (b"x-content-type-options", b"nosniff"),
            (b"x-frame-options", b"DENY"),
            (b"referrer-policy", b"no-referrer"),
            (b"cross-origin-opener-policy", b"same-origin"),
        ]
        if hsts:
            common.append((b"strict-transport-security", b"max-age=31536000; includeSubDomains"))
        self.docs_headers = [*common, (b"content-security-policy", _DOCS_CSP)]
        # Answers hold personal data: no shared or browser caches.
        self.api_headers = [*common, (b"content-security-policy", _API_CSP), (b"cache-control", b"no-store")]

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path: str = scope["path"]
        is_docs = path == "/docs" or path.startswith(("/docs/", "/static/"))
        extra = self.docs_headers if is_docs else self.api_headers

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                present = {name.lower() for name, _ in headers}
                message["headers"] = headers + [(k, v) for k, v in extra if k not in present]
            await send(message)

        await self.app(scope, receive, send_with_headers)
