"""`GET /me/trend` and `GET /me/next-challenges` over HTTP, on the real database."""

import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import pytest
from sqlalchemy import Select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.catalog.models import Challenge
from app.core.config import Settings
from app.core.models import utcnow
from app.main import create_app
from app.progress.schemas import TrendPublic
from app.progress.service import cells_query, recent_query
from tests.catalog.test_catalog import ACCESS_CASES, Access, make_case
from tests.conftest import CHALLENGE_FIELDS, Account, MakeAttempt, MakeChallenge, MakeUser

TREND = "/api/v1/me/trend"
NEXT = "/api/v1/me/next-challenges"


async def get_trend(client: httpx.AsyncClient, account: Account, **params: str) -> dict[str, Any]:
    response = await client.get(TREND, headers=account.headers, params=params)
    assert response.status_code == 200, response.text
    assert "NaN" not in response.text
    body: dict[str, Any] = response.json()
    # The answer is serialised from the trend's dataclasses: it must fit the schema the docs publish.
    TrendPublic.model_validate(body)
    return body


async def get_next(client: httpx.AsyncClient, account: Account, **params: str) -> list[dict[str, Any]]:
    response = await client.get(NEXT, headers=account.headers, params=params)
    assert response.status_code == 200, response.text
    body: list[dict[str, Any]] = response.json()
    return body


async def log_days(
    make_attempt: MakeAttempt,
    account: Account,
    challenge: Challenge,
    peaks: list[int],
    *,
    end: datetime | None = None,
) -> list[datetime]:
    """One attempt a day, the last one at `end` (default: now)."""
    end = end or utcnow()
    times = [end - timedelta(days=len(peaks) - 1 - i) for i in range(len(peaks))]
    for at, peak in zip(times, peaks, strict=True):
        await make_attempt(account.user, challenge, occurred_at=at, distress_peak=peak)
    return times


# --- /me/trend ------------------------------------------------------------------------------


async def test_trend_needs_a_login(client: httpx.AsyncClient) -> None:
    response = await client.get(TREND)
    assert response.status_code == 401
    assert response.headers["content-type"] == "application/problem+json"


async def test_a_new_user_has_an_empty_trend_without_nan(client: httpx.AsyncClient, alice: Account) -> None:
    body = await get_trend(client, alice)
    assert body["status"] == "insufficient_data"
    assert (body["attempts"], body["exposures"], body["avoidance_rate"]) == (0, 0, None)
    assert body["distress_trend"]["slope_per_week"] is None
    assert body["distress_trend"]["n"] == 0
    assert body["level"] == {
        "current_difficulty": 2,
        "recommended_difficulty": 2,
        "reason": {"code": "new_user", "message": body["level"]["reason"]["message"]},
    }
    assert body["streak"] == {"current_days": 0, "longest_days": 0}
    assert (body["series"], body["by_category"], body["support"]) == ([], [], None)
    assert body["timezone"] == "UTC"


async def test_falling_distress_is_improving_and_other_users_rows_never_count(
    client: httpx.AsyncClient,
    alice: Account,
    bob: Account,
    make_challenge: MakeChallenge,
    make_attempt: MakeAttempt,
) -> None:
    work = await make_challenge(difficulty=4, category="work")
    dating = await make_challenge(difficulty=6, category="dating")
    await log_days(make_attempt, alice, work, [82, 78, 75, 70, 66, 61, 57, 50, 46, 41])
    await log_days(make_attempt, bob, dating, [20, 30, 40, 50, 60, 70, 80, 90])

    body = await get_trend(client, alice)
    assert body["status"] == "improving"
    assert (body["attempts"], body["exposures"], body["rejections"]) == (10, 10, 10)
    assert body["distress_trend"]["slope_per_week"] < 0
    assert body["distress_trend"]["ci_high"] < 0
    assert body["distress_trend"]["p_value"] < 0.05
    assert body["distress_trend"]["baseline"] == pytest.approx(74.2)
    assert body["distress_trend"]["recent"] == pytest.approx(51.0)
    assert [c["category"] for c in body["by_category"]] == ["work"]
    assert len(body["series"]) == 10
    assert body["series"][-1]["date"] == utcnow().date().isoformat()
    assert body["streak"] == {"current_days": 10, "longest_days": 10}
    assert body["support"] is None

    bobs = await get_trend(client, bob)
    assert bobs["status"] == "worsening"
    assert bobs["attempts"] == 8
    assert [c["category"] for c in bobs["by_category"]] == ["dating"]


async def test_since_and_until_narrow_the_window(
    client: httpx.AsyncClient, alice: Account, make_challenge: MakeChallenge, make_attempt: MakeAttempt
) -> None:
    challenge = await make_challenge()
    times = await log_days(make_attempt, alice, challenge, [80, 70, 60, 50, 40, 30], end=utcnow() - timedelta(days=1))
    assert (await get_trend(client, alice, since=times[2].isoformat()))["attempts"] == 4
    # `since` includes its moment, `until` excludes it: consecutive windows never count an attempt twice.
    window = await get_trend(client, alice, since=times[1].isoformat(), until=times[4].isoformat())
    assert window["attempts"] == 3
    assert window["time_origin"] == times[1].date().isoformat()
    # Three sessions: the first and the last one are the baseline and the recent value.
    assert (window["distress_trend"]["baseline"], window["distress_trend"]["recent"]) == (70.0, 50.0)
    # The current streak of a past window ends with the window.
    assert window["streak"]["current_days"] == 3
    empty = await get_trend(client, alice, since=times[3].isoformat(), until=times[3].isoformat())
    assert empty["attempts"] == 0


async def test_two_exposures_seconds_apart_are_one_session_with_no_trend_line(
    client: httpx.AsyncClient, alice: Account, make_challenge: MakeChallenge, make_attempt: MakeAttempt
) -> None:
    challenge = await make_challenge()
    # Noon yesterday: the two can never fall on two sides of a midnight.
    noon = utcnow().replace(hour=12, minute=0, second=0, microsecond=0) - timedelta(days=1)
    await make_attempt(alice.user, challenge, occurred_at=noon, distress_peak=80)
    await make_attempt(alice.user, challenge, occurred_at=noon + timedelta(seconds=5), distress_peak=30)
    body = await get_trend(client, alice)
    for line in (body["distress_trend"], body["adjusted_trend"], *body["by_category"]):
        assert line["slope_per_week"] is None
    for line in (body["distress_trend"], body["adjusted_trend"]):
        assert (line["ci_low"], line["ci_high"], line["p_value"]) == (None, None, None)
    assert (body["sessions"], body["distress_trend"]["n"], body["distress_trend"]["exposures"]) == (1, 1, 2)
    # A difficulty practised in one session has nothing to be compared with.
    assert body["adjusted_trend"]["n"] == 0
    assert body["status"] == "insufficient_data"
    assert body["status_reason"]["code"] == "too_few_sessions"


@pytest.mark.parametrize(
    "params",
    [
        {"since": "2026-05-01T10:00:00"},
        {"until": "2026-05-01"},
        {"since": "yesterday"},
        {"since": "2026-05-02T00:00:00Z", "until": "2026-05-01T00:00:00Z"},
        {"since": "99999-01-01T00:00:00Z"},
    ],
)
async def test_a_bad_window_is_422(client: httpx.AsyncClient, alice: Account, params: dict[str, str]) -> None:
    response = await client.get(TREND, headers=alice.headers, params=params)
    assert response.status_code == 422
    assert response.headers["content-type"] == "application/problem+json"


async def test_step_down_brings_the_configured_support_message(
    settings: Settings,
    sessionmaker: async_sessionmaker[AsyncSession],
    alice: Account,
    make_challenge: MakeChallenge,
    make_attempt: MakeAttempt,
) -> None:
    challenge = await make_challenge(difficulty=5)
    await log_days(make_attempt, alice, challenge, [50, 90, 88, 95])
    custom = settings.model_copy(update={"support_message": "Go gently; a counsellor can help."})
    async with app_client(custom, sessionmaker) as client:
        body = await get_trend(client, alice)
    assert body["level"]["current_difficulty"] == 5
    assert body["level"]["recommended_difficulty"] == 4
    assert body["level"]["reason"]["code"] == "step_down"
    assert body["support"]["reason"] == "high_distress"
    assert body["support"]["message"].endswith(" Go gently; a counsellor can help.")


async def test_the_default_support_message_is_the_settings_one(
    client: httpx.AsyncClient,
    settings: Settings,
    alice: Account,
    make_challenge: MakeChallenge,
    make_attempt: MakeAttempt,
) -> None:
    challenge = await make_challenge(difficulty=3)
    for days_ago in (3, 2, 1):
        await make_attempt(
            alice.user,
            challenge,
            occurred_at=utcnow() - timedelta(days=days_ago),
            outcome="avoided",
            distress_peak=None,
        )
    body = await get_trend(client, alice)
    assert body["support"]["reason"] == "frequent_avoidance"
    assert body["support"]["message"].endswith(settings.support_message)
    assert body["avoidance_rate"] == 100.0


@pytest.mark.parametrize("timezone", ["Pacific/Kiritimati", "Pacific/Pago_Pago"])
async def test_days_follow_the_users_time_zone(
    client: httpx.AsyncClient,
    make_user: MakeUser,
    make_challenge: MakeChallenge,
    make_attempt: MakeAttempt,
    timezone: str,
) -> None:
    # UTC+14 and UTC−11: at any hour, at least one of them is on another date than UTC.
    account = await make_user(timezone=timezone)
    challenge = await make_challenge()
    tz = ZoneInfo(timezone)
    before = utcnow().astimezone(tz).date()
    await make_attempt(account.user, challenge, occurred_at=utcnow())
    body = await get_trend(client, account)
    after = utcnow().astimezone(tz).date()
    assert body["timezone"] == timezone
    assert date.fromisoformat(body["series"][0]["date"]) in {before, after}
    assert body["streak"]["current_days"] == 1


async def test_expectancy_and_habituation_over_http(
    client: httpx.AsyncClient, alice: Account, make_challenge: MakeChallenge, make_attempt: MakeAttempt
) -> None:
    challenge = await make_challenge()
    now = utcnow()
    await make_attempt(
        alice.user,
        challenge,
        occurred_at=now - timedelta(hours=3),
        outcome="rejected",
        expected_rejection=90,
        distress_peak=70,
        distress_after=20,
    )
    await make_attempt(
        alice.user,
        challenge,
        occurred_at=now - timedelta(hours=2),
        outcome="accepted",
        expected_rejection=80,
        distress_peak=60,
        distress_after=40,
    )
    await make_attempt(
        alice.user,
        challenge,
        occurred_at=now - timedelta(hours=1),
        outcome="partial",
        expected_rejection=70,
        distress_peak=50,
        distress_after=None,
    )
    body = await get_trend(client, alice)
    assert body["expectancy"] == {
        "expected_rejection_mean": 80.0,
        "actual_rejection_rate": 33.33,
        "gap": 46.67,
        "paired": 3,
    }
    assert body["habituation"]["within_session_drop"] == 35.0
    assert (body["rejections"], body["acceptances"], body["partials"]) == (1, 1, 1)


async def explain(session: AsyncSession, query: Select[Any]) -> str:
    connection = await session.connection()
    dialect = connection.dialect
    compiled = query.compile(dialect=dialect)
    values = compiled.construct_params()
    params = tuple(values[name] for name in compiled.positiontup or ())
    if dialect.name == "sqlite":
        params = tuple(p.hex if isinstance(p, uuid.UUID) else p for p in params)
        rows = await connection.exec_driver_sql(f"EXPLAIN QUERY PLAN {compiled}", params)
        return " ".join(str(row[-1]) for row in rows)
    # A small test table would be scanned whole, or read by bitmap and sorted; ask what the planner can do
    # once it is big: with those plans priced out, a Sort left in the plan means the index cannot give the order.
    for plan in ("seqscan", "bitmapscan", "sort"):
        await connection.exec_driver_sql(f"SET LOCAL enable_{plan} = off")
    rows = await connection.exec_driver_sql(f"EXPLAIN {compiled}", params)
    return " ".join(str(row[0]) for row in rows)


async def test_the_trend_reads_session_totals_and_the_latest_attempts_through_indexes(
    session: AsyncSession, alice: Account
) -> None:
    stored = await explain(session, cells_query(alice.user.id))
    assert "pk_session_stats" in stored or "sqlite_autoindex_session_stats" in stored
    latest = await explain(session, recent_query(alice.user.id))
    windowed = await explain(session, cells_query(alice.user.id, utcnow() - timedelta(days=30), utcnow()))
    assert "ix_attempts_user_id_occurred_at" in latest
    # On a near-empty table PostgreSQL may take either index that leads with the user: both bound the scan.
    assert "ix_attempts_user_id_occurred_at" in windowed or "ix_attempts_user_id_challenge_id_occurred_at" in windowed
    # The index gives the newest first: no sort for the latest attempts.
    assert "TEMP B-TREE" not in latest
    assert "Sort" not in latest


# --- /me/next-challenges ---------------------------------------------------------------------


async def test_next_challenges_needs_a_login(client: httpx.AsyncClient) -> None:
    assert (await client.get(NEXT)).status_code == 401


@pytest.mark.parametrize("limit", ["0", "51", "-1", "ten", "99999999999999999999999"])
async def test_next_challenges_limit_is_1_to_50(client: httpx.AsyncClient, alice: Account, limit: str) -> None:
    response = await client.get(NEXT, headers=alice.headers, params={"limit": limit})
    assert response.status_code == 422
    assert response.headers["content-type"] == "application/problem+json"


async def test_a_new_user_gets_level_two_first_then_the_nearest_levels_gentler_first(
    client: httpx.AsyncClient, alice: Account, make_challenge: MakeChallenge
) -> None:
    for difficulty, category in [(5, "work"), (3, "work"), (1, "everyday"), (2, "everyday"), (2, "work")]:
        await make_challenge(difficulty=difficulty, category=category)
    items = await get_next(client, alice)
    assert [c["difficulty"] for c in items] == [2, 2, 1, 3, 5]
    assert [c["category"] for c in items[:2]] == ["everyday", "work"]
    assert set(items[0]) == CHALLENGE_FIELDS | {"reason"}
    assert [c["difficulty"] for c in await get_next(client, alice, limit="3")] == [2, 2, 1]


async def test_next_challenges_vary_across_categories(
    client: httpx.AsyncClient, alice: Account, make_challenge: MakeChallenge
) -> None:
    for category in ["everyday", "everyday", "everyday", "everyday", "work", "dating"]:
        await make_challenge(difficulty=2, category=category)
    await make_challenge(difficulty=3, category="food")
    items = await get_next(client, alice, limit="3")
    assert sorted(c["category"] for c in items) == ["dating", "everyday", "work"]
    # The level's own challenges come before a new category at the next level.
    items = await get_next(client, alice, limit="7")
    assert [c["difficulty"] for c in items] == [2, 2, 2, 2, 2, 2, 3]


async def test_next_challenges_only_offer_published_catalog_and_own_ones(
    client: httpx.AsyncClient,
    alice: Account,
    bob: Account,
    make_challenge: MakeChallenge,
) -> None:
    published = await make_challenge(difficulty=2)
    own = await make_challenge(difficulty=2, owner=alice.user)
    await make_challenge(difficulty=2, status="draft")
    await make_challenge(difficulty=2, status="archived")
    await make_challenge(difficulty=2, owner=bob.user)
    items = await get_next(client, alice, limit="50")
    assert {c["id"] for c in items} == {str(published.id), str(own.id)}
    assert {c["id"]: c["is_custom"] for c in items} == {str(published.id): False, str(own.id): True}


@pytest.mark.parametrize("rule", ACCESS_CASES)
async def test_next_challenges_offer_what_is_listed(
    client: httpx.AsyncClient, alice: Account, bob: Account, make_challenge: MakeChallenge, rule: Access
) -> None:
    """Candidates follow the catalog's rules (the table in test_catalog.py): exactly what is listed."""
    challenge = await make_case(make_challenge, rule, alice, bob)
    offered = {c["id"] for c in await get_next(client, alice, limit="50")}
    assert (str(challenge.id) in offered) is rule.listed
    listed = await client.get("/api/v1/challenges", headers=alice.headers, params={"limit": "50"})
    assert (str(challenge.id) in {c["id"] for c in listed.json()["items"]}) is rule.listed


async def test_next_challenges_skip_what_was_attempted_in_the_last_seven_days(
    client: httpx.AsyncClient, alice: Account, make_challenge: MakeChallenge, make_attempt: MakeAttempt
) -> None:
    recent = await make_challenge(difficulty=2)
    avoided = await make_challenge(difficulty=2)
    earlier = await make_challenge(difficulty=2)
    fresh = await make_challenge(difficulty=2)
    await make_attempt(alice.user, recent, occurred_at=utcnow() - timedelta(days=6, hours=23))
    await make_attempt(
        alice.user, avoided, occurred_at=utcnow() - timedelta(days=1), outcome="avoided", distress_peak=None
    )
    await make_attempt(alice.user, earlier, occurred_at=utcnow() - timedelta(days=7, hours=1))
    items = await get_next(client, alice)
    assert {c["id"] for c in items} == {str(earlier.id), str(fresh.id)}


async def test_next_challenges_follow_a_step_up(
    client: httpx.AsyncClient, alice: Account, make_challenge: MakeChallenge, make_attempt: MakeAttempt
) -> None:
    done = await make_challenge(difficulty=4)
    await make_attempt(alice.user, done, occurred_at=utcnow() - timedelta(days=20), distress_peak=70)
    for days_ago in (12, 10, 9):
        await make_attempt(alice.user, done, occurred_at=utcnow() - timedelta(days=days_ago), distress_peak=35)
    for difficulty in (3, 4, 5, 6):
        await make_challenge(difficulty=difficulty)
    trend = await get_trend(client, alice)
    assert trend["level"]["recommended_difficulty"] == 5
    assert trend["level"]["reason"]["code"] == "step_up_low_distress"
    items = await get_next(client, alice, limit="3")
    # `done` is mastered (its last two peaks were 35) and 9 days old: its re-test comes first.
    assert [(c["difficulty"], c["reason"]) for c in items] == [(4, "retest"), (5, "level"), (4, "level")]
    assert items[0]["id"] == str(done.id)


async def test_next_challenges_follow_a_step_down(
    client: httpx.AsyncClient, alice: Account, make_challenge: MakeChallenge, make_attempt: MakeAttempt
) -> None:
    hard = await make_challenge(difficulty=6)
    await log_days(make_attempt, alice, hard, [90, 95, 86], end=utcnow() - timedelta(days=10))
    for difficulty in (2, 4, 6):
        await make_challenge(difficulty=difficulty)
    items = await get_next(client, alice, limit="1")
    assert [c["difficulty"] for c in items] == [4]


async def test_no_challenges_to_offer_is_an_empty_list(client: httpx.AsyncClient, alice: Account) -> None:
    assert await get_next(client, alice) == []


# --- documentation ---------------------------------------------------------------------------


async def test_progress_is_documented_for_frontends(client: httpx.AsyncClient) -> None:
    spec = (await client.get("/openapi.json")).json()
    trend_op = spec["paths"][TREND]["get"]
    next_op = spec["paths"][NEXT]["get"]
    assert trend_op["tags"] == next_op["tags"] == ["progress"]
    assert trend_op["operationId"] == "progress-read_trend"
    assert next_op["operationId"] == "progress-list_next_challenges"
    assert {"401", "422"} <= set(trend_op["responses"]) & set(next_op["responses"])
    assert "progress" in {tag["name"] for tag in spec["tags"]}
    assert {p["name"] for p in trend_op["parameters"]} == {"since", "until", "if-none-match"}
    assert all(p.get("description") for p in trend_op["parameters"] + next_op["parameters"])
    assert next_op["responses"]["200"]["content"]["application/json"]["schema"]["type"] == "array"

    schemas = spec["components"]["schemas"]
    trend_schema = schemas["TrendPublic"]
    assert trend_schema["example"]["status"] == "improving"
    # Its nulls too (FastAPI drops them; app/core/openapi.py puts the model's example back whole).
    assert set(trend_schema["example"]) == set(trend_schema["properties"])
    assert trend_schema["example"]["support"] is None

    def undocumented(name: str, seen: set[str]) -> list[str]:
        if name in seen:
            return []
        seen.add(name)
        missing = []
        # The codes (`TrendStatus`, `LevelCode`, …) are enums of their own, described where they are used.
        for field, prop in schemas[name].get("properties", {}).items():
            refs = [prop.get("$ref")] + [p.get("$ref") for p in prop.get("anyOf", [])]
            refs += [prop.get("items", {}).get("$ref")]
            nested = [r.rsplit("/", 1)[-1] for r in refs if r]
            if not prop.get("description") and not nested:
                missing.append(f"{name}.{field}")
            for child in nested:
                missing += undocumented(child, seen)
        return missing

    assert undocumented("TrendPublic", set()) == []


@asynccontextmanager
async def app_client(
    settings: Settings, sessionmaker: async_sessionmaker[AsyncSession]
) -> AsyncIterator[httpx.AsyncClient]:
    """A client on an app built with other settings, sharing the test's transaction."""
    app = create_app(settings, sessionmaker=sessionmaker)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test") as client:
        yield client
