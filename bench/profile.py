"""Profile the service's workers under wrk load with py-spy.

    .venv/bin/python -m bench.profile post             # POST /api/v1/attempts
    .venv/bin/python -m bench.profile trend            # GET /api/v1/me/trend, 1,000 attempts over 100 days
    .venv/bin/python -m bench.profile trend --heavy    # … 100,000 attempts over 1,000 days
    .venv/bin/python -m bench.profile trend --window   # … with a new `since` window on every request
    .venv/bin/python -m bench.profile look             # log then look: POST and GET /me/trend in turn

Runs on the rt_bench database that `make bench` left behind (run it first), samples
every worker for the length of one wrk run, and prints the hottest frames, both
their own time and inclusive of what they call, as shares of all samples. The raw
collapsed stacks go to bench/profiles/ (for flamegraph.pl or speedscope).
"""

import argparse
import asyncio
import subprocess
import sys
from collections import Counter
from pathlib import Path
from typing import Any

import asyncpg

from bench import seed
from bench.run import BENCH, BIN, WRITERS, Run, Wrk, access_token, pg_url, settle, start_service

OUT = BENCH / "profiles"
WARM_UP_SECONDS = 5


# Writers' and lookers' access tokens, the reader's, and the challenge the POSTs log.
Tokens = tuple[list[str], list[str], str, str]


async def tokens_for(database: str, reader_email: str) -> Tokens:
    """Writers', lookers' and the reader's access tokens, and the challenge the POSTs log."""
    conn = await asyncpg.connect(seed.asyncpg_dsn(pg_url(database)))
    try:
        writers = await conn.fetch("SELECT id FROM users WHERE email LIKE 'writer%' ORDER BY email LIMIT $1", WRITERS)
        lookers = await conn.fetch("SELECT id FROM users WHERE email LIKE 'looker%' ORDER BY email")
        reader = await conn.fetchval("SELECT id FROM users WHERE email = $1", reader_email)
        challenge = await conn.fetchval(
            "SELECT id FROM challenges WHERE owner_id IS NULL AND status = 'published' ORDER BY slug LIMIT 1"
        )
    finally:
        await conn.close()
    if reader is None:
        sys.exit(f"{reader_email} is not in rt_bench: run `make bench` first")
    tokens = [access_token(w["id"]) for w in writers], [access_token(u["id"]) for u in lookers]
    return *tokens, access_token(reader), str(challenge)


def drive(wrk: Wrk, label: str, api: str, target: str, tokens: Tokens, *, window: bool = False, **options: Any) -> Run:
    """One wrk run of `target` against the API at `api` (…/api/v1): `post` (the writers in turn), `look` (log then
    look, the lookers), `trend` (the reader's; with `window`, a new `since` on every request) or `attempts` (the
    reader's first page)."""
    writers, lookers, reader, challenge = tokens
    if target == "post":
        return wrk.run(
            label, f"{api}/attempts", "post_attempt.lua", tokens=writers, BENCH_CHALLENGE_ID=challenge, **options
        )
    if target == "look":
        # One connection per thread: the script alternates per thread.
        threads = wrk.connections
        return wrk.run(
            label, api, "log_then_look.lua", tokens=lookers, threads=threads, BENCH_CHALLENGE_ID=challenge, **options
        )
    if target == "trend":
        unique_since = "1" if window else "0"
        return wrk.run(label, f"{api}/me/trend", "get.lua", tokens=[reader], BENCH_UNIQUE_SINCE=unique_since, **options)
    return wrk.run(label, f"{api}/attempts", "get.lua", tokens=[reader], **options)


def summarize(collapsed: Path, top: int) -> None:
    """Shares of the event loops' busy samples: idle pool threads and the loop waiting in epoll are left out."""
    own: Counter[str] = Counter()
    inclusive: Counter[str] = Counter()
    busy = idle = 0
    for line in collapsed.read_text().splitlines():
        stack, _, count_text = line.rpartition(" ")
        count = int(count_text)
        frames = stack.split(";")
        loop = [i for i, frame in enumerate(frames) if frame.startswith("Runner.run ")]
        if not loop:
            continue  # a thread-pool thread or uvicorn's supervisor
        if loop[-1] == len(frames) - 1:
            idle += count  # inside uvloop's C loop: waiting for I/O
            continue
        busy += count
        own[frames[-1]] += count
        for frame in set(frames[loop[-1] + 1 :]):
            inclusive[frame] += count
    print(f"event loop busy in {busy / max(busy + idle, 1):.0%} of {busy + idle} samples; shares of busy samples:")
    for title, counter in (("own time", own), ("inclusive", inclusive)):
        print(f"-- top {top} by {title}")
        for frame, count in counter.most_common(top):
            print(f"{count / max(busy, 1):6.1%}  {frame}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("target", choices=("post", "trend", "attempts", "look"))
    parser.add_argument("--heavy", action="store_true", help="trend: the user with 100,000 attempts")
    parser.add_argument("--window", action="store_true", help="trend: a new `since` on every request")
    parser.add_argument("--seconds", type=int, default=15)
    parser.add_argument("--top", type=int, default=40)
    args = parser.parse_args()

    OUT.mkdir(exist_ok=True)
    reader_email = "trend100k0@example.com" if args.heavy else "trend1k0@example.com"
    tokens = asyncio.run(tokens_for("rt_bench", reader_email))
    wrk = Wrk(duration=args.seconds, connections=32, threads=2, workdir=OUT)
    variant = "-heavy" * args.heavy + "-window" * args.window
    collapsed = OUT / f"{args.target}{variant}.collapsed.txt"
    with start_service("rt_bench", OUT) as service:

        def load(label: str, duration: int) -> None:
            api = f"{service.url}/api/v1"
            drive(wrk, label, api, args.target, tokens, window=args.window, duration=duration, wait_for_idle=False)

        # Opening the pools' connections took a sixth of a cold run's samples: warm up first, as bench.run does.
        load("warm-up", WARM_UP_SECONDS)
        settle()  # then the runs start with py-spy, not after it
        spy = subprocess.Popen(
            [
                str(BIN / "py-spy"),
                "record",
                "--subprocesses",
                "--pid",
                str(service.process.pid),
                "--duration",
                str(args.seconds - 2),
                "--rate",
                "200",
                "--format",
                "raw",
                "--output",
                str(collapsed),
            ],
            stdout=subprocess.DEVNULL,
        )
        load(args.target, args.seconds)
        if spy.wait(timeout=60) != 0:
            sys.exit("py-spy failed (it needs ptrace: run as root or with CAP_SYS_PTRACE)")
    summarize(collapsed, args.top)


if __name__ == "__main__":
    main()
