"""the exposure loop: plans, reflections, ladders, pauses, calendar feeds

Revision ID: 83922efc0822
Revises: 2a029b25ef80
Create Date: 2026-12-02 05:03:31.132470+00:00

`plans` hold asks planned with their prediction; an attempt that does one names it in `attempts.plan_id`.
Attempts gain `predicted_at` (when `expected_rejection` was written down: existing ones when they were logged,
and never before the ask) and the reflection (`surprise`, `safety_behaviours`, `reflection`). `ladder_steps`,
`pauses` and `calendar_feeds` go with their account.

`session_stats` gains the totals the trend's `learning` needs: predictions made before the ask, and the
surprise ratings. Existing rows have neither (0). The triggers are rebuilt with the new totals; on SQLite the
attempts table is rebuilt by the batch below, which drops its triggers anyway, so they go first.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import app.core.models
from app.progress.session_stats_sql import SessionStatsSql, drop_triggers

revision: str = "83922efc0822"
down_revision: str | None = "2a029b25ef80"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_EXPOSURE = "{r}.outcome <> 'avoided'"
_SURPRISE_RATED = f"{_EXPOSURE} AND {{r}}.surprise IS NOT NULL"
_PREDICTED = f"{_EXPOSURE} AND {{r}}.expected_rejection IS NOT NULL"
# What one attempt adds to its totals, over the attempt's row `{r}` (app/progress/service.py has the same as
# SQLAlchemy expressions, for windows; tests/progress/test_session_stats.py checks that the two agree).
_SUMS_BEFORE = {
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
    "predicted_n": f"CASE WHEN {_PREDICTED} THEN 1 ELSE 0 END",
    "predicted_sum": f"CASE WHEN {_PREDICTED} THEN {{r}}.expected_rejection ELSE 0 END",
    "predicted_rejected": "CASE WHEN {r}.outcome = 'rejected' AND {r}.expected_rejection IS NOT NULL THEN 1 ELSE 0 END",
}
_SUMS = _SUMS_BEFORE | {
    "advance_n": f"CASE WHEN {_PREDICTED} AND {{r}}.predicted_at < {{r}}.occurred_at THEN 1 ELSE 0 END",
    "surprise_n": f"CASE WHEN {_SURPRISE_RATED} THEN 1 ELSE 0 END",
    "surprise_sum": f"CASE WHEN {_SURPRISE_RATED} THEN {{r}}.surprise ELSE 0 END",
}


def upgrade() -> None:
    postgres = op.get_bind().dialect.name == "postgresql"
    for statement in drop_triggers(postgres=postgres):
        op.execute(statement)
    op.create_table(
        "calendar_feeds",
        sa.Column("user_id", sa.Uuid(), nullable=False),
        sa.Column("digest", sa.String(length=64), nullable=False),
        sa.Column("created_at", app.core.models.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_calendar_feeds_user_id_users"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("user_id", name=op.f("pk_calendar_feeds")),
        sa.UniqueConstraint("digest", name=op.f("uq_calendar_feeds_digest")),
    )
    op.create_table(
        "pauses",
        sa.Column("user_id", sa.Uuid(), nullable=False),
        sa.Column("start_date", sa.Date(), nullable=False),
        sa.Column("end_date", sa.Date(), nullable=False),
        sa.Column("reason", sa.String(length=200), nullable=True),
        sa.Column("created_at", app.core.models.UTCDateTime(timezone=True), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.CheckConstraint("end_date >= start_date", name=op.f("ck_pauses_ends_after_start")),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"], name=op.f("fk_pauses_user_id_users"), ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_pauses")),
    )
    with op.batch_alter_table("pauses", schema=None) as batch_op:
        batch_op.create_index("ix_pauses_user_id_start_date", ["user_id", "start_date"], unique=False)

    op.create_table(
        "ladder_steps",
        sa.Column("user_id", sa.Uuid(), nullable=False),
        sa.Column("position", sa.SmallInteger(), nullable=False),
        sa.Column("challenge_id", sa.Uuid(), nullable=False),
        sa.Column("anticipated_distress", sa.SmallInteger(), nullable=False),
        sa.CheckConstraint(
            "anticipated_distress BETWEEN 0 AND 100", name=op.f("ck_ladder_steps_anticipated_distress_range")
        ),
        sa.ForeignKeyConstraint(
            ["challenge_id"],
            ["challenges.id"],
            name=op.f("fk_ladder_steps_challenge_id_challenges"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_ladder_steps_user_id_users"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("user_id", "position", name=op.f("pk_ladder_steps")),
        sa.UniqueConstraint("user_id", "challenge_id", name=op.f("uq_ladder_steps_user_id_challenge_id")),
    )
    with op.batch_alter_table("ladder_steps", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_ladder_steps_challenge_id"), ["challenge_id"], unique=False)

    op.create_table(
        "plans",
        sa.Column("user_id", sa.Uuid(), nullable=False),
        sa.Column("challenge_id", sa.Uuid(), nullable=False),
        sa.Column("planned_for", app.core.models.UTCDateTime(timezone=True), nullable=True),
        sa.Column("expected_outcome", sa.Text(), nullable=True),
        sa.Column("expected_rejection", sa.SmallInteger(), nullable=False),
        sa.Column("expected_distress_peak", sa.SmallInteger(), nullable=True),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column(
            "created_at",
            app.core.models.UTCDateTime(timezone=True),
            server_default=sa.text("(CURRENT_TIMESTAMP)"),
            nullable=False,
        ),
        sa.Column(
            "updated_at",
            app.core.models.UTCDateTime(timezone=True),
            server_default=sa.text("(CURRENT_TIMESTAMP)"),
            nullable=False,
        ),
        sa.CheckConstraint("status IN ('open', 'done', 'cancelled')", name=op.f("ck_plans_status_known")),
        sa.CheckConstraint(
            "expected_distress_peak BETWEEN 0 AND 100", name=op.f("ck_plans_expected_distress_peak_range")
        ),
        sa.CheckConstraint("expected_rejection BETWEEN 0 AND 100", name=op.f("ck_plans_expected_rejection_range")),
        sa.ForeignKeyConstraint(
            ["challenge_id"], ["challenges.id"], name=op.f("fk_plans_challenge_id_challenges"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"], name=op.f("fk_plans_user_id_users"), ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_plans")),
    )
    with op.batch_alter_table("plans", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_plans_challenge_id"), ["challenge_id"], unique=False)
        batch_op.create_index("ix_plans_user_id_status_planned_for", ["user_id", "status", "planned_for"], unique=False)

    with op.batch_alter_table("attempts", schema=None) as batch_op:
        batch_op.add_column(sa.Column("predicted_at", app.core.models.UTCDateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column("plan_id", sa.Uuid(), nullable=True))
        batch_op.add_column(sa.Column("surprise", sa.SmallInteger(), nullable=True))
        batch_op.add_column(sa.Column("safety_behaviours", sa.JSON(), nullable=True))
        batch_op.add_column(sa.Column("reflection", sa.Text(), nullable=True))
        batch_op.create_index(
            "ix_attempts_user_id_challenge_id_occurred_at", ["user_id", "challenge_id", "occurred_at"], unique=False
        )
        batch_op.create_unique_constraint(batch_op.f("uq_attempts_plan_id"), ["plan_id"])
        batch_op.create_foreign_key(
            batch_op.f("fk_attempts_plan_id_plans"), "plans", ["plan_id"], ["id"], ondelete="SET NULL"
        )
        batch_op.create_check_constraint(op.f("ck_attempts_surprise_range"), "surprise BETWEEN 0 AND 100")
    op.execute(
        "UPDATE attempts SET predicted_at = CASE WHEN created_at > occurred_at THEN created_at ELSE occurred_at END "
        "WHERE expected_rejection IS NOT NULL"
    )

    with op.batch_alter_table("session_stats", schema=None) as batch_op:
        batch_op.add_column(sa.Column("advance_n", sa.Integer(), server_default="0", nullable=False))
        batch_op.add_column(sa.Column("surprise_n", sa.Integer(), server_default="0", nullable=False))
        batch_op.add_column(sa.Column("surprise_sum", sa.Integer(), server_default="0", nullable=False))
    for statement in SessionStatsSql(_SUMS).create_triggers(postgres=postgres):
        op.execute(statement)


def downgrade() -> None:
    postgres = op.get_bind().dialect.name == "postgresql"
    for statement in drop_triggers(postgres=postgres):
        op.execute(statement)
    with op.batch_alter_table("session_stats", schema=None) as batch_op:
        batch_op.drop_column("surprise_sum")
        batch_op.drop_column("surprise_n")
        batch_op.drop_column("advance_n")

    with op.batch_alter_table("attempts", schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f("ck_attempts_surprise_range"), type_="check")
        batch_op.drop_constraint(batch_op.f("fk_attempts_plan_id_plans"), type_="foreignkey")
        batch_op.drop_constraint(batch_op.f("uq_attempts_plan_id"), type_="unique")
        batch_op.drop_index("ix_attempts_user_id_challenge_id_occurred_at")
        batch_op.drop_column("reflection")
        batch_op.drop_column("safety_behaviours")
        batch_op.drop_column("surprise")
        batch_op.drop_column("plan_id")
        batch_op.drop_column("predicted_at")

    with op.batch_alter_table("plans", schema=None) as batch_op:
        batch_op.drop_index("ix_plans_user_id_status_planned_for")
        batch_op.drop_index(batch_op.f("ix_plans_challenge_id"))

    op.drop_table("plans")
    with op.batch_alter_table("ladder_steps", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_ladder_steps_challenge_id"))

    op.drop_table("ladder_steps")
    with op.batch_alter_table("pauses", schema=None) as batch_op:
        batch_op.drop_index("ix_pauses_user_id_start_date")

    op.drop_table("pauses")
    op.drop_table("calendar_feeds")
    for statement in SessionStatsSql(_SUMS_BEFORE).create_triggers(postgres=postgres):
        op.execute(statement)
