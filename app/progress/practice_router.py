import uuid
from typing import Annotated

from fastapi import APIRouter, Query, Request, Response, status

from app.accounts.dependencies import CurrentUser
from app.core.deps import SessionDep
from app.core.errors import problem_responses
from app.core.openapi import LOCATION_HEADER, created_at
from app.core.schemas import Limit, Page
from app.progress import practice
from app.progress.practice_schemas import LadderPublic, LadderUpdate, PauseCreate, PausePublic

router = APIRouter(prefix="/me", tags=["progress"], responses=problem_responses(401))


@router.get("/ladder", response_model=LadderPublic, summary="Your fear ladder")
async def read_ladder(user: CurrentUser, session: SessionDep) -> LadderPublic:
    """Your own fear ladder: the challenges you chose, in the order you will climb them, with the distress you
    anticipated at each. `mastered` marks the steps whose last two exposures peaked at 40 or less;
    `GET /me/next-challenges` offers the first step that is not (reason `ladder`). Empty without a ladder."""
    return await practice.read_ladder(session, user)


@router.put(
    "/ladder", response_model=LadderPublic, responses=problem_responses(413, 422), summary="Replace your fear ladder"
)
async def replace_ladder(data: LadderUpdate, user: CurrentUser, session: SessionDep) -> LadderPublic:
    """Store your ladder whole, replacing the one before (sending the same again changes nothing); an empty
    `steps` removes it. Each step is a challenge you can log, at most once, up to 50 steps; an
    unknown, unpublished or someone else's challenge, or a repeated one, answers 422 with the step's index in
    `loc`. Two replacements at once leave one of them whole, never a mix. Answers the ladder as stored."""
    return await practice.replace_ladder(session, user, data)


@router.post(
    "/pauses",
    status_code=status.HTTP_201_CREATED,
    response_model=PausePublic,
    responses={201: {"headers": LOCATION_HEADER}, **problem_responses(413, 422)},
    summary="Pause your streak",
)
async def create_pause(
    data: PauseCreate, user: CurrentUser, session: SessionDep, request: Request, response: Response
) -> PausePublic:
    """Mark local days (both ends included, at most 14) when you cannot practise, for illness or a
    holiday: paused days without an exposure neither count for nor break your streak (`GET /me/trend`). A pause
    must not overlap another of yours (422 `overlapping`; pauses may touch, end to start), must lie within a year
    of today, and you can keep up to 50."""
    pause = await practice.create_pause(session, user, data)
    response.headers["Location"] = created_at(request, pause.id)
    return PausePublic.model_validate(pause)


@router.get("/pauses", response_model=Page[PausePublic], responses=problem_responses(422), summary="Your pauses")
async def list_pauses(
    *,
    user: CurrentUser,
    session: SessionDep,
    limit: Annotated[Limit, Query()] = 50,
    cursor: Annotated[str | None, Query(max_length=500)] = None,
) -> Page[PausePublic]:
    """Your pauses, earliest `start_date` first."""
    rows, next_cursor = await practice.list_pauses(session, user, limit=limit, cursor=cursor)
    return Page(items=[PausePublic.model_validate(row) for row in rows], next_cursor=next_cursor)


@router.delete(
    "/pauses/{pause_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    responses=problem_responses(404, 422),
    summary="Delete a pause",
)
async def delete_pause(pause_id: uuid.UUID, user: CurrentUser, session: SessionDep) -> Response:
    """Removes one of your pauses: its days count as ordinary days again. Someone else's, or an unknown id, answers
    404."""
    await practice.delete_pause(session, user, pause_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)
