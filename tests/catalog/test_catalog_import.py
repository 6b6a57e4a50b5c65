"""Bulk import (API and CLI) and the seeded catalog: upsert by slug, per-item reasons, idempotency."""

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.catalog.importer import load_seed_data, seed_catalog, seed_if_empty
from app.catalog.models import Challenge
from app.catalog.schemas import MAX_IMPORT_ITEMS
from app.cli import main
from app.core.config import get_settings
from tests.conftest import Account, MakeChallenge

IMPORT = "/api/v1/admin/challenges/import"


def item(slug: str, **overrides: Any) -> dict[str, Any]:
    return {
        "slug": slug,
        "title": f"Ask about {slug}",
        "description": "Ask kindly; if the answer is no, ask what would make it a yes, then thank them.",
        "category": "everyday",
        "difficulty": 3,
        "tips": ["Notice the rise of distress, breathe, and let it pass."],
        **overrides,
    }


async def stored(session: AsyncSession, slug: str) -> Challenge:
    # populate_existing: read what the requests committed, not this session's cached copy.
    query = select(Challenge).where(Challenge.slug == slug).execution_options(populate_existing=True)
    challenge = await session.scalar(query)
    assert challenge is not None
    return challenge


async def count(session: AsyncSession) -> int:
    return await session.scalar(select(func.count()).select_from(Challenge)) or 0


# --- the API --------------------------------------------------------------------


@pytest.mark.usefixtures("everyday")
async def test_import_creates_then_a_second_run_changes_nothing(
    client: httpx.AsyncClient, admin: Account, session: AsyncSession
) -> None:
    items = [item("ask-one"), item("ask-two", difficulty=7), item("ask-three", status="draft")]
    first = await client.post(IMPORT, json=items, headers=admin.headers)
    assert first.status_code == 200, first.text
    assert first.json() == {"created": 3, "updated": 0, "unchanged": 0, "rejected": []}
    assert (await stored(session, "ask-one")).status == "published"
    assert (await stored(session, "ask-three")).status == "draft"
    before = {slug: (await stored(session, slug)).updated_at for slug in ("ask-one", "ask-two", "ask-three")}

    second = await client.post(IMPORT, json=items, headers=admin.headers)
    assert second.json() == {"created": 0, "updated": 0, "unchanged": 3, "rejected": []}
    for slug, updated_at in before.items():
        challenge = await stored(session, slug)
        assert challenge.version == 1
        assert challenge.updated_at == updated_at
    assert await count(session) == 3


@pytest.mark.usefixtures("everyday")
async def test_import_updates_by_slug_and_bumps_the_version(
    client: httpx.AsyncClient, admin: Account, session: AsyncSession
) -> None:
    await client.post(IMPORT, json=[item("ask-one"), item("ask-two")], headers=admin.headers)
    changed = [item("ask-one", difficulty=4, tips=["A new tip."]), item("ask-two"), item("ask-new")]
    response = await client.post(IMPORT, json=changed, headers=admin.headers)
    assert response.json() == {"created": 1, "updated": 1, "unchanged": 1, "rejected": []}
    one = await stored(session, "ask-one")
    assert (one.difficulty, one.tips, one.version) == (4, ["A new tip."], 2)
    assert (await stored(session, "ask-two")).version == 1


@pytest.mark.usefixtures("everyday")
async def test_import_without_status_keeps_an_archived_challenge_archived(
    client: httpx.AsyncClient, admin: Account, make_challenge: MakeChallenge, session: AsyncSession
) -> None:
    await make_challenge(slug="ask-old", status="archived", title="Ask about ask-old", difficulty=3)
    response = await client.post(IMPORT, json=[item("ask-old", difficulty=5)], headers=admin.headers)
    assert response.json()["updated"] == 1
    assert (await stored(session, "ask-old")).status == "archived"
    response = await client.post(
        IMPORT, json=[item("ask-old", difficulty=5, status="published")], headers=admin.headers
    )
    assert response.json()["updated"] == 1
    assert (await stored(session, "ask-old")).status == "published"


@pytest.mark.usefixtures("everyday")
async def test_bad_items_are_rejected_one_by_one_and_the_good_ones_imported(
    client: httpx.AsyncClient, admin: Account, alice: Account, make_challenge: MakeChallenge, session: AsyncSession
) -> None:
    await make_challenge(owner=alice.user, slug="custom-taken")
    items = [
        item("ask-good"),
        item("ask-too-hard", difficulty=11),
        item("ask-nowhere", category="nowhere"),
        item("ask-good", title="The same slug again"),
        "not an object",
        {k: v for k, v in item("ask-no-title").items() if k != "title"},
        item("ask-extra", owner_id=str(alice.user.id)),
        item("Bad Slug!"),
        item("ask-nul", description="nul \x00 byte"),
        item("custom-taken"),
        item("ask-also-good", difficulty=10),
    ]
    response = await client.post(IMPORT, json=items, headers=admin.headers)
    assert response.status_code == 200
    body = response.json()
    assert (body["created"], body["updated"], body["unchanged"]) == (2, 0, 0)
    rejected = {r["index"]: r for r in body["rejected"]}
    assert sorted(rejected) == [1, 2, 3, 4, 5, 6, 7, 8, 9]
    expectations = {
        1: ("ask-too-hard", ["difficulty"], "less_than_equal"),
        2: ("ask-nowhere", ["category"], "unknown_category"),
        3: ("ask-good", ["slug"], "duplicate_slug"),
        4: (None, [], "model_type"),
        5: ("ask-no-title", ["title"], "missing"),
        6: ("ask-extra", ["owner_id"], "extra_forbidden"),
        7: (None, ["slug"], "string_pattern_mismatch"),
        8: ("ask-nul", ["description"], "value_error"),
        9: ("custom-taken", ["slug"], "slug_taken"),
    }
    for index, (slug, loc, kind) in expectations.items():
        assert rejected[index]["slug"] == slug, index
        assert [(e["loc"], e["type"]) for e in rejected[index]["errors"]] == [(loc, kind)], index
        assert all(e["msg"] for e in rejected[index]["errors"])
    assert "\x00" not in response.text
    assert (await stored(session, "ask-good")).title == "Ask about ask-good"
    assert (await stored(session, "custom-taken")).owner_id == alice.user.id


async def test_the_import_body_must_be_a_list_of_bounded_length(
    client: httpx.AsyncClient, admin: Account, session: AsyncSession
) -> None:
    before = await count(session)
    assert (await client.post(IMPORT, json={"slug": "x"}, headers=admin.headers)).status_code == 422
    too_many = [{"slug": f"s{i}"} for i in range(MAX_IMPORT_ITEMS + 1)]
    assert (await client.post(IMPORT, json=too_many, headers=admin.headers)).status_code == 422
    empty = await client.post(IMPORT, json=[], headers=admin.headers)
    assert empty.json() == {"created": 0, "updated": 0, "unchanged": 0, "rejected": []}
    assert await count(session) == before


# --- the seeded catalog ---------------------------------------------------------


async def test_seeding_loads_the_shipped_catalog_once(session: AsyncSession) -> None:
    data = load_seed_data()
    slugs = [c["slug"] for c in data["challenges"]]
    seeded = select(func.count()).select_from(Challenge).where(Challenge.slug.in_(slugs))
    first = await seed_catalog(session)
    assert first.challenges.created == len(data["challenges"])
    assert first.categories.created + first.categories.unchanged == len(data["categories"])
    assert first.challenges.rejected == []
    assert await session.scalar(seeded.where(Challenge.status == "published")) == len(slugs)

    second = await seed_catalog(session)
    assert (second.challenges.created, second.challenges.updated) == (0, 0)
    assert second.challenges.unchanged == len(data["challenges"])
    assert second.categories.created == 0
    assert await session.scalar(seeded) == len(slugs)
    assert await seed_if_empty(session) is None


async def test_seeding_leaves_admin_edits_alone(session: AsyncSession) -> None:
    await seed_catalog(session)
    slug = load_seed_data()["challenges"][0]["slug"]
    challenge = await stored(session, slug)
    challenge.status = "archived"
    challenge.difficulty = 2
    await session.commit()
    result = await seed_catalog(session)
    assert result.challenges.created == 0
    again = await stored(session, slug)
    assert (again.status, again.difficulty, again.version) == ("archived", 2, 2)


async def test_seed_if_empty_seeds_a_new_database(session: AsyncSession) -> None:
    result = await seed_if_empty(session)
    assert result is not None
    assert result.challenges.created >= 100
    assert "created" in result.summary()


async def test_the_seeded_catalog_is_browsable(
    client: httpx.AsyncClient, session: AsyncSession, alice: Account
) -> None:
    await seed_catalog(session)
    await session.commit()
    categories = (await client.get("/api/v1/categories", headers=alice.headers)).json()
    assert len(categories) >= 6
    hardest = await client.get("/api/v1/challenges", params={"difficulty_min": 10, "limit": 200}, headers=alice.headers)
    assert len(hardest.json()["items"]) >= 5
    assert {c["difficulty"] for c in hardest.json()["items"]} == {10}


# --- the command line -----------------------------------------------------------


@pytest.fixture
def cli_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """Commands run against their own SQLite file: they commit for real."""
    url = f"sqlite+aiosqlite:///{tmp_path / 'cli.db'}"
    monkeypatch.setenv("DATABASE_URL", url)
    monkeypatch.setenv("SECRET_KEY", "cli-test-secret-key-long-enough-for-hs256")
    get_settings.cache_clear()
    yield url
    get_settings.cache_clear()


@pytest.mark.usefixtures("cli_env")
def test_the_seed_command_is_idempotent(capsys: pytest.CaptureFixture[str]) -> None:
    total = len(load_seed_data()["challenges"])
    assert main(["seed"]) == 0
    assert f"{total} challenges created" in capsys.readouterr().out
    assert main(["seed"]) == 0
    out = capsys.readouterr().out
    assert "0 challenges created" in out
    assert f"{total} challenges were already there" in out


@pytest.mark.usefixtures("cli_env")
def test_import_challenges_reads_the_seed_format_then_changes_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data = load_seed_data()
    path = tmp_path / "catalog.json"
    path.write_text(json.dumps(data), encoding="utf-8")
    assert main(["import-challenges", str(path)]) == 0
    out = capsys.readouterr().out
    assert f"Category items: {len(data['categories'])} created" in out
    assert f"Challenge items: {len(data['challenges'])} created, 0 updated, 0 unchanged, 0 rejected." in out
    assert main(["import-challenges", str(path)]) == 0
    out = capsys.readouterr().out
    assert f"Challenge items: 0 created, 0 updated, {len(data['challenges'])} unchanged, 0 rejected." in out


@pytest.mark.usefixtures("cli_env")
def test_import_challenges_takes_a_list_and_reports_rejections(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["seed"]) == 0
    capsys.readouterr()
    path = tmp_path / "list.json"
    path.write_text(json.dumps([item("ask-from-a-list"), item("ask-bad", difficulty=0)]), encoding="utf-8")
    assert main(["import-challenges", str(path)]) == 1
    captured = capsys.readouterr()
    assert "Challenge items: 1 created, 0 updated, 0 unchanged, 1 rejected." in captured.out
    assert "Category items" not in captured.out
    assert "item 1 (ask-bad): difficulty:" in captured.err


@pytest.mark.parametrize(
    "content", ["{not json", '{"something": []}', '"a string"', '{"challenges": [], "categories": 5}']
)
@pytest.mark.usefixtures("cli_env")
def test_import_challenges_refuses_an_unreadable_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], content: str
) -> None:
    path = tmp_path / "bad.json"
    path.write_text(content, encoding="utf-8")
    assert main(["import-challenges", str(path)]) == 2
    assert "Cannot read" in capsys.readouterr().err
    assert main(["import-challenges", str(tmp_path / "missing.json")]) == 2
