import csv
import io
from collections.abc import Iterable

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app.accounts.models import ApiToken, User
from app.accounts.schemas import ApiTokenPublic, UserPublic
from app.attempts.models import Attempt
from app.attempts.schemas import AttemptPublic
from app.catalog.models import Challenge
from app.catalog.schemas import ChallengePublic
from app.core.models import utcnow
from app.exports.schemas import AccountExport, ExportedAttempt, ExportedCalendarFeed, ExportedLadderStep, ExportedPlan
from app.plans.models import CalendarFeed
from app.plans.service import all_plans
from app.progress.models import LadderStep, Pause
from app.progress.practice_schemas import PausePublic

CSV_COLUMNS = (
    "id",
    "occurred_at",
    "challenge_id",
    "challenge_slug",
    "challenge_title",
    "outcome",
    "distress_before",
    "distress_peak",
    "distress_after",
    "expected_rejection",
    "difficulty",
    "category",
    "notes",
    "plan_id",
    "predicted_at",
    "surprise",
    "safety_behaviours",
    "reflection",
    "created_at",
    "updated_at",
)
# A spreadsheet runs a cell that starts with one of these as a formula (CSV injection): such a cell is written
# with a `'` before it. A cell that starts with `'` itself gets one too, so the import can take exactly one away.
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r", "'")


async def export_account(session: AsyncSession, user: User) -> AccountExport:
    attempts = await session.execute(
        select(Attempt, Challenge.slug)
        .join(Challenge, Challenge.id == Attempt.challenge_id)
        .where(Attempt.user_id == user.id)
        .order_by(Attempt.occurred_at, Attempt.id)
    )
    challenges = await session.scalars(
        select(Challenge).where(Challenge.owner_id == user.id).order_by(Challenge.created_at, Challenge.id)
    )
    tokens = await session.scalars(
        select(ApiToken).where(ApiToken.user_id == user.id).order_by(ApiToken.created_at, ApiToken.id)
    )
    ladder = await session.execute(
        select(LadderStep.challenge_id, Challenge.slug, LadderStep.anticipated_distress)
        .join(Challenge, Challenge.id == LadderStep.challenge_id)
        .where(LadderStep.user_id == user.id)
        .order_by(LadderStep.position)
    )
    pauses = await session.scalars(select(Pause).where(Pause.user_id == user.id).order_by(Pause.start_date))
    feed = await session.scalar(select(CalendarFeed.created_at).where(CalendarFeed.user_id == user.id))
    return AccountExport(
        exported_at=utcnow(),
        account=UserPublic.model_validate(user),
        attempts=[_exported(attempt, slug) for attempt, slug in attempts],
        custom_challenges=[ChallengePublic.model_validate(c) for c in challenges],
        plans=[ExportedPlan(**plan.model_dump(), challenge_slug=slug) for plan, slug in await all_plans(session, user)],
        ladder=[
            ExportedLadderStep(challenge_id=challenge_id, challenge_slug=slug, anticipated_distress=distress)
            for challenge_id, slug, distress in ladder
        ],
        pauses=[PausePublic.model_validate(p) for p in pauses],
        calendar_feed=None if feed is None else ExportedCalendarFeed(created_at=feed),
        api_tokens=[ApiTokenPublic.model_validate(t) for t in tokens],
    )


def _exported(attempt: Attempt, challenge_slug: str) -> ExportedAttempt:
    return ExportedAttempt(**AttemptPublic.model_validate(attempt).model_dump(), challenge_slug=challenge_slug)


# Safety behaviours are single lines: one per line of their cell, as a spreadsheet shows a list.
LIST_SEPARATOR = "\n"


def _cell(value: object) -> object:
    if isinstance(value, list):
        value = LIST_SEPARATOR.join(value)
    if isinstance(value, str) and value.startswith(FORMULA_STARTS):
        return "'" + value
    return value


async def export_attempts_csv(session: AsyncSession, user: User) -> str:
    rows = await session.execute(
        select(Attempt, Challenge.slug, Challenge.title)
        .join(Challenge, Challenge.id == Attempt.challenge_id)
        .where(Attempt.user_id == user.id)
        .order_by(Attempt.occurred_at, Attempt.id)
    )
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(CSV_COLUMNS)
    writer.writerows(_csv_row(attempt, slug, title) for attempt, slug, title in rows)
    return out.getvalue()


def _csv_row(attempt: Attempt, challenge_slug: str, challenge_title: str) -> Iterable[object]:
    public = AttemptPublic.model_validate(attempt).model_dump(mode="json")
    public |= {"challenge_slug": challenge_slug, "challenge_title": challenge_title}
    return [_cell(public[column]) for column in CSV_COLUMNS]
