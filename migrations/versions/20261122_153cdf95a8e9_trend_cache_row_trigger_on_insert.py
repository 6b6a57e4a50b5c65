"""progress: a row-level insert trigger for trend_cache on PostgreSQL

Revision ID: 153cdf95a8e9
Revises: 5b7e2c9d4a10
Create Date: 2026-11-22 03:40:00.000000+00:00

Logging an attempt inserts one row, and the statement-level trigger's transition table
and DISTINCT made that insert about a quarter slower on the database (pgbench, see
bench/RESULTS.md); a row trigger with one upsert costs a few percent. A bulk COPY now
bumps the version once per row instead of once per user, which only tools that load
attempts in bulk notice (bench/seed.py turns triggers off for its COPY and bumps once).
Updates and deletes keep their statement-level triggers: deleting an account removes
all its attempts in one statement. SQLite has row triggers only and is unchanged.
"""

from collections.abc import Sequence

from alembic import op

revision: str = "153cdf95a8e9"
down_revision: str | None = "5b7e2c9d4a10"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# The new row names its owner, who exists: the foreign key on attempts.user_id says so.
_ROW_FUNCTION = """
CREATE FUNCTION trend_cache_invalidate_row() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO trend_cache (user_id, version) VALUES (NEW.user_id, 1)
    ON CONFLICT (user_id) DO UPDATE
    SET version = trend_cache.version + 1, key = NULL, etag = NULL, body = NULL;
    RETURN NULL;
END
$$
"""


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute(_ROW_FUNCTION)
    op.execute("DROP TRIGGER trend_cache_after_insert ON attempts")
    op.execute(
        "CREATE TRIGGER trend_cache_after_insert AFTER INSERT ON attempts "
        "FOR EACH ROW EXECUTE FUNCTION trend_cache_invalidate_row()"
    )


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute("DROP TRIGGER trend_cache_after_insert ON attempts")
    op.execute("DROP FUNCTION trend_cache_invalidate_row()")
    op.execute(
        "CREATE TRIGGER trend_cache_after_insert AFTER INSERT ON attempts "
        "REFERENCING NEW TABLE AS changed_rows "
        "FOR EACH STATEMENT EXECUTE FUNCTION trend_cache_invalidate()"
    )
