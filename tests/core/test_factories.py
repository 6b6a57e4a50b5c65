from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.attempts.models import Attempt
from tests.conftest import Account, MakeAttempt, MakeChallenge


async def test_factories_store_rows_that_roll_back_after_the_test(
    session: AsyncSession, alice: Account, make_challenge: MakeChallenge, make_attempt: MakeAttempt
) -> None:
    challenge = await make_challenge(difficulty=4)
    attempt = await make_attempt(alice.user, challenge, distress_peak=55)
    assert attempt.difficulty == 4
    assert await session.scalar(select(func.count()).select_from(Attempt)) == 1
