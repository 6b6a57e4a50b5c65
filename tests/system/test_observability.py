"""Request ids, JSON logs, metrics and security headers."""

import json
import logging

import httpx
import pytest

from app.core.observability import JsonFormatter, request_id_var
from tests.conftest import Account


async def test_every_answer_carries_a_request_id(client: httpx.AsyncClient) -> None:
    first = await client.get("/health")
    second = await client.get("/nothing")
    assert len(first.headers["x-request-id"]) == 32
    assert first.headers["x-request-id"] != second.headers["x-request-id"]


async def test_a_sane_incoming_request_id_is_kept_and_a_hostile_one_replaced(client: httpx.AsyncClient) -> None:
    kept = await client.get("/health", headers={"X-Request-ID": "abc-123.def_456"})
    assert kept.headers["x-request-id"] == "abc-123.def_456"
    replaced = await client.get("/health", headers={"X-Request-ID": "bad id\r\nwith spaces"})
    assert replaced.headers["x-request-id"] != "bad id\r\nwith spaces"


async def test_access_log_names_the_route_template_not_the_values(
    client: httpx.AsyncClient, alice: Account, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="app.access")
    token_id = "0b6f0d0e-8a4c-4d7e-9b1a-2f3c4d5e6f70"
    await client.delete(f"/api/v1/me/tokens/{token_id}?secret=hunter2", headers=alice.headers)
    records = [r for r in caplog.records if r.name == "app.access"]
    assert records
    record = records[-1]
    assert record.__dict__["route"] == "/api/v1/me/tokens/{token_id}"
    assert record.__dict__["status"] == 404
    formatted = JsonFormatter().format(record)
    assert token_id not in formatted
    assert "hunter2" not in formatted


def test_json_formatter_writes_one_json_object_with_the_request_id() -> None:
    token = request_id_var.set("req-12345678")
    try:
        record = logging.makeLogRecord({"name": "app.test", "levelname": "INFO", "msg": "hello %s", "args": ("you",)})
        record.__dict__["route"] = "/x"
        entry = json.loads(JsonFormatter().format(record))
    finally:
        request_id_var.reset(token)
    assert entry["message"] == "hello you"
    assert entry["request_id"] == "req-12345678"
    assert entry["route"] == "/x"
    assert entry["time"].endswith("Z")


async def test_metrics_count_requests_by_route_template(client: httpx.AsyncClient, alice: Account) -> None:
    await client.get("/api/v1/me", headers=alice.headers)
    response = await client.get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    lines = [line for line in response.text.splitlines() if line.startswith("http_requests_total{")]
    assert any('route="/api/v1/me"' in line and 'status="200"' in line for line in lines)
    # No user ids as labels.
    assert str(alice.user.id) not in response.text


async def test_security_headers_on_api_answers(client: httpx.AsyncClient, alice: Account) -> None:
    response = await client.get("/api/v1/me", headers=alice.headers)
    assert response.headers["x-content-type-options"] == "nosniff"
    assert response.headers["x-frame-options"] == "DENY"
    assert response.headers["cache-control"] == "no-store"
    assert response.headers["content-security-policy"].startswith("default-src 'none'")
    assert response.headers["referrer-policy"] == "no-referrer"


async def test_docs_csp_allows_only_our_own_scripts(client: httpx.AsyncClient) -> None:
    csp = (await client.get("/docs")).headers["content-security-policy"]
    assert "script-src 'self' 'unsafe-inline'" in csp
    assert "http" not in csp


async def test_docs_can_be_turned_off(settings: object, sessionmaker: object) -> None:
    from app.core.config import Settings
    from app.main import create_app

    assert isinstance(settings, Settings)
    app = create_app(settings.model_copy(update={"docs_enabled": False}), sessionmaker=sessionmaker)  # type: ignore[arg-type]
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        assert (await client.get("/docs")).status_code == 404
        assert (await client.get("/openapi.json")).status_code == 404
        assert (await client.get("/health")).status_code == 200


async def test_cors_allows_only_configured_origins(settings: object, sessionmaker: object) -> None:
    from app.core.config import Settings
    from app.main import create_app

    assert isinstance(settings, Settings)
    app = create_app(
        settings.model_copy(update={"cors_origins": ["https://app.example.com"]}),
        sessionmaker=sessionmaker,  # type: ignore[arg-type]
    )
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        preflight = {"Access-Control-Request-Method": "POST", "Access-Control-Request-Headers": "Authorization"}
        allowed = await client.options("/api/v1/me", headers={"Origin": "https://app.example.com", **preflight})
        assert allowed.headers["access-control-allow-origin"] == "https://app.example.com"
        refused = await client.options("/api/v1/me", headers={"Origin": "https://evil.example.com", **preflight})
        assert "access-control-allow-origin" not in refused.headers
