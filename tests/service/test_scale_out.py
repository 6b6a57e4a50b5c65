"""Two separate `serve` processes on one database behave as one service.

Nothing a request needs lives in a process: attempts, idempotency records and the
session totals behind the trend are in the database, tokens are verified with the shared secret. So load
split across instances loses and duplicates nothing, and a retry that lands on the
other instance is still recognised as a replay.
"""

import asyncio
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.conftest import scratch_database
from tests.servers import Service, running_service

PASSWORD = "correct horse battery"
ATTEMPTS = 40


@pytest.fixture
def shared_database_url(database_url: str, tmp_path: Path) -> Iterator[str]:
    """A new, empty database on the suite's backend, for both instances."""
    with scratch_database(database_url, tmp_path, "scale_out") as url:
        yield url


@pytest.fixture
def instances(shared_database_url: str, tmp_path: Path) -> Iterator[tuple[Service, Service]]:
    # One after the other, as a deploy would: the first migrates, the second finds nothing to do.
    with (
        running_service(shared_database_url, tmp_path) as first,
        running_service(shared_database_url, tmp_path) as second,
    ):
        yield first, second


def _post(client: httpx.Client, service: Service, token: str, body: dict[str, Any], key: str) -> httpx.Response:
    return client.post(
        f"{service.base_url}/api/v1/attempts",
        json=body,
        headers={"Authorization": f"Bearer {token}", "Idempotency-Key": key},
    )


def _all_attempt_ids(client: httpx.Client, service: Service, token: str) -> list[str]:
    ids: list[str] = []
    cursor = None
    while True:
        params = {"limit": "200"} | ({"cursor": cursor} if cursor else {})
        page = client.get(
            f"{service.base_url}/api/v1/attempts", params=params, headers={"Authorization": f"Bearer {token}"}
        ).json()
        ids += [item["id"] for item in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            return ids


def test_two_instances_share_attempts_replays_and_the_trend(instances: tuple[Service, Service]) -> None:
    a, b = instances
    with httpx.Client(timeout=30) as client:
        registered = client.post(
            f"{a.base_url}/api/v1/auth/register", json={"email": "both@example.com", "password": PASSWORD}
        )
        assert registered.status_code == 201, registered.text
        # Logged in on one instance, the token works on the other.
        login = client.post(
            f"{b.base_url}/api/v1/auth/token", data={"username": "both@example.com", "password": PASSWORD}
        )
        assert login.status_code == 200, login.text
        token = login.json()["access_token"]
        headers = {"Authorization": f"Bearer {token}"}
        challenge = client.get(f"{a.base_url}/api/v1/challenges", params={"limit": "1"}, headers=headers).json()
        body = {"challenge_id": challenge["items"][0]["id"], "outcome": "rejected", "distress_before": 50}

        # Load split across both instances, some requests on the wire at once.
        keys = [f"scale-out-{i}" for i in range(ATTEMPTS)]

        async def burst() -> list[httpx.Response]:
            async with httpx.AsyncClient(timeout=30) as async_client:
                return await asyncio.gather(
                    *(
                        async_client.post(
                            f"{(a, b)[i % 2].base_url}/api/v1/attempts",
                            json=body | {"distress_peak": i % 101},
                            headers=headers | {"Idempotency-Key": key},
                        )
                        for i, key in enumerate(keys)
                    )
                )

        created = asyncio.run(burst())
        assert [r.status_code for r in created] == [201] * ATTEMPTS, [r.text for r in created]
        first_ids = [r.json()["id"] for r in created]
        assert len(set(first_ids)) == ATTEMPTS

        # Every retry sent to the other instance answers the first result and stores nothing.
        for i, key in enumerate(keys):
            retry = _post(client, (b, a)[i % 2], token, body | {"distress_peak": i % 101}, key)
            assert retry.status_code == 201, retry.text
            assert retry.headers["idempotent-replayed"] == "true"
            assert retry.json()["id"] == first_ids[i]
        # The same key with another body is refused on either instance.
        assert _post(client, b, token, body | {"distress_peak": 100}, keys[0]).status_code == 409

        stored = _all_attempt_ids(client, a, token)
        assert sorted(stored) == sorted(first_ids)
        assert sorted(_all_attempt_ids(client, b, token)) == sorted(first_ids)

        # Both instances answer the same trend and ETag; a write through one shows in the other's next read.
        trend_a = client.get(f"{a.base_url}/api/v1/me/trend", headers=headers)
        assert trend_a.json()["attempts"] == ATTEMPTS
        assert (
            client.get(
                f"{b.base_url}/api/v1/me/trend", headers=headers | {"If-None-Match": trend_a.headers["etag"]}
            ).status_code
            == 304
        )
        assert _post(client, b, token, body | {"distress_peak": 10}, "one-more").status_code == 201
        assert client.get(f"{a.base_url}/api/v1/me/trend", headers=headers).json()["attempts"] == ATTEMPTS + 1
