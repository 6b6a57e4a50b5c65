import uuid

from sqlalchemy import BigInteger, ForeignKey, LargeBinary, String
from sqlalchemy.orm import Mapped, mapped_column

from app.core.models import Base


class TrendCache(Base):
    """The last trend answered to each user, kept until one of the user's attempts changes.

    Database triggers on `attempts` (see the migration that creates this table) bump
    `version` and clear the cached answer in the same transaction as any insert,
    update or delete of the user's attempts, whoever makes it. A reader stores its
    answer only if `version` is still the one it saw before reading the attempts, so
    an answer computed from rows a concurrent write has since changed is never kept.
    """

    __tablename__ = "trend_cache"

    user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), primary_key=True)
    version: Mapped[int] = mapped_column(BigInteger, default=0, server_default="0")
    # A digest of everything besides the attempts that the answer depends on: the
    # window, the time zone, the local date (streaks), the support message, the code.
    key: Mapped[str | None] = mapped_column(String(64))
    etag: Mapped[str | None] = mapped_column(String(64))
    body: Mapped[bytes | None] = mapped_column(LargeBinary)
