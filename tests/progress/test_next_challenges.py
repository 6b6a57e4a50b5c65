"""`GET /me/next-challenges`' reasons: re-tests due, the ladder's next step, the level, and variety."""

from datetime import timedelta

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncSession

from app.catalog.models import Challenge
from app.core.models import utcnow
from tests.conftest import Account, MakeAttempt, MakeChallenge
from tests.progress.test_ladder import body, put
from tests.progress.test_progress_api import get_next


async def exposures(make_attempt: MakeAttempt, account: Account, challenge: Challenge, *asks: tuple[int, int]) -> None:
    """Exposures (days ago, peak)."""
    for days, peak in asks:
        await make_attempt(account.user, challenge, occurred_at=utcnow() - timedelta(days=days), distress_peak=peak)


async def archive(session: AsyncSession, challenge: Challenge) -> None:
    challenge.status = "archived"
    await session.commit()


def reasons(items: list[dict[str, str]]) -> list[tuple[str, str]]:
    return [(item["id"], item["reason"]) for item in items]


# --- re-tests --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("asks", "due"),
    [
        # Mastered (the last two peaked at 40 or less): the first re-test is due 7 days after the last exposure.
        ([(10, 60), (7, 40), (7, 35)], True),
        ([(10, 60), (6, 40), (6, 35)], False),
        # One re-test done (9 days after): the next is due 21 days after it.
        ([(40, 30), (39, 30), (21, 35)], True),
        ([(40, 30), (39, 30), (20, 35)], False),
        # Two done: 60 days.
        ([(140, 30), (139, 30), (120, 30), (60, 40)], True),
        ([(140, 30), (139, 30), (120, 30), (59, 40)], False),
        # Three done: still 60.
        ([(300, 30), (299, 30), (280, 30), (200, 30), (60, 20)], True),
        ([(300, 30), (299, 30), (280, 30), (200, 30), (59, 20)], False),
        # Practice between re-tests moves the clock but is no re-test.
        ([(40, 30), (39, 30), (30, 35), (28, 30)], True),
        ([(40, 30), (39, 30), (30, 35), (20, 30)], False),
        # A re-test above 40 ends the mastery.
        ([(40, 30), (39, 30), (30, 45)], False),
        # Not mastered: the last two did not both peak at 40 or less.
        ([(40, 30), (39, 41)], False),
        ([(40, 35)], False),
        # Mastered again after a relapse: the schedule starts over at 7 days.
        ([(100, 30), (99, 30), (80, 70), (20, 30), (12, 30)], True),
    ],
)
async def test_the_re_test_schedule(
    *,
    client: httpx.AsyncClient,
    alice: Account,
    make_challenge: MakeChallenge,
    make_attempt: MakeAttempt,
    asks: list[tuple[int, int]],
    due: bool,
) -> None:
    challenge = await make_challenge(difficulty=2)
    await exposures(make_attempt, alice, challenge, *asks)
    items = await get_next(client, alice, limit="50")
    offered = dict(reasons(items))
    if due:
        assert reasons(items)[0] == (str(challenge.id), "retest")
    else:
        # Mastered and not due: left out; otherwise ordinary practice (when not attempted in the last 7 days).
        assert offered.get(str(challenge.id)) in (None, "level")
        assert "retest" not in offered.values()


async def test_avoided_attempts_neither_master_nor_reset_the_clock(
    client: httpx.AsyncClient, alice: Account, make_challenge: MakeChallenge, make_attempt: MakeAttempt
) -> None:
    challenge = await make_challenge(difficulty=2)
    await exposures(make_attempt, alice, challenge, (20, 30), (19, 30))
    await make_attempt(
        alice.user, challenge, occurred_at=utcnow() - timedelta(days=2), outcome="avoided", distress_peak=None
    )
    assert reasons(await get_next(client, alice))[0] == (str(challenge.id), "retest")


async def test_the_longest_overdue_re_test_comes_first(
    client: httpx.AsyncClient, alice: Account, make_challenge: MakeChallenge, make_attempt: MakeAttempt
) -> None:
    recent, old = await make_challenge(), await make_challenge()
    await exposures(make_attempt, alice, recent, (11, 30), (10, 30))
    await exposures(make_attempt, alice, old, (31, 30), (30, 30))
    items = await get_next(client, alice, limit="2")
    assert reasons(items) == [(str(old.id), "retest"), (str(recent.id), "retest")]


async def test_a_re_test_must_still_be_loggable(
    client: httpx.AsyncClient,
    session: AsyncSession,
    alice: Account,
    make_challenge: MakeChallenge,
    make_attempt: MakeAttempt,
) -> None:
    archived = await make_challenge(owner=alice.user)
    await exposures(make_attempt, alice, archived, (20, 30), (19, 30))
    await archive(session, archived)
    assert str(archived.id) not in dict(reasons(await get_next(client, alice, limit="50")))


# --- the ladder ------------------------------------------------------------------------------


async def test_the_ladder_offers_its_first_step_not_mastered(
    client: httpx.AsyncClient, alice: Account, make_challenge: MakeChallenge, make_attempt: MakeAttempt
) -> None:
    first, second, third = [await make_challenge(difficulty=d, category="work") for d in (6, 7, 8)]
    others = [await make_challenge(difficulty=2) for _ in range(3)]
    assert (await put(client, alice, body((first, 30), (second, 50), (third, 70)))).status_code == 200
    items = await get_next(client, alice, limit="3")
    # Then the level's own (a new user's 2), whatever the ladder's difficulties; without attempts to vary from,
    # nothing is `variety`.
    assert reasons(items)[0] == (str(first.id), "ladder")
    assert {item["id"] for item in items[1:]} <= {str(c.id) for c in others}
    assert [item["reason"] for item in items[1:]] == ["level", "level"]

    # Practised today and not mastered yet (a peak above 40): still the step to practise, recent or not.
    await exposures(make_attempt, alice, first, (1, 30), (0, 55))
    assert reasons(await get_next(client, alice, limit="1")) == [(str(first.id), "ladder")]
    # Mastered: the next step.
    await exposures(make_attempt, alice, first, (0, 35), (0, 30))
    assert reasons(await get_next(client, alice, limit="1")) == [(str(second.id), "ladder")]
    # The ladder's order decides, not what was practised: the third mastered leaves the second next.
    await exposures(make_attempt, alice, third, (0, 20), (0, 20))
    assert reasons(await get_next(client, alice, limit="1")) == [(str(second.id), "ladder")]
    await exposures(make_attempt, alice, second, (0, 40), (0, 40))
    # Every step mastered: no ladder item, the level logic alone (mastered ones stay out of it).
    items = await get_next(client, alice, limit="50")
    assert "ladder" not in {item["reason"] for item in items}
    assert not {item["id"] for item in items} & {str(first.id), str(second.id), str(third.id)}


async def test_re_tests_come_before_the_ladder(
    client: httpx.AsyncClient, alice: Account, make_challenge: MakeChallenge, make_attempt: MakeAttempt
) -> None:
    done, step = await make_challenge(), await make_challenge()
    await exposures(make_attempt, alice, done, (20, 30), (19, 30))
    await put(client, alice, body((done, 20), (step, 40)))
    assert reasons(await get_next(client, alice, limit="3")) == [(str(done.id), "retest"), (str(step.id), "ladder")]
    assert reasons(await get_next(client, alice, limit="1")) == [(str(done.id), "retest")]


async def test_a_step_that_can_no_longer_be_logged_is_passed_over(
    client: httpx.AsyncClient, session: AsyncSession, alice: Account, make_challenge: MakeChallenge
) -> None:
    own, next_step = await make_challenge(owner=alice.user), await make_challenge()
    await put(client, alice, body((own, 20), (next_step, 40)))
    await archive(session, own)
    assert reasons(await get_next(client, alice, limit="1")) == [(str(next_step.id), "ladder")]


# --- the level and variety -------------------------------------------------------------------


async def test_without_a_ladder_the_level_decides_and_new_categories_are_variety(
    client: httpx.AsyncClient, alice: Account, make_challenge: MakeChallenge, make_attempt: MakeAttempt
) -> None:
    practised = await make_challenge(difficulty=2, category="everyday")
    await exposures(make_attempt, alice, practised, (10, 70))
    everyday = [await make_challenge(difficulty=2, category="everyday") for _ in range(2)]
    work = await make_challenge(difficulty=2, category="work")
    dating = await make_challenge(difficulty=2, category="dating")
    items = await get_next(client, alice, limit="5")
    by_id = dict(reasons(items))
    # Categories in turn (dating, everyday, work), then the rest of everyday.
    assert [item["category"] for item in items] == ["dating", "everyday", "work", "everyday", "everyday"]
    # The first is the level's own; after it, categories the last 20 attempts did not touch are variety.
    assert items[0]["reason"] == "level"
    assert by_id[str(work.id)] == "variety"
    assert {by_id[str(c.id)] for c in [*everyday, practised]} == {"level"}
    assert by_id[str(dating.id)] == "level"
