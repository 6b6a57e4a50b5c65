"""Trends are computed in a separate process, one per serving worker.

NumPy and SciPy hold the CPU (and the GIL) for hundreds of milliseconds on a long
history: in a process of its own that work no longer stalls the worker's event loop,
where phones are logging attempts. SciPy (tens of MB once imported) and the heap churn
of a computation stay out of the worker too, and the process is replaced after
`TASKS_PER_PROCESS` computations, which hands whatever its heap kept back to the OS.
"""

import asyncio
import ctypes
import functools
import multiprocessing
from collections.abc import Sequence
from concurrent.futures import Executor, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from datetime import date

from app.progress import stats
from app.progress.schemas import TrendPublic

TASKS_PER_PROCESS = 1000


def render(records: Sequence[stats.AttemptRecord], timezone: str, today: date, support_message: str) -> bytes:
    """The trend as the JSON document the API answers (runs in the compute process)."""
    try:
        trend = stats.compute_trend(records, timezone=timezone, today=today, support_message=support_message)
        return TrendPublic.model_validate(trend).model_dump_json().encode()
    finally:
        _release_free_memory()


def _release_free_memory() -> None:
    """Hand the heap the computation freed back to the OS (glibc keeps it otherwise, as resident memory)."""
    if _libc is not None:
        _libc.malloc_trim(0)


def _load_libc() -> ctypes.CDLL | None:
    try:
        libc = ctypes.CDLL("libc.so.6")
        libc.malloc_trim.argtypes = [ctypes.c_size_t]
    except (OSError, AttributeError):  # not glibc: nothing to trim
        return None
    return libc


_libc = _load_libc()


def _warm_up() -> None:
    stats.import_scipy()


class TrendProcess:
    """A one-process pool, started on first use (or by `start`) and replaced when it breaks."""

    def __init__(self) -> None:
        self._pool: ProcessPoolExecutor | None = None

    def _executor(self) -> Executor:
        if self._pool is None:
            # spawn: a fresh interpreter that imports only what a computation needs, never a
            # fork of a worker with its event loop and database connections.
            self._pool = ProcessPoolExecutor(
                max_workers=1,
                mp_context=multiprocessing.get_context("spawn"),
                max_tasks_per_child=TASKS_PER_PROCESS,
            )
        return self._pool

    def start(self) -> None:
        """Start the process and its imports now, so the first trend does not wait for them."""
        self._executor().submit(_warm_up)

    async def render(
        self, records: Sequence[stats.AttemptRecord], timezone: str, today: date, support_message: str
    ) -> bytes:
        call = functools.partial(render, records, timezone, today, support_message)
        loop = asyncio.get_running_loop()
        try:
            return await loop.run_in_executor(self._executor(), call)
        except BrokenProcessPool:
            # The process died (killed, out of memory): one more try in a new one.
            self.shutdown()
            return await loop.run_in_executor(self._executor(), call)

    def shutdown(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=False, cancel_futures=True)
            self._pool = None


trend_process = TrendProcess()
