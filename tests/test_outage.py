"""Database outages: a throwaway PostgreSQL cluster is stopped under a running service and started again."""

import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.servers import Service, ThrowawayPostgres, postgres_bin, running_service, throwaway_postgres, wait_until

pytestmark = pytest.mark.skipif(postgres_bin() is None, reason="needs PostgreSQL server binaries")


@pytest.fixture(scope="module")
def cluster() -> Iterator[ThrowawayPostgres]:
    with throwaway_postgres() as cluster:
        yield cluster


@pytest.fixture(scope="module")
def service(cluster: ThrowawayPostgres, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Service]:
    with running_service(
        cluster.url, tmp_path_factory.mktemp("outage"), DATABASE_TIMEOUT_SECONDS="2", REDIS_URL=""
    ) as service:
        yield service


def _token(service: Service) -> dict[str, str]:
    credentials = {"email": "outage@example.com", "password": "long enough password"}
    httpx.post(f"{service.base_url}/api/v1/auth/register", json=credentials, timeout=10)
    login = httpx.post(
        f"{service.base_url}/api/v1/auth/token",
        data={"username": credentials["email"], "password": credentials["password"]},
        timeout=10,
    )
    return {"Authorization": f"Bearer {login.json()['access_token']}"}


def test_service_answers_503_while_the_database_is_down_and_recovers(
    service: Service, cluster: ThrowawayPostgres, tmp_path: Path
) -> None:
    base = service.base_url
    auth = _token(service)
    acknowledged = []
    for i in range(5):
        created = httpx.post(f"{base}/api/v1/me/tokens", json={"name": f"before-{i}"}, headers=auth, timeout=10)
        assert created.status_code == 201
        acknowledged.append(created.json()["id"])

    cluster.stop()
    try:
        assert httpx.get(f"{base}/health", timeout=5).status_code == 200
        for method, path, body in [
            ("GET", "/ready", None),
            ("GET", "/api/v1/me", None),
            ("POST", "/api/v1/me/tokens", {"name": "during"}),
        ]:
            started = time.monotonic()
            response = httpx.request(method, f"{base}{path}", json=body, headers=auth, timeout=30)
            elapsed = time.monotonic() - started
            assert response.status_code == 503, (path, response.text)
            assert response.headers["content-type"] == "application/problem+json"
            assert response.json()["status"] == 503
            assert "retry-after" in response.headers
            assert elapsed < 10, f"{path} took {elapsed:.1f}s to fail"
        assert httpx.get(f"{base}/health", timeout=5).status_code == 200
    finally:
        cluster.start()

    wait_until(lambda: httpx.get(f"{base}/ready", timeout=5).status_code == 200, 30, "the service to recover")
    listed = httpx.get(f"{base}/api/v1/me/tokens", params={"limit": 200}, headers=auth, timeout=10)
    assert listed.status_code == 200
    stored = {item["id"] for item in listed.json()["items"]}
    # Every acknowledged write survived; the refused one was not stored.
    assert set(acknowledged) <= stored
    assert "during" not in {item["name"] for item in listed.json()["items"]}
    created = httpx.post(f"{base}/api/v1/me/tokens", json={"name": "after"}, headers=auth, timeout=10)
    assert created.status_code == 201
