"""The `examples/` script runs against the real app."""

import importlib.util
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.core.config import Settings
from app.main import create_app
from tests.conftest import Account, MakeChallenge


@pytest.fixture(scope="module")
def example(project_root: Path) -> ModuleType:
    path = project_root / "examples" / "log_attempt.py"
    spec = importlib.util.spec_from_file_location("log_attempt_example", path)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


async def test_example_logs_an_attempt_and_reads_the_trend(
    client: httpx.AsyncClient, alice: Account, make_challenge: MakeChallenge, example: ModuleType
) -> None:
    easiest = await make_challenge(difficulty=1)
    await make_challenge(difficulty=5)
    client.headers.update(alice.headers)
    attempt = example.parse_args(["--outcome", "rejected", "--before", "60", "--peak", "75", "--after", "30"])
    result = await example.log_and_review(client, attempt)

    logged = result["logged"]
    assert (logged["challenge_id"], logged["outcome"], logged["distress_peak"]) == (str(easiest.id), "rejected", 75)
    assert [a["id"] for a in result["recent"]] == [logged["id"]]
    assert result["trend"]["attempts"] == 1
    assert result["trend"]["status"] == "insufficient_data"


class LosesFirstAnswer(httpx.AsyncBaseTransport):
    """The first POST reaches the server, but its answer is lost on the way back, as on a flaky phone network."""

    def __init__(self, inner: httpx.AsyncBaseTransport) -> None:
        self.inner = inner
        self.posts = 0

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        response = await self.inner.handle_async_request(request)
        if request.method == "POST":
            self.posts += 1
            if self.posts == 1:
                await response.aclose()
                raise httpx.ReadError("connection reset by peer", request=request)
        return response


async def test_example_retries_a_lost_answer_without_logging_twice(
    settings: Settings,
    sessionmaker: async_sessionmaker[AsyncSession],
    alice: Account,
    make_challenge: MakeChallenge,
    example: ModuleType,
) -> None:
    challenge = await make_challenge()
    transport = LosesFirstAnswer(httpx.ASGITransport(app=create_app(settings, sessionmaker=sessionmaker)))
    async with httpx.AsyncClient(transport=transport, base_url="http://test", headers=alice.headers) as flaky:
        attempt = {"challenge_id": str(challenge.id), "outcome": "avoided", "distress_before": 80}
        logged = await example.log_attempt(flaky, attempt, pause_seconds=0)
        listed = (await flaky.get("/api/v1/attempts")).json()["items"]
    assert transport.posts == 2
    assert listed == [logged]


def test_example_explains_itself(project_root: Path) -> None:
    result = subprocess.run(
        [sys.executable, str(project_root / "examples" / "log_attempt.py"), "--help"],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    assert "RT_TOKEN" in result.stdout
