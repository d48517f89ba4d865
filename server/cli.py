"""The `drivesync` command: serve, migrate, seed-demo, worker, create-tenant, create-user, invite,
vapid-keys. Each subcommand has --help."""

from __future__ import annotations

import argparse
import asyncio
import errno
import getpass
import logging
import os
import sys
import uuid
from collections.abc import Sequence

from server.config import Settings, SettingsError, load_settings


def _settings() -> Settings:
    try:
        return load_settings()
    except SettingsError as exc:
        print(f"drivesync: {exc}", file=sys.stderr)
        raise SystemExit(2) from exc


def cmd_serve(args: argparse.Namespace) -> int:
    settings = _settings()
    processes: int = args.processes
    if processes > 1 and settings.is_sqlite:
        print(
            f"drivesync: --processes {processes} needs PostgreSQL. On SQLite live pokes reach "
            "only the clients of the process that made the change (LISTEN/NOTIFY is "
            "PostgreSQL's) and every write takes the one database lock anyway: run one "
            "process (the default) or set DRIVESYNC_DATABASE_URL=postgresql+asyncpg://...",
            file=sys.stderr,
        )
        return 2
    pid = " [%(process)d]" if processes > 1 else ""
    logging.basicConfig(
        level=settings.log_level, format=f"%(asctime)s %(levelname)s{pid} %(name)s %(message)s"
    )
    host = args.host or settings.host
    port = args.port or settings.port
    if not os.environ.get("DRIVESYNC_PUBLIC_URL"):
        # The links in account emails then name where this server really listens.
        settings = settings.model_copy(update={"public_url": f"http://{host}:{port}"})
    banner = (
        f"DriveSync serving on http://{host}:{port}/ (database: {settings.database_url.split('://')[0]}"
        + (f", {processes} processes)" if processes > 1 else ")")
    )
    if processes == 1:
        from aiohttp import web

        from server.app import create_app
        from server.shell import ShellQuietAccessLogger

        try:
            # The banner once the socket listens (aiohttp calls `print` then), never before
            # a bind that fails.
            web.run_app(
                create_app(settings),
                host=host,
                port=port,
                print=lambda _text: print(banner, flush=True),
                access_log_class=ShellQuietAccessLogger,
            )
        except OSError as exc:
            if exc.errno not in (errno.EADDRINUSE, errno.EACCES, errno.EADDRNOTAVAIL):
                raise
            print(f"drivesync: {_cannot_listen(host, port, exc)}", file=sys.stderr)
            return 1
        return 0
    from server.processes import PortInUse, check_port_free, serve

    try:
        check_port_free(host, port)  # one clear line, not a banner and then a failure
    except PortInUse as exc:
        print(f"drivesync: {exc}", file=sys.stderr)
        return 1
    print(banner, flush=True)

    # One key for every process: a token or cursor signed by one is read by the others
    # (and N processes must not race to create var/secret.key).
    settings = settings.model_copy(update={"secret_key": settings.resolved_secret()})
    try:
        return serve(settings, host, port, processes)
    except PortInUse as exc:
        print(f"drivesync: {exc}", file=sys.stderr)
        return 1


def _cannot_listen(host: str, port: int, exc: OSError) -> str:
    why = os.strerror(exc.errno) if exc.errno else str(exc)
    hint = (
        " (another program listens there: stop it, or choose another port with "
        "DRIVESYNC_PORT=… or --port …)"
        if exc.errno == errno.EADDRINUSE
        else ""
    )
    return f"cannot listen on {host}:{port}: {why.lower()}{hint}"


def _process_count(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = 0
    if not 1 <= value <= 256:
        raise argparse.ArgumentTypeError("must be between 1 and 256")
    return value


def cmd_migrate(args: argparse.Namespace) -> int:
    from server.migrate import downgrade, upgrade

    settings = _settings()
    if args.downgrade:
        downgrade(settings.database_url, args.downgrade)
    else:
        upgrade(settings.database_url, args.revision)
    print("migrations applied")
    return 0


async def _with_store(fn_name: str, *fn_args: object) -> object:
    from sync.database import make_engine, make_sessionmaker
    from sync.store import Store

    settings = _settings()
    engine = make_engine(settings.database_url)
    try:
        sessions = make_sessionmaker(engine)
        store = Store(sessions, engine.dialect.name)
        if fn_name == "seed":
            from server.seed import seed_demo

            return await seed_demo(sessions, store)
        if fn_name == "compact":
            from sync.compaction import compact_all

            return await compact_all(store, *fn_args)  # type: ignore[arg-type]
        from server import admin_cli

        return await getattr(admin_cli, fn_name)(sessions, store, *fn_args)
    finally:
        await engine.dispose()


def cmd_seed(_args: argparse.Namespace) -> int:
    created = asyncio.run(_with_store("seed"))
    if created:
        print(f"seeded: {', '.join(created)}")  # type: ignore[arg-type]
    else:
        print("demo schools already present: nothing changed")
    return 0


def cmd_create_tenant(args: argparse.Namespace) -> int:
    tenant_id = asyncio.run(
        _with_store("create_tenant", args.slug, args.name, args.timezone, args.currency)
    )
    print(f"created tenant {args.slug} ({tenant_id})")
    return 0


def cmd_create_user(args: argparse.Namespace) -> int:
    password = None if args.invite else args.password or getpass.getpass("password: ")
    user_id = asyncio.run(
        _with_store("create_user", args.tenant, args.email, args.name, args.role, password)
    )
    print(f"created {args.role} {args.email} ({user_id})")
    if args.invite:
        print("invitation email queued (sent by the outbox dispatcher)")
    return 0


def cmd_invite(args: argparse.Namespace) -> int:
    asyncio.run(_with_store("invite_again", args.tenant, args.email))
    print(f"new invitation email queued for {args.email}")
    return 0


def cmd_worker(args: argparse.Namespace) -> int:
    from workers.run import run_worker

    settings = _settings()
    logging.basicConfig(
        level=settings.log_level, format="%(asctime)s %(levelname)s %(name)s %(message)s"
    )
    asyncio.run(
        run_worker(settings, once=args.once, worker_id=args.id or f"worker-{uuid.uuid4().hex[:8]}")
    )
    return 0


def cmd_compact(args: argparse.Namespace) -> int:
    import datetime as dt

    settings = _settings()
    days = args.days if args.days is not None else settings.tombstone_horizon_days
    done = asyncio.run(_with_store("compact", dt.timedelta(days=days)))
    for item in done:  # type: ignore[attr-defined]
        print(
            f"{item.tenant_id}: {item.tombstones} tombstones, {item.results} push results removed; "
            f"horizon rev {item.horizon_rev}"
        )
    return 0


def cmd_vapid_keys(_args: argparse.Namespace) -> int:
    from server.vapid import new_vapid_keys

    private, public = new_vapid_keys()
    print(f"DRIVESYNC_VAPID_PRIVATE_KEY={private}")
    print(f"# applicationServerKey for the PWA (served at /v1/push/vapid-key): {public}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="drivesync",
        description="DriveSync: offline-first sync server for driving schools. "
        "Configuration comes from DRIVESYNC_* environment variables (docs/operations.md).",
    )
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("serve", help="run the HTTP server")
    p.add_argument("--host", help="address to bind (default DRIVESYNC_HOST or 127.0.0.1)")
    p.add_argument("--port", type=int, help="port (default DRIVESYNC_PORT or 8080)")
    p.add_argument(
        "--processes",
        type=_process_count,
        default=1,
        metavar="N",
        help="server processes sharing the port (SO_REUSEPORT); more than 1 needs PostgreSQL "
        "(default 1)",
    )
    p.set_defaults(fn=cmd_serve)

    p = sub.add_parser("migrate", help="apply database migrations")
    p.add_argument("--revision", default="head", help="target revision (default: head)")
    p.add_argument("--downgrade", metavar="REV", help="step back to REV instead (base: all)")
    p.set_defaults(fn=cmd_migrate)

    p = sub.add_parser("seed-demo", help="create the demo and rival schools (idempotent)")
    p.set_defaults(fn=cmd_seed)

    p = sub.add_parser("worker", help="run the outbox dispatcher (notifications, payments)")
    p.add_argument("--once", action="store_true", help="drain what is due, then exit")
    p.add_argument("--id", help="worker id shown in leases (default: random)")
    p.set_defaults(fn=cmd_worker)

    p = sub.add_parser("create-tenant", help="create a driving school")
    p.add_argument("--slug", required=True, help="short name used at login, e.g. 'acme'")
    p.add_argument("--name", required=True, help="the school's name")
    p.add_argument("--timezone", default="Europe/London", help="IANA timezone")
    p.add_argument("--currency", default="GBP", help="ISO 4217 code")
    p.set_defaults(fn=cmd_create_tenant)

    p = sub.add_parser("create-user", help="create a user in a school")
    p.add_argument("--tenant", required=True, help="school slug")
    p.add_argument("--email", required=True)
    p.add_argument("--name", required=True)
    p.add_argument(
        "--role", required=True, choices=["owner", "admin", "instructor", "student", "guardian"]
    )
    p.add_argument("--password", help="password (prompted for when omitted)")
    p.add_argument(
        "--invite",
        action="store_true",
        help="no password: email the user a link to set one (DRIVESYNC_PUBLIC_URL)",
    )
    p.set_defaults(fn=cmd_create_user)

    p = sub.add_parser("invite", help="email a new invitation to a user without a password")
    p.add_argument("--tenant", required=True, help="school slug")
    p.add_argument("--email", required=True)
    p.set_defaults(fn=cmd_invite)

    p = sub.add_parser("compact", help="remove tombstones older than the horizon (run daily)")
    p.add_argument(
        "--days", type=int, help="horizon in days (default DRIVESYNC_TOMBSTONE_HORIZON_DAYS)"
    )
    p.set_defaults(fn=cmd_compact)

    p = sub.add_parser("vapid-keys", help="make a VAPID key pair for web push")
    p.set_defaults(fn=cmd_vapid_keys)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return int(args.fn(args))


if __name__ == "__main__":
    raise SystemExit(main())
