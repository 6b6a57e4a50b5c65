"""The shipped catalog (app/catalog/data/catalog.json): enough challenges, well spread, every field filled."""

from collections import Counter
from typing import Any

import pytest

from app.catalog.importer import load_seed_data, split_import_document
from app.catalog.schemas import CategoryCreate, ChallengeImportItem


@pytest.fixture(scope="module")
def data() -> dict[str, Any]:
    return load_seed_data()


def test_the_file_is_a_categories_and_challenges_document(data: dict[str, Any]) -> None:
    categories, challenges = split_import_document(data)
    assert categories
    assert challenges


def test_at_least_100_challenges_in_at_least_6_categories(data: dict[str, Any]) -> None:
    per_category = Counter(c["category"] for c in data["challenges"])
    assert len(data["challenges"]) >= 100
    assert len(data["categories"]) >= 6
    assert set(per_category) == {c["slug"] for c in data["categories"]}, "every challenge in a listed category"
    # A category is a place in life with asks across the ladder, not a level.
    for category, count in per_category.items():
        assert count >= 10, category
        levels = {c["difficulty"] for c in data["challenges"] if c["category"] == category}
        assert min(levels) <= 3, category
        assert max(levels) >= 8, category


def test_at_least_5_challenges_at_every_difficulty(data: dict[str, Any]) -> None:
    per_difficulty = Counter(c["difficulty"] for c in data["challenges"])
    assert set(per_difficulty) == set(range(1, 11))
    assert min(per_difficulty.values()) >= 5, per_difficulty


def test_no_duplicate_slugs_or_titles(data: dict[str, Any]) -> None:
    for key in ("slug", "title"):
        counts = Counter(c[key].casefold() for c in data["challenges"])
        assert [value for value, n in counts.items() if n > 1] == [], key
    category_slugs = Counter(c["slug"] for c in data["categories"])
    assert max(category_slugs.values()) == 1
    category_names = Counter(c["name"] for c in data["categories"])
    assert max(category_names.values()) == 1


def test_every_field_is_filled_and_valid_for_the_api(data: dict[str, Any]) -> None:
    for raw in data["categories"]:
        category = CategoryCreate.model_validate(raw)
        assert category.name
        assert category.description, category.slug
    for raw in data["challenges"]:
        assert set(raw) == {"slug", "title", "description", "category", "difficulty", "tips"}, raw.get("slug")
        challenge = ChallengeImportItem.model_validate(raw)
        assert challenge.title
        assert challenge.description
        assert challenge.tips, challenge.slug
        assert all(tip for tip in challenge.tips), challenge.slug


def test_every_challenge_is_one_concrete_ask(data: dict[str, Any]) -> None:
    for raw in data["challenges"]:
        assert raw["title"][0].isupper(), raw["slug"]
        assert not raw["title"].endswith("."), raw["slug"]
        # A description says how to ask and how to leave: more than a restated title.
        assert len(raw["description"]) >= 2 * len(raw["title"]), raw["slug"]
