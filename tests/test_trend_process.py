"""The process that computes trends: same answer as in-process, and replaced when it dies."""

import os
from datetime import UTC, date, datetime, timedelta

from app.progress.compute import TrendProcess, render
from app.progress.stats import AttemptRecord

START = datetime(2026, 3, 1, 12, tzinfo=UTC)
RECORDS = [
    AttemptRecord(START + timedelta(days=day), "rejected", 60, 80 - 3 * day, 30, 70, 2 + day % 3, "everyday")
    for day in range(12)
]
TODAY = date(2026, 3, 12)


async def test_the_trend_process_answers_what_an_in_process_computation_does() -> None:
    process = TrendProcess()
    try:
        body = await process.render(RECORDS, "Europe/Berlin", TODAY, "Take it gently.")
    finally:
        process.shutdown()
    assert body == render(RECORDS, "Europe/Berlin", TODAY, "Take it gently.")
    assert b'"slope_per_week":-' in body


async def test_a_trend_process_that_died_is_replaced() -> None:
    process = TrendProcess()
    try:
        first = await process.render(RECORDS, "UTC", TODAY, "-")
        # The process exits abruptly, as when the kernel kills it for memory.
        process._executor().submit(os._exit, 1)
        assert await process.render(RECORDS, "UTC", TODAY, "-") == first
    finally:
        process.shutdown()
