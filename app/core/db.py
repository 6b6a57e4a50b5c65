"""Engine, sessions and the one-session-per-request unit of work."""

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from sqlalchemy import event
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker, create_async_engine

from app.core.config import DATABASE_MAX_OVERFLOW, DATABASE_POOL_SIZE


def _unicode_lower(value: str | None) -> str | None:
    return value.lower() if isinstance(value, str) else value


def _configure_sqlite(engine: AsyncEngine) -> None:
    @event.listens_for(engine.sync_engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Take transaction control from the sqlite3 module so SAVEPOINTs and our
        # own BEGIN work as SQLAlchemy expects.
        dbapi_connection.isolation_level = None
        # SQLite's own lower() folds ASCII only; case-insensitive search must match
        # PostgreSQL's for every alphabet.
        dbapi_connection.create_function("lower", 1, _unicode_lower, deterministic=True)
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


def insert_or_ignore(dialect: str, table: Any) -> Any:
    """An INSERT for `table` with `.on_conflict_do_nothing()`, for a dialect name (PostgreSQL or SQLite)."""
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
