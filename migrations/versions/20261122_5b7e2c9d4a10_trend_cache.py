"""progress: trend_cache, kept fresh by triggers on attempts

Revision ID: 5b7e2c9d4a10
Revises: f703a6cca2c6
Create Date: 2026-11-22 02:00:00.000000+00:00

Every insert, update or delete on `attempts` bumps the owner's `trend_cache.version`
and clears the cached answer, in the same transaction, whatever code path or tool
made the change. On PostgreSQL one statement-level trigger per event does it once per
statement (a COPY of a million rows costs one upsert per user); SQLite has only row
triggers. The EXISTS guard skips users being deleted: their rows cascade away.

A SQLite batch migration that recreates `attempts` drops these triggers: recreate
them after it (tests/test_trend_cache.py fails if they are missing).
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "5b7e2c9d4a10"
down_revision: str | None = "f703a6cca2c6"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_BUMP = "ON CONFLICT (user_id) DO UPDATE SET version = trend_cache.version + 1, key = NULL, etag = NULL, body = NULL"

_PG_FUNCTION = f"""
CREATE FUNCTION trend_cache_invalidate() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO trend_cache (user_id, version)
    SELECT DISTINCT changed.user_id, 1 FROM changed_rows AS changed
    WHERE EXISTS (SELECT 1 FROM users WHERE users.id = changed.user_id)
    {_BUMP};
    RETURN NULL;
END
$$
"""  # noqa: S608 (constants only)

# The rows that name the user: the new ones after an insert or update (an attempt never changes hands).
_EVENTS = {"insert": "NEW", "update": "NEW", "delete": "OLD"}


def upgrade() -> None:
    op.create_table(
        "trend_cache",
        sa.Column("user_id", sa.Uuid(), nullable=False),
        sa.Column("version", sa.BigInteger(), server_default="0", nullable=False),
        sa.Column("key", sa.String(length=64), nullable=True),
        sa.Column("etag", sa.String(length=64), nullable=True),
        sa.Column("body", sa.LargeBinary(), nullable=True),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_trend_cache_user_id_users"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("user_id", name=op.f("pk_trend_cache")),
    )
    if op.get_bind().dialect.name == "postgresql":
        op.execute(_PG_FUNCTION)
        for event, rows in _EVENTS.items():
            op.execute(
                f"CREATE TRIGGER trend_cache_after_{event} AFTER {event.upper()} ON attempts "
                f"REFERENCING {rows} TABLE AS changed_rows "
                "FOR EACH STATEMENT EXECUTE FUNCTION trend_cache_invalidate()"
            )
    else:
        for event, row in _EVENTS.items():
            op.execute(
                # Constants only, no input.
                f"CREATE TRIGGER trend_cache_after_{event} AFTER {event.upper()} ON attempts BEGIN "  # noqa: S608
                f"INSERT INTO trend_cache (user_id, version) SELECT {row}.user_id, 1 "
                f"WHERE EXISTS (SELECT 1 FROM users WHERE users.id = {row}.user_id) {_BUMP}; END"
            )


def downgrade() -> None:
    postgres = op.get_bind().dialect.name == "postgresql"
    for event in _EVENTS:
        op.execute(f"DROP TRIGGER trend_cache_after_{event}" + (" ON attempts" if postgres else ""))
    if postgres:
        op.execute("DROP FUNCTION trend_cache_invalidate()")
    op.drop_table("trend_cache")
