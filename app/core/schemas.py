"""Shared schema pieces: strict input models, safe text types, cursor pages."""

import base64
import binascii
import json
import re
from typing import Annotated, Any, Generic, TypeVar

from pydantic import AfterValidator, BaseModel, ConfigDict, Field

from app.core.errors import InvalidInput

# Single-line text: no control characters at all. Multi-line text: tabs and line
# breaks only. NUL in particular must never reach PostgreSQL, which rejects it.
_LINE_FORBIDDEN = re.compile(r"[\x00-\x1f\x7f]")
_TEXT_FORBIDDEN = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


def _single_line(value: str) -> str:
    if _LINE_FORBIDDEN.search(value):
        raise ValueError("must not contain control characters or line breaks")
    return value


def _multi_line(value: str) -> str:
    if _TEXT_FORBIDDEN.search(value):
        raise ValueError("must not contain control characters other than tabs and line breaks")
    return value


# Markers for `Annotated[str, StringConstraints(...), SingleLine]` and the like.
SingleLine = AfterValidator(_single_line)
MultiLine = AfterValidator(_multi_line)


class InputModel(BaseModel):
    """Request bodies: unknown fields are an error, so nobody can set `user_id` or `is_admin`."""

    model_config = ConfigDict(extra="forbid")


class OutputModel(BaseModel):
    model_config = ConfigDict(from_attributes=True)


T = TypeVar("T")

Limit = Annotated[int, Field(ge=1, le=200, description="How many items a page holds (1–200).")]


class Page(BaseModel, Generic[T]):
    items: list[T]
    next_cursor: str | None = Field(description="Pass as `cursor` to get the next page; null on the last page.")


def encode_cursor(values: list[Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(values, separators=(",", ":")).encode()).decode().rstrip("=")


def invalid_cursor() -> InvalidInput:
    return InvalidInput("The cursor is not valid; pass the `next_cursor` of a previous page.", loc=("query", "cursor"))


def decode_cursor(cursor: str, length: int) -> list[Any]:
    """The key values in a cursor we issued; 422 for anything else."""
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        values = json.loads(base64.urlsafe_b64decode(padded.encode("ascii")))
    except (ValueError, binascii.Error, UnicodeError):
        values = None
    if not isinstance(values, list) or len(values) != length:
        raise invalid_cursor()
    return values
