"""The `rejection-tracker` command line."""

import argparse
import asyncio
import getpass
import json
import os
import secrets
import sys
import tempfile
from collections.abc import Awaitable, Callable, Sequence
from typing import TypeVar

from pydantic import ValidationError
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app import demo
from app.accounts import service as accounts
from app.accounts.models import User
from app.accounts.schemas import UserCreate
from app.catalog import importer
from app.catalog.schemas import ImportResult
from app.core import security
from app.core.config import get_settings
from app.core.db import create_engine, create_sessionmaker, unit_of_work
from app.core.migrations import upgrade_to_head
from app.core.observability import configure_logging, logging_config

T = TypeVar("T")
ADMIN_PASSWORD_ENV = "ADMIN_PASSWORD"  # noqa: S105 (a variable name)
WORKER_HEALTHCHECK_SECONDS = 30


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
    seeded = _run_in_session(importer.seed_if_empty)
    if seeded is not None:
        print(seeded.summary(), flush=True)
    all_interfaces = ("0.0.0.0", "::")  # noqa: S104 (only to print a usable address)
    shown_host = "127.0.0.1" if args.host in all_interfaces else args.host
    print(
        f"Rejection Tracker on http://{shown_host}:{args.port} (API docs: http://{shown_host}:{args.port}/docs)",
        flush=True,
    )
    # glibc gives each thread that allocates its own malloc arena and keeps it; the few
    # threads a worker runs (name lookups) need none of their own.
    os.environ.setdefault("MALLOC_ARENA_MAX", "2")
    if args.workers > 1 and "PROMETHEUS_MULTIPROC_DIR" not in os.environ:
        # Workers are separate processes: they share metrics through files.
        os.environ["PROMETHEUS_MULTIPROC_DIR"] = tempfile.mkdtemp(prefix="rejection-tracker-metrics-")
    uvicorn.run(
        "app.main:create_app",
        factory=True,
        host=args.host,
        port=args.port,
        workers=args.workers,
        proxy_headers=True,
        forwarded_allow_ips=settings.forwarded_allow_ips,
        timeout_graceful_shutdown=20,
        # The supervisor kills a worker that does not answer its ping within this time. A
        # spawned worker answers only once it has imported the app, which took over 5 s
        # (uvicorn's default) on a busy 2-core machine: workers were killed and respawned in a loop.
        timeout_worker_healthcheck=WORKER_HEALTHCHECK_SECONDS,
        log_config=logging_config(settings.log_level, settings.logs_as_json),
        access_log=False,
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


def cmd_demo(args: argparse.Namespace) -> int:
    if get_settings().environment == "production":
        # An account whose password went to a terminal has no place on a server people use.
        print("The demo account is for development: ENVIRONMENT is production.", file=sys.stderr)
        return 2
    password = args.password or secrets.token_urlsafe(12)
    try:
        UserCreate(email=demo.DEMO_EMAIL, password=password)
    except ValidationError as exc:
        for error in exc.errors():
            print(f"{'.'.join(map(str, error['loc']))}: {error['msg']}", file=sys.stderr)
        return 2
    upgrade_to_head()

    async def work(session: AsyncSession) -> int:
        # As `serve` does on a new database: the demo practises at the shipped catalog's challenges.
        await importer.seed_if_empty(session)
        _, count = await demo.create_demo_account(session, password)
        return count

    count = _run_in_session(work)
    print(f"Demo account ready, with {count} attempts over {demo.DAYS} days up to today (made afresh on every run).")
    print(f"  email:    {demo.DEMO_EMAIL}")
    print(f"  password: {password}")
    return 0


def cmd_seed(_args: argparse.Namespace) -> int:
    upgrade_to_head()
    print(_run_in_session(importer.seed_catalog).summary())
    return 0


def cmd_import_challenges(args: argparse.Namespace) -> int:
    try:
        with open(args.file, encoding="utf-8") as handle:
            categories, challenges = importer.split_import_document(json.load(handle))
    except (OSError, ValueError, TypeError) as exc:
        print(f"Cannot read {args.file}: {exc}", file=sys.stderr)
        return 2
    upgrade_to_head()

    async def work(session: AsyncSession) -> tuple[ImportResult, ImportResult]:
        category_result = await importer.import_categories(session, categories)
        return category_result, await importer.import_challenges(session, challenges)

    category_result, challenge_result = _run_in_session(work)
    results = ([("category", category_result)] if categories else []) + [("challenge", challenge_result)]
    for label, result in results:
        print(
            f"{label.capitalize()} items: {result.created} created, {result.updated} updated, "
            f"{result.unchanged} unchanged, {len(result.rejected)} rejected."
        )
        for line in importer.describe_rejections(result):
            print(f"  rejected {label} {line}", file=sys.stderr)
    return 1 if category_result.rejected or challenge_result.rejected else 0


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

    demo_ = commands.add_parser(
        "demo",
        help="create a demo account with four weeks of practice and print its login (re-created on every run)",
        description=f"Migrates the database, seeds the catalog if it is empty, and (re)creates {demo.DEMO_EMAIL} "
        "with practice that shows an improving trend, an avoided ask, a streak up to today and a step down. "
        "An earlier demo account is removed first. Refused when ENVIRONMENT=production.",
    )
    demo_.add_argument("--password", help="the demo account's password (default: a new random one, printed)")
    demo_.set_defaults(func=cmd_demo)

    seed = commands.add_parser(
        "seed", help="add the shipped catalog's missing categories and challenges; existing ones are left alone"
    )
    seed.set_defaults(func=cmd_seed)

    import_ = commands.add_parser(
        "import-challenges",
        help="upsert challenges by slug from a JSON file (exit 1 if any item was rejected)",
        description='FILE holds a JSON list of challenges, or an object {"categories": [...], '
        '"challenges": [...]} like the shipped catalog; categories are upserted first. '
        "Each item is checked on its own: good ones are stored, rejected ones are listed.",
    )
    import_.add_argument("file", metavar="FILE", help="the JSON file to import")
    import_.set_defaults(func=cmd_import_challenges)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    settings = get_settings()
    configure_logging(settings.log_level, settings.logs_as_json)
    code: int = args.func(args)
    return code


if __name__ == "__main__":
    raise SystemExit(main())
