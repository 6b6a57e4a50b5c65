from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query, Request, Response, status
from fastapi.responses import RedirectResponse
from typing_extensions import TypeAliasType

from app.accounts.dependencies import CurrentUser
from app.core.deps import SessionDep
from app.core.errors import problem_responses
from app.core.middleware import BODY_LIMIT_KEY
from app.core.models import utcnow
from app.exports import importer, service
from app.exports.schemas import MAX_IMPORT_ATTEMPTS, MAX_IMPORT_BYTES, AccountExport, AccountImportResult

router = APIRouter(prefix="/me", tags=["me"], responses=problem_responses(401))

ExportFormat = TypeAliasType("ExportFormat", Literal["json", "csv"])


def _disposition(extension: str) -> dict[str, Any]:
    return {
        "Content-Disposition": {
            "description": "`attachment`, with a file name carrying today's date, for a browser to save.",
            "schema": {"type": "string", "example": f'attachment; filename="rejection-tracker-2026-05-01.{extension}"'},
        }
    }


_CSV_LOCATION = {
    "Location": {
        "description": "Where the CSV is: `/api/v1/me/export/attempts.csv`.",
        "schema": {"type": "string", "format": "uri-reference"},
    }
}


def _attachment(extension: str) -> dict[str, str]:
    return {"Content-Disposition": f'attachment; filename="rejection-tracker-{utcnow():%Y-%m-%d}.{extension}"'}


@router.get(
    "/export",
    response_model=AccountExport,
    responses={
        200: {"description": "The export, as a file to save.", "headers": _disposition("json")},
        307: {
            "description": "With `format=csv`: the attempts as CSV are at `GET /api/v1/me/export/attempts.csv`.",
            "headers": _CSV_LOCATION,
        },
        **problem_responses(422),
    },
    summary="Download your data",
)
async def export_data(
    user: CurrentUser,
    session: SessionDep,
    request: Request,
    export_format: Annotated[
        ExportFormat,
        Query(
            alias="format",
            deprecated=True,
            description="`json`, the default. `csv` redirects to `GET /api/v1/me/export/attempts.csv`: call that.",
        ),
    ] = "json",
) -> Response:
    """Everything stored about you, as a JSON file: your account, every attempt, your own challenges and the
    names of your API tokens (never a secret). Your attempts as a spreadsheet are at
    `GET /api/v1/me/export/attempts.csv`."""
    if export_format == "csv":
        # One media type per operation, so generated clients can type this answer; old links keep working.
        target = request.url.replace(path=f"{request.url.path}/attempts.csv", query="")
        return RedirectResponse(str(target), status_code=status.HTTP_307_TEMPORARY_REDIRECT)
    export = await service.export_account(session, user)
    return Response(export.model_dump_json(), media_type="application/json", headers=_attachment("json"))


_CSV_RESPONSES: dict[int | str, dict[str, Any]] = {
    200: {
        "description": "Your attempts, one a row, as a file to save.",
        "headers": _disposition("csv"),
        "content": {"text/csv": {"schema": {"type": "string"}, "example": ",".join(service.CSV_COLUMNS) + "\r\n"}},
    },
}


@router.get(
    "/export/attempts.csv", response_class=Response, responses=_CSV_RESPONSES, summary="Download your attempts as CSV"
)
async def export_attempts_csv(user: CurrentUser, session: SessionDep) -> Response:
    """Every attempt you logged, oldest first, one a row with a header row (UTF-8, RFC 4180), for a
    spreadsheet. Cells that a spreadsheet would run as a formula start with `'`."""
    body = await service.export_attempts_csv(session, user)
    return Response(body, media_type="text/csv; charset=utf-8", headers=_attachment("csv"))


_IMPORT_RULES = f"""Every row is checked as `POST /api/v1/attempts` checks an attempt (ranges, notes, a time no
later than now); its challenge must be one you can read: one you can log, or one archived since. Rows are upserted
by `id`: your attempt with that id is updated to match, a new id is stored as given, and someone else's
id is refused.

**All or nothing:** if any row is bad, the answer is 422 with every bad row in `errors` and nothing is
stored. Importing the same file again changes nothing and counts every row `unchanged`. At most
{MAX_IMPORT_ATTEMPTS:,} attempts and {MAX_IMPORT_BYTES // 1024 // 1024} MiB a file: split a larger history
into several files.
"""


@router.post(
    "/import",
    response_model=AccountImportResult,
    responses=problem_responses(413, 415, 422),
    openapi_extra={"requestBody": importer.JSON_REQUEST_BODY, BODY_LIMIT_KEY: MAX_IMPORT_BYTES},
    summary="Import your data (JSON)",
    description=f"""Bring your history in: the JSON file `GET /api/v1/me/export` gives (`application/json`),
from this server or another. Your own challenges (`custom_challenges`, kept under their ids when free) and
your account's `display_name` and `timezone` come too; API tokens do not (make new ones).

{_IMPORT_RULES}
A bad row's `loc` names it: `["body", "attempts", 3, "distress_peak"]`.
""",
)
async def import_data(user: CurrentUser, session: SessionDep, request: Request) -> AccountImportResult:
    parsed = importer.read(request.headers.get("content-type"), await request.body(), csv=False)
    return await importer.import_history(session, user, parsed)


@router.post(
    "/import/attempts.csv",
    response_model=AccountImportResult,
    responses=problem_responses(413, 415, 422),
    openapi_extra={"requestBody": importer.CSV_REQUEST_BODY, BODY_LIMIT_KEY: MAX_IMPORT_BYTES},
    summary="Import attempts (CSV)",
    description=f"""Bring attempts in from the CSV of `GET /api/v1/me/export/attempts.csv` (`text/csv`, UTF-8),
from this server or another, or from a spreadsheet diary with those columns (any order; `id`,
`difficulty`, `category` and the timestamps may be left out; a row without an `id` gets one made from its
fields, so importing the diary again stores nothing twice).

{_IMPORT_RULES}
A bad row's `loc` names its line (the header is line 1): `["body", "line", 7, "distress_peak"]`.
""",
)
async def import_attempts_csv(user: CurrentUser, session: SessionDep, request: Request) -> AccountImportResult:
    parsed = importer.read(request.headers.get("content-type"), await request.body(), csv=True)
    return await importer.import_history(session, user, parsed)
