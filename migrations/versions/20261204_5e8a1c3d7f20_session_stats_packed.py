"""progress: session_stats.packed, the integers the trend reads of each row as one value

Revision ID: 5e8a1c3d7f20
Revises: c3d1e5f7a9b2
Create Date: 2026-12-04 19:20:00.000000+00:00

The trend reads a user's whole `session_stats` in one statement. Packing each row's integers there, on every read,
was half of that statement's time over a long history's thousands of rows: the database now keeps the packed
value as a generated column. It holds only what the trend reads per row (the day, the difficulty and six totals):
every byte of it is sent on every read, and the other totals are only summed. On PostgreSQL it is stored (each
upsert recomputes it); SQLite cannot add a stored column to an existing table, so there it is virtual, computed
when read.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "5e8a1c3d7f20"
down_revision: str | None = "c3d1e5f7a9b2"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# The day as date.toordinal() counts it, the difficulty, then six totals: app/progress/models.py's PACKED_COLUMNS.
_TOTALS = ("attempts", "avoided", "rejected", "peak_sum", "predicted_n", "predicted_sum")
_POSTGRESQL = " || ".join(
    f"int4send(CAST({column} AS INTEGER))"
    for column in ("(local_date - DATE '0001-01-01' + 1)", "difficulty", *_TOTALS)
)
_SQLITE = f"json_array(CAST(julianday(local_date) - 1721424.5 AS INTEGER), difficulty, {', '.join(_TOTALS)})"


def upgrade() -> None:
    postgres = op.get_bind().dialect.name == "postgresql"
    expression = sa.Computed(_POSTGRESQL, persisted=True) if postgres else sa.Computed(_SQLITE)
    op.add_column("session_stats", sa.Column("packed", sa.LargeBinary(), expression, nullable=False))


def downgrade() -> None:
    op.drop_column("session_stats", "packed")
