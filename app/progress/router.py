from typing import Annotated, Any

from fastapi import APIRouter, Header, Query, Response, status

from app.accounts.dependencies import CurrentUser, TokenUserId
from app.catalog.schemas import ChallengePublic
from app.core.deps import SessionDep, SettingsDep
from app.core.errors import problem_responses
from app.core.schemas import Timestamp
from app.progress import service
from app.progress.practice_schemas import NextChallenge
from app.progress.schemas import TrendPublic

router = APIRouter(prefix="/me", tags=["progress"], responses=problem_responses(401))

_ETAG_HEADER = {
    "ETag": {
        "description": "Names this version of the trend: send it back as `If-None-Match` to poll cheaply.",
        "schema": {"type": "string", "example": '"5f1c0e9a7b3d4c2e8f6a1b0c9d8e7f6a"'},
    }
}
_TREND_RESPONSES: dict[int | str, dict[str, Any]] = {
    200: {"headers": _ETAG_HEADER},
    304: {
        "description": "Not Modified: `If-None-Match` names the current version; no body. Keep showing the one "
        "you have.",
        "headers": _ETAG_HEADER,
    },
    **problem_responses(422),
}


@router.get("/trend", response_model=TrendPublic, responses=_TREND_RESPONSES, summary="Your desensitization trend")
async def read_trend(
    *,
    user_id: TokenUserId,
    session: SessionDep,
    settings: SettingsDep,
    since: Annotated[
        Timestamp | None,
        Query(
            description="Only attempts at or after this time (RFC 3339 with an offset).",
            examples=["2026-09-01T00:00:00+02:00"],
        ),
    ] = None,
    until: Annotated[
        Timestamp | None,
        Query(
            description="Only attempts before this time (RFC 3339 with an offset); not before `since`.",
            examples=["2026-11-01T00:00:00+01:00"],
        ),
    ] = None,
    if_none_match: Annotated[
        str | None,
        Header(
            max_length=1000,
            description="The `ETag` of the trend you already have (or several, comma-separated): answers 304 "
            "without a body while it is still current.",
            examples=['"5f1c0e9a7b3d4c2e8f6a1b0c9d8e7f6a"'],
        ),
    ] = None,
) -> Response:
    """Your desensitization trend: is peak distress falling as you practise?

    **Charts.** `series` has one point per day (in your time zone) with attempts: plot
    `mean_distress_peak` as dots and `rolling_mean_distress_peak` as a line, `max_difficulty`
    as steps. Draw a trend line as `intercept + slope_per_week × weeks`, where weeks count
    from `time_origin`; `ci_low`/`ci_high` bound the slope. `by_category` gives a bar per category.

    **Method.** Exposures are attempts not avoided; a session is a local day with at least
    one exposure, and every trend line has one point per session (that day's mean peak), so
    many asks on one day count once and asks minutes apart never make a slope. The test is
    Mann–Kendall's (tie- and continuity-corrected p-value, Kendall's tau), the slope Sen's
    median of pairwise slopes with its 95% interval. `adjusted_trend` is the same test
    stratified by difficulty (seasonal Mann–Kendall): only sessions at the same difficulty
    are compared, so feeling less at the same difficulty counts and feeling less on easier
    asks does not. `status` reads the tests' sign and p-value, never a slope: `improving`
    when the same difficulty feels less, or when the asks get harder while distress does not
    rise, with `status_reason` saying which; it needs 5 sessions. Every rate is a percentage
    (0–100). A field that cannot be computed yet is `null`.

    `level` and `support` follow the ladder rules described on `level.reason.code`.

    **Polling.** Every answer carries an `ETag`. Send it back as `If-None-Match` and the answer is
    304 Not Modified, without a body, until something changes: a logged, corrected or deleted
    attempt, your time zone, or the day (streaks count to today). Answers are `Cache-Control:
    no-store` (they hold health data), so keep the `ETag` and the trend in your app's memory.
    """
    answer = await service.trend(
        session,
        user_id,
        since=since,
        until=until,
        support_message=settings.support_message,
        if_none_match=if_none_match,
    )
    headers = {"ETag": answer.etag}
    if answer.body is None:
        return Response(status_code=status.HTTP_304_NOT_MODIFIED, headers=headers)
    return Response(answer.body, media_type="application/json", headers=headers)


@router.get(
    "/next-challenges",
    response_model=list[NextChallenge],
    responses=problem_responses(422),
    summary="Challenges to try next",
)
async def list_next_challenges(
    user: CurrentUser,
    session: SessionDep,
    limit: Annotated[int, Query(ge=1, le=50, description="How many challenges to suggest (1–50).")] = 5,
) -> list[NextChallenge]:
    """What to practise next, each with a `reason`, in this order: re-tests that are due (`retest`: challenges
    you mastered, back after 7, then 21, then 60 days), the first step of your ladder you have not mastered
    (`ladder`), then challenges at your `level.recommended_difficulty` (see `GET /me/trend`), nearest levels
    next when there are too few (the gentler one first), taking categories in turn (`level`; after the first,
    one in a category your last 20 attempts did not touch is `variety`). That last part skips challenges you
    mastered and any you attempted in the last 7 days. Drawn from the published catalog and your own
    challenges; fewer than `limit` (or none) when nothing else fits."""
    rows = await service.next_challenges(session, user, limit)
    return [
        NextChallenge.model_validate({**ChallengePublic.model_validate(row).model_dump(), "reason": reason})
        for row, reason in rows
    ]
