"""Running Alembic from code: the CLI, `serve` and the tests all migrate through here.

The migrations live in the checkout's top-level `migrations/` (where `alembic.ini` finds
them for developers' `alembic revision`); a wheel ships the same folder inside the
package as `app/migrations` (pyproject's force-include). They are located from this
module, never from the working directory, so an installed `rejection-tracker migrate`
works in any folder.
"""

from pathlib import Path

from alembic import command
from alembic.config import Config

_PACKAGE = Path(__file__).resolve().parents[1]
PROJECT_ROOT = _PACKAGE.parent


def script_location() -> Path:
    """The migrations folder: inside the installed package, or else the checkout's."""
    for folder in (_PACKAGE / "migrations", PROJECT_ROOT / "migrations"):
        if (folder / "env.py").is_file():
            return folder
    raise FileNotFoundError(f"no migrations in {_PACKAGE} or {PROJECT_ROOT}: install the package or use a checkout")


def alembic_config(database_url: str | None = None, *, configure_logging: bool = False) -> Config:
    config = Config()
    config.set_main_option("script_location", str(script_location()))
    config.set_main_option("path_separator", "os")
    config.attributes["configure_logging"] = configure_logging
    if database_url is not None:
        config.attributes["database_url"] = database_url
    return config


def upgrade_to_head(database_url: str | None = None) -> None:
    command.upgrade(alembic_config(database_url), "head")
