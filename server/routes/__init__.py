"""HTTP routes, one module per concern; `register_sync_routes` adds the sync engine's."""

from __future__ import annotations

from aiohttp import web


def register_sync_routes(app: web.Application) -> None:
    """Add sync, live, admin and OpenAPI routes and the services behind them."""
    from server.routes import calendar, credits, earnings, effects, invoices, templates, trips
    from server.routes import sync as sync_routes

    sync_routes.setup(app)
    app.add_routes(trips.routes)
    app.add_routes(calendar.routes)
    app.add_routes(invoices.routes)
    effects.setup(app)
    earnings.setup(app)  # instructors' payouts and earnings (after the effects)
    app.add_routes(templates.routes)
    app.add_routes(credits.routes)
