import uuid
from typing import Annotated

from fastapi import APIRouter, Header, Query, Request, Response, status

from app.accounts.dependencies import CurrentUser, TokenUserId
from app.attempts import service
from app.attempts.schemas import AttemptCreate, AttemptPublic, AttemptUpdate, Outcome
from app.core.deps import SessionDep
from app.core.errors import problem_responses
from app.core.openapi import LOCATION_HEADER, created_at
from app.core.schemas import Limit, Page, Timestamp

router = APIRouter(prefix="/attempts", tags=["attempts"], responses=problem_responses(401))

IdempotencyKey = Annotated[
    str | None,
    Header(
        min_length=1,
        max_length=255,
        pattern=r"^[\x20-\x7e]+$",
        description="Optional: 1–255 printable ASCII characters, new for each attempt. Sending the same request "
        "again with the same key answers the first result and stores nothing; keys are kept at least 24 hours.",
        examples=["7c2e9a40-attempt-2026-05-01"],
    ),
]


_CREATED_HEADERS = {
    **LOCATION_HEADER,
    "Idempotent-Replayed": {
        "description": "`true` when this answers a retry (the same `id` or `Idempotency-Key` and body as an "
        "earlier request): the first result again, and nothing new stored. Absent on a first answer.",
        "schema": {"type": "string", "const": "true"},
    },
}


@router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    response_model=AttemptPublic,
    responses={201: {"headers": _CREATED_HEADERS}, **problem_responses(409, 413, 422)},
    summary="Log an attempt",
)
async def create_attempt(
    *,
    data: AttemptCreate,
    user_id: TokenUserId,
    session: SessionDep,
    request: Request,
    response: Response,
    idempotency_key: IdempotencyKey = None,
) -> AttemptPublic:
    """Log one exposure: the outcome and your distress (SUDS 0–100) before, at the peak and after, and as you
    like what you expected (`expected_rejection`) and a reflection (`surprise`, `safety_behaviours`,
    `reflection`).

    **With `plan_id`** the attempt carries out one of your open plans for the same challenge: it takes the
    plan's `expected_rejection` (a different one in the body answers 422), `predicted_at` is the plan's
    `created_at`, and the plan becomes `done`. A plan that is done or cancelled answers 409; someone else's or
    an unknown one 422 `plan_not_found`.

    The answer keeps the challenge's `difficulty` and `category` as they are now, so later changes to the
    challenge never rewrite your history. Only challenges listed for you in
    `GET /api/v1/challenges` can be logged: published catalog ones and your own that are not archived;
    any other `challenge_id` (archived, a catalog draft, someone else's, unknown) answers 422.

    **Safe to retry** (e.g. from a phone that was offline): send a client-made `id`, an `Idempotency-Key`
    header, or both. The same request again answers the first result with 201 and
    `Idempotent-Replayed: true`, and stores nothing new; the same `id` or key with a different body answers 409.
    A retry of an attempt logged with a plan is such a replay too: the plan was done once, by the first.
    """
    attempt, replayed = await service.create_attempt(session, user_id, data, idempotency_key)
    response.headers["Location"] = created_at(request, attempt.id)
    if replayed:
        response.headers["Idempotent-Replayed"] = "true"
    return attempt


@router.get("", response_model=Page[AttemptPublic], responses=problem_responses(422), summary="Your attempts")
async def list_attempts(
    *,
    user: CurrentUser,
    session: SessionDep,
    since: Annotated[
        Timestamp | None, Query(description="Only attempts at or after this time (RFC 3339 with an offset).")
    ] = None,
    until: Annotated[
        Timestamp | None, Query(description="Only attempts before this time (RFC 3339 with an offset).")
    ] = None,
    challenge_id: Annotated[uuid.UUID | None, Query(description="Only attempts at this challenge.")] = None,
    outcome: Annotated[Outcome | None, Query(description="Only attempts with this outcome.")] = None,
    limit: Annotated[Limit, Query()] = 50,
    cursor: Annotated[str | None, Query(max_length=500)] = None,
) -> Page[AttemptPublic]:
    """Your attempts, newest first (by `occurred_at`). Paging with `cursor` neither repeats nor skips
    attempts when new ones are logged in between."""
    rows, next_cursor = await service.list_attempts(
        session,
        user,
        since=since,
        until=until,
        challenge_id=challenge_id,
        outcome=outcome,
        limit=limit,
        cursor=cursor,
    )
    return Page(items=[AttemptPublic.model_validate(r) for r in rows], next_cursor=next_cursor)


@router.get("/{attempt_id}", response_model=AttemptPublic, responses=problem_responses(404, 422), summary="One attempt")
async def read_attempt(attempt_id: uuid.UUID, user: CurrentUser, session: SessionDep) -> AttemptPublic:
    """One of your attempts, as it was logged or last corrected. Someone else's, or an unknown id, answers 404."""
    return AttemptPublic.model_validate(await service.get_attempt(session, user, attempt_id))


@router.patch(
    "/{attempt_id}",
    response_model=AttemptPublic,
    responses=problem_responses(404, 409, 413, 422),
    summary="Correct an attempt",
)
async def update_attempt(
    attempt_id: uuid.UUID, data: AttemptUpdate, user: CurrentUser, session: SessionDep
) -> AttemptPublic:
    """Change any of `occurred_at`, `outcome`, the distress ratings, `expected_rejection`, `notes` and the
    reflection; fields left out keep their value. The result must still be a valid attempt (a peak unless
    `avoided`). A new or changed `expected_rejection` counts as written down now (`predicted_at`); on an
    attempt logged with a plan it was written down before the ask and cannot change (409).

    The challenge, and with it the logged `difficulty` and `category`, cannot change: delete the attempt
    and log it again instead.
    """
    return AttemptPublic.model_validate(await service.update_attempt(session, user, attempt_id, data))


@router.delete(
    "/{attempt_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    responses=problem_responses(404, 422),
    summary="Delete an attempt",
)
async def delete_attempt(attempt_id: uuid.UUID, user: CurrentUser, session: SessionDep) -> Response:
    """Removes one of your attempts for good: the trend and the export no longer count it. The plan it carried
    out, if any, is open again. Someone else's, or an unknown id, answers 404."""
    await service.delete_attempt(session, user, attempt_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)
