"""Real processes for tests: the service started with `rejection-tracker serve`, a throwaway PostgreSQL cluster."""

import contextlib
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def wait_until(predicate: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out waiting for {what}")
        time.sleep(0.1)


@dataclass
class Service:
    base_url: str
    process: subprocess.Popen[str]
    log: Path


@contextmanager
def running_service(database_url: str, workdir: Path, **env: str) -> Iterator[Service]:
    """`rejection-tracker serve` in a subprocess on a free port; stopped with SIGTERM afterwards."""
    port = free_port()
    log = workdir / f"serve-{port}.log"
    environment = {
        **os.environ,
        "DATABASE_URL": database_url,
        "SECRET_KEY": "subprocess-test-secret-key-long-enough",
        "LOG_JSON": "true",
        **env,
    }
    with log.open("w") as output:
        process = subprocess.Popen(
            [sys.executable, "-m", "app.cli", "serve", "--port", str(port)],
            env=environment,
            stdout=output,
            stderr=subprocess.STDOUT,
            text=True,
        )
    service = Service(f"http://127.0.0.1:{port}", process, log)

    def healthy() -> bool:
        if process.poll() is not None:
            raise RuntimeError(f"serve exited:\n{log.read_text()}")
        try:
            return httpx.get(f"{service.base_url}/health", timeout=1).status_code == 200
        except httpx.TransportError:
            return False

    try:
        wait_until(healthy, 60, "the service to start")
        yield service
    finally:
        process.terminate()
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()


def postgres_bin() -> Path | None:
    root = Path("/usr/lib/postgresql")
    if not root.is_dir():
        return None
    versions = sorted((p for p in root.iterdir() if (p / "bin" / "initdb").exists()), key=lambda p: int(p.name))
    return versions[-1] / "bin" if versions else None


@dataclass
class ThrowawayPostgres:
    """A PostgreSQL cluster of our own, so a test can stop and start it without touching the shared one."""

    bin: Path
    data: Path
    port: int

    @property
    def url(self) -> str:
        return f"postgresql+asyncpg://postgres@127.0.0.1:{self.port}/postgres"

    def _pg_ctl(self, *args: str) -> None:
        command = [str(self.bin / "pg_ctl"), "-D", str(self.data), *args]
        if os.geteuid() == 0:
            # PostgreSQL refuses to run as root.
            command = ["runuser", "-u", "postgres", "--", *command]
        subprocess.run(command, check=True, capture_output=True, timeout=60)

    def start(self) -> None:
        options = f"-p {self.port} -c listen_addresses=127.0.0.1 -k {self.data} -c fsync=off"
        self._pg_ctl("start", "-w", "-t", "30", "-l", str(self.data / "server.log"), "-o", options)

    def stop(self, mode: str = "fast") -> None:
        """`pg_ctl stop -m <mode>`: `fast` shuts down cleanly; `immediate` kills the server as a crash would."""
        self._pg_ctl("stop", "-m", mode, "-w")


@contextmanager
def throwaway_postgres() -> Iterator[ThrowawayPostgres]:
    bin_dir = postgres_bin()
    if bin_dir is None:
        raise FileNotFoundError("PostgreSQL server binaries not found under /usr/lib/postgresql")
    data = Path(tempfile.mkdtemp(prefix="rt-pg-"))
    if os.geteuid() == 0:
        shutil.chown(data, "postgres", "postgres")
        initdb = ["runuser", "-u", "postgres", "--", str(bin_dir / "initdb")]
    else:
        initdb = [str(bin_dir / "initdb")]
    subprocess.run(
        [*initdb, "-D", str(data), "-A", "trust", "-U", "postgres"], check=True, capture_output=True, timeout=120
    )
    cluster = ThrowawayPostgres(bin_dir, data, free_port())
    cluster.start()
    try:
        yield cluster
    finally:
        with contextlib.suppress(subprocess.CalledProcessError):  # already stopped by the test
            cluster.stop()
        shutil.rmtree(data, ignore_errors=True)
