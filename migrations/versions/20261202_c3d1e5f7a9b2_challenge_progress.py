"""progress: challenge_progress, each challenge's re-tests and mastery kept by triggers

Revision ID: c3d1e5f7a9b2
Revises: 83922efc0822
Create Date: 2026-12-02 06:15:00.000000+00:00

Finding re-tests takes each exposure with the two before it at the same challenge: over a long history that
scan cost ten times the rest of the trend. `challenge_progress` keeps, per user and challenge, what the
trend's `return_of_fear` and `GET /me/next-challenges` read: how many re-tests there were and the sum of their
changes, and whether the challenge is mastered now, since when, with how many re-tests since. Triggers on
`attempts` rebuild the row of every challenge a write touches, from that challenge's exposures, in the same
transaction (app/progress/retest.py holds the rule; tests/progress/test_challenge_progress.py checks that the
two agree). A bulk write (the import) names its user in `challenge_progress_deferred` first, so its rows are
rebuilt once at the end rather than once per attempt; account deletion skips the rebuild, its rows cascade.
"""

# Every statement here is built from the constants below, never from input.
# ruff: noqa: S608

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import app.core.models

revision: str = "c3d1e5f7a9b2"
down_revision: str | None = "83922efc0822"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_MASTERED_PEAK = 40
_RETEST_GAP_DAYS = 7
_COLUMNS = (
    "user_id, challenge_id, last_exposure_date, calm_exposures, calm_retests, retests, change2_sum, "
    "last_peak, previous_peak, last_occurred_at, last_id"
)
_WINDOW = "PARTITION BY a.user_id, a.challenge_id ORDER BY a.occurred_at, a.id"
_DAYS_BETWEEN = {
    "postgresql": "(e.local_date - e.previous_date)",
    "sqlite": "(julianday(e.local_date) - julianday(e.previous_date))",
}


# PostgreSQL has no MAX of a uuid: the one latest id goes through text.
_LAST_ID = {
    "postgresql": "CAST(MAX(CASE WHEN m.number = m.total THEN CAST(m.id AS TEXT) END) AS UUID)",
    "sqlite": "MAX(CASE WHEN m.number = m.total THEN m.id END)",
}


# Concurrent writers on PostgreSQL: a rebuild that meets the row another transaction just committed (its
# statement started after that commit, so it saw the same attempts) takes its own values.
_UPDATED = ", ".join(f"{c} = excluded.{c}" for c in _COLUMNS.split(", ")[2:])
_UPSERT = {
    "postgresql": f"\nON CONFLICT (user_id, challenge_id) DO UPDATE SET {_UPDATED}",
    "sqlite": "",
}


def _rebuild(dialect: str, where: str) -> str:
    """The INSERT … SELECT of the progress rows of the attempts `a` matching `where`, one per challenge."""
    return f"""INSERT INTO challenge_progress ({_COLUMNS})
SELECT m.user_id, m.challenge_id, MAX(m.local_date),
    SUM(CASE WHEN m.number > m.last_hot THEN 1 ELSE 0 END),
    SUM(CASE WHEN m.number > m.last_hot AND m.retest = 1 THEN 1 ELSE 0 END),
    SUM(m.retest),
    SUM(CASE WHEN m.retest = 1 THEN 2 * m.peak - m.previous_peak - m.earlier_peak ELSE 0 END),
    MAX(CASE WHEN m.number = m.total THEN m.peak END),
    MAX(CASE WHEN m.number = m.total - 1 THEN m.peak END),
    MAX(m.occurred_at),
    {_LAST_ID[dialect]}
FROM (
    SELECT e.user_id, e.challenge_id, e.local_date, e.peak, e.number, e.previous_peak, e.earlier_peak,
        e.occurred_at, e.id, COUNT(*) OVER (PARTITION BY e.user_id, e.challenge_id) AS total,
        CASE WHEN e.previous_peak <= {_MASTERED_PEAK} AND e.earlier_peak <= {_MASTERED_PEAK}
            AND {_DAYS_BETWEEN[dialect]} >= {_RETEST_GAP_DAYS} THEN 1 ELSE 0 END AS retest,
        COALESCE(MAX(CASE WHEN e.peak > {_MASTERED_PEAK} THEN e.number END)
            OVER (PARTITION BY e.user_id, e.challenge_id), 0) AS last_hot
    FROM (
        SELECT a.user_id, a.challenge_id, a.local_date, a.distress_peak AS peak, a.occurred_at, a.id,
            ROW_NUMBER() OVER ({_WINDOW}) AS number,
            LAG(a.distress_peak, 1) OVER ({_WINDOW}) AS previous_peak,
            LAG(a.distress_peak, 2) OVER ({_WINDOW}) AS earlier_peak,
            LAG(a.local_date, 1) OVER ({_WINDOW}) AS previous_date
        FROM attempts AS a
        WHERE a.outcome <> 'avoided' AND {where}
    ) AS e
) AS m
GROUP BY m.user_id, m.challenge_id{_UPSERT[dialect]}"""


_NOT_DEFERRED = "NOT EXISTS (SELECT 1 FROM challenge_progress_deferred AS d WHERE d.user_id = {row}.user_id)"

# PostgreSQL: a row trigger for inserts (logging an attempt is the hot path), statement triggers with transition
# tables for updates and deletes, over the distinct challenges they touch of users who still exist.
_PG_KEYS = """WITH k AS (
        SELECT DISTINCT r.user_id, r.challenge_id FROM {rows} AS r
        WHERE EXISTS (SELECT 1 FROM users AS u WHERE u.id = r.user_id) AND {not_deferred}
    )"""


def _pg_statement_function(name: str, rows: str) -> str:
    keys = _PG_KEYS.format(rows=rows, not_deferred=_NOT_DEFERRED.format(row="r"))
    return f"""
CREATE FUNCTION {name}() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    {keys}
    DELETE FROM challenge_progress AS p USING k WHERE p.user_id = k.user_id AND p.challenge_id = k.challenge_id;
    {keys}
    {_rebuild("postgresql", "(a.user_id, a.challenge_id) IN (SELECT k.user_id, k.challenge_id FROM k)")};
    RETURN NULL;
END
$$
"""


_KEY_NEW = "user_id = NEW.user_id AND challenge_id = NEW.challenge_id"
# A new latest exposure of its challenge (logging as it happens, or a history in time order) updates the row
# from the two exposures before it; the rest rebuild the challenge's row.
_APPEND = f"""UPDATE challenge_progress SET
        retests = retests + {{retest}},
        change2_sum = change2_sum + CASE WHEN {{retest}} = 1 THEN 2 * NEW.distress_peak - last_peak - previous_peak
            ELSE 0 END,
        calm_exposures = CASE WHEN NEW.distress_peak > {_MASTERED_PEAK} THEN 0 ELSE calm_exposures + 1 END,
        calm_retests = CASE WHEN NEW.distress_peak > {_MASTERED_PEAK} THEN 0 ELSE calm_retests + {{retest}} END,
        previous_peak = last_peak,
        last_peak = NEW.distress_peak,
        last_exposure_date = NEW.local_date,
        last_occurred_at = NEW.occurred_at,
        last_id = NEW.id"""
_RETEST_OF_NEW = {
    "postgresql": f"""CASE WHEN last_peak <= {_MASTERED_PEAK} AND previous_peak <= {_MASTERED_PEAK}
            AND NEW.local_date - last_exposure_date >= {_RETEST_GAP_DAYS} THEN 1 ELSE 0 END""",
    "sqlite": f"""CASE WHEN last_peak <= {_MASTERED_PEAK} AND previous_peak <= {_MASTERED_PEAK}
            AND julianday(NEW.local_date) - julianday(last_exposure_date) >= {_RETEST_GAP_DAYS} THEN 1 ELSE 0 END""",
}

_PG_ROW_FUNCTION = f"""
CREATE FUNCTION challenge_progress_insert_row() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    latest RECORD;
BEGIN
    IF NOT ({_NOT_DEFERRED.format(row="NEW")}) THEN
        RETURN NULL;
    END IF;
    -- The row is locked until this transaction ends, so writers of one challenge take turns.
    SELECT last_occurred_at, last_id INTO latest FROM challenge_progress WHERE {_KEY_NEW} FOR UPDATE;
    IF NOT FOUND THEN
        -- The challenge's first exposure: a row to lock, unless a concurrent first exposure made one.
        INSERT INTO challenge_progress ({_COLUMNS}) VALUES (NEW.user_id, NEW.challenge_id, NEW.local_date,
            0, 0, 0, 0, NEW.distress_peak, NULL, NEW.occurred_at, NEW.id) ON CONFLICT DO NOTHING;
        IF FOUND THEN
            {_rebuild("postgresql", "a.user_id = NEW.user_id AND a.challenge_id = NEW.challenge_id")};
            RETURN NULL;
        END IF;
        SELECT last_occurred_at, last_id INTO latest FROM challenge_progress WHERE {_KEY_NEW} FOR UPDATE;
    END IF;
    IF (NEW.occurred_at, NEW.id) > (latest.last_occurred_at, latest.last_id) THEN
        {_APPEND.format(retest=_RETEST_OF_NEW["postgresql"])} WHERE {_KEY_NEW};
    ELSE
        {_rebuild("postgresql", "a.user_id = NEW.user_id AND a.challenge_id = NEW.challenge_id")};
    END IF;
    RETURN NULL;
END
$$
"""

# SQLite: row triggers, each rebuilding the challenges of the row (an update may move it to another one).
# SQLite deletes the user before cascading to their attempts, so a deleted account's attempts skip the rebuild.
_SQLITE_TRIGGERS = {
    # In turn: a row whose latest exposure is later than the new one goes; a row that is still there takes the
    # new one as its latest; a challenge without a row (its first exposure, or the row just gone) is rebuilt.
    "insert": (
        f"NEW.outcome <> 'avoided' AND {_NOT_DEFERRED.format(row='NEW')}",
        f"DELETE FROM challenge_progress WHERE {_KEY_NEW} AND (last_occurred_at > NEW.occurred_at "
        "OR (last_occurred_at = NEW.occurred_at AND last_id > NEW.id)); "
        f"{_APPEND.format(retest=_RETEST_OF_NEW['sqlite'])} WHERE {_KEY_NEW}; "
        + _rebuild(
            "sqlite",
            "a.user_id = NEW.user_id AND a.challenge_id = NEW.challenge_id "
            f"AND NOT EXISTS (SELECT 1 FROM challenge_progress WHERE {_KEY_NEW})",
        ),
    ),
    "update": (
        f"{_NOT_DEFERRED.format(row='NEW')} AND (OLD.outcome IS NOT NEW.outcome "
        "OR OLD.distress_peak IS NOT NEW.distress_peak OR OLD.occurred_at IS NOT NEW.occurred_at "
        "OR OLD.local_date IS NOT NEW.local_date OR OLD.challenge_id IS NOT NEW.challenge_id "
        "OR OLD.id IS NOT NEW.id)",
        "DELETE FROM challenge_progress WHERE user_id = NEW.user_id "
        "AND challenge_id IN (OLD.challenge_id, NEW.challenge_id); "
        + _rebuild("sqlite", "a.user_id = NEW.user_id AND a.challenge_id IN (OLD.challenge_id, NEW.challenge_id)"),
    ),
    "delete": (
        f"OLD.outcome <> 'avoided' AND EXISTS (SELECT 1 FROM users WHERE users.id = OLD.user_id) "
        f"AND {_NOT_DEFERRED.format(row='OLD')}",
        "DELETE FROM challenge_progress WHERE user_id = OLD.user_id AND challenge_id = OLD.challenge_id; "
        + _rebuild("sqlite", "a.user_id = OLD.user_id AND a.challenge_id = OLD.challenge_id"),
    ),
}


def upgrade() -> None:
    dialect = op.get_bind().dialect.name
    op.create_table(
        "challenge_progress",
        sa.Column("user_id", sa.Uuid(), nullable=False),
        sa.Column("challenge_id", sa.Uuid(), nullable=False),
        sa.Column("last_exposure_date", sa.Date(), nullable=False),
        sa.Column("calm_exposures", sa.Integer(), nullable=False),
        sa.Column("calm_retests", sa.Integer(), nullable=False),
        sa.Column("retests", sa.Integer(), nullable=False),
        sa.Column("change2_sum", sa.Integer(), nullable=False),
        sa.Column("last_peak", sa.SmallInteger(), nullable=False),
        sa.Column("previous_peak", sa.SmallInteger(), nullable=True),
        sa.Column("last_occurred_at", app.core.models.UTCDateTime(timezone=True), nullable=False),
        sa.Column("last_id", sa.Uuid(), nullable=False),
        sa.ForeignKeyConstraint(
            ["challenge_id"],
            ["challenges.id"],
            name=op.f("fk_challenge_progress_challenge_id_challenges"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_challenge_progress_user_id_users"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("user_id", "challenge_id", name=op.f("pk_challenge_progress")),
    )
    with op.batch_alter_table("challenge_progress", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_challenge_progress_challenge_id"), ["challenge_id"], unique=False)
    op.create_table(
        "challenge_progress_deferred",
        sa.Column("user_id", sa.Uuid(), nullable=False),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_challenge_progress_deferred_user_id_users"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("user_id", name=op.f("pk_challenge_progress_deferred")),
    )
    op.execute(_rebuild(dialect, "1 = 1"))
    if dialect == "postgresql":
        op.execute(_PG_ROW_FUNCTION)
        # An update may move an attempt to another challenge: both are rebuilt.
        both = "(SELECT user_id, challenge_id FROM old_rows UNION SELECT user_id, challenge_id FROM new_rows)"
        op.execute(_pg_statement_function("challenge_progress_update_rows", both))
        op.execute(_pg_statement_function("challenge_progress_delete_rows", "old_rows"))
        op.execute(
            "CREATE TRIGGER challenge_progress_after_insert AFTER INSERT ON attempts FOR EACH ROW "
            "WHEN (NEW.outcome <> 'avoided') EXECUTE FUNCTION challenge_progress_insert_row()"
        )
        op.execute(
            "CREATE TRIGGER challenge_progress_after_update AFTER UPDATE ON attempts "
            "REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows "
            "FOR EACH STATEMENT EXECUTE FUNCTION challenge_progress_update_rows()"
        )
        op.execute(
            "CREATE TRIGGER challenge_progress_after_delete AFTER DELETE ON attempts "
            "REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION challenge_progress_delete_rows()"
        )
        return
    for event, (when, body) in _SQLITE_TRIGGERS.items():
        op.execute(
            f"CREATE TRIGGER challenge_progress_after_{event} AFTER {event.upper()} ON attempts "
            f"WHEN {when} BEGIN {body}; END"
        )


def downgrade() -> None:
    postgres = op.get_bind().dialect.name == "postgresql"
    for event in ("insert", "update", "delete"):
        op.execute(f"DROP TRIGGER challenge_progress_after_{event}" + (" ON attempts" if postgres else ""))
    if postgres:
        for function in ("insert_row", "update_rows", "delete_rows"):
            op.execute(f"DROP FUNCTION challenge_progress_{function}()")
    op.drop_table("challenge_progress_deferred")
    with op.batch_alter_table("challenge_progress", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_challenge_progress_challenge_id"))
    op.drop_table("challenge_progress")
