import asyncio

from fastapi import APIRouter, Response
from pydantic import BaseModel
from sqlalchemy import text

from app.core.deps import SessionDep, SettingsDep
from app.core.errors import ServiceUnavailable, problem_responses
from app.core.observability import metrics_payload

router = APIRouter(tags=["service"])


class Status(BaseModel):
    status: str


@router.get("/health", response_model=Status, summary="Liveness: the process runs")
async def health() -> Status:
    """200 while the process runs, whatever the database does."""
    return Status(status="ok")


@router.get(
    "/ready", response_model=Status, responses=problem_responses(503), summary="Readiness: the database answers"
)
async def ready(session: SessionDep, settings: SettingsDep) -> Status:
    """200 when the database answers a query within the configured timeout, 503 otherwise."""
    try:
        async with asyncio.timeout(settings.database_timeout_seconds):
            await session.execute(text("SELECT 1"))
    except Exception as exc:
        raise ServiceUnavailable() from exc
    return Status(status="ok")


@router.get(
    "/metrics",
    response_class=Response,
    responses={200: {"content": {"text/plain": {}}, "description": "Prometheus text exposition"}},
    summary="Prometheus metrics",
)
async def metrics() -> Response:
    """Request counts and latencies by method, route template and status. No user ids as labels."""
    payload, content_type = metrics_payload()
    return Response(payload, media_type=content_type)
