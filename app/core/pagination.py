"""Keyset pagination with opaque cursors.

A cursor holds the sort key of the last item served, so pages neither repeat nor
skip rows when rows are added between requests (unlike OFFSET).
"""

import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import Any, TypeVar

from sqlalchemy import Select, literal, tuple_
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import InstrumentedAttribute

from app.core.schemas import decode_cursor, encode_cursor, invalid_cursor

M = TypeVar("M")


def _to_json(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, uuid.UUID):
        return str(value)
    return value


def _from_json(value: Any, python_type: type) -> Any:
    try:
        if python_type is datetime:
            parsed = datetime.fromisoformat(value)
            if parsed.tzinfo is not None:
                return parsed
        elif python_type is uuid.UUID:
            return uuid.UUID(value)
        if python_type is int and isinstance(value, int) and not isinstance(value, bool):
            return value
        if python_type is str and isinstance(value, str):
            return value
    except (TypeError, ValueError):
        pass
    raise invalid_cursor()


async def paginate(
    session: AsyncSession,
    query: Select[M],
    keys: Sequence[InstrumentedAttribute[Any]],
    *,
    limit: int,
    cursor: str | None,
    descending: bool = False,
) -> tuple[list[M], str | None]:
    """One page of `query` ordered by `keys` (the last must be unique) and the next cursor."""
    if cursor is not None:
        raw = decode_cursor(cursor, len(keys))
        values = [
            literal(_from_json(value, key.type.python_type), type_=key.type)
            for key, value in zip(keys, raw, strict=True)
        ]
        position = tuple_(*keys)
        after = tuple_(*values)
        query = query.where(position < after if descending else position > after)
    order = [key.desc() if descending else key.asc() for key in keys]
    rows = list((await session.scalars(query.order_by(*order).limit(limit + 1))).all())
    if len(rows) <= limit:
        return rows, None
    rows = rows[:limit]
    last = rows[-1]
    return rows, encode_cursor([_to_json(getattr(last, key.key)) for key in keys])
