"""Admin curation: access, create/publish/archive, ETag and If-Match, delete that keeps history, categories."""

from typing import Any

import httpx
import pytest
from sqlalchemy import func, select, text
from sqlalchemy.ext.asyncio import AsyncSession

from app.catalog import service
from app.catalog.models import Category, Challenge
from app.catalog.schemas import AdminChallengeUpdate
from app.core.errors import PreconditionFailed
from tests.conftest import Account, MakeAttempt, MakeChallenge

ADMIN = "/api/v1/admin/challenges"
MISSING = "00000000-0000-0000-0000-000000000000"


def new_challenge(**overrides: Any) -> dict[str, Any]:
    return {
        "slug": "ask-librarian-for-a-recommendation",
        "title": "Ask a librarian to recommend a book",
        "description": "At the desk, ask what they would suggest next. If they are busy, thank them and browse.",
        "category": "everyday",
        "difficulty": 2,
        "tips": ["They said no to the request, not to you."],
        **overrides,
    }


async def create(client: httpx.AsyncClient, admin: Account, **overrides: Any) -> httpx.Response:
    response = await client.post(ADMIN, json=new_challenge(**overrides), headers=admin.headers)
    assert response.status_code == 201, response.text
    return response


ADMIN_ROUTES = [
    ("GET", ADMIN),
    ("POST", ADMIN),
    ("POST", f"{ADMIN}/import"),
    ("GET", f"{ADMIN}/{MISSING}"),
    ("PATCH", f"{ADMIN}/{MISSING}"),
    ("DELETE", f"{ADMIN}/{MISSING}"),
    ("POST", "/api/v1/admin/categories"),
    ("PATCH", "/api/v1/admin/categories/everyday"),
]


@pytest.mark.parametrize(("method", "path"), ADMIN_ROUTES)
async def test_admin_routes_need_a_login(client: httpx.AsyncClient, method: str, path: str) -> None:
    response = await client.request(method, path, json=[] if path.endswith("import") else {})
    assert response.status_code == 401
    assert response.headers["content-type"] == "application/problem+json"


@pytest.mark.parametrize(("method", "path"), ADMIN_ROUTES)
async def test_admin_routes_are_forbidden_to_users(
    client: httpx.AsyncClient, alice: Account, method: str, path: str
) -> None:
    response = await client.request(method, path, json=[] if path.endswith("import") else {}, headers=alice.headers)
    assert response.status_code == 403
    assert response.headers["content-type"] == "application/problem+json"


async def test_admin_routes_are_under_their_own_tag_with_every_error_declared(client: httpx.AsyncClient) -> None:
    spec = (await client.get("/openapi.json")).json()
    for method, path in ADMIN_ROUTES:
        template = path.replace(MISSING, "{challenge_id}").replace("/everyday", "/{slug}")
        operation = spec["paths"][template][method.lower()]
        assert operation["tags"] == ["admin"], path
        assert operation["operationId"].startswith("admin-")
        assert {"401", "403", "422"} <= set(operation["responses"]), path
        assert operation["description"], path
    patch = spec["paths"][f"{ADMIN}/{{challenge_id}}"]["patch"]
    assert {"400", "404", "409", "412"} <= set(patch["responses"])
    assert "ETag" in patch["responses"]["200"]["headers"]
    assert any(p["name"] == "If-Match" and p["in"] == "header" for p in patch["parameters"])
    catalog_schemas = (
        "AdminChallengeCreate",
        "AdminChallengeUpdate",
        "AdminChallengePublic",
        "ChallengeCreate",
        "ChallengeUpdate",
        "ChallengePublic",
        "CategoryCreate",
        "CategoryUpdate",
        "CategoryPublic",
        "ImportResult",
        "ImportRejection",
        "ImportIssue",
    )
    for name in catalog_schemas:
        schema = spec["components"]["schemas"][name]
        for field, definition in schema["properties"].items():
            assert definition.get("description"), f"{name}.{field}"
            assert {"type": "null"} not in definition.get("anyOf", []) or name.startswith("Import"), f"{name}.{field}"


async def test_create_as_draft_then_publish(
    client: httpx.AsyncClient, admin: Account, alice: Account, everyday: Category
) -> None:
    created = await create(client, admin)
    body = created.json()
    assert body["status"] == "draft"
    assert body["is_custom"] is False
    assert body["version"] == 1
    assert created.headers["etag"] == '"1"'
    user_view = f"/api/v1/challenges/{body['id']}"
    assert (await client.get(user_view, headers=alice.headers)).status_code == 404

    published = await client.patch(
        f"{ADMIN}/{body['id']}", json={"status": "published"}, headers={**admin.headers, "If-Match": '"1"'}
    )
    assert published.status_code == 200, published.text
    assert published.json()["status"] == "published"
    assert published.headers["etag"] == '"2"'
    seen = await client.get(user_view, headers=alice.headers)
    assert seen.status_code == 200
    assert "version" not in seen.json()


async def test_list_by_status(client: httpx.AsyncClient, admin: Account, make_challenge: MakeChallenge) -> None:
    made = {status: await make_challenge(status=status) for status in ("draft", "published", "archived")}
    everything = (await client.get(ADMIN, headers=admin.headers)).json()
    assert {item["id"] for item in everything["items"]} == {str(c.id) for c in made.values()}
    for status, challenge in made.items():
        response = await client.get(ADMIN, params={"status": status}, headers=admin.headers)
        assert [item["id"] for item in response.json()["items"]] == [str(challenge.id)]
    assert (await client.get(ADMIN, params={"status": "gone"}, headers=admin.headers)).status_code == 422


async def test_admin_filters_and_pages_like_the_catalog(
    client: httpx.AsyncClient, admin: Account, make_challenge: MakeChallenge
) -> None:
    for difficulty in range(1, 8):
        await make_challenge(difficulty=difficulty, status="draft", title=f"Ask draft {difficulty}")
    first = (await client.get(ADMIN, params={"limit": 2, "difficulty_min": 3}, headers=admin.headers)).json()
    assert [i["difficulty"] for i in first["items"]] == [3, 4]
    rest = await client.get(
        ADMIN, params={"limit": 10, "difficulty_min": 3, "cursor": first["next_cursor"]}, headers=admin.headers
    )
    assert [i["difficulty"] for i in rest.json()["items"]] == [5, 6, 7]
    found = await client.get(ADMIN, params={"q": "DRAFT 6"}, headers=admin.headers)
    assert [i["difficulty"] for i in found.json()["items"]] == [6]


async def test_users_custom_challenges_stay_private_from_admins(
    client: httpx.AsyncClient, admin: Account, alice: Account, make_challenge: MakeChallenge
) -> None:
    own = await make_challenge(owner=alice.user)
    assert (await client.get(ADMIN, headers=admin.headers)).json()["items"] == []
    for method in ("GET", "PATCH", "DELETE"):
        body = {"status": "archived"} if method == "PATCH" else None
        response = await client.request(method, f"{ADMIN}/{own.id}", json=body, headers=admin.headers)
        assert response.status_code == 404, method


async def test_a_taken_slug_is_409(client: httpx.AsyncClient, admin: Account, everyday: Category) -> None:
    first = await create(client, admin)
    again = await client.post(ADMIN, json=new_challenge(title="Other"), headers=admin.headers)
    assert again.status_code == 409
    other = await create(client, admin, slug="another-slug")
    renamed = await client.patch(
        f"{ADMIN}/{other.json()['id']}", json={"slug": first.json()["slug"]}, headers=admin.headers
    )
    assert renamed.status_code == 409


@pytest.mark.parametrize(
    "overrides",
    [
        {"slug": "Not A Slug"},
        {"slug": "trailing-"},
        {"slug": "x" * 101},
        {"slug": "nul\x00"},
        {"status": "deleted"},
        {"difficulty": 0},
        {"category": "nowhere"},
        {"version": 7},
        {"owner_id": MISSING},
    ],
)
@pytest.mark.usefixtures("everyday")
async def test_bad_admin_input_is_refused(
    client: httpx.AsyncClient, admin: Account, session: AsyncSession, overrides: dict[str, Any]
) -> None:
    before = await session.scalar(select(func.count()).select_from(Challenge))
    response = await client.post(ADMIN, json=new_challenge(**overrides), headers=admin.headers)
    assert response.status_code == 422
    assert await session.scalar(select(func.count()).select_from(Challenge)) == before


async def test_read_carries_the_etag(client: httpx.AsyncClient, admin: Account, everyday: Category) -> None:
    body = (await create(client, admin)).json()
    read = await client.get(f"{ADMIN}/{body['id']}", headers=admin.headers)
    assert read.status_code == 200
    assert read.headers["etag"] == '"1"'
    assert read.json() == body
    assert (await client.get(f"{ADMIN}/{MISSING}", headers=admin.headers)).status_code == 404


async def test_two_admins_cannot_silently_overwrite_each_other(
    client: httpx.AsyncClient, admin: Account, make_user: Any, everyday: Category
) -> None:
    other_admin = await make_user("second-admin@example.com", is_admin=True)
    body = (await create(client, admin)).json()
    path = f"{ADMIN}/{body['id']}"
    etag_a = (await client.get(path, headers=admin.headers)).headers["etag"]
    etag_b = (await client.get(path, headers=other_admin.headers)).headers["etag"]

    saved = await client.patch(path, json={"difficulty": 3}, headers={**other_admin.headers, "If-Match": etag_b})
    assert saved.status_code == 200
    stale = await client.patch(path, json={"difficulty": 8}, headers={**admin.headers, "If-Match": etag_a})
    assert stale.status_code == 412
    assert stale.headers["content-type"] == "application/problem+json"
    assert '"2"' in stale.json()["detail"]
    current = await client.get(path, headers=admin.headers)
    assert current.json()["difficulty"] == 3
    retried = await client.patch(
        path, json={"difficulty": 8}, headers={**admin.headers, "If-Match": current.headers["etag"]}
    )
    assert retried.status_code == 200
    assert retried.json()["difficulty"] == 8
    assert retried.headers["etag"] == '"3"'


@pytest.mark.parametrize(
    ("if_match", "expected"),
    [
        ('"1"', 200),
        ('"7", "1"', 200),
        ("*", 200),
        ('"2"', 412),
        ('W/"1"', 412),
        ("1", 400),
        ('"1', 400),
        ("", 400),
        ('"1", bad', 400),
    ],
)
async def test_if_match_forms(
    client: httpx.AsyncClient, admin: Account, everyday: Category, if_match: str, expected: int
) -> None:
    body = (await create(client, admin)).json()
    response = await client.patch(
        f"{ADMIN}/{body['id']}", json={"difficulty": 5}, headers={**admin.headers, "If-Match": if_match}
    )
    assert response.status_code == expected, response.text
    stored = (await client.get(f"{ADMIN}/{body['id']}", headers=admin.headers)).json()
    assert stored["difficulty"] == (5 if expected == 200 else 2)


async def test_patch_without_if_match_and_patch_that_changes_nothing(
    client: httpx.AsyncClient, admin: Account, everyday: Category
) -> None:
    body = (await create(client, admin)).json()
    path = f"{ADMIN}/{body['id']}"
    same = await client.patch(path, json={"difficulty": 2, "title": body["title"]}, headers=admin.headers)
    assert same.status_code == 200
    assert same.headers["etag"] == '"1"'
    assert same.json()["updated_at"] == body["updated_at"]
    changed = await client.patch(path, json={"tips": ["Breathe out slowly."]}, headers=admin.headers)
    assert changed.headers["etag"] == '"2"'
    assert changed.json()["tips"] == ["Breathe out slowly."]
    assert (await client.patch(path, json={"status": None}, headers=admin.headers)).status_code == 422
    assert (await client.patch(path, json={"category": "nope"}, headers=admin.headers)).status_code == 422


async def test_a_change_saved_between_read_and_write_answers_412(
    session: AsyncSession, make_challenge: MakeChallenge
) -> None:
    challenge = await make_challenge(difficulty=2)
    loaded = await service.get_catalog_challenge(session, challenge.id)
    assert loaded.version == 1
    # Another request commits a change behind this session's back.
    await session.execute(text("UPDATE challenges SET version = version + 1, difficulty = 6"))
    with pytest.raises(PreconditionFailed):
        await service.update_catalog_challenge(session, challenge.id, AdminChallengeUpdate(difficulty=9), None)


async def test_delete_without_attempts_removes(
    client: httpx.AsyncClient, admin: Account, make_challenge: MakeChallenge, session: AsyncSession
) -> None:
    challenge = await make_challenge()
    response = await client.delete(f"{ADMIN}/{challenge.id}", headers=admin.headers)
    assert response.status_code == 204
    assert (await client.get(f"{ADMIN}/{challenge.id}", headers=admin.headers)).status_code == 404
    assert (await client.delete(f"{ADMIN}/{challenge.id}", headers=admin.headers)).status_code == 404


async def test_delete_with_attempts_archives_and_keeps_history(
    client: httpx.AsyncClient,
    admin: Account,
    alice: Account,
    make_challenge: MakeChallenge,
    make_attempt: MakeAttempt,
) -> None:
    challenge = await make_challenge(difficulty=6)
    await make_attempt(alice.user, challenge)
    response = await client.delete(f"{ADMIN}/{challenge.id}", headers=admin.headers)
    assert response.status_code == 200
    assert response.json()["status"] == "archived"
    assert response.headers["etag"] == '"2"'
    listing = (await client.get("/api/v1/challenges", headers=alice.headers)).json()
    assert listing["items"] == []
    kept = await client.get(f"/api/v1/challenges/{challenge.id}", headers=alice.headers)
    assert kept.json()["status"] == "archived"


async def test_delete_honours_if_match(
    client: httpx.AsyncClient, admin: Account, make_challenge: MakeChallenge
) -> None:
    challenge = await make_challenge()
    stale = await client.delete(f"{ADMIN}/{challenge.id}", headers={**admin.headers, "If-Match": '"9"'})
    assert stale.status_code == 412
    assert (await client.get(f"{ADMIN}/{challenge.id}", headers=admin.headers)).status_code == 200


async def test_categories_create_and_edit(client: httpx.AsyncClient, admin: Account, alice: Account) -> None:
    body = {"slug": "test-online", "name": "Online", "description": "Asks by email and message."}
    created = await client.post("/api/v1/admin/categories", json=body, headers=admin.headers)
    assert created.status_code == 201
    assert created.json() == body
    assert (await client.post("/api/v1/admin/categories", json=body, headers=admin.headers)).status_code == 409
    edited = await client.patch(
        "/api/v1/admin/categories/test-online", json={"name": "Online asks"}, headers=admin.headers
    )
    assert edited.status_code == 200
    assert edited.json() == {**body, "name": "Online asks"}
    listed = (await client.get("/api/v1/categories", headers=alice.headers)).json()
    assert {**body, "name": "Online asks"} in listed
    missing = await client.patch("/api/v1/admin/categories/nowhere", json={"name": "X"}, headers=admin.headers)
    assert missing.status_code == 404


@pytest.mark.parametrize(
    "body",
    [
        {"slug": "Bad Slug", "name": "X"},
        {"slug": "ok", "name": ""},
        {"slug": "ok", "name": "x" * 101},
        {"slug": "ok", "name": "Tab\tname"},
        {"slug": "ok", "name": "Fine", "description": "nul\x00"},
        {"slug": "ok", "name": "Fine", "extra": 1},
    ],
)
async def test_bad_categories_are_refused(
    client: httpx.AsyncClient, admin: Account, session: AsyncSession, body: dict[str, Any]
) -> None:
    before = await session.scalar(select(func.count()).select_from(Category))
    response = await client.post("/api/v1/admin/categories", json=body, headers=admin.headers)
    assert response.status_code == 422
    assert await session.scalar(select(func.count()).select_from(Category)) == before


async def test_a_category_patch_refuses_null_and_slug_changes(
    client: httpx.AsyncClient, admin: Account, everyday: Category
) -> None:
    path = "/api/v1/admin/categories/everyday"
    assert (await client.patch(path, json={"name": None}, headers=admin.headers)).status_code == 422
    assert (await client.patch(path, json={"slug": "other"}, headers=admin.headers)).status_code == 422
