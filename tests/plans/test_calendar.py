"""The secret calendar feed: made, read by a calendar app without a header, replaced and revoked."""

import hashlib
from datetime import UTC, datetime, timedelta

import httpx
from icalendar import Calendar
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app.core.models import utcnow
from app.plans.calendar import DESCRIPTION
from app.plans.models import CalendarFeed
from tests.attempts.test_attempts import assert_problem
from tests.conftest import Account, MakeChallenge
from tests.plans.test_plans import PLANS, log_with, make_plan

CALENDAR = "/api/v1/me/calendar"


async def make_feed(client: httpx.AsyncClient, account: Account) -> str:
    response = await client.post(CALENDAR, headers=account.headers)
    assert response.status_code == 201, response.text
    url: str = response.json()["url"]
    assert response.headers["location"] == url
    return url


async def read_feed(client: httpx.AsyncClient, url: str) -> Calendar:
    response = await client.get(url)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "text/calendar; charset=utf-8"
    assert response.headers["cache-control"] == "no-store"
    return Calendar.from_ical(response.content)


def at(moment: datetime) -> str:
    return moment.isoformat()


async def test_the_feed_has_one_event_with_a_reminder_per_open_plan_with_a_time(
    client: httpx.AsyncClient, alice: Account, bob: Account, make_challenge: MakeChallenge
) -> None:
    asked = await make_challenge(title="Ask for a discount at the bakery")
    later_title = "Ask a stranger for the time"
    other = await make_challenge(title=later_title)
    tomorrow = (utcnow() + timedelta(days=1)).replace(microsecond=0)
    soon = await make_plan(client, alice, asked, planned_for=at(tomorrow), expected_outcome="Marmalade-fear-7731")
    later = await make_plan(client, alice, other, planned_for=at(tomorrow + timedelta(days=2)))
    overdue = await make_plan(client, alice, other, planned_for=at(tomorrow - timedelta(days=3)))
    await make_plan(client, alice, asked, planned_for=None)
    cancelled = await make_plan(client, alice, asked)
    await client.patch(f"{PLANS}/{cancelled['id']}", json={"status": "cancelled"}, headers=alice.headers)
    done = await make_plan(client, alice, asked)
    assert (await log_with(client, alice, done)).status_code == 201
    await make_plan(client, bob, asked, planned_for=at(tomorrow))

    url = await make_feed(client, alice)
    assert url.startswith("http://test/api/v1/calendar/")
    assert url.endswith(".ics")
    calendar = await read_feed(client, url)
    assert str(calendar["VERSION"]) == "2.0"
    assert "Rejection Tracker" in str(calendar["PRODID"])
    events = calendar.walk("VEVENT")
    assert [str(e["UID"]) for e in events] == [f"{p['id']}@rejection-tracker" for p in (overdue, soon, later)]
    first = events[1]
    assert first.decoded("DTSTART") == tomorrow
    assert first.decoded("DTSTART").utcoffset() == timedelta(0)
    assert first.decoded("DURATION") == timedelta(minutes=30)
    assert str(first["SUMMARY"]) == "Ask for a discount at the bakery"
    assert first.decoded("DTSTAMP") == datetime.fromisoformat(soon["updated_at"]).replace(microsecond=0)
    alarms = first.walk("VALARM")
    assert len(alarms) == 1
    assert str(alarms[0]["ACTION"]) == "DISPLAY"
    assert alarms[0].decoded("TRIGGER") == timedelta(minutes=-30)
    assert str(alarms[0]["DESCRIPTION"])
    # What the user wrote and rated stays out: the address may travel.
    assert "Marmalade-fear-7731" not in (await client.get(url)).text
    properties = {"UID", "DTSTAMP", "LAST-MODIFIED", "DTSTART", "DURATION", "SUMMARY", "DESCRIPTION"}
    assert all(set(event) == properties for event in events)
    assert {str(event["DESCRIPTION"]) for event in events} == {DESCRIPTION}
    assert {str(event["SUMMARY"]) for event in events[1:]} == {"Ask for a discount at the bakery", later_title}


async def test_a_moved_plan_is_the_same_event_at_its_new_time(
    client: httpx.AsyncClient, alice: Account, make_challenge: MakeChallenge
) -> None:
    challenge = await make_challenge()
    plan = await make_plan(client, alice, challenge)
    url = await make_feed(client, alice)
    moved_to = datetime(2026, 12, 28, 9, 15, tzinfo=UTC)
    await client.patch(f"{PLANS}/{plan['id']}", json={"planned_for": at(moved_to)}, headers=alice.headers)
    [event] = (await read_feed(client, url)).walk("VEVENT")
    assert (str(event["UID"]), event.decoded("DTSTART")) == (f"{plan['id']}@rejection-tracker", moved_to)
    await client.patch(f"{PLANS}/{plan['id']}", json={"planned_for": None}, headers=alice.headers)
    assert (await read_feed(client, url)).walk("VEVENT") == []


async def test_the_token_is_stored_only_as_its_digest(
    client: httpx.AsyncClient, session: AsyncSession, alice: Account
) -> None:
    url = await make_feed(client, alice)
    token = url.rsplit("/", 1)[1].removesuffix(".ics")
    assert len(token) >= 43
    stored = await session.scalar(
        select(CalendarFeed).where(CalendarFeed.user_id == alice.user.id).execution_options(populate_existing=True)
    )
    assert stored is not None
    assert stored.digest == hashlib.sha256(token.encode()).hexdigest()
    assert token not in stored.digest


async def test_a_new_feed_replaces_the_old_and_a_revoked_one_is_gone(
    client: httpx.AsyncClient, alice: Account, make_challenge: MakeChallenge
) -> None:
    await make_plan(client, alice, await make_challenge())
    old = await make_feed(client, alice)
    new = await make_feed(client, alice)
    assert new != old
    assert_problem(await client.get(old), 404)
    assert len((await read_feed(client, new)).walk("VEVENT")) == 1
    assert (await client.delete(CALENDAR, headers=alice.headers)).status_code == 204
    gone = await client.get(new)
    assert assert_problem(gone, 404)["detail"]
    assert new.rsplit("/", 1)[1] not in gone.text
    # Revoking again is no error: there is simply no feed.
    assert (await client.delete(CALENDAR, headers=alice.headers)).status_code == 204


async def test_each_user_has_their_own_feed_and_cannot_revoke_anothers(
    client: httpx.AsyncClient, alice: Account, bob: Account, make_challenge: MakeChallenge
) -> None:
    challenge = await make_challenge()
    alices_plan = await make_plan(client, alice, challenge)
    bobs_plan = await make_plan(client, bob, challenge)
    alices, bobs = await make_feed(client, alice), await make_feed(client, bob)
    assert (await client.delete(CALENDAR, headers=bob.headers)).status_code == 204
    assert_problem(await client.get(bobs), 404)
    [event] = (await read_feed(client, alices)).walk("VEVENT")
    assert str(event["UID"]) == f"{alices_plan['id']}@rejection-tracker"
    assert bobs_plan["id"] not in (await client.get(alices)).text


async def test_unknown_addresses_are_404_and_making_a_feed_needs_a_login(client: httpx.AsyncClient) -> None:
    assert_problem(await client.get("/api/v1/calendar/not-a-token.ics"), 404)
    assert_problem(await client.get("/api/v1/calendar/" + "x" * 101 + ".ics"), 422)
    assert_problem(await client.post(CALENDAR), 401)
    assert_problem(await client.delete(CALENDAR), 401)


async def test_the_feed_is_rate_limited_and_says_so(client: httpx.AsyncClient, alice: Account) -> None:
    url = await make_feed(client, alice)
    response = await client.get(url)
    assert '"calendar:client";q=' in response.headers["ratelimit-policy"]
    assert '"calendar:feed";q=' in response.headers["ratelimit-policy"]
