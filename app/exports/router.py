from typing import Annotated, Literal

from fastapi import APIRouter, Query, Response

from app.accounts.dependencies import CurrentUser
from app.core.deps import SessionDep
from app.core.errors import problem_responses
from app.core.models import utcnow
from app.exports import service
from app.exports.schemas import AccountExport

router = APIRouter(prefix="/me", tags=["me"], responses=problem_responses(401))


@router.get(
    "/export",
    response_class=Response,
    responses={
        200: {
            "model": AccountExport,
            "description": "The export, as a file to save.",
            "content": {
                "text/csv": {"schema": {"type": "string"}, "example": ",".join(service.CSV_COLUMNS) + "\r\n"},
            },
        },
        **problem_responses(422),
    },
    summary="Download your data",
)
async def export_data(
    user: CurrentUser,
    session: SessionDep,
    export_format: Annotated[
        Literal["json", "csv"],
        Query(alias="format", description="`json`: everything stored about you. `csv`: your attempts, one a row."),
    ] = "json",
) -> Response:
    """Everything stored about you, as a file: your account, every attempt, your own challenges and the
    names of your API tokens (never a secret). `?format=csv` gives the attempts as a spreadsheet; cells
    that a spreadsheet would run as a formula start with `'`."""
    filename = f"rejection-tracker-{utcnow():%Y-%m-%d}.{export_format}"
    headers = {"Content-Disposition": f'attachment; filename="{filename}"'}
    if export_format == "csv":
        body = await service.export_attempts_csv(session, user)
        return Response(body, media_type="text/csv; charset=utf-8", headers=headers)
    export = await service.export_account(session, user)
    return Response(export.model_dump_json(), media_type="application/json", headers=headers)
