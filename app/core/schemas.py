"""Shared schema pieces: strict input models, safe text types, cursor pages."""

import base64
import binascii
import json
import re
from dataclasses import dataclass
from datetime import datetime
from typing import Annotated, Any, ClassVar, Generic, TypeVar

from pydantic import (
    AwareDatetime,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    GetCoreSchemaHandler,
    GetJsonSchemaHandler,
    ValidationInfo,
    field_validator,
)
from pydantic.json_schema import JsonSchemaValue
from pydantic_core import CoreSchema, PydanticCustomError, core_schema

from app.core.errors import InvalidInput

# What strip_whitespace removes (Unicode White_Space), as a JSON Schema (ECMA-262) character class.
_SPACE_CLASS = r"\t\n\u000b\u000c\r \u0085\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000"


@dataclass(frozen=True)
class _TextRule:
    """Refuses control characters, and documents that (and non-blankness) as a `pattern` in the schema."""

    forbidden: str  # a character class body, the same in Python's `re` and in ECMA-262
    message: str

    def _check(self, value: str) -> str:
        if re.search(f"[{self.forbidden}]", value):
            raise ValueError(self.message)
        return value

    def __get_pydantic_core_schema__(self, source: Any, handler: GetCoreSchemaHandler) -> CoreSchema:
        return core_schema.no_info_after_validator_function(self._check, handler(source))

    def __get_pydantic_json_schema__(self, schema: CoreSchema, handler: GetJsonSchemaHandler) -> JsonSchemaValue:
        json_schema = handler(schema)
        allowed = f"[^{self.forbidden}]*"
        if json_schema.get("minLength", 0) >= 1:
            # The minimum counts after stripping whitespace: one character must be something else.
            json_schema["pattern"] = f"^{allowed}[^{self.forbidden}{_SPACE_CLASS}]{allowed}$"
        else:
            json_schema["pattern"] = f"^{allowed}$"
        return json_schema


# Markers for `Annotated[str, StringConstraints(...), SingleLine]` and the like. Single-line text: no
# control characters at all. Multi-line text: tabs and line breaks only. NUL in particular must never
# reach PostgreSQL, which rejects it.
SingleLine = _TextRule(r"\u0000-\u001f\u007f", "must not contain control characters or line breaks")
MultiLine = _TextRule(
    r"\u0000-\u0008\u000b\u000c\u000e-\u001f\u007f",
    "must not contain control characters other than tabs and line breaks",
)


def _integral_number(value: Any) -> Any:
    # JSON has one number type: 6.0 is the integer 6 (as JSON Schema's `integer` says), while 6.5,
    # true and "6" stay refused by the strict integer behind this.
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


_RFC3339_START = re.compile(r"^\d{4}-\d{2}-\d{2}[Tt ]")


def _rfc3339_text(value: Any) -> Any:
    # Pydantic would read a number, or a string of digits, as Unix time; the contract speaks of RFC 3339 only.
    if not isinstance(value, str) or not _RFC3339_START.match(value):
        raise PydanticCustomError(
            "datetime_type", "Input should be an RFC 3339 timestamp with an offset, e.g. 2026-05-01T18:30:00+02:00"
        )
    return value


# A point in time in a body or a query: RFC 3339 text with an offset.
Timestamp = Annotated[AwareDatetime, BeforeValidator(_rfc3339_text)]

# For `Annotated[int, Field(strict=True, ...), IntegralNumber]` (after the Field, or the schema shows `ge`/`le`).
IntegralNumber = BeforeValidator(_integral_number)


class InputModel(BaseModel):
    """Request bodies: unknown fields are an error, so nobody can set `user_id` or `is_admin`."""

    model_config = ConfigDict(extra="forbid")


class PatchModel(InputModel):
    """A partial update, with the one rule for `null` every PATCH follows: a field left out keeps its value;
    `null` clears a field that may be empty (those named in `clearable`) and is refused (422) for any other,
    never silently ignored.

    Every field is declared `X | None = None`, which is only how "left out" is represented: the documented
    schema shows what clients may send, with `null` allowed on the clearable fields alone.
    """

    clearable: ClassVar[frozenset[str]] = frozenset()

    @field_validator("*", mode="before")
    @classmethod
    def _null_only_clears(cls, value: Any, info: ValidationInfo) -> Any:
        if value is None and info.field_name not in cls.clearable:
            raise ValueError("may be left out, but not set to null")
        return value

    @classmethod
    def __get_pydantic_json_schema__(cls, schema: CoreSchema, handler: GetJsonSchemaHandler) -> JsonSchemaValue:
        json_schema = handler.resolve_ref_schema(handler(schema))
        for name, prop in json_schema.get("properties", {}).items():
            if prop.get("default", ...) is None:
                del prop["default"]
            if name in cls.clearable:
                continue
            variants = [v for v in prop.pop("anyOf", []) if v != {"type": "null"}]
            if len(variants) == 1:
                prop.update({key: value for key, value in variants[0].items() if key != "title"})
            elif variants:
                prop["anyOf"] = variants
        return json_schema


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


def check_window(since: datetime | None, until: datetime | None) -> None:
    """422 for a `since`/`until` window that ends before it starts."""
    if since is not None and until is not None and since > until:
        raise InvalidInput("`since` must not lie after `until`.", loc=("query", "since"))
