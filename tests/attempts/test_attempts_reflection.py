"""The reflection on an attempt: surprise, safety behaviours and free text, on POST and PATCH."""

from typing import Any

import httpx
import pytest

from app.catalog.models import Challenge
from tests.attempts.test_attempts import assert_problem
from tests.conftest import Account, MakeChallenge

ATTEMPTS = "/api/v1/attempts"
REFLECTION = {
    "surprise": 70,
    "safety_behaviours": ["rehearsed the words", "avoided eye contact"],
    "reflection": "A no was about the request, not about me.\n\tNext time: look them in the eye.",
}


def body(challenge: Challenge, **fields: Any) -> dict[str, Any]:
    return {
        "challenge_id": str(challenge.id),
        "outcome": "rejected",
        "distress_before": 50,
        "distress_peak": 60,
        **fields,
    }


async def test_a_reflection_is_logged_and_read_back(
    client: httpx.AsyncClient, alice: Account, make_challenge: MakeChallenge
) -> None:
    challenge = await make_challenge()
    response = await client.post(ATTEMPTS, json=body(challenge, **REFLECTION), headers=alice.headers)
    assert response.status_code == 201, response.text
    attempt = response.json()
    assert {name: attempt[name] for name in REFLECTION} == REFLECTION
    assert (await client.get(f"{ATTEMPTS}/{attempt['id']}", headers=alice.headers)).json() == attempt
    bare = (await client.post(ATTEMPTS, json=body(challenge), headers=alice.headers)).json()
    assert (bare["surprise"], bare["safety_behaviours"], bare["reflection"]) == (None, None, None)


async def test_safety_behaviours_are_trimmed_and_an_empty_list_says_none(
    client: httpx.AsyncClient, alice: Account, make_challenge: MakeChallenge
) -> None:
    challenge = await make_challenge()
    trimmed = await client.post(
        ATTEMPTS, json=body(challenge, safety_behaviours=["  rehearsed  ", "kept it short"]), headers=alice.headers
    )
    assert trimmed.json()["safety_behaviours"] == ["rehearsed", "kept it short"]
    none = await client.post(ATTEMPTS, json=body(challenge, safety_behaviours=[]), headers=alice.headers)
    assert none.json()["safety_behaviours"] == []
    ten = [f"behaviour {n}" for n in range(10)]
    full = await client.post(ATTEMPTS, json=body(challenge, safety_behaviours=ten), headers=alice.headers)
    assert full.json()["safety_behaviours"] == ten


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("surprise", 101),
        ("surprise", -1),
        ("surprise", 10**30),
        ("surprise", 7.5),
        ("surprise", "7"),
        ("safety_behaviours", [f"behaviour {n}" for n in range(11)]),
        ("safety_behaviours", ["rehearsed", "Rehearsed "]),
        ("safety_behaviours", [""]),
        ("safety_behaviours", ["   "]),
        ("safety_behaviours", ["x" * 101]),
        ("safety_behaviours", ["two\nlines"]),
        ("safety_behaviours", ["nul \x00"]),
        ("safety_behaviours", "rehearsed"),
        ("safety_behaviours", [10**30]),
        ("reflection", "x" * 2001),
        ("reflection", "nul \x00 byte"),
        ("reflection", 12),
    ],
)
async def test_a_bad_reflection_is_refused_on_post_and_patch(
    client: httpx.AsyncClient, alice: Account, make_challenge: MakeChallenge, field: str, value: Any
) -> None:
    challenge = await make_challenge()
    posted = await client.post(ATTEMPTS, json=body(challenge, **{field: value}), headers=alice.headers)
    assert assert_problem(posted, 422)["errors"][0]["loc"][:2] == ["body", field]
    attempt = (await client.post(ATTEMPTS, json=body(challenge, **REFLECTION), headers=alice.headers)).json()
    patched = await client.patch(f"{ATTEMPTS}/{attempt['id']}", json={field: value}, headers=alice.headers)
    assert assert_problem(patched, 422)["errors"][0]["loc"][:2] == ["body", field]
    assert (await client.get(f"{ATTEMPTS}/{attempt['id']}", headers=alice.headers)).json() == attempt


async def test_the_reflection_is_added_changed_and_cleared_by_patch(
    client: httpx.AsyncClient, alice: Account, make_challenge: MakeChallenge
) -> None:
    challenge = await make_challenge()
    attempt = (await client.post(ATTEMPTS, json=body(challenge), headers=alice.headers)).json()
    url = f"{ATTEMPTS}/{attempt['id']}"
    added = (await client.patch(url, json=REFLECTION, headers=alice.headers)).json()
    assert {name: added[name] for name in REFLECTION} == REFLECTION
    changed = (await client.patch(url, json={"safety_behaviours": ["asked quietly"]}, headers=alice.headers)).json()
    assert (changed["safety_behaviours"], changed["surprise"]) == (["asked quietly"], 70)
    cleared = await client.patch(
        url, json={"surprise": None, "safety_behaviours": None, "reflection": None}, headers=alice.headers
    )
    assert cleared.status_code == 200, cleared.text
    assert (cleared.json()["surprise"], cleared.json()["safety_behaviours"], cleared.json()["reflection"]) == (
        None,
        None,
        None,
    )
    assert (await client.get(url, headers=alice.headers)).json() == cleared.json()
