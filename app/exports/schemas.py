from datetime import datetime

from pydantic import BaseModel, Field

from app.accounts.schemas import ApiTokenPublic, UserPublic
from app.attempts.schemas import AttemptPublic
from app.catalog.schemas import ChallengePublic


class AccountExport(BaseModel):
    """Everything stored about you, minus secrets (password hash, token digests)."""

    exported_at: datetime = Field(description="When this export was made, in UTC.")
    account: UserPublic
    attempts: list[AttemptPublic] = Field(description="Every attempt you logged, oldest first.")
    custom_challenges: list[ChallengePublic] = Field(description="The challenges you wrote yourself.")
    api_tokens: list[ApiTokenPublic] = Field(description="Your personal API tokens: names and prefixes only.")
