"""The FastAPI application factory."""

import gc
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from importlib.metadata import version

import swagger_ui_bundle
from fastapi import FastAPI
from fastapi.middleware.cors import CORSMiddleware
from fastapi.openapi.docs import get_swagger_ui_html, get_swagger_ui_oauth2_redirect_html
from fastapi.responses import HTMLResponse
from fastapi.routing import APIRoute
from fastapi.staticfiles import StaticFiles
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.accounts.router import auth_router, me_router
from app.attempts.router import router as attempts_router
from app.catalog.admin_router import router as catalog_admin_router
from app.catalog.router import router as catalog_router
from app.core.config import Settings, get_settings
from app.core.db import create_engine, create_sessionmaker
from app.core.errors import install_error_handlers, problem_responses
from app.core.mail import mailer_from_settings
from app.core.middleware import BodySizeLimitMiddleware, SecurityHeadersMiddleware
from app.core.observability import RequestContextMiddleware, configure_logging
from app.core.openapi import install_openapi
from app.core.ratelimit import MemoryCounter, RateLimiter, RateLimitHeadersMiddleware, RedisCounter
from app.exports.router import router as export_router
from app.plans.router import calendar_router, feed_router
from app.plans.router import router as plans_router
from app.progress.practice_router import router as practice_router
from app.progress.router import router as progress_router
from app.system.router import router as system_router

API_PREFIX = "/api/v1"
DESCRIPTION = """
The service behind graded rejection-exposure practice: a curated catalog of
challenges from easy to hard, a log of each attempt with self-rated distress
(SUDS, 0–100), and each user's desensitization trend.

**Try it:** register with `POST /api/v1/auth/register`, then press **Authorize**
and log in with your email and password. Scripts use a personal API token from
`POST /api/v1/me/tokens` (the `APIToken` field in Authorize), with the scopes they need.

Apps sign in once and renew the short-lived access token with the refresh token
`POST /api/v1/auth/token` answers (`grant_type=refresh_token`); each refresh token works once.
Ending a session stops its refresh tokens at once; its access tokens run out within
ACCESS_TOKEN_EXPIRE_MINUTES.

Errors are `application/problem+json` (RFC 9457).

This service supports self-help practice; it is no substitute for professional care.
"""

OPENAPI_TAGS = [
    {
        "name": "auth",
        "description": "Create an account, sign in, refresh and end sessions, reset a forgotten password by email.",
    },
    {
        "name": "me",
        "description": "Your account, your signed-in sessions, your password, your data and your personal API tokens.",
    },
    {"name": "challenges", "description": "The catalog of graded challenges, and custom challenges of your own."},
    {
        "name": "attempts",
        "description": "The exposure log: each ask, its outcome and your distress (SUDS 0–100). Safe to retry.",
    },
    {"name": "progress", "description": "Your desensitization trend, ready to chart, and the challenges to try next."},
    {
        "name": "plans",
        "description": "Asks planned ahead with their prediction, done by logging the attempt with `plan_id`; "
        "a secret calendar feed of them for your phone's calendar.",
    },
    {
        "name": "admin",
        "description": (
            "Admins only: curate the catalog. Create challenges as drafts, publish or archive them, import in "
            "bulk, manage categories. Read a challenge before editing it and send its `ETag` as `If-Match`."
        ),
    },
    {"name": "service", "description": "Liveness, readiness and metrics."},
]


def _operation_id(route: APIRoute) -> str:
    return f"{route.tags[0]}-{route.name}" if route.tags else route.name


# Each router is included in the app itself, the hot paths first: FastAPI matches a request
# by walking the routes in order, and each level of nested routers walks them again.
_API_ROUTERS = (
    attempts_router,
    auth_router,
    me_router,
    progress_router,
    practice_router,
    plans_router,
    calendar_router,
    feed_router,
    export_router,
    catalog_router,
    catalog_admin_router,
)


def _install_docs(app: FastAPI) -> None:
    # Swagger UI is served from a pinned package: the page holds an admin's bearer
    # token, so it loads no third-party script and works without internet access.
    assets = swagger_ui_bundle.swagger_ui_path
    app.mount("/static/swagger-ui", StaticFiles(directory=str(assets)), name="swagger-ui")

    @app.get("/docs", include_in_schema=False)
    async def swagger_ui() -> HTMLResponse:
        return get_swagger_ui_html(
            openapi_url="/openapi.json",
            title=f"{app.title} – API docs",
            swagger_js_url="/static/swagger-ui/swagger-ui-bundle.js",
            swagger_css_url="/static/swagger-ui/swagger-ui.css",
            swagger_favicon_url="/static/swagger-ui/favicon-32x32.png",
            oauth2_redirect_url="/docs/oauth2-redirect",
            # No validator badge: it would send the document to validator.swagger.io.
            swagger_ui_parameters={"persistAuthorization": False, "displayRequestDuration": True, "validatorUrl": None},
        )

    @app.get("/docs/oauth2-redirect", include_in_schema=False)
    async def swagger_ui_redirect() -> HTMLResponse:
        return get_swagger_ui_oauth2_redirect_html()


def create_app(
    settings: Settings | None = None,
    sessionmaker: async_sessionmaker[AsyncSession] | None = None,
) -> FastAPI:
    """Build the app. Tests pass their own `sessionmaker`; otherwise the app owns an engine."""
    settings = settings or get_settings()
    if settings.environment != "test":
        configure_logging(settings.log_level, settings.logs_as_json)

    counter = RedisCounter(settings.redis_url) if settings.redis_url else MemoryCounter()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        engine = None
        if sessionmaker is None:
            engine = create_engine(
                settings.database_url,
                settings.database_timeout_seconds,
                pool_size=settings.database_pool_size,
                max_overflow=settings.database_max_overflow,
            )
            app.state.sessionmaker = create_sessionmaker(engine)
            # Serving: what startup built (modules, schemas, routes) lives as long as the
            # process, so it is frozen and full collections stop walking it again and again.
            gc.freeze()
        try:
            yield
        finally:
            if isinstance(counter, RedisCounter):
                await counter.close()
            if engine is not None:
                await engine.dispose()

    app = FastAPI(
        title="Rejection Tracker",
        version=version("rejection-tracker"),
        description=DESCRIPTION,
        openapi_tags=OPENAPI_TAGS,
        openapi_url="/openapi.json" if settings.docs_enabled else None,
        docs_url=None,
        redoc_url=None,
        generate_unique_id_function=_operation_id,
        lifespan=lifespan,
    )
    app.state.settings = settings
    app.state.rate_limiter = RateLimiter(counter)
    app.state.mailer = mailer_from_settings(settings)
    if sessionmaker is not None:
        app.state.sessionmaker = sessionmaker
    install_error_handlers(app)
    # Added innermost first: the request id and security headers wrap every answer, 413s included.
    app.add_middleware(RateLimitHeadersMiddleware)
    app.add_middleware(BodySizeLimitMiddleware, max_bytes=settings.max_body_bytes)
    if settings.cors_origins:
        app.add_middleware(
            CORSMiddleware,
            allow_origins=settings.cors_origins,
            allow_methods=["GET", "POST", "PUT", "PATCH", "DELETE"],
            allow_headers=["Authorization", "Content-Type", "Idempotency-Key", "If-Match", "If-None-Match"],
            expose_headers=[
                "ETag",
                "Idempotent-Replayed",
                "Location",
                "RateLimit",
                "RateLimit-Policy",
                "Retry-After",
                "X-Request-ID",
            ],
            max_age=600,
        )
    app.add_middleware(SecurityHeadersMiddleware, hsts=settings.environment == "production")
    app.add_middleware(RequestContextMiddleware)
    app.include_router(system_router)
    for router in _API_ROUTERS:
        # Every route but the public /auth ones and the calendar feed (its address is the credential) takes a
        # token, whose scopes may not cover the request (403).
        scoped = problem_responses(403) if router not in (auth_router, feed_router) else None
        app.include_router(router, prefix=API_PREFIX, responses=scoped)
    install_openapi(app)
    if settings.docs_enabled:
        _install_docs(app)
    return app
