"""Which challenges a user may read, list and log: the catalog's rules, as SQL clauses over `Challenge`.

Every route that shows or takes a challenge asks one of these, so the rules live here once:

| owner        | draft           | published       | archived |
|--------------|-----------------|-----------------|----------|
| the catalog  | –               | read, list, log | read     |
| the user     | read, list, log | read, list, log | read     |
| another user | –               | –               | –        |

They nest: what a user can log they can list, and what they can list they can read.
Archived challenges stay readable so the attempts that refer to them keep their context;
a user's own draft is theirs to practise with, the catalog's drafts await an admin.
"""

import uuid
from typing import Any

from sqlalchemy import ColumnElement

from app.catalog.models import Challenge, ChallengeStatus

# A user's id, or a bound parameter standing for one in a statement built once (see app/attempts/service.py).
UserId = uuid.UUID | ColumnElement[Any]

_CATALOG = Challenge.owner_id.is_(None)


def _own(user_id: UserId) -> ColumnElement[bool]:
    return Challenge.owner_id == user_id


def readable_by(user_id: UserId) -> ColumnElement[bool]:
    """Challenges `GET /challenges/{id}` shows the user: catalog ones that are not drafts, and all of their own.

    Archived ones stay readable, so the attempts that refer to them keep their context.
    """
    return (_CATALOG & (Challenge.status != ChallengeStatus.DRAFT)) | _own(user_id)


def listed_for(user_id: UserId) -> ColumnElement[bool]:
    """Challenges `GET /challenges` lists and `GET /me/next-challenges` picks from.

    The published catalog and the user's own challenges that are not archived (their drafts too).
    """
    return (_CATALOG & (Challenge.status == ChallengeStatus.PUBLISHED)) | (
        _own(user_id) & (Challenge.status != ChallengeStatus.ARCHIVED)
    )


def loggable_by(user_id: UserId) -> ColumnElement[bool]:
    """Challenges the user may log an attempt at (`POST /attempts`): exactly those listed for them.

    So anything a user can log they can also find in their listing and read; an archived
    challenge keeps its old attempts but takes no new ones.
    """
    return listed_for(user_id)
