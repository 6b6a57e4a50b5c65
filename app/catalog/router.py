import dataclasses
import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Query, Request, Response, status
from fastapi.responses import JSONResponse

from app.accounts.dependencies import CurrentUser
from app.catalog import service
from app.catalog.schemas import (
    SLUG_PATTERN,
    CategoryPublic,
    ChallengeCreate,
    ChallengePublic,
    ChallengeUpdate,
)
from app.catalog.service import ChallengeFilters
from app.core.deps import SessionDep
from app.core.errors import problem_responses
from app.core.openapi import LOCATION_HEADER, created_at
from app.core.schemas import Limit, Page, SingleLine

router = APIRouter(tags=["challenges"], responses=problem_responses(401))

ChallengeId = Annotated[uuid.UUID, Path(description="The challenge's id.")]


def catalog_filters(
    category: Annotated[
        str | None,
        Query(max_length=50, pattern=SLUG_PATTERN, description="Only this category (its slug)."),
    ] = None,
    difficulty_min: Annotated[
        int | None, Query(ge=1, le=10, description="Only challenges at least this hard (1–10).")
    ] = None,
    difficulty_max: Annotated[
        int | None, Query(ge=1, le=10, description="Only challenges at most this hard (1–10).")
    ] = None,
    q: Annotated[
        str | None,
        Query(
            max_length=100,
            description="Text search: challenges whose title or description contains this, ignoring case. "
            "`%` and `_` match themselves.",
        ),
        SingleLine,
    ] = None,
) -> ChallengeFilters:
    if difficulty_min is not None and difficulty_max is not None and difficulty_min > difficulty_max:
        raise service.invalid_field(
            ("query", "difficulty_max"), "must not be less than difficulty_min", "difficulty_range"
        )
    return ChallengeFilters(
        category=category,
        difficulty_min=difficulty_min,
        difficulty_max=difficulty_max,
        q=q.strip() if q and q.strip() else None,
    )


CatalogFilters = Annotated[ChallengeFilters, Depends(catalog_filters)]
Cursor = Annotated[
    str | None, Query(max_length=500, description="The `next_cursor` of the previous page; leave out for the first.")
]


@router.get("/categories", response_model=list[CategoryPublic], summary="The categories")
async def list_categories(_user: CurrentUser, session: SessionDep) -> list[CategoryPublic]:
    """Every category, by name. A challenge's `category` is one of these slugs."""
    return [CategoryPublic.model_validate(c) for c in await service.list_categories(session)]


@router.get(
    "/challenges",
    response_model=Page[ChallengePublic],
    responses=problem_responses(422),
    summary="Browse the catalog and your own challenges",
)
async def list_challenges(
    *,
    user: CurrentUser,
    session: SessionDep,
    filters: CatalogFilters,
    is_custom: Annotated[
        bool | None,
        Query(description="`true`: only your own custom challenges; `false`: only the catalog; leave out for both."),
    ] = None,
    limit: Annotated[Limit, Query()] = 50,
    cursor: Cursor = None,
) -> Page[ChallengePublic]:
    """The published catalog plus your own custom challenges, easiest first (then by title).

    Listed: published catalog challenges, and your own that are not archived (drafts included).
    Not listed: the catalog's drafts and archived challenges, your own archived ones (read them by id)
    and other people's. Everything listed here can be logged (`POST /api/v1/attempts`) and read by id.

    Pages stay consistent while challenges are added: follow `next_cursor` until it is null.
    """
    filters = dataclasses.replace(filters, is_custom=is_custom)
    rows, next_cursor = await service.list_challenges(session, user, filters, limit, cursor)
    return Page(items=[ChallengePublic.model_validate(r) for r in rows], next_cursor=next_cursor)


@router.post(
    "/challenges",
    status_code=status.HTTP_201_CREATED,
    response_model=ChallengePublic,
    responses={201: {"headers": LOCATION_HEADER}, **problem_responses(413, 422)},
    summary="Create a custom challenge of your own",
)
async def create_challenge(
    data: ChallengeCreate, user: CurrentUser, session: SessionDep, request: Request, response: Response
) -> ChallengePublic:
    """A challenge you wrote yourself: only you see it, in your listing and for your attempts.

    `category` must be one of `GET /api/v1/categories`; the slug is made for you.
    """
    challenge = await service.create_custom_challenge(session, user, data)
    response.headers["Location"] = created_at(request, challenge.id)
    return ChallengePublic.model_validate(challenge)


@router.get(
    "/challenges/{challenge_id}",
    response_model=ChallengePublic,
    responses=problem_responses(404, 422),
    summary="One challenge",
)
async def read_challenge(challenge_id: ChallengeId, user: CurrentUser, session: SessionDep) -> ChallengePublic:
    """A catalog challenge that is not a draft, or any of your own (archived included).

    Archived challenges stay readable, so the attempts that refer to them keep their context, but they are
    no longer listed or loggable. The catalog's drafts and other people's challenges answer 404, as an
    unknown id does.
    """
    return ChallengePublic.model_validate(await service.get_challenge(session, user, challenge_id))


@router.patch(
    "/challenges/{challenge_id}",
    response_model=ChallengePublic,
    responses=problem_responses(403, 404, 413, 422),
    summary="Change one of your custom challenges",
)
async def update_challenge(
    challenge_id: ChallengeId, data: ChallengeUpdate, user: CurrentUser, session: SessionDep
) -> ChallengePublic:
    """Fields left out keep their value. Catalog challenges answer 403: they are curated by admins."""
    challenge = await service.update_custom_challenge(session, user, challenge_id, data)
    return ChallengePublic.model_validate(challenge)


DELETE_RESPONSES: dict[int | str, dict[str, Any]] = {
    204: {"description": "Removed."},
    200: {
        "model": ChallengePublic,
        "description": "Attempts refer to it, so it was archived instead of removed; here it is, archived.",
    },
}


@router.delete(
    "/challenges/{challenge_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    response_model=None,
    responses={**DELETE_RESPONSES, **problem_responses(403, 404, 422)},
    summary="Delete one of your custom challenges",
)
async def delete_challenge(challenge_id: ChallengeId, user: CurrentUser, session: SessionDep) -> Response:
    """Removes it (204). If you have logged attempts at it, it is archived instead (200), so your log keeps it."""
    archived = await service.delete_custom_challenge(session, user, challenge_id)
    if archived is None:
        return Response(status_code=status.HTTP_204_NO_CONTENT)
    return JSONResponse(ChallengePublic.model_validate(archived).model_dump(mode="json"))
