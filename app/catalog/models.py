import uuid
from enum import StrEnum
from typing import Any

from sqlalchemy import JSON, CheckConstraint, ForeignKey, Index, SmallInteger, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from app.core.models import Base, Timestamps, UUIDPrimaryKey


class ChallengeStatus(StrEnum):
    """Where a challenge is in its life.

    `draft`: a catalog draft is seen by admins only; a user's own draft is theirs to read, list and log.
    `published`: read, listed and loggable (the catalog's by everyone, a custom one by its owner).
    `archived`: still readable by id, so the attempts that refer to it keep their context, but neither
    listed nor loggable.
    """

    DRAFT = "draft"
    PUBLISHED = "published"
    ARCHIVED = "archived"


# `'draft', 'published', 'archived'`: the CHECK constraint's text, as the migrations hold it.
_STATUSES_SQL = ", ".join(f"'{status.value}'" for status in ChallengeStatus)


class Category(Timestamps, Base):
    __tablename__ = "categories"

    slug: Mapped[str] = mapped_column(String(50), primary_key=True)
    name: Mapped[str] = mapped_column(String(100))
    description: Mapped[str] = mapped_column(Text, default="")


class Challenge(UUIDPrimaryKey, Timestamps, Base):
    __tablename__ = "challenges"
    __table_args__ = (
        CheckConstraint("difficulty BETWEEN 1 AND 10", name="difficulty_range"),
        CheckConstraint(f"status IN ({_STATUSES_SQL})", name="status_known"),
        Index("ix_challenges_status_difficulty", "status", "difficulty"),
    )

    slug: Mapped[str] = mapped_column(String(100), unique=True)
    title: Mapped[str] = mapped_column(String(200))
    description: Mapped[str] = mapped_column(Text)
    category_slug: Mapped[str] = mapped_column(ForeignKey("categories.slug"), index=True)
    difficulty: Mapped[int] = mapped_column(SmallInteger)
    tips: Mapped[list[Any]] = mapped_column(JSON, default=list)
    status: Mapped[str] = mapped_column(String(16), default=ChallengeStatus.DRAFT.value)
    # NULL for the curated catalog; a user's id for their own custom challenge.
    owner_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    # Bumped on every change; the admin API's ETag.
    version: Mapped[int] = mapped_column(default=1)

    __mapper_args__ = {"version_id_col": version}  # noqa: RUF012

    @property
    def is_custom(self) -> bool:
        return self.owner_id is not None
