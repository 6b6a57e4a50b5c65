"""users: time zones that name a place

Revision ID: 2a029b25ef80
Revises: acb0a78b623d
Create Date: 2026-12-02 03:05:00+00:00

Accounts could be given any name in the server's zoneinfo folder, including files that name no place
(`localtime`, `posixrules`: whatever the server's own clock is set to) and the tz database's
`Factory` ("not set"). They now take names of the tz database alone (app/accounts/schemas.py); the
accounts that hold one of those get UTC, which is what they meant on a server whose clock runs on UTC.
The downgrade keeps UTC: the old names meant nothing a person chose.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "2a029b25ef80"
down_revision: str | None = "acb0a78b623d"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

NO_PLACE = ("localtime", "posixrules", "Factory")


def upgrade() -> None:
    users = sa.table("users", sa.column("timezone", sa.String))
    op.execute(users.update().where(users.c.timezone.in_(NO_PLACE)).values(timezone="UTC"))


def downgrade() -> None:
    pass
