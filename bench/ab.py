"""Compare two versions of the service under wrk: a git revision (A) against the working tree (B), in turns.

    .venv/bin/python -m bench.ab HEAD~1                                # the trend at both sizes, 4 rounds
    .venv/bin/python -m bench.ab main --runs post,look --rounds 6

Runs on the rt_bench database that `make bench` left behind. A is served from a temporary git worktree of the
revision, B from this checkout, both as `rejection-tracker serve --workers 2` at once; each round runs every kind
of run on both, in alternating order. A side runs its own code because PYTHONPATH, set when its process starts,
comes before the editable install's entry on sys.path (in the spawned workers too). The database's schema is B's:
migrations A does not have are copied into A's worktree so that A starts, which is only sound when they add what
A's code never reads (a column, an index); the copies are listed.

Prints per kind the median req/s and p50 of each side, the machine's busy CPU time per request (every process:
both services' workers, PostgreSQL, wrk) and B/A per round. Ratios from one invocation only: this machine's
speed moves by a third from one minute to the next.
"""

import argparse
import asyncio
import os
import shutil
import statistics
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path

from bench.profile import drive, tokens_for
from bench.run import ROOT, Run, Wrk, start_service

KINDS = ("light", "heavy", "post", "look", "window")
OUT = ROOT / "bench" / "profiles"


def _busy_seconds() -> float:
    """CPU time spent by the whole machine so far, all but idle and I/O wait."""
    fields = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    return (sum(fields) - fields[3] - fields[4]) / os.sysconf("SC_CLK_TCK")


@contextmanager
def worktree(revision: str) -> Iterator[Path]:
    path = Path(tempfile.mkdtemp(prefix="rt-ab-"))
    subprocess.run(["git", "worktree", "add", "--detach", "--quiet", str(path), revision], cwd=ROOT, check=True)
    try:
        ours, theirs = ROOT / "migrations" / "versions", path / "migrations" / "versions"
        missing = sorted({p.name for p in ours.glob("*.py")} - {p.name for p in theirs.glob("*.py")})
        for name in missing:
            shutil.copy(ours / name, theirs / name)
            print(f"A runs on B's schema: copied migrations/versions/{name}")
        yield path
    finally:
        subprocess.run(["git", "worktree", "remove", "--force", str(path)], cwd=ROOT, check=True)


@contextmanager
def serve(checkout: Path, name: str) -> Iterator[str]:
    os.environ["PYTHONPATH"] = str(checkout)
    try:
        with start_service("rt_bench", OUT, name=name) as service:
            os.environ.pop("PYTHONPATH")
            yield f"{service.url}/api/v1"
    finally:
        os.environ.pop("PYTHONPATH", None)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("revision", help="A: any git revision (B is the working tree)")
    parser.add_argument("--runs", default="light,heavy", help=f"comma-separated, of {', '.join(KINDS)}")
    parser.add_argument("--rounds", type=int, default=4)
    parser.add_argument("--seconds", type=int, default=10)
    args = parser.parse_args()
    kinds = args.runs.split(",")
    if unknown := set(kinds) - set(KINDS):
        parser.error(f"unknown runs: {', '.join(sorted(unknown))}")

    OUT.mkdir(exist_ok=True)
    light = asyncio.run(tokens_for("rt_bench", "trend1k0@example.com"))
    heavy = asyncio.run(tokens_for("rt_bench", "trend100k0@example.com"))
    wrk = Wrk(duration=args.seconds, connections=32, threads=2, workdir=OUT)

    def run(label: str, api: str, kind: str, duration: int | None = None) -> Run:
        # light, heavy and window are the trend of the user with 1,000 attempts, 100,000, and 1,000 in new windows.
        target = kind if kind in ("post", "look") else "trend"
        return drive(
            wrk, label, api, target, heavy if kind == "heavy" else light, window=kind == "window", duration=duration
        )

    runs: dict[tuple[str, str], list[tuple[Run, float]]] = {}
    with ExitStack() as stack:
        apis = {
            "A": stack.enter_context(serve(stack.enter_context(worktree(args.revision)), "ab-a")),
            "B": stack.enter_context(serve(ROOT, "ab-b")),
        }
        for side, api in apis.items():
            for kind in kinds:
                run(f"warm-up {side} {kind}", api, kind, duration=3)
        for round_number in range(args.rounds):
            for kind in kinds:
                for side in ("A", "B") if round_number % 2 == 0 else ("B", "A"):
                    before = _busy_seconds()
                    result = run(f"{side} {kind}", apis[side], kind)
                    runs.setdefault((side, kind), []).append((result, (_busy_seconds() - before) / result.requests))

    print(f"A = {args.revision}, B = the working tree; medians of {args.rounds} rounds")
    for kind in kinds:
        a, b = runs["A", kind], runs["B", kind]
        line = [f"{kind:<7}"]
        for side, results in (("A", a), ("B", b)):
            rps = statistics.median(r.rps for r, _ in results)
            p50 = statistics.median(r.p50_ms for r, _ in results)
            cpu = statistics.median(c for _, c in results) * 1e6
            line.append(f"{side} {rps:6.0f} req/s p50 {p50:7.2f} ms {cpu:6.0f} µs CPU/request")
        per_round = ", ".join(f"{rb.rps / ra.rps:.3f}" for (ra, _), (rb, _) in zip(a, b, strict=True))
        print(" | ".join(line) + f" | B/A req/s by round: {per_round}")
    if {"light", "heavy"} <= set(kinds):
        for side in ("A", "B"):
            ratios = [
                h.p50_ms / s.p50_ms for (s, _), (h, _) in zip(runs[side, "light"], runs[side, "heavy"], strict=True)
            ]
            shown = ", ".join(f"{r:.2f}" for r in ratios)
            print(f"{side}: p50 of 100,000 attempts over 1,000: {statistics.median(ratios):.2f}x (by round: {shown})")


if __name__ == "__main__":
    main()
