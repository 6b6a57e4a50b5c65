"""progress: practice sessions: attempts.local_date and session_stats kept by triggers; trend_cache dropped

Revision ID: 9c4e1f2a7b30
Revises: 153cdf95a8e9
Create Date: 2026-12-01 23:40:00.000000+00:00

The trend is now computed from per-session totals (a session is one local day), cheap
enough to compute on every read, so the cached answers and their triggers go.

`attempts.local_date` is the day an attempt counts in, fixed in the account's time zone
when it is logged; existing rows get the day in the zone their owner has now.
`session_stats` holds, per user, day, difficulty and category, the totals the trend
needs. Triggers on `attempts` keep them in the same transaction as every write: on
PostgreSQL a row trigger for inserts (one upsert: logging an attempt is the hot path)
and statement triggers with transition tables for updates and deletes (deleting an
account removes all its attempts in one statement); SQLite has row triggers only.
The deletes find nothing to update when the whole account goes: its totals cascade away.
"""

# Every statement here is built from the constants below, never from input.
# ruff: noqa: S608

from collections.abc import Sequence
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from alembic import op

from app.progress.session_stats_sql import KEY, SessionStatsSql, drop_triggers

revision: str = "9c4e1f2a7b30"
down_revision: str | None = "153cdf95a8e9"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_EXPOSURE = "{r}.outcome <> 'avoided'"
# What one attempt adds to its totals, over the attempt's row `{r}` (app/progress/service.py has the same as
# SQLAlchemy expressions, for windows; tests/progress/test_session_stats.py checks that the two agree).
_SUMS = {
    "attempts": "1",
    "avoided": "CASE WHEN {r}.outcome = 'avoided' THEN 1 ELSE 0 END",
    "rejected": "CASE WHEN {r}.outcome = 'rejected' THEN 1 ELSE 0 END",
    "accepted": "CASE WHEN {r}.outcome = 'accepted' THEN 1 ELSE 0 END",
    "partial": "CASE WHEN {r}.outcome = 'partial' THEN 1 ELSE 0 END",
    "peak_sum": f"CASE WHEN {_EXPOSURE} THEN {{r}}.distress_peak ELSE 0 END",
    "before_sum": f"CASE WHEN {_EXPOSURE} THEN {{r}}.distress_before ELSE 0 END",
    "after_n": f"CASE WHEN {_EXPOSURE} AND {{r}}.distress_after IS NOT NULL THEN 1 ELSE 0 END",
    "after_sum": f"CASE WHEN {_EXPOSURE} AND {{r}}.distress_after IS NOT NULL THEN {{r}}.distress_after ELSE 0 END",
    "after_peak_sum": f"CASE WHEN {_EXPOSURE} AND {{r}}.distress_after IS NOT NULL THEN {{r}}.distress_peak ELSE 0 END",
    "predicted_n": f"CASE WHEN {_EXPOSURE} AND {{r}}.expected_rejection IS NOT NULL THEN 1 ELSE 0 END",
    "predicted_sum": (
        f"CASE WHEN {_EXPOSURE} AND {{r}}.expected_rejection IS NOT NULL THEN {{r}}.expected_rejection ELSE 0 END"
    ),
    "predicted_rejected": "CASE WHEN {r}.outcome = 'rejected' AND {r}.expected_rejection IS NOT NULL THEN 1 ELSE 0 END",
}
_SQL = SessionStatsSql(_SUMS)


def _drop_trend_cache(postgres: bool) -> None:
    for event in ("insert", "update", "delete"):
        op.execute(f"DROP TRIGGER trend_cache_after_{event}" + (" ON attempts" if postgres else ""))
    if postgres:
        op.execute("DROP FUNCTION trend_cache_invalidate_row()")
        op.execute("DROP FUNCTION trend_cache_invalidate()")
    op.drop_table("trend_cache")


def _backfill_local_dates(postgres: bool) -> None:
    if postgres:
        op.execute(
            "UPDATE attempts SET local_date = CAST((attempts.occurred_at AT TIME ZONE users.timezone) AS DATE) "
            "FROM users WHERE users.id = attempts.user_id"
        )
        return
    connection = op.get_bind()
    rows = connection.execute(
        sa.text(
            "SELECT attempts.id, attempts.occurred_at, users.timezone FROM attempts JOIN users ON users.id = attempts.user_id"
        )
    ).all()
    days = [
        {"id": id_, "day": datetime.fromisoformat(at).replace(tzinfo=UTC).astimezone(ZoneInfo(zone)).date().isoformat()}
        for id_, at, zone in rows
    ]
    if days:
        connection.execute(sa.text("UPDATE attempts SET local_date = :day WHERE id = :id"), days)


def upgrade() -> None:
    postgres = op.get_bind().dialect.name == "postgresql"
    _drop_trend_cache(postgres)
    op.add_column("attempts", sa.Column("local_date", sa.Date(), nullable=True))
    _backfill_local_dates(postgres)
    with op.batch_alter_table("attempts", schema=None) as batch_op:
        batch_op.alter_column("local_date", existing_type=sa.Date(), nullable=False)

    op.create_table(
        "session_stats",
        sa.Column("user_id", sa.Uuid(), nullable=False),
        sa.Column("local_date", sa.Date(), nullable=False),
        sa.Column("difficulty", sa.SmallInteger(), nullable=False),
        sa.Column("category", sa.String(length=50), nullable=False),
        *(sa.Column(name, sa.Integer(), nullable=False) for name in _SUMS),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_session_stats_user_id_users"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint(*KEY, name=op.f("pk_session_stats")),
    )
    op.execute(_SQL.backfill())
    for statement in _SQL.create_triggers(postgres=postgres):
        op.execute(statement)


def downgrade() -> None:
    postgres = op.get_bind().dialect.name == "postgresql"
    for statement in drop_triggers(postgres=postgres):
        op.execute(statement)
    op.drop_table("session_stats")
    with op.batch_alter_table("attempts", schema=None) as batch_op:
        batch_op.drop_column("local_date")
    # The cache comes back empty, with the triggers of revisions 5b7e2c9d4a10 and 153cdf95a8e9 that clear it.
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
    if postgres:
        op.execute(_PG_TREND_CACHE_FUNCTIONS[0])
        op.execute(_PG_TREND_CACHE_FUNCTIONS[1])
        op.execute(
            "CREATE TRIGGER trend_cache_after_insert AFTER INSERT ON attempts "
            "FOR EACH ROW EXECUTE FUNCTION trend_cache_invalidate_row()"
        )
        for event, rows in (("update", "NEW"), ("delete", "OLD")):
            op.execute(
                f"CREATE TRIGGER trend_cache_after_{event} AFTER {event.upper()} ON attempts "
                f"REFERENCING {rows} TABLE AS changed_rows FOR EACH STATEMENT EXECUTE FUNCTION trend_cache_invalidate()"
            )
        return
    for event, row in (("insert", "NEW"), ("update", "NEW"), ("delete", "OLD")):
        op.execute(
            f"CREATE TRIGGER trend_cache_after_{event} AFTER {event.upper()} ON attempts BEGIN "
            f"INSERT INTO trend_cache (user_id, version) SELECT {row}.user_id, 1 "
            f"WHERE EXISTS (SELECT 1 FROM users WHERE users.id = {row}.user_id) {_TREND_CACHE_BUMP}; END"
        )


_TREND_CACHE_BUMP = (
    "ON CONFLICT (user_id) DO UPDATE SET version = trend_cache.version + 1, key = NULL, etag = NULL, body = NULL"
)
_PG_TREND_CACHE_FUNCTIONS = (
    f"""
CREATE FUNCTION trend_cache_invalidate() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO trend_cache (user_id, version)
    SELECT DISTINCT changed.user_id, 1 FROM changed_rows AS changed
    WHERE EXISTS (SELECT 1 FROM users WHERE users.id = changed.user_id)
    {_TREND_CACHE_BUMP};
    RETURN NULL;
END
$$
""",
    f"""
CREATE FUNCTION trend_cache_invalidate_row() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO trend_cache (user_id, version) VALUES (NEW.user_id, 1) {_TREND_CACHE_BUMP};
    RETURN NULL;
END
$$
""",
)
