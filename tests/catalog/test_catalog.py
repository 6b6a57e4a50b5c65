"""The catalog as users see it: visibility, custom challenges, filters, search and pagination."""

from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.catalog.models import Category, Challenge, ChallengeStatus
from tests.conftest import CHALLENGE_FIELDS, Account, MakeAttempt, MakeChallenge

CHALLENGES = "/api/v1/challenges"


def custom_body(**overrides: Any) -> dict[str, Any]:
    return {
        "title": "Ask the bakery for a day-old loaf at half price",
        "description": "Near closing time, ask politely. If not, thank them and buy what you came for.",
        "category": "everyday",
        "difficulty": 3,
        "tips": ["They said no to the request, not to you."],
        **overrides,
    }


async def list_all(client: httpx.AsyncClient, account: Account, **params: Any) -> list[dict[str, Any]]:
    """Every page of GET /challenges with these filters."""
    items: list[dict[str, Any]] = []
    cursor: str | None = None
    while True:
        query = {**params, **({"cursor": cursor} if cursor else {})}
        response = await client.get(CHALLENGES, params=query, headers=account.headers)
        assert response.status_code == 200, response.text
        body = response.json()
        items += body["items"]
        cursor = body["next_cursor"]
        if cursor is None:
            return items


# --- who may read, list and log what ---------------------------------------------
#
# The rules as README's catalog section, the OpenAPI descriptions and app/catalog/rules.py state
# them, seen by Alice, for a challenge of each owner in each status. `GET /me/next-challenges`
# picks from what is listed. test_attempts.py and test_progress_api.py check the same table.


@dataclass(frozen=True)
class Access:
    owner: str  # "catalog", "own" (Alice's) or "other" (Bob's)
    status: ChallengeStatus
    read: bool  # GET /challenges/{id}
    listed: bool  # GET /challenges, and a candidate for GET /me/next-challenges
    log: bool  # POST /attempts

    def __str__(self) -> str:
        return f"{self.owner}-{self.status}"


D, P, A = ChallengeStatus.DRAFT, ChallengeStatus.PUBLISHED, ChallengeStatus.ARCHIVED
ACCESS_RULES = [
    Access("catalog", D, read=False, listed=False, log=False),
    Access("catalog", P, read=True, listed=True, log=True),
    Access("catalog", A, read=True, listed=False, log=False),
    Access("own", D, read=True, listed=True, log=True),
    Access("own", P, read=True, listed=True, log=True),
    Access("own", A, read=True, listed=False, log=False),
    Access("other", D, read=False, listed=False, log=False),
    Access("other", P, read=False, listed=False, log=False),
    Access("other", A, read=False, listed=False, log=False),
]
ACCESS_CASES = [pytest.param(rule, id=str(rule)) for rule in ACCESS_RULES]


async def make_case(make_challenge: MakeChallenge, rule: Access, alice: Account, bob: Account) -> Challenge:
    """The challenge a rule is about: difficulty 2, so it is what a new user is offered next."""
    owner = {"catalog": None, "own": alice.user, "other": bob.user}[rule.owner]
    return await make_challenge(difficulty=2, status=rule.status, owner=owner)


def test_the_rules_cover_every_owner_and_status_and_nest() -> None:
    assert {(rule.owner, rule.status) for rule in ACCESS_RULES} == {
        (owner, status) for owner in ("catalog", "own", "other") for status in ChallengeStatus
    }
    for rule in ACCESS_RULES:
        # What you can log you can list, and what you can list you can read.
        assert rule.log <= rule.listed <= rule.read, rule


@pytest.mark.parametrize("rule", ACCESS_CASES)
async def test_who_reads_and_lists_a_challenge(
    client: httpx.AsyncClient, alice: Account, bob: Account, make_challenge: MakeChallenge, rule: Access
) -> None:
    challenge = await make_case(make_challenge, rule, alice, bob)
    read = await client.get(f"{CHALLENGES}/{challenge.id}", headers=alice.headers)
    assert read.status_code == (200 if rule.read else 404), read.text
    if rule.read:
        assert read.json()["status"] == rule.status
        assert read.json()["is_custom"] is (rule.owner != "catalog")
    else:
        # Nothing tells a hidden challenge from an unknown id.
        unknown = await client.get(f"{CHALLENGES}/00000000-0000-0000-0000-000000000000", headers=alice.headers)
        assert {k: v for k, v in read.json().items() if k != "instance"} == {
            k: v for k, v in unknown.json().items() if k != "instance"
        }
    assert (str(challenge.id) in {i["id"] for i in await list_all(client, alice)}) is rule.listed
    is_custom = "true" if rule.owner != "catalog" else "false"
    listed = {i["id"] for i in await list_all(client, alice, is_custom=is_custom)}
    assert (str(challenge.id) in listed) is rule.listed


# --- auth and categories --------------------------------------------------------


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/api/v1/categories"),
        ("GET", CHALLENGES),
        ("POST", CHALLENGES),
        ("GET", f"{CHALLENGES}/00000000-0000-0000-0000-000000000000"),
        ("PATCH", f"{CHALLENGES}/00000000-0000-0000-0000-000000000000"),
        ("DELETE", f"{CHALLENGES}/00000000-0000-0000-0000-000000000000"),
    ],
)
async def test_the_catalog_needs_a_login(client: httpx.AsyncClient, method: str, path: str) -> None:
    response = await client.request(method, path, json={} if method in ("POST", "PATCH") else None)
    assert response.status_code == 401
    assert response.headers["content-type"] == "application/problem+json"
    assert response.headers["www-authenticate"] == "Bearer"


async def test_categories_are_a_plain_list_by_name(
    client: httpx.AsyncClient, session: AsyncSession, alice: Account
) -> None:
    session.add_all(
        [
            Category(slug="test-work", name="Work and career", description="Asks at work."),
            Category(slug="test-everyday", name="Everyday asks", description="Small asks."),
        ]
    )
    await session.commit()
    response = await client.get("/api/v1/categories", headers=alice.headers)
    assert response.status_code == 200
    listed = response.json()
    assert [c["name"] for c in listed] == sorted(c["name"] for c in listed)
    assert [c for c in listed if c["slug"].startswith("test-")] == [
        {"slug": "test-everyday", "name": "Everyday asks", "description": "Small asks."},
        {"slug": "test-work", "name": "Work and career", "description": "Asks at work."},
    ]


# --- visibility -----------------------------------------------------------------


async def test_only_published_catalog_challenges_are_listed(
    client: httpx.AsyncClient, alice: Account, make_challenge: MakeChallenge
) -> None:
    published = await make_challenge(title="Ask for the time")
    await make_challenge(title="A draft", status="draft")
    await make_challenge(title="An archived one", status="archived")
    items = await list_all(client, alice)
    assert [item["id"] for item in items] == [str(published.id)]
    assert set(items[0]) == CHALLENGE_FIELDS
    assert items[0]["category"] == "everyday"
    assert items[0]["is_custom"] is False
    assert items[0]["tips"] == ["They said no to the request, not to you."]


async def test_a_draft_is_not_found_and_an_archived_challenge_stays_readable(
    client: httpx.AsyncClient, alice: Account, make_challenge: MakeChallenge
) -> None:
    draft = await make_challenge(status="draft")
    archived = await make_challenge(status="archived")
    assert (await client.get(f"{CHALLENGES}/{draft.id}", headers=alice.headers)).status_code == 404
    response = await client.get(f"{CHALLENGES}/{archived.id}", headers=alice.headers)
    assert response.status_code == 200
    assert response.json()["status"] == "archived"


async def test_an_unknown_or_malformed_id(client: httpx.AsyncClient, alice: Account) -> None:
    missing = await client.get(f"{CHALLENGES}/00000000-0000-0000-0000-000000000000", headers=alice.headers)
    assert missing.status_code == 404
    assert missing.headers["content-type"] == "application/problem+json"
    assert (await client.get(f"{CHALLENGES}/not-a-uuid", headers=alice.headers)).status_code == 422


async def test_a_custom_challenge_is_seen_by_its_owner_alone(
    client: httpx.AsyncClient, alice: Account, bob: Account, everyday: Category, make_challenge: MakeChallenge
) -> None:
    catalog = await make_challenge(difficulty=2)
    response = await client.post(CHALLENGES, json=custom_body(), headers=alice.headers)
    assert response.status_code == 201, response.text
    created = response.json()
    assert set(created) == CHALLENGE_FIELDS
    assert created["is_custom"] is True
    assert created["status"] == "published"
    assert created["slug"].startswith("custom-ask-the-bakery")
    assert created["category"] == "everyday"

    assert {item["id"] for item in await list_all(client, alice)} == {str(catalog.id), created["id"]}
    assert {item["id"] for item in await list_all(client, bob)} == {str(catalog.id)}

    path = f"{CHALLENGES}/{created['id']}"
    assert (await client.get(path, headers=alice.headers)).json() == created
    for method in ("GET", "PATCH", "DELETE"):
        body = {"difficulty": 9} if method == "PATCH" else None
        response = await client.request(method, path, json=body, headers=bob.headers)
        assert response.status_code == 404, method
        assert "Ask the bakery" not in response.text
    assert (await client.get(path, headers=alice.headers)).json()["difficulty"] == 3


async def test_the_is_custom_filter(
    client: httpx.AsyncClient, alice: Account, everyday: Category, make_challenge: MakeChallenge
) -> None:
    catalog = await make_challenge()
    own = (await client.post(CHALLENGES, json=custom_body(), headers=alice.headers)).json()
    assert [i["id"] for i in await list_all(client, alice, is_custom="true")] == [own["id"]]
    assert [i["id"] for i in await list_all(client, alice, is_custom="false")] == [str(catalog.id)]


async def test_the_owner_edits_a_custom_challenge(
    client: httpx.AsyncClient, alice: Account, everyday: Category, session: AsyncSession
) -> None:
    session.add(Category(slug="test-online", name="Online", description=""))
    await session.commit()
    created = (await client.post(CHALLENGES, json=custom_body(), headers=alice.headers)).json()
    response = await client.patch(
        f"{CHALLENGES}/{created['id']}",
        json={"difficulty": 4, "category": "test-online", "tips": ["Breathe out slowly first."]},
        headers=alice.headers,
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert (body["difficulty"], body["category"], body["tips"]) == (4, "test-online", ["Breathe out slowly first."])
    assert body["title"] == created["title"]
    assert body["slug"] == created["slug"]
    assert body["updated_at"] >= created["updated_at"]


async def test_a_user_cannot_change_the_catalog(
    client: httpx.AsyncClient, alice: Account, make_challenge: MakeChallenge
) -> None:
    catalog = await make_challenge(difficulty=2)
    patch = await client.patch(f"{CHALLENGES}/{catalog.id}", json={"difficulty": 9}, headers=alice.headers)
    assert patch.status_code == 403
    delete = await client.delete(f"{CHALLENGES}/{catalog.id}", headers=alice.headers)
    assert delete.status_code == 403
    assert (await client.get(f"{CHALLENGES}/{catalog.id}", headers=alice.headers)).json()["difficulty"] == 2


async def test_deleting_a_custom_challenge_without_attempts_removes_it(
    client: httpx.AsyncClient, alice: Account, everyday: Category, session: AsyncSession
) -> None:
    created = (await client.post(CHALLENGES, json=custom_body(), headers=alice.headers)).json()
    response = await client.delete(f"{CHALLENGES}/{created['id']}", headers=alice.headers)
    assert response.status_code == 204
    assert response.content == b""
    assert (await client.get(f"{CHALLENGES}/{created['id']}", headers=alice.headers)).status_code == 404
    assert await session.scalar(select(Challenge).where(Challenge.slug == created["slug"])) is None


async def test_deleting_a_custom_challenge_with_attempts_archives_it(
    client: httpx.AsyncClient, alice: Account, make_challenge: MakeChallenge, make_attempt: MakeAttempt
) -> None:
    own = await make_challenge(owner=alice.user)
    await make_attempt(alice.user, own)
    response = await client.delete(f"{CHALLENGES}/{own.id}", headers=alice.headers)
    assert response.status_code == 200
    assert response.json()["status"] == "archived"
    assert await list_all(client, alice) == []
    # The attempt still has its challenge to show.
    kept = await client.get(f"{CHALLENGES}/{own.id}", headers=alice.headers)
    assert kept.status_code == 200
    assert kept.json()["status"] == "archived"
    again = await client.delete(f"{CHALLENGES}/{own.id}", headers=alice.headers)
    assert again.status_code == 200


# --- input ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"title": "Ask\x00 for the time"}, "title"),
        ({"title": "Two\nlines"}, "title"),
        ({"title": "x" * 201}, "title"),
        ({"title": "   "}, "title"),
        ({"description": "nul \x00 inside"}, "description"),
        ({"description": "y" * 4001}, "description"),
        ({"difficulty": 0}, "difficulty"),
        ({"difficulty": 11}, "difficulty"),
        ({"difficulty": 2**70}, "difficulty"),
        ({"difficulty": True}, "difficulty"),
        ({"difficulty": "3"}, "difficulty"),
        ({"difficulty": 3.5}, "difficulty"),
        ({"category": "Not A Slug"}, "category"),
        ({"tips": ["ok", "\x00"]}, "tips"),
        ({"tips": ["t"] * 11}, "tips"),
        ({"tips": "one tip"}, "tips"),
        ({"owner_id": "00000000-0000-0000-0000-000000000000"}, "owner_id"),
        ({"status": "draft"}, "status"),
        ({"slug": "my-own-slug"}, "slug"),
    ],
)
@pytest.mark.usefixtures("everyday")
async def test_bad_custom_challenges_are_refused_and_nothing_is_stored(
    client: httpx.AsyncClient,
    alice: Account,
    session: AsyncSession,
    overrides: dict[str, Any],
    field: str,
) -> None:
    before = await session.scalar(select(func.count()).select_from(Challenge))
    response = await client.post(CHALLENGES, json=custom_body(**overrides), headers=alice.headers)
    assert response.status_code == 422
    body = response.json()
    assert response.headers["content-type"] == "application/problem+json"
    assert any(error["loc"][:2] == ["body", field] for error in body["errors"]), body
    assert "\x00" not in response.text
    assert await session.scalar(select(func.count()).select_from(Challenge)) == before


async def test_an_unknown_category_is_a_clear_422(client: httpx.AsyncClient, alice: Account) -> None:
    response = await client.post(CHALLENGES, json=custom_body(category="nowhere"), headers=alice.headers)
    assert response.status_code == 422
    (error,) = response.json()["errors"]
    assert error["loc"] == ["body", "category"]
    assert error["type"] == "unknown_category"
    assert "nowhere" in error["msg"]


@pytest.mark.parametrize(
    "patch",
    [{"title": None}, {"difficulty": None}, {"tips": None}, {"status": "archived"}, {"difficulty": 11}, {"x": 1}],
)
async def test_bad_patches_are_refused(
    client: httpx.AsyncClient, alice: Account, everyday: Category, patch: dict[str, Any]
) -> None:
    created = (await client.post(CHALLENGES, json=custom_body(), headers=alice.headers)).json()
    response = await client.patch(f"{CHALLENGES}/{created['id']}", json=patch, headers=alice.headers)
    assert response.status_code == 422
    assert (await client.get(f"{CHALLENGES}/{created['id']}", headers=alice.headers)).json() == created


async def test_a_patch_to_an_unknown_category_is_refused(
    client: httpx.AsyncClient, alice: Account, everyday: Category
) -> None:
    created = (await client.post(CHALLENGES, json=custom_body(), headers=alice.headers)).json()
    response = await client.patch(f"{CHALLENGES}/{created['id']}", json={"category": "nope"}, headers=alice.headers)
    assert response.status_code == 422
    assert response.json()["errors"][0]["loc"] == ["body", "category"]


# --- filters, search and pagination --------------------------------------------


async def test_filters_by_category_and_difficulty(
    client: httpx.AsyncClient, alice: Account, make_challenge: MakeChallenge
) -> None:
    made = {
        (category, difficulty): await make_challenge(category=category, difficulty=difficulty)
        for category in ("everyday", "online")
        for difficulty in (1, 4, 7, 10)
    }
    online = await list_all(client, alice, category="online")
    assert {i["id"] for i in online} == {str(c.id) for (cat, _), c in made.items() if cat == "online"}
    middle = await list_all(client, alice, difficulty_min=4, difficulty_max=7)
    assert sorted(i["difficulty"] for i in middle) == [4, 4, 7, 7]
    both = await list_all(client, alice, category="everyday", difficulty_min=7)
    assert [i["difficulty"] for i in both] == [7, 10]
    exact = await list_all(client, alice, difficulty_min=10, difficulty_max=10)
    assert len(exact) == 2
    assert await list_all(client, alice, category="unknown-category") == []


@pytest.mark.parametrize(
    "params",
    [
        {"difficulty_min": 7, "difficulty_max": 3},
        {"difficulty_min": 0},
        {"difficulty_max": 11},
        {"difficulty_min": 2**70},
        {"difficulty_min": "two"},
        {"category": "Bad Slug"},
        {"category": "x" * 51},
        {"q": "nul\x00"},
        {"q": "x" * 101},
        {"limit": 0},
        {"limit": 201},
        {"cursor": "not-a-cursor"},
        {"cursor": "WzEsMl0"},
        {"is_custom": "maybe"},
    ],
)
async def test_bad_filters_are_422(client: httpx.AsyncClient, alice: Account, params: dict[str, Any]) -> None:
    response = await client.get(CHALLENGES, params=params, headers=alice.headers)
    assert response.status_code == 422, response.text
    assert response.headers["content-type"] == "application/problem+json"


async def test_min_above_max_names_the_parameter(client: httpx.AsyncClient, alice: Account) -> None:
    response = await client.get(CHALLENGES, params={"difficulty_min": 7, "difficulty_max": 3}, headers=alice.headers)
    assert response.json()["errors"][0]["loc"] == ["query", "difficulty_max"]


async def test_text_search_ignores_case_and_treats_wildcards_literally(
    client: httpx.AsyncClient, alice: Account, make_challenge: MakeChallenge, session: AsyncSession
) -> None:
    honesty = await make_challenge(title="Ask for 100% honest feedback")
    apples = await make_challenge(title="Ask for 100 apples")
    underscore = await make_challenge(title="Ask about snake_case names")
    coffee = await make_challenge(title="Ask for a free coffee refill")
    coffee.description = "At the counter, ask whether the COFFEE refill is free."
    await session.commit()

    async def search(q: str) -> set[str]:
        return {item["id"] for item in await list_all(client, alice, q=q)}

    assert await search("100%") == {str(honesty.id)}
    assert await search("ASK FOR 100") == {str(honesty.id), str(apples.id)}
    assert await search("_") == {str(underscore.id)}
    assert await search("e_c") == {str(underscore.id)}
    assert await search("counter, ask") == {str(coffee.id)}
    assert await search("Coffee") == {str(coffee.id)}
    assert await search("%") == {str(honesty.id)}
    assert await search("nothing like this") == set()
    # A blank search is no search.
    assert len(await search("  ")) == 4


async def test_pages_are_ordered_and_complete(
    client: httpx.AsyncClient, alice: Account, make_challenge: MakeChallenge
) -> None:
    for difficulty in (5, 1, 3, 3, 9, 1, 7):
        await make_challenge(difficulty=difficulty)
    first = await client.get(CHALLENGES, params={"limit": 3}, headers=alice.headers)
    assert len(first.json()["items"]) == 3
    assert first.json()["next_cursor"]
    items = await list_all(client, alice, limit=3)
    keys = [(i["difficulty"], i["title"], i["id"]) for i in items]
    assert keys == sorted(keys)
    assert len({i["id"] for i in items}) == 7


async def test_pagination_is_stable_while_challenges_are_added(
    client: httpx.AsyncClient, alice: Account, make_challenge: MakeChallenge
) -> None:
    for difficulty in (2, 4, 6, 8):
        await make_challenge(difficulty=difficulty, title=f"Ask level {difficulty}")
    first = (await client.get(CHALLENGES, params={"limit": 2}, headers=alice.headers)).json()
    assert [i["difficulty"] for i in first["items"]] == [2, 4]
    # One lands before the cursor (never shown in this walk), one after (shown once).
    await make_challenge(difficulty=1, title="Ask level 1")
    await make_challenge(difficulty=5, title="Ask level 5")
    seen = [i["difficulty"] for i in first["items"]]
    cursor = first["next_cursor"]
    while cursor:
        page = (await client.get(CHALLENGES, params={"limit": 2, "cursor": cursor}, headers=alice.headers)).json()
        seen += [i["difficulty"] for i in page["items"]]
        cursor = page["next_cursor"]
    assert seen == [2, 4, 5, 6, 8]


async def test_a_cursor_keeps_working_with_the_same_filters(
    client: httpx.AsyncClient, alice: Account, make_challenge: MakeChallenge
) -> None:
    for difficulty in range(1, 11):
        await make_challenge(difficulty=difficulty, title="Ask same title")
    items = await list_all(client, alice, limit=2, difficulty_min=3, difficulty_max=8)
    assert [i["difficulty"] for i in items] == [3, 4, 5, 6, 7, 8]
