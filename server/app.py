"""The aiohttp application factory: `create_app(settings)` wires settings, the database,
the services and the routes. Each resource starts and stops in one cleanup_ctx generator."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from pathlib import Path

from aiohttp import web

from server.auth.service import AuthService
from server.auth.settings import AuthSettings
from server.config import Settings
from server.keys import AUTH, ENGINE, SECRET, SESSIONS, SETTINGS
from server.middlewares import (
    auth_middleware,
    body_middleware,
    error_middleware,
    overload_middleware,
)
from server.routes import auth as auth_routes
from server.routes import health as health_routes
from server.security import security_headers
from server.shell import add_pwa
from sync.database import make_engine, make_sessionmaker

log = logging.getLogger("drivesync")

PWA_DIR = Path(__file__).resolve().parent.parent / "clients" / "pwa"


async def _database(app: web.Application) -> AsyncIterator[None]:
    settings = app[SETTINGS]
    engine = make_engine(settings.database_url)
    app[ENGINE] = engine
    app[SESSIONS] = make_sessionmaker(engine)
    app[AUTH] = AuthService(app[SESSIONS], settings)
    yield
    app[AUTH].close()
    await engine.dispose()


def create_app(settings: Settings) -> web.Application:
    """A ready-to-run application for `settings` (no globals: tests make several)."""
    app = web.Application(
        # In this order: a body is received before the request counts as in flight, and
        # auth (which may query the database) counts (server/middlewares.py).
        middlewares=[
            error_middleware,
            body_middleware,
            overload_middleware(settings.max_inflight_requests),
            auth_middleware,
        ],
        client_max_size=settings.max_push_bytes + 64 * 1024,
        handler_args=handler_args(settings),
    )
    app.on_response_prepare.append(security_headers(AuthSettings().trusted_proxy_hops))
    app[SETTINGS] = settings
    app[SECRET] = settings.resolved_secret()
    app.cleanup_ctx.append(_database)
    app.add_routes(health_routes.routes)
    app.add_routes(auth_routes.routes)
    _add_sync(app)
    _add_pwa(app, settings.pwa_dir or PWA_DIR)
    return app


def handler_args(settings: Settings) -> dict[str, float | int]:
    """The connection limits of aiohttp's request handler, carried by the app itself so that
    every way of serving it (`drivesync serve`, `--processes N`, the tests' servers) applies
    them. aiohttp's keep-alive timer also runs from the moment a connection opens until its
    request's headers are complete, so it bounds idle and slowloris connections alike;
    over-long header lines or too many headers are refused with 400 before any handler."""
    return {
        "keepalive_timeout": settings.keepalive_timeout_s,
        "max_line_size": settings.max_header_bytes,
        "max_field_size": settings.max_header_bytes,
        "max_headers": settings.max_headers,
    }


def _add_sync(app: web.Application) -> None:
    """Sync, live, admin and OpenAPI routes (present once the engine is importable)."""
    try:
        from server.routes import register_sync_routes
    except ImportError:  # pragma: no cover - only while the engine is being built
        return
    register_sync_routes(app)


def _add_pwa(app: web.Application, pwa_dir: Path) -> None:
    """The PWA: the shell at `/`, its files under `/app/`, the service worker at `/sw.js`
    (server/shell.py: compressed on the wire, the worker stamped with the shell's hash)."""
    add_pwa(app, pwa_dir)
