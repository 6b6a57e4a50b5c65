"""Running Alembic from code: the CLI, `serve` and the tests all migrate through here."""

from pathlib import Path

from alembic import command
from alembic.config import Config

PROJECT_ROOT = Path(__file__).resolve().parents[2]


def alembic_config(database_url: str | None = None, *, configure_logging: bool = False) -> Config:
    ini = PROJECT_ROOT / "alembic.ini"
    if not ini.is_file():
        raise FileNotFoundError(f"alembic.ini not found at {ini}; run from a checkout or the Docker image")
    config = Config(str(ini))
    config.attributes["configure_logging"] = configure_logging
    if database_url is not None:
        config.attributes["database_url"] = database_url
    return config


def upgrade_to_head(database_url: str | None = None) -> None:
    command.upgrade(alembic_config(database_url), "head")
