"""Engine, sessions and the one-session-per-request unit of work."""

import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, date, datetime
from typing import Any
from zoneinfo import ZoneInfo

import numpy as np
import numpy.typing as npt
from sqlalchemy import Date, Dialect, Integer, LargeBinary, String, TypeDecorator, event
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker, create_async_engine
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.functions import FunctionElement

from app.core.config import DATABASE_MAX_OVERFLOW, DATABASE_POOL_SIZE


def _unicode_lower(value: str | None) -> str | None:
    return value.lower() if isinstance(value, str) else value


def local_date_in(instant: datetime, zone: str) -> date:
    """The calendar date of an aware instant on the clocks of an IANA time zone."""
    return instant.astimezone(ZoneInfo(zone)).date()


class local_date(FunctionElement[date]):  # noqa: N801 (an SQL function, named like one)
    """`local_date(instant, zone)`: the calendar date of a UTC instant in an IANA time zone, computed by the
    database, so a statement can take the zone from a row it reads (PostgreSQL's AT TIME ZONE; on SQLite,
    `local_date_in` registered as a function on every connection)."""

    type = Date()
    name = "local_date"
    inherit_cache = True


@compiles(local_date, "postgresql")
def _local_date_postgresql(element: local_date, compiler: SQLCompiler, **kw: Any) -> str:
    instant, zone = (compiler.process(clause, **kw) for clause in element.clauses)
    return f"CAST((CAST({instant} AS TIMESTAMP WITH TIME ZONE) AT TIME ZONE {zone}) AS DATE)"


@compiles(local_date, "sqlite")
def _local_date_sqlite(element: local_date, compiler: SQLCompiler, **kw: Any) -> str:
    return f"rt_local_date({compiler.process(element.clauses, **kw)})"


class day_number(FunctionElement[int]):  # noqa: N801 (an SQL function, named like one)
    """`day_number(date)`: the date as Python's `date.toordinal()` counts (0001-01-01 is 1), so a date column
    reaches Python as a plain integer."""

    type = Integer()
    name = "day_number"
    inherit_cache = True


@compiles(day_number, "postgresql")
def _day_number_postgresql(element: day_number, compiler: SQLCompiler, **kw: Any) -> str:
    return f"({compiler.process(element.clauses, **kw)} - DATE '0001-01-01' + 1)"


@compiles(day_number, "sqlite")
def _day_number_sqlite(element: day_number, compiler: SQLCompiler, **kw: Any) -> str:
    # julianday() of a date is exact in binary floating point (a whole number and a half).
    return f"CAST(julianday({compiler.process(element.clauses, **kw)}) - 1721424.5 AS INTEGER)"


class _PackedList(TypeDecorator[list[Any]]):
    """A list that PostgreSQL sends as an array (asyncpg decodes it) and SQLite as JSON text."""

    impl = String
    cache_ok = True

    def process_result_value(self, value: Any, dialect: Dialect) -> list[Any]:
        if isinstance(value, str):
            result: list[Any] = json.loads(value)
            return result
        # PostgreSQL's array_agg over no rows is NULL.
        return value if value is not None else []


class packed(FunctionElement[list[Any]]):  # noqa: N801 (an SQL function, named like one)
    """`packed(column, *order_by)`: an aggregate of the column's values over the rows, as one Python list.

    A few thousand rows cost far less as one row of lists than as rows through the driver and SQLAlchemy.
    Every `packed` column of one SELECT lists the rows in the same order (one pass over them). That order
    is `order_by` on PostgreSQL; SQLite (before 3.44) takes no ORDER BY inside an aggregate, so there the
    rows must come from a subquery with that ORDER BY and a LIMIT, which SQLite reads in its order.
    """

    type = _PackedList()
    name = "packed"
    inherit_cache = True


class packed_row(FunctionElement[bytes]):  # noqa: N801 (an SQL function, named like one)
    """`packed_row(*columns)`: one row's integer columns (never NULL, each fitting 32 bits) as one value that
    `packed_rows` aggregates: on PostgreSQL a bytea of their big-endian int4s, on SQLite a JSON array.

    A table can keep it as a generated column (`session_stats.packed`), so reading many rows aggregates one
    stored value per row instead of computing and appending one per column.
    """

    type = LargeBinary()
    name = "packed_row"
    inherit_cache = True


class _PackedRows(TypeDecorator[npt.NDArray[np.int64]]):
    """`packed_row` values aggregated over rows: one bytea of big-endian int4s (PostgreSQL) or JSON text (SQLite)."""

    impl = String
    cache_ok = True

    def __init__(self, columns: int) -> None:
        super().__init__()
        self.columns = columns

    def process_result_value(self, value: Any, dialect: Dialect) -> npt.NDArray[np.int64]:
        if isinstance(value, str):
            return np.array(json.loads(value), dtype=np.int64).reshape(-1, self.columns).T.copy()
        # string_agg over no rows is NULL.
        values = np.frombuffer(value, dtype=">i4") if value is not None else np.empty(0, ">i4")
        return values.reshape(-1, self.columns).T.astype(np.int64, order="C")


class packed_rows(FunctionElement[npt.NDArray[np.int64]]):  # noqa: N801 (an SQL function, named like one)
    """`packed_rows(row, columns=n)`: the `packed_row` values of n integers each, aggregated over the rows as one
    NumPy array of shape (n, rows), in the order `packed` lists the same rows: `a, b, c = value`.

    On PostgreSQL the values come as one bytea that NumPy reads as it is: an array would be decoded into a
    Python int per value and then copied into NumPy, which took a third of a long history's load.
    """

    name = "packed_rows"
    inherit_cache = True

    def __init__(self, row: Any, *, columns: int) -> None:
        super().__init__(row)
        self.type = _PackedRows(columns)


# What `joined` puts between values: a control character, which no slug holds.
JOIN_SEPARATOR = "\x1f"


class _Joined(TypeDecorator[list[str]]):
    impl = String
    cache_ok = True

    def process_result_value(self, value: Any, dialect: Dialect) -> list[str]:
        return value.split(JOIN_SEPARATOR) if value is not None else []


class joined(FunctionElement[list[str]]):  # noqa: N801 (an SQL function, named like one)
    """`joined(column)`: a column of strings that never hold JOIN_SEPARATOR (slugs), aggregated over the rows as
    one Python list, in the order `packed` lists the same rows: joined in the database and split in Python, at
    a fraction of the cost of decoding an array of them (a long history's categories)."""

    type = _Joined()
    name = "joined"
    inherit_cache = True


@compiles(packed, "postgresql")
def _packed_postgresql(element: packed, compiler: SQLCompiler, **kw: Any) -> str:
    column, *order_by = (compiler.process(clause, **kw) for clause in element.clauses)
    ordered = f" ORDER BY {', '.join(order_by)}" if order_by else ""
    return f"array_agg({column}{ordered})"


@compiles(packed_row, "postgresql")
def _packed_row_postgresql(element: packed_row, compiler: SQLCompiler, **kw: Any) -> str:
    return " || ".join(f"int4send(CAST({compiler.process(c, **kw)} AS INTEGER))" for c in element.clauses)


@compiles(packed_row, "sqlite")
def _packed_row_sqlite(element: packed_row, compiler: SQLCompiler, **kw: Any) -> str:
    return f"json_array({compiler.process(element.clauses, **kw)})"


@compiles(packed_rows, "postgresql")
def _packed_rows_postgresql(element: packed_rows, compiler: SQLCompiler, **kw: Any) -> str:
    return f"string_agg({compiler.process(element.clauses, **kw)}, ''::bytea)"


@compiles(packed_rows, "sqlite")
def _packed_rows_sqlite(element: packed_rows, compiler: SQLCompiler, **kw: Any) -> str:
    return f"json_group_array(json({compiler.process(element.clauses, **kw)}))"


@compiles(joined, "postgresql")
def _joined_postgresql(element: joined, compiler: SQLCompiler, **kw: Any) -> str:
    return f"string_agg({compiler.process(element.clauses, **kw)}, chr({ord(JOIN_SEPARATOR)}))"


@compiles(joined, "sqlite")
def _joined_sqlite(element: joined, compiler: SQLCompiler, **kw: Any) -> str:
    return f"group_concat({compiler.process(element.clauses, **kw)}, char({ord(JOIN_SEPARATOR)}))"


@compiles(packed, "sqlite")
def _packed_sqlite(element: FunctionElement[Any], compiler: SQLCompiler, **kw: Any) -> str:
    column = next(iter(element.clauses))
    return f"json_group_array({compiler.process(column, **kw)})"


def _sqlite_local_date(instant: str | None, zone: str | None) -> str | None:
    # SQLite holds UTC instants as naive ISO text (see UTCDateTime) and dates as ISO text.
    if instant is None or zone is None:
        return None
    return local_date_in(datetime.fromisoformat(instant).replace(tzinfo=UTC), zone).isoformat()


def _configure_sqlite(engine: AsyncEngine) -> None:
    @event.listens_for(engine.sync_engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Take transaction control from the sqlite3 module so SAVEPOINTs and our
        # own BEGIN work as SQLAlchemy expects.
        dbapi_connection.isolation_level = None
        # SQLite's own lower() folds ASCII only; case-insensitive search must match
        # PostgreSQL's for every alphabet.
        dbapi_connection.create_function("lower", 1, _unicode_lower, deterministic=True)
        dbapi_connection.create_function("rt_local_date", 2, _sqlite_local_date, deterministic=True)
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.close()

    @event.listens_for(engine.sync_engine, "begin")
    def _on_begin(connection: Any) -> None:
        # IMMEDIATE takes the write lock up front: a deferred transaction that reads
        # and then writes fails at once with SQLITE_BUSY when another writer got in
        # between, instead of waiting out the busy timeout.
        connection.exec_driver_sql("BEGIN IMMEDIATE")


def create_engine(
    database_url: str,
    timeout: float = 5.0,
    pool_size: int = DATABASE_POOL_SIZE,
    max_overflow: int = DATABASE_MAX_OVERFLOW,
    **kwargs: Any,
) -> AsyncEngine:
    """An engine for `database_url`; `timeout` bounds connecting and waiting for locks, in seconds.

    `pool_size` and `max_overflow` size the connection pool on PostgreSQL (SQLite has no pool to size).
    """
    url = make_url(database_url)
    # Statement parameters are users' notes and scores: keep them out of logs and error messages.
    kwargs.setdefault("hide_parameters", True)
    if url.get_backend_name() == "sqlite":
        # sqlite3's `timeout` is SQLite's busy timeout: how long to wait for a lock.
        engine = create_async_engine(url, connect_args={"timeout": timeout}, **kwargs)
        _configure_sqlite(engine)
        return engine
    kwargs.setdefault("pool_pre_ping", True)
    if "poolclass" not in kwargs:
        # A caller's own pool class (NullPool for an app driven from another event loop) takes none of these.
        kwargs.setdefault("pool_size", pool_size)
        kwargs.setdefault("max_overflow", max_overflow)
        kwargs.setdefault("pool_timeout", timeout)
    connect_args = {
        "timeout": timeout,
        "command_timeout": timeout * 6,
        "server_settings": {"timezone": "UTC", "application_name": "rejection-tracker"},
    }
    return create_async_engine(url, connect_args=connect_args, **kwargs)


def conflict_insert(dialect: str, table: Any) -> Any:
    """An INSERT for `table` that takes `.on_conflict_do_nothing()` or `.on_conflict_do_update()`, for a dialect
    name (PostgreSQL or SQLite)."""
    return postgresql.insert(table) if dialect == "postgresql" else sqlite.insert(table)


def create_sessionmaker(bind: Any, **kwargs: Any) -> async_sessionmaker[AsyncSession]:
    # Objects stay readable after commit: handlers build their response after the
    # unit of work has been committed.
    return async_sessionmaker(bind=bind, expire_on_commit=False, autoflush=False, **kwargs)


@asynccontextmanager
async def unit_of_work(sessionmaker: async_sessionmaker[AsyncSession]) -> AsyncIterator[AsyncSession]:
    """One session per request: commit when the handler returns; when it raises, closing rolls back."""
    async with sessionmaker() as session:
        yield session
        await session.commit()
