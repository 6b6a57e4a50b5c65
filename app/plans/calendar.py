"""The secret calendar feed: an iCalendar (RFC 5545) file of a user's open plans with a time, which a phone's
calendar subscribes to and reminds the user from, with no push service of ours.

The token in the feed's URL is the only credential (calendar apps send no header), so only its SHA-256 is
stored, and the feed holds as little as still makes a useful reminder. A calendar URL travels: calendar apps
sync it to their servers, people share calendars. So an event says which challenge and when, and nothing of
what the user wrote or rated: no expected outcome, no predicted chance of a no, no distress.
"""

import secrets
import uuid
from datetime import timedelta
from typing import cast

from icalendar import Alarm, Calendar, Event
from sqlalchemy import Table, delete, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.catalog.models import Challenge
from app.core.db import conflict_insert
from app.core.models import utcnow
from app.core.security import api_token_digest
from app.plans.models import CalendarFeed, Plan, PlanStatus

PRODID = "-//Rejection Tracker//Planned asks//EN"
UID_DOMAIN = "rejection-tracker"
EVENT_DURATION = timedelta(minutes=30)
REMINDER_BEFORE = timedelta(minutes=30)
# Plans long past their time are no use as reminders; the cap bounds what one unauthenticated request costs.
PAST_HORIZON = timedelta(days=90)
MAX_EVENTS = 1000
# How often calendar apps should fetch the feed again (RFC 7986 REFRESH-INTERVAL, and Outlook's name for it).
REFRESH = timedelta(hours=1)
DESCRIPTION = "Planned in Rejection Tracker. Log the attempt with this plan when you have done it."


async def replace_feed(session: AsyncSession, user_id: uuid.UUID) -> str:
    """A new secret token for the user's feed; the one before stops working."""
    token = secrets.token_urlsafe(32)
    table = cast(Table, CalendarFeed.__table__)
    values = {"user_id": user_id, "digest": api_token_digest(token), "created_at": utcnow()}
    insert = conflict_insert(session.get_bind().dialect.name, table).values(values)
    await session.execute(
        insert.on_conflict_do_update(
            index_elements=[table.c.user_id],
            set_={"digest": insert.excluded.digest, "created_at": insert.excluded.created_at},
        )
    )
    return token


async def revoke_feed(session: AsyncSession, user_id: uuid.UUID) -> None:
    await session.execute(delete(CalendarFeed).where(CalendarFeed.user_id == user_id))


async def feed_owner(session: AsyncSession, token: str) -> uuid.UUID | None:
    """The user whose feed the token opens, if any."""
    owner: uuid.UUID | None = await session.scalar(
        select(CalendarFeed.user_id).where(CalendarFeed.digest == api_token_digest(token))
    )
    return owner


async def feed(session: AsyncSession, user_id: uuid.UUID) -> bytes:
    """The user's open plans with a time, soonest first, as an iCalendar file."""
    rows = await session.execute(
        select(Plan.id, Plan.planned_for, Plan.updated_at, Challenge.title)
        .join(Challenge, Challenge.id == Plan.challenge_id)
        .where(
            Plan.user_id == user_id,
            Plan.status == PlanStatus.OPEN.value,
            Plan.planned_for >= utcnow() - PAST_HORIZON,
        )
        .order_by(Plan.planned_for, Plan.id)
        .limit(MAX_EVENTS)
    )
    calendar = Calendar()
    calendar.add("prodid", PRODID)
    calendar.add("version", "2.0")
    calendar.add("calscale", "GREGORIAN")
    calendar.add("x-wr-calname", "Rejection Tracker: planned asks")
    calendar.add("refresh-interval", REFRESH, parameters={"VALUE": "DURATION"})
    calendar.add("x-published-ttl", "PT1H")
    for row in rows:
        event = Event()
        # Stable per plan: a moved plan is the same event at a new time, not a second one.
        event.add("uid", f"{row.id}@{UID_DOMAIN}")
        # A feed has no METHOD, so DTSTAMP is when the event last changed (RFC 5545, 3.8.7.2).
        event.add("dtstamp", row.updated_at)
        event.add("last-modified", row.updated_at)
        event.add("dtstart", row.planned_for)
        event.add("duration", EVENT_DURATION)
        event.add("summary", row.title)
        event.add("description", DESCRIPTION)
        alarm = Alarm()
        alarm.add("action", "DISPLAY")
        alarm.add("trigger", -REMINDER_BEFORE)
        alarm.add("description", row.title)
        event.add_component(alarm)
        calendar.add_component(event)
    return bytes(calendar.to_ical())
