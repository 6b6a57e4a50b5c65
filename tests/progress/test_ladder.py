"""`GET` / `PUT /me/ladder` over HTTP: the user's own fear ladder."""

import asyncio
import uuid
from datetime import timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncEngine

from app.accounts.models import User
from app.catalog.models import Category, Challenge
from app.core.config import Settings
from app.core.db import create_sessionmaker
from app.core.models import utcnow
from app.core.security import create_access_token
from app.main import create_app
from app.progress.models import LadderStep
from tests.conftest import Account, MakeAttempt, MakeChallenge

LADDER = "/api/v1/me/ladder"


def body(*steps: tuple[Challenge | uuid.UUID, int]) -> dict[str, Any]:
    return {
        "steps": [
            {"challenge_id": str(c if isinstance(c, uuid.UUID) else c.id), "anticipated_distress": d} for c, d in steps
        ]
    }


async def put(client: httpx.AsyncClient, account: Account, data: dict[str, Any]) -> httpx.Response:
    return await client.put(LADDER, headers=account.headers, json=data)


async def test_the_ladder_needs_a_login(client: httpx.AsyncClient) -> None:
    assert (await client.get(LADDER)).status_code == 401
    assert (await client.put(LADDER, json={"steps": []})).status_code == 401


async def test_no_ladder_is_an_empty_one(client: httpx.AsyncClient, alice: Account) -> None:
    response = await client.get(LADDER, headers=alice.headers)
    assert response.status_code == 200
    assert response.json() == {"steps": []}


async def test_a_ladder_is_stored_in_climbing_order_and_replaced_whole(
    client: httpx.AsyncClient, alice: Account, make_challenge: MakeChallenge
) -> None:
    easy = await make_challenge(difficulty=2, title="Ask for the time")
    own = await make_challenge(difficulty=5, owner=alice.user, title="Ask for a discount", category="shopping")
    hard = await make_challenge(difficulty=8, title="Ask to cut the queue")
    response = await put(client, alice, body((easy, 20), (own, 45), (hard, 80)))
    assert response.status_code == 200, response.text
    steps = response.json()["steps"]
    assert steps == [
        {
            "position": 1,
            "challenge_id": str(easy.id),
            "anticipated_distress": 20,
            "title": "Ask for the time",
            "category": "everyday",
            "difficulty": 2,
            "mastered": False,
        },
        {
            "position": 2,
            "challenge_id": str(own.id),
            "anticipated_distress": 45,
            "title": "Ask for a discount",
            "category": "shopping",
            "difficulty": 5,
            "mastered": False,
        },
        {
            "position": 3,
            "challenge_id": str(hard.id),
            "anticipated_distress": 80,
            "title": "Ask to cut the queue",
            "category": "everyday",
            "difficulty": 8,
            "mastered": False,
        },
    ]
    assert (await client.get(LADDER, headers=alice.headers)).json() == {"steps": steps}
    # The same again changes nothing.
    assert (await put(client, alice, body((easy, 20), (own, 45), (hard, 80)))).json() == {"steps": steps}
    # Reordered and shortened: the new one replaces it whole.
    again = await put(client, alice, body((hard, 70), (easy, 10)))
    assert [(s["challenge_id"], s["position"], s["anticipated_distress"]) for s in again.json()["steps"]] == [
        (str(hard.id), 1, 70),
        (str(easy.id), 2, 10),
    ]
    assert (await put(client, alice, {"steps": []})).json() == {"steps": []}
    assert (await client.get(LADDER, headers=alice.headers)).json() == {"steps": []}


async def test_ladders_are_per_user(
    client: httpx.AsyncClient, alice: Account, bob: Account, make_challenge: MakeChallenge
) -> None:
    challenge = await make_challenge()
    assert (await put(client, alice, body((challenge, 30)))).status_code == 200
    assert (await client.get(LADDER, headers=bob.headers)).json() == {"steps": []}
    assert (await put(client, bob, body((challenge, 60)))).json()["steps"][0]["anticipated_distress"] == 60
    assert (await client.get(LADDER, headers=alice.headers)).json()["steps"][0]["anticipated_distress"] == 30


async def test_mastered_steps_are_marked(
    client: httpx.AsyncClient, alice: Account, make_challenge: MakeChallenge, make_attempt: MakeAttempt
) -> None:
    calm, hot, once = [await make_challenge() for _ in range(3)]
    for days, peak in [(3, 60), (2, 40), (1, 35)]:
        await make_attempt(alice.user, calm, occurred_at=utcnow() - timedelta(days=days), distress_peak=peak)
    for days, peak in [(3, 30), (2, 30), (1, 45)]:
        await make_attempt(alice.user, hot, occurred_at=utcnow() - timedelta(days=days), distress_peak=peak)
    await make_attempt(alice.user, once, distress_peak=10)
    # An avoided attempt at a mastered challenge changes nothing: only exposures count.
    await make_attempt(alice.user, calm, outcome="avoided", distress_peak=None)
    steps = (await put(client, alice, body((calm, 50), (hot, 50), (once, 50)))).json()["steps"]
    assert [s["mastered"] for s in steps] == [True, False, False]


@pytest.mark.parametrize("case", ["unknown", "draft", "archived", "others", "own_archived"])
async def test_a_step_must_be_a_challenge_you_can_log(
    client: httpx.AsyncClient, alice: Account, bob: Account, make_challenge: MakeChallenge, case: str
) -> None:
    fine = await make_challenge()
    bad: Challenge | uuid.UUID
    if case == "unknown":
        bad = uuid.uuid4()
    elif case == "others":
        bad = await make_challenge(owner=bob.user)
    elif case == "own_archived":
        bad = await make_challenge(owner=alice.user, status="archived")
    else:
        bad = await make_challenge(status=case)
    await put(client, alice, body((fine, 10)))
    response = await put(client, alice, body((fine, 10), (bad, 20)))
    assert response.status_code == 422
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["errors"] == [
        {
            "loc": ["body", "steps", 1, "challenge_id"],
            "msg": "No challenge with that id that you can log.",
            "type": "challenge_not_found",
        }
    ]
    # Nothing changed.
    assert [s["challenge_id"] for s in (await client.get(LADDER, headers=alice.headers)).json()["steps"]] == [
        str(fine.id)
    ]


async def test_a_challenge_is_one_step_only(
    client: httpx.AsyncClient, alice: Account, make_challenge: MakeChallenge
) -> None:
    one, two = await make_challenge(), await make_challenge()
    response = await put(client, alice, body((one, 10), (two, 20), (one, 30)))
    assert response.status_code == 422
    assert response.json()["errors"][0]["loc"] == ["body", "steps", 2, "challenge_id"]
    assert response.json()["errors"][0]["type"] == "duplicate_step"


@pytest.mark.parametrize(
    "data",
    [
        {},
        {"steps": None},
        {"steps": [{"challenge_id": str(uuid.uuid4())}]},
        {"steps": [{"challenge_id": str(uuid.uuid4()), "anticipated_distress": 101}]},
        {"steps": [{"challenge_id": str(uuid.uuid4()), "anticipated_distress": -1}]},
        {"steps": [{"challenge_id": str(uuid.uuid4()), "anticipated_distress": 50.5}]},
        {"steps": [{"challenge_id": str(uuid.uuid4()), "anticipated_distress": "50"}]},
        {"steps": [{"challenge_id": "nope", "anticipated_distress": 50}]},
        {"steps": [{"challenge_id": str(uuid.uuid4()), "anticipated_distress": 50, "position": 1}]},
        {"steps": [], "user_id": str(uuid.uuid4())},
        {"steps": [{"challenge_id": str(uuid.uuid4()), "anticipated_distress": 50}] * 51},
    ],
)
async def test_bad_ladders_are_422(client: httpx.AsyncClient, alice: Account, data: dict[str, Any]) -> None:
    response = await put(client, alice, data)
    assert response.status_code == 422
    assert response.headers["content-type"] == "application/problem+json"


async def test_fifty_steps_fit(client: httpx.AsyncClient, alice: Account, make_challenge: MakeChallenge) -> None:
    challenges = [await make_challenge() for _ in range(50)]
    response = await put(client, alice, body(*((c, i * 2) for i, c in enumerate(challenges))))
    assert response.status_code == 200
    assert [s["position"] for s in response.json()["steps"]] == list(range(1, 51))


async def test_a_removed_challenge_leaves_the_ladder(
    client: httpx.AsyncClient, alice: Account, everyday: Category
) -> None:
    created = await client.post(
        "/api/v1/challenges",
        headers=alice.headers,
        json={
            "title": "Ask my neighbour for sugar",
            "description": "Knock and ask.",
            "category": "everyday",
            "difficulty": 2,
        },
    )
    assert created.status_code == 201, created.text
    challenge_id = uuid.UUID(created.json()["id"])
    assert (await put(client, alice, body((challenge_id, 30)))).status_code == 200
    assert (await client.delete(f"/api/v1/challenges/{challenge_id}", headers=alice.headers)).status_code == 204
    assert (await client.get(LADDER, headers=alice.headers)).json() == {"steps": []}


# --- concurrency: real commits on separate connections -----------------------------------------


@pytest.mark.concurrent
async def test_concurrent_replacements_leave_one_whole_ladder(engine: AsyncEngine, settings: Settings) -> None:
    sessionmaker = create_sessionmaker(engine)
    suffix = uuid.uuid4().hex[:10]
    async with sessionmaker() as session:
        user = User(email=f"ladder-{suffix}@example.com", password_hash="-", timezone="UTC")
        category = Category(slug=f"ladder-{suffix}", name="Ladder", description="")
        session.add_all([user, category])
        await session.flush()
        challenges = [
            Challenge(
                slug=f"ladder-{suffix}-{i}",
                title=f"Step {i}",
                description="-",
                category_slug=category.slug,
                difficulty=3,
                status="published",
                owner_id=user.id,
            )
            for i in range(12)
        ]
        session.add_all(challenges)
        await session.commit()
    token, _ = create_access_token(user.id, settings)
    headers = {"Authorization": f"Bearer {token}"}
    app = create_app(settings, sessionmaker=sessionmaker)
    # Six ladders over the same challenges in different orders: any mix of two would show.
    ladders = [body(*((c, n * 10) for c in challenges[n : n + 6])) for n in range(6)]
    try:
        transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            for _ in range(3):
                responses = await asyncio.gather(*(client.put(LADDER, headers=headers, json=b) for b in ladders))
                assert {r.status_code for r in responses} == {200}, [r.text for r in responses]
                stored = (await client.get(LADDER, headers=headers)).json()["steps"]
                as_sent = [
                    {"challenge_id": s["challenge_id"], "anticipated_distress": s["anticipated_distress"]}
                    for s in stored
                ]
                assert {"steps": as_sent} in ladders
        async with sessionmaker() as session:
            rows = (await session.scalars(select(LadderStep).where(LadderStep.user_id == user.id))).all()
            assert len(rows) == 6
    finally:
        async with sessionmaker.begin() as session:
            await session.execute(delete(User).where(User.id == user.id))
            await session.execute(delete(Category).where(Category.slug == category.slug))
