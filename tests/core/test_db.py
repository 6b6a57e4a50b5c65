"""The database layer behaves the same on SQLite and PostgreSQL."""

import uuid
from datetime import UTC, datetime, timedelta, timezone

import numpy as np
import pytest
from sqlalchemy import Integer, literal, select, text, union_all
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from app.accounts.models import ApiToken
from app.core.db import joined, packed, packed_row, packed_rows
from tests.conftest import Account, is_postgres


async def test_foreign_keys_are_enforced(session: AsyncSession) -> None:
    session.add(ApiToken(user_id=uuid.uuid4(), name="orphan", digest="0" * 64, prefix="rt_x"))
    with pytest.raises(IntegrityError):
        await session.flush()


async def test_datetimes_come_back_as_utc_whatever_offset_went_in(session: AsyncSession, alice: Account) -> None:
    plus_five = datetime(2026, 3, 1, 12, 0, tzinfo=timezone(timedelta(hours=5)))
    token = ApiToken(user_id=alice.user.id, name="t", digest="1" * 64, prefix="rt_y", expires_at=plus_five)
    session.add(token)
    await session.commit()
    session.expunge_all()
    stored = await session.get(ApiToken, token.id)
    assert stored is not None
    assert stored.expires_at == plus_five
    assert stored.expires_at is not None
    assert stored.expires_at.tzinfo is UTC
    assert stored.expires_at.hour == 7


async def test_naive_datetimes_are_refused_before_reaching_the_database(session: AsyncSession, alice: Account) -> None:
    session.add(
        ApiToken(user_id=alice.user.id, name="t", digest="2" * 64, prefix="rt_z", expires_at=datetime(2026, 1, 1))
    )
    with pytest.raises(Exception, match="naive datetime"):
        await session.flush()


async def test_sqlite_connections_use_wal_and_a_busy_timeout(engine: AsyncEngine, database_url: str) -> None:
    if is_postgres(database_url):
        pytest.skip("SQLite pragmas")
    async with engine.connect() as conn:
        assert (await conn.execute(text("PRAGMA journal_mode"))).scalar() == "wal"
        assert (await conn.execute(text("PRAGMA busy_timeout"))).scalar() == 5000
        assert (await conn.execute(text("PRAGMA foreign_keys"))).scalar() == 1


async def test_lower_folds_every_alphabet_on_both_databases(session: AsyncSession) -> None:
    # Case-insensitive search relies on lower(); SQLite's own folds ASCII only.
    assert await session.scalar(text("SELECT lower('ÄÖÜ ÉCOLE Ωmega')")) == "äöü école ωmega"


async def test_packed_rows_come_back_as_the_values_packed_lists(session: AsyncSession) -> None:
    rows = [(3, -7, "a"), (2**31 - 1, -(2**31), "b-c"), (-(2**31), 2**31 - 1, "d"), (0, -1, "a"), (-1, 0, "e")]
    columns = ((literal(a, Integer), literal(b, Integer), literal(c)) for a, b, c in rows)
    values = union_all(*(select(a.label("a"), b.label("b"), c.label("c")) for a, b, c in columns)).subquery()
    pair, single, words, as_list = (
        await session.execute(
            select(
                packed_rows(packed_row(values.c.a, values.c.b), columns=2),
                packed_rows(packed_row(values.c.b), columns=1),
                joined(values.c.c),
                packed(values.c.a),
            )
        )
    ).one()
    assert pair.dtype == single.dtype == np.int64
    assert pair.shape == (2, len(rows))
    # Every aggregate lists the rows in the same order, whichever order the database reads them in.
    assert pair[0].tolist() == as_list
    assert sorted(zip(*pair.tolist(), words, strict=True)) == sorted(rows)
    assert single[0].tolist() == pair[1].tolist()
    nothing = select(packed_rows(packed_row(values.c.a, values.c.b), columns=2), joined(values.c.c)).where(
        values.c.a > 2**31 - 1
    )
    none, no_words = (await session.execute(nothing)).one()
    assert none.dtype == np.int64
    assert none.shape == (2, 0)
    assert no_words == []
