from typing import Annotated

from fastapi import APIRouter, Query
from pydantic import AwareDatetime

from app.catalog.schemas import ChallengePublic
from app.core.deps import CurrentUser, SessionDep, SettingsDep
from app.core.errors import problem_responses
from app.progress import service
from app.progress.schemas import TrendPublic

router = APIRouter(prefix="/me", tags=["progress"], responses=problem_responses(401))


@router.get(
    "/trend", response_model=TrendPublic, responses=problem_responses(422), summary="Your desensitization trend"
)
async def read_trend(
    user: CurrentUser,
    session: SessionDep,
    settings: SettingsDep,
    since: Annotated[
        AwareDatetime | None,
        Query(
            description="Only attempts at or after this time (RFC 3339 with an offset).",
            examples=["2026-09-01T00:00:00+02:00"],
        ),
    ] = None,
    until: Annotated[
        AwareDatetime | None,
        Query(
            description="Only attempts before this time (RFC 3339 with an offset); not before `since`.",
            examples=["2026-11-01T00:00:00+01:00"],
        ),
    ] = None,
) -> TrendPublic:
    """Your desensitization trend: is peak distress falling as you practise?

    **Charts.** `series` has one point per day (in your time zone) with attempts: plot
    `mean_distress_peak` as dots and `rolling_mean_distress_peak` as a line, `max_difficulty`
    as steps. Draw a trend line as `intercept + slope_per_week × weeks`, where weeks count
    from `time_origin`; `ci_low`/`ci_high` bound the slope. `by_category` gives a bar per category.

    **Method.** Exposures are attempts not avoided. The slope is Theil–Sen (robust to a
    few outlier days) with a 95% interval, its p-value the Mann–Kendall test. `adjusted_trend`
    does the same for peak − 10 × difficulty, so climbing to harder asks while feeling the same
    counts as progress; `status` comes from it. Every rate is a percentage (0–100). A field
    that cannot be computed yet is `null`.

    `level` and `support` follow the ladder rules described on `level.reason.code`.
    """
    result = await service.trend(session, user, since=since, until=until, support_message=settings.support_message)
    return TrendPublic.model_validate(result)


@router.get(
    "/next-challenges",
    response_model=list[ChallengePublic],
    responses=problem_responses(422),
    summary="Challenges to try next",
)
async def list_next_challenges(
    user: CurrentUser,
    session: SessionDep,
    limit: Annotated[int, Query(ge=1, le=50, description="How many challenges to suggest (1–50).")] = 5,
) -> list[ChallengePublic]:
    """Challenges at your `level.recommended_difficulty` (see `GET /me/trend`), nearest levels next when
    there are too few (the gentler one first), skipping any you attempted in the last 7 days, and taking
    categories in turn so the suggestions vary. Drawn from the published catalog and your own challenges;
    fewer than `limit` (or none) when nothing else fits."""
    rows = await service.next_challenges(session, user, limit)
    return [ChallengePublic.model_validate(row) for row in rows]
