"""A phone refreshing the same token several times at once stays signed in: real commits on separate connections."""

import asyncio
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass

import httpx
import pytest
from sqlalchemy import delete, func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from app.accounts.models import AuthSession, RefreshToken, User
from app.core import security
from app.core.config import Settings
from app.core.db import create_sessionmaker
from app.main import create_app
from tests.conftest import PASSWORD

pytestmark = pytest.mark.concurrent

RACERS = 8
TOKEN = "/api/v1/auth/token"


@dataclass
class Device:
    client: httpx.AsyncClient
    user_id: uuid.UUID
    refresh_token: str


@pytest.fixture
async def device(engine: AsyncEngine, settings: Settings) -> AsyncIterator[Device]:
    """A committed, signed-in user, and a client on an app whose every request commits for real.

    The user is named uniquely and removed afterwards (its sessions go with it), so the rolled-back tests
    never see it.
    """
    sessionmaker = create_sessionmaker(engine)
    email = f"phone-{uuid.uuid4().hex[:10]}@example.com"
    async with sessionmaker.begin() as session:
        user = User(email=email, password_hash=security.hash_password(PASSWORD), timezone="UTC")
        session.add(user)
    app = create_app(settings, sessionmaker=sessionmaker)
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    try:
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            signed_in = await client.post(TOKEN, data={"username": email, "password": PASSWORD})
            assert signed_in.status_code == 200, signed_in.text
            yield Device(client, user.id, signed_in.json()["refresh_token"])
    finally:
        async with sessionmaker.begin() as session:
            await session.execute(delete(User).where(User.id == user.id))


async def _refresh(device: Device, token: str) -> httpx.Response:
    return await device.client.post(TOKEN, data={"grant_type": "refresh_token", "refresh_token": token})


async def test_racing_refreshes_of_one_token_all_answer_the_same_refresh_token(
    engine: AsyncEngine, device: Device
) -> None:
    responses = await asyncio.gather(*(_refresh(device, device.refresh_token) for _ in range(RACERS)))
    assert [r.status_code for r in responses] == [200] * RACERS, [r.text for r in responses]
    successors = {r.json()["refresh_token"] for r in responses}
    assert len(successors) == 1
    # One request spent the token and stored its successor; the session lives on with it.
    async with engine.connect() as conn:
        sessions = select(AuthSession.id).where(AuthSession.user_id == device.user_id).scalar_subquery()
        tokens = await conn.scalar(
            select(func.count()).select_from(RefreshToken).where(RefreshToken.session_id.in_(sessions))
        )
    assert tokens == 2
    (successor,) = successors
    after = await _refresh(device, successor)
    assert after.status_code == 200, after.text


async def test_racing_refreshes_of_a_token_whose_successor_was_used_all_fail_and_end_the_session(
    device: Device,
) -> None:
    second = (await _refresh(device, device.refresh_token)).json()["refresh_token"]
    third = (await _refresh(device, second)).json()["refresh_token"]
    responses = await asyncio.gather(*(_refresh(device, device.refresh_token) for _ in range(RACERS)))
    assert [r.status_code for r in responses] == [401] * RACERS
    assert (await _refresh(device, third)).status_code == 401


async def test_refreshes_racing_the_end_of_their_session_answer_200_or_401_and_the_session_ends(
    device: Device,
) -> None:
    # A copied token presented while the session's current one refreshes, and a logout at the same time:
    # every request waits its turn at the session (no deadlock, no 500), and the session ends.
    second = (await _refresh(device, device.refresh_token)).json()["refresh_token"]
    current = (await _refresh(device, second)).json()["refresh_token"]
    racing = [
        *(_refresh(device, device.refresh_token) for _ in range(RACERS // 2)),
        *(_refresh(device, current) for _ in range(RACERS // 2)),
        device.client.post("/api/v1/auth/logout", json={"refresh_token": current}),
    ]
    responses = await asyncio.gather(*racing)
    assert {r.status_code for r in responses} <= {200, 204, 401}, [r.text for r in responses]
    handed_out = {r.json()["refresh_token"] for r in responses if r.status_code == 200}
    for token in (current, *handed_out):
        assert (await _refresh(device, token)).status_code == 401
