import uuid
from typing import Annotated

from fastapi import APIRouter, Path, Query, Request, Response, status

from app.accounts.dependencies import CurrentUser
from app.core.deps import RateLimiterDep, SessionDep
from app.core.errors import NotFound, problem_responses
from app.core.openapi import LOCATION_HEADER, created_at
from app.core.schemas import Limit, Page
from app.plans import calendar, service
from app.plans.schemas import CalendarFeedPublic, PlanCreate, PlanPublic, PlanStatus, PlanUpdate

router = APIRouter(prefix="/plans", tags=["plans"], responses=problem_responses(401))
calendar_router = APIRouter(prefix="/me/calendar", tags=["plans"], responses=problem_responses(401))
# Read by calendar apps, which send no Authorization header: the token in the path is the credential.
feed_router = APIRouter(prefix="/calendar", tags=["plans"])

# Calendar apps fetch from their operators' servers, which many users share: per address the limit only
# stops floods; per feed it allows two fetches a minute, for several devices each polling often.
FEED_LIMIT_PER_CLIENT = 600
FEED_LIMIT_PER_FEED = 120
FEED_NOT_FOUND = "No calendar feed at this address: it was revoked or replaced by a newer one."
CALENDAR_CONTENT = "text/calendar"


@router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    response_model=PlanPublic,
    responses={201: {"headers": LOCATION_HEADER}, **problem_responses(413, 422)},
    summary="Plan an ask",
)
async def create_plan(
    data: PlanCreate, user: CurrentUser, session: SessionDep, request: Request, response: Response
) -> PlanPublic:
    """Plan an ask before doing it: the challenge, when (optional), what you expect to happen, and how likely
    you think a no is. Log the attempt later with `plan_id`, and it takes this prediction: the trend then knows
    it was made in advance.

    The challenge must be one you can log (`GET /api/v1/challenges` lists them); any other answers 422
    `challenge_not_found`.
    """
    plan = await service.create_plan(session, user, data)
    response.headers["Location"] = created_at(request, plan.id)
    return plan


@router.get("", response_model=Page[PlanPublic], responses=problem_responses(422), summary="Your plans")
async def list_plans(
    *,
    user: CurrentUser,
    session: SessionDep,
    status: Annotated[PlanStatus | None, Query(description="Only plans with this status.")] = None,
    limit: Annotated[Limit, Query()] = 50,
    cursor: Annotated[str | None, Query(max_length=500)] = None,
) -> Page[PlanPublic]:
    """Your plans, soonest `planned_for` first; plans without a time come last. Plans with the same time (or
    none) come oldest first. Paging with `cursor` neither repeats nor skips plans made in between."""
    items, next_cursor = await service.list_plans(session, user, status=status, limit=limit, cursor=cursor)
    return Page(items=items, next_cursor=next_cursor)


@router.get("/{plan_id}", response_model=PlanPublic, responses=problem_responses(404, 422), summary="One plan")
async def read_plan(plan_id: uuid.UUID, user: CurrentUser, session: SessionDep) -> PlanPublic:
    """One of your plans; `attempt_id` names the attempt logged with it. Someone else's, or an unknown id,
    answers 404."""
    return await service.get_plan(session, user, plan_id)


@router.patch(
    "/{plan_id}",
    response_model=PlanPublic,
    responses=problem_responses(404, 409, 413, 422),
    summary="Move, change or cancel a plan",
)
async def update_plan(plan_id: uuid.UUID, data: PlanUpdate, user: CurrentUser, session: SessionDep) -> PlanPublic:
    """Move a plan (`planned_for`), change what you expect (`expected_outcome`, `expected_distress_peak`), cancel
    it (`status: "cancelled"`) or take a cancelled one up again (`status: "open"`).

    A done plan never changes: any change answers 409 (a request that changes nothing answers the plan). Its
    `expected_rejection` is fixed from the start: cancel the plan and make a new one instead.
    """
    return await service.update_plan(session, user, plan_id, data)


@router.delete(
    "/{plan_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    responses=problem_responses(404, 422),
    summary="Delete a plan",
)
async def delete_plan(plan_id: uuid.UUID, user: CurrentUser, session: SessionDep) -> Response:
    """Removes one of your plans for good. An attempt logged with it stays, with the prediction it took from
    the plan; its `plan_id` becomes null. Someone else's, or an unknown id, answers 404."""
    await service.delete_plan(session, user, plan_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@calendar_router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    response_model=CalendarFeedPublic,
    responses={201: {"headers": LOCATION_HEADER}},
    summary="Make a secret calendar feed of your plans",
)
async def create_calendar_feed(
    user: CurrentUser, session: SessionDep, request: Request, response: Response
) -> CalendarFeedPublic:
    """A secret address of an iCalendar (RFC 5545) feed of your open plans that have a time: one event per plan,
    with a reminder 30 minutes before. Subscribe to it in your phone's calendar and it reminds you.

    The address is shown only in this answer (and as `Location`). Asking again makes a new address and the old
    one stops working (404). The feed shows the challenge and the time of each plan, nothing you wrote or rated.
    """
    token = await calendar.replace_feed(session, user.id)
    url = str(request.url_for("read_calendar_feed", token=token))
    response.headers["Location"] = url
    return CalendarFeedPublic(url=url)


@calendar_router.delete("", status_code=status.HTTP_204_NO_CONTENT, summary="Revoke your calendar feed")
async def revoke_calendar_feed(user: CurrentUser, session: SessionDep) -> Response:
    """Your feed's address stops working (404) at once. Answers 204 whether or not you had one."""
    await calendar.revoke_feed(session, user.id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


def _client(request: Request) -> str:
    # Behind a proxy, uvicorn's proxy headers support has already put the real client here.
    return request.client.host if request.client else "unknown"


@feed_router.get(
    "/{token}.ics",
    response_class=Response,
    responses={
        200: {
            "description": "The feed: an iCalendar file (RFC 5545).",
            "content": {CALENDAR_CONTENT: {"schema": {"type": "string"}}},
        },
        **problem_responses(404),
    },
    summary="Your plans as a calendar feed",
)
async def read_calendar_feed(
    token: Annotated[
        str,
        Path(
            min_length=1,
            max_length=100,
            description="The secret made by `POST /api/v1/me/calendar`: the address is the credential.",
        ),
    ],
    session: SessionDep,
    request: Request,
    limiter: RateLimiterDep,
) -> Response:
    """The address `POST /api/v1/me/calendar` answered, for calendar apps: no `Authorization` header. One event
    per open plan with a time (from 90 days ago on, at most 1000), each 30 minutes long with a reminder 30
    minutes before, its summary the challenge's title. A revoked or replaced address answers 404."""
    await limiter.check(f"calendar:client:{_client(request)}", FEED_LIMIT_PER_CLIENT, 60)
    owner = await calendar.feed_owner(session, token)
    if owner is None:
        raise NotFound(FEED_NOT_FOUND)
    await limiter.check(f"calendar:feed:{owner}", FEED_LIMIT_PER_FEED, 3600)
    body = await calendar.feed(session, owner)
    return Response(content=body, media_type=f"{CALENDAR_CONTENT}; charset=utf-8")
