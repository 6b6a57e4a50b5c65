"""The package as users install it: a wheel in a fresh virtual environment migrates, outside the checkout."""

import os
import shutil
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest
from alembic.script import ScriptDirectory

from app.core.migrations import alembic_config


def _uv(project_root: Path) -> str:
    # make installs uv into .tools/; a developer may have their own on PATH.
    local = project_root / ".tools" / "bin" / "uv"
    found = str(local) if local.is_file() else shutil.which("uv")
    if found is None:
        pytest.fail("uv is needed to build the wheel: run `make install`")
    return found


def _run(*command: str | Path, **options: object) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(part) for part in command], check=True, capture_output=True, text=True, timeout=300, **options
    )


def test_an_installed_wheel_migrates_an_empty_database_from_any_folder(project_root: Path, tmp_path: Path) -> None:
    uv = _uv(project_root)
    dist, venv, elsewhere = tmp_path / "dist", tmp_path / "venv", tmp_path / "elsewhere"
    elsewhere.mkdir()
    _run(uv, "build", "--wheel", "--out-dir", dist, project_root)
    (wheel,) = dist.glob("*.whl")
    _run(uv, "venv", "--python", sys.executable, venv)
    python = venv / "bin" / "python"
    _run(uv, "pip", "install", "--python", python, wheel)

    database = elsewhere / "fresh.db"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DATABASE_URL", "VIRTUAL_ENV"))}
    env["DATABASE_URL"] = f"sqlite+aiosqlite:///{database}"
    migrated = _run(venv / "bin" / "rejection-tracker", "migrate", cwd=elsewhere, env=env)
    assert "migrated" in migrated.stdout.lower() + migrated.stderr.lower()
    head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    with sqlite3.connect(database) as connection:
        assert connection.execute("SELECT version_num FROM alembic_version").fetchall() == [(head,)]
        tables = {name for (name,) in connection.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    assert {"users", "attempts", "session_stats"} <= tables
    # The migrations came from the installed package, not from this checkout.
    located = _run(
        python,
        "-c",
        "from app.core.migrations import script_location; print(script_location())",
        cwd=elsewhere,
        env=env,
    )
    assert Path(located.stdout.strip()).is_relative_to(venv)
