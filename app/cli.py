"""The `rejection-tracker` command line."""

import argparse
import asyncio
import getpass
import logging
import os
import sys
from collections.abc import Awaitable, Callable, Sequence
from typing import TypeVar

from pydantic import ValidationError
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app.accounts import service as accounts
from app.accounts.models import User
from app.accounts.schemas import UserCreate
from app.core import security
from app.core.config import get_settings
from app.core.db import create_engine, create_sessionmaker, unit_of_work
from app.core.migrations import upgrade_to_head

T = TypeVar("T")
ADMIN_PASSWORD_ENV = "ADMIN_PASSWORD"  # noqa: S105 (a variable name)


def _run_in_session(work: Callable[[AsyncSession], Awaitable[T]]) -> T:
    settings = get_settings()

    async def run() -> T:
        engine = create_engine(settings.database_url, settings.database_timeout_seconds)
        try:
            async with unit_of_work(create_sessionmaker(engine)) as session:
                return await work(session)
        finally:
            await engine.dispose()

    return asyncio.run(run())


def cmd_migrate(_args: argparse.Namespace) -> int:
    upgrade_to_head()
    print("Database migrated to the latest revision.")
    return 0


def cmd_serve(args: argparse.Namespace) -> int:
    import uvicorn

    settings = get_settings()
    # Workers read their own settings: hand them the key this process settled on
    # (perhaps a random development key), so a token from one worker is valid at all.
    os.environ.setdefault("SECRET_KEY", settings.signing_key)
    upgrade_to_head()
    all_interfaces = ("0.0.0.0", "::")  # noqa: S104 (only to print a usable address)
    shown_host = "127.0.0.1" if args.host in all_interfaces else args.host
    print(
        f"Rejection Tracker on http://{shown_host}:{args.port} (API docs: http://{shown_host}:{args.port}/docs)",
        flush=True,
    )
    uvicorn.run(
        "app.main:create_app",
        factory=True,
        host=args.host,
        port=args.port,
        workers=args.workers,
        proxy_headers=True,
        timeout_graceful_shutdown=20,
        log_level=settings.log_level.lower(),
    )
    return 0


def _read_admin_password(given: str | None) -> str:
    if given:
        return given
    from_env = os.environ.get(ADMIN_PASSWORD_ENV)
    if from_env:
        return from_env
    if not sys.stdin.isatty():
        raise SystemExit(f"No password: pass --password, set {ADMIN_PASSWORD_ENV}, or run in a terminal.")
    password = getpass.getpass("Password for the admin (at least 10 characters): ")
    if getpass.getpass("Repeat it: ") != password:
        raise SystemExit("The passwords differ.")
    return password


def cmd_create_admin(args: argparse.Namespace) -> int:
    try:
        data = UserCreate(email=args.email, password=_read_admin_password(args.password))
    except ValidationError as exc:
        for error in exc.errors():
            print(f"{'.'.join(map(str, error['loc']))}: {error['msg']}", file=sys.stderr)
        return 2
    upgrade_to_head()

    async def work(session: AsyncSession) -> str:
        user = await session.scalar(select(User).where(User.email == data.email))
        if user is None:
            await accounts.register(session, data, is_admin=True)
            return f"Created admin {data.email}."
        user.is_admin = True
        user.password_hash = security.hash_password(data.password)
        return f"{data.email} exists: made it an admin and set the new password."

    print(_run_in_session(work))
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="rejection-tracker", description="Rejection Tracker: graded rejection-exposure practice as a REST service."
    )
    commands = parser.add_subparsers(dest="command", required=True)

    serve = commands.add_parser("serve", help="migrate the database, seed the catalog if empty, and serve the API")
    serve.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    serve.add_argument("--port", type=int, default=8000, help="port to bind (default 8000)")
    serve.add_argument("--workers", type=int, default=1, help="worker processes (default 1)")
    serve.set_defaults(func=cmd_serve)

    migrate = commands.add_parser("migrate", help="migrate the database to the latest revision")
    migrate.set_defaults(func=cmd_migrate)

    admin = commands.add_parser("create-admin", help="create an admin account, or make an existing account admin")
    admin.add_argument("email")
    admin.add_argument(
        "--password", help=f"the password (else ${ADMIN_PASSWORD_ENV}, else a prompt); visible in the process list"
    )
    admin.set_defaults(func=cmd_create_admin)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    args = build_parser().parse_args(argv)
    code: int = args.func(args)
    return code


if __name__ == "__main__":
    raise SystemExit(main())
