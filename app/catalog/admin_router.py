"""Catalog curation for admins: the `admin` tag in /docs is their console."""

import dataclasses
from typing import Annotated, Any

from fastapi import APIRouter, Body, Header, Path, Query, Request, Response, status
from fastapi.responses import JSONResponse
from pydantic import Field, WithJsonSchema

from app.accounts.dependencies import AdminUser
from app.catalog import importer, service
from app.catalog.models import ChallengeStatus
from app.catalog.router import CatalogFilters, ChallengeId, Cursor
from app.catalog.schemas import (
    MAX_IMPORT_ITEMS,
    SLUG_PATTERN,
    AdminChallengeCreate,
    AdminChallengePublic,
    AdminChallengeUpdate,
    CategoryCreate,
    CategoryPublic,
    CategoryUpdate,
    ChallengeImportItem,
    ImportResult,
)
from app.catalog.service import IfMatch
from app.core.deps import SessionDep
from app.core.errors import BadRequest, problem_responses
from app.core.openapi import LOCATION_HEADER, created_at
from app.core.schemas import Limit, Page

router = APIRouter(prefix="/admin", tags=["admin"], responses=problem_responses(401, 403))

# Only a UUID matches, so `GET /admin/challenges/import` is a 405 (the path only takes POST),
# not a read of a challenge whose id would be "import".
CHALLENGE_PATH = "/challenges/{challenge_id:uuid}"

ETAG_HEADER = {
    "ETag": {
        "description": 'The challenge\'s version as a strong entity tag, e.g. `"3"`. '
        "Send it back as `If-Match` when you PATCH.",
        "schema": {"type": "string"},
    }
}
IF_MATCH_DESCRIPTION = (
    'Optional. The `ETag` from your last read of this challenge, quotes included (e.g. `"3"`). '
    "If someone changed the challenge since, the answer is 412 and nothing is changed. "
    "Leave it out to write regardless."
)
IfMatchHeader = Annotated[str | None, Header(alias="If-Match", max_length=200, description=IF_MATCH_DESCRIPTION)]


def parse_if_match(value: str | None) -> IfMatch | None:
    """RFC 9110 `If-Match`: `*` or a list of entity tags. Weak tags never match (strong comparison)."""
    if value is None:
        return None
    if value.strip() == "*":
        return "*"
    tags: list[str] = []
    for part in value.split(","):
        tag = part.strip()
        weak = tag.startswith("W/")
        opaque = tag[2:] if weak else tag
        if len(opaque) < 2 or not opaque.startswith('"') or not opaque.endswith('"') or '"' in opaque[1:-1]:
            raise BadRequest(
                'If-Match must be "*" or the ETag as the server sent it, quotes included, for example "3".'
            )
        if not weak:
            tags.append(opaque[1:-1])
    return tags


def _with_etag(response: Response, challenge: Any) -> AdminChallengePublic:
    response.headers["ETag"] = service.etag(challenge)
    return AdminChallengePublic.model_validate(challenge)


@router.get(
    "/challenges",
    response_model=Page[AdminChallengePublic],
    responses=problem_responses(422),
    summary="List catalog challenges, drafts and archived included",
)
async def list_challenges(
    *,
    _admin: AdminUser,
    session: SessionDep,
    filters: CatalogFilters,
    status_: Annotated[
        ChallengeStatus | None,
        Query(alias="status", description="Only challenges in this status; leave out for all."),
    ] = None,
    limit: Annotated[Limit, Query()] = 50,
    cursor: Cursor = None,
) -> Page[AdminChallengePublic]:
    """The whole catalog as admins see it, easiest first (then by title). Users' custom challenges are
    private and never listed here. `?status=draft` shows what awaits review."""
    filters = dataclasses.replace(filters, status=status_)
    rows, next_cursor = await service.list_catalog(session, filters, limit, cursor)
    return Page(items=[AdminChallengePublic.model_validate(r) for r in rows], next_cursor=next_cursor)


@router.post(
    "/challenges",
    status_code=status.HTTP_201_CREATED,
    response_model=AdminChallengePublic,
    responses={201: {"headers": {**ETAG_HEADER, **LOCATION_HEADER}}, **problem_responses(409, 413, 422)},
    summary="Create a catalog challenge",
)
async def create_challenge(
    data: AdminChallengeCreate, _admin: AdminUser, session: SessionDep, request: Request, response: Response
) -> AdminChallengePublic:
    """Adds a challenge to the catalog, as a `draft` unless `status` says otherwise: users see it once it
    is `published` (PATCH it with `{"status": "published"}`).

    `slug` must be unused (409 otherwise); `category` must exist (see `GET /api/v1/categories`).
    """
    challenge = await service.create_catalog_challenge(session, data)
    response.headers["Location"] = created_at(request, challenge.id)
    return _with_etag(response, challenge)


# Bad items are answered in `rejected` (with 200), not refused, so the documented item is
# "a challenge, or anything else": the schema must accept what the route accepts. Its `status`
# refers to the `ChallengeStatus` component the other challenge schemas share, not to a local `$defs`.
_IMPORT_ITEM_SCHEMA = ChallengeImportItem.model_json_schema(ref_template="#/components/schemas/{model}")
_IMPORT_ITEM_SCHEMA.pop("$defs", None)
ImportItem = Annotated[
    Any,
    WithJsonSchema(
        {
            "anyOf": [_IMPORT_ITEM_SCHEMA, {}],
            "description": "A challenge, as in the first shape. An item of any other shape is not refused: "
            "it is listed in `rejected` with its reasons.",
        }
    ),
]
IMPORT_EXAMPLE = [
    {
        "slug": "ask-stranger-for-the-time",
        "title": "Ask a stranger for the time",
        "description": "At a bus stop, ask someone who does not look rushed: 'Excuse me, do you know the time?' "
        "If they shake their head, thank them and walk on.",
        "category": "everyday",
        "difficulty": 1,
        "tips": ["They said no to the request, not to you."],
    },
    {
        "slug": "ask-for-a-table-by-the-window",
        "title": "Ask for a table by the window",
        "description": "When a café seats you, ask kindly whether the window table is free. "
        "If not, ask which seat they would pick, thank them and sit where they suggest.",
        "category": "food-and-shops",
        "difficulty": 2,
        "tips": ["Notice your breath before you ask; let the flutter rise and pass."],
        "status": "draft",
    },
]


@router.post(
    "/challenges/import",
    response_model=ImportResult,
    responses=problem_responses(413, 422),
    summary="Import challenges in bulk (upsert by slug)",
)
async def import_challenges(
    items: Annotated[
        list[ImportItem],
        Body(
            description=f"A JSON list of at most {MAX_IMPORT_ITEMS} challenges, each as in the example.",
            examples=[IMPORT_EXAMPLE],
        ),
        Field(max_length=MAX_IMPORT_ITEMS),
    ],
    _admin: AdminUser,
    session: SessionDep,
) -> ImportResult:
    """Each item is matched to the catalog by `slug`: a new slug creates a challenge, a known one is
    updated to the item's fields, an identical one is left alone (no version change), so importing the
    same list twice changes nothing.

    Items are checked one by one: the good ones are stored and every bad one is listed in `rejected`
    with its position and reasons (invalid fields, unknown category, a slug used twice in the list).
    The answer is 200 even when some items were rejected. Categories must exist first
    (`POST /api/v1/admin/categories`). Without `status`, new challenges are published and existing
    ones keep theirs.
    """
    return await importer.import_challenges(session, items)


@router.get(
    CHALLENGE_PATH,
    response_model=AdminChallengePublic,
    responses={200: {"headers": ETAG_HEADER}, **problem_responses(404, 422)},
    summary="One catalog challenge, with its ETag",
)
async def read_challenge(
    challenge_id: ChallengeId, _admin: AdminUser, session: SessionDep, response: Response
) -> AdminChallengePublic:
    """Read it before you edit: the `ETag` header (and `version`) tell which version you saw."""
    return _with_etag(response, await service.get_catalog_challenge(session, challenge_id))


@router.patch(
    CHALLENGE_PATH,
    response_model=AdminChallengePublic,
    responses={200: {"headers": ETAG_HEADER}, **problem_responses(400, 404, 409, 412, 413, 422)},
    summary="Edit, publish or archive a catalog challenge",
)
async def update_challenge(
    challenge_id: ChallengeId,
    data: AdminChallengeUpdate,
    _admin: AdminUser,
    session: SessionDep,
    response: Response,
    if_match: IfMatchHeader = None,
) -> AdminChallengePublic:
    """Fields left out keep their value. `{"status": "published"}` publishes, `{"status": "archived"}` takes
    it out of the catalog while keeping it for the attempts that refer to it.

    Send the `ETag` of your last read as `If-Match`: if another admin saved a change since, the answer is
    412 and nothing is overwritten. A change that alters nothing keeps the version.
    """
    challenge = await service.update_catalog_challenge(session, challenge_id, data, parse_if_match(if_match))
    return _with_etag(response, challenge)


@router.delete(
    CHALLENGE_PATH,
    status_code=status.HTTP_204_NO_CONTENT,
    response_model=None,
    responses={
        204: {"description": "Removed."},
        200: {
            "model": AdminChallengePublic,
            "headers": ETAG_HEADER,
            "description": "Attempts refer to it, so it was archived instead of removed; here it is, archived.",
        },
        **problem_responses(400, 404, 412, 422),
    },
    summary="Delete a catalog challenge (archived instead if it has attempts)",
)
async def delete_challenge(
    challenge_id: ChallengeId, _admin: AdminUser, session: SessionDep, if_match: IfMatchHeader = None
) -> Response:
    """Removes the challenge (204). If anyone has logged an attempt at it, it is archived instead (200, with
    the challenge), so no one's history is lost. `If-Match` works as for PATCH."""
    archived = await service.delete_catalog_challenge(session, challenge_id, parse_if_match(if_match))
    if archived is None:
        return Response(status_code=status.HTTP_204_NO_CONTENT)
    body = AdminChallengePublic.model_validate(archived).model_dump(mode="json")
    return JSONResponse(body, headers={"ETag": service.etag(archived)})


@router.post(
    "/categories",
    status_code=status.HTTP_201_CREATED,
    response_model=CategoryPublic,
    responses={201: {"headers": LOCATION_HEADER}, **problem_responses(409, 413, 422)},
    summary="Create a category",
)
async def create_category(
    data: CategoryCreate, _admin: AdminUser, session: SessionDep, request: Request, response: Response
) -> CategoryPublic:
    """A category is a place in life (work, shops, online…), not a level. Its `slug` cannot change later.
    `Location` names it under `/api/v1/admin/categories/{slug}`, where PATCH changes it."""
    category = await service.create_category(session, data)
    response.headers["Location"] = created_at(request, category.slug)
    return CategoryPublic.model_validate(category)


@router.patch(
    "/categories/{slug}",
    response_model=CategoryPublic,
    responses=problem_responses(404, 413, 422),
    summary="Rename or re-describe a category",
)
async def update_category(
    slug: Annotated[str, Path(max_length=50, pattern=SLUG_PATTERN, description="The category's slug.")],
    data: CategoryUpdate,
    _admin: AdminUser,
    session: SessionDep,
) -> CategoryPublic:
    """Change `name` and `description`; fields left out keep their value."""
    return CategoryPublic.model_validate(await service.update_category(session, slug, data))
