"""Instructors' money: setting up Stripe Connect payouts (onboarding) and the earnings
views. Thin: authenticate, validate, call sync/ and workers/, answer."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import cast

from aiohttp import web

from server.http import json_response, principal, require_admin
from server.keys import SETTINGS, SYNC
from server.params import text_param, uuid_param
from sync.core.earnings import PERIODS, Period
from sync.earnings import earnings
from workers.config import WorkerConfig
from workers.payments.connect import Onboarding

routes = web.RouteTableDef()

ONBOARDING = web.AppKey("connect_onboarding", Onboarding)


def _period(request: web.Request) -> Period:
    return cast(Period, text_param(request.query, "period", choices=PERIODS) or "week")


@routes.post("/v1/me/payouts/onboarding")
async def onboarding(request: web.Request) -> web.Response:
    """A Stripe-hosted onboarding link for the signed-in instructor's payouts."""
    return json_response(await request.app[ONBOARDING].link(principal(request)), 201)


@routes.get("/v1/me/earnings")
async def my_earnings(request: web.Request) -> web.Response:
    who = principal(request)
    return json_response(await earnings(request.app[SYNC].store, who, _period(request)))


@routes.get("/v1/admin/earnings")
async def admin_earnings(request: web.Request) -> web.Response:
    who = require_admin(request)
    instructor_id = uuid_param(request.query, "instructor_id")
    store = request.app[SYNC].store
    return json_response(await earnings(store, who, _period(request), instructor_id, own=False))


async def _onboarding(app: web.Application) -> AsyncIterator[None]:
    from server.routes.effects import WORKER_CONFIG

    # The effects' config (set on the app by tests) when there is one, else the settings'.
    config = app.get(WORKER_CONFIG) or WorkerConfig.from_settings(app[SETTINGS])
    app[ONBOARDING] = Onboarding(config, app[SYNC].store)
    yield
    await app[ONBOARDING].close()


def setup(app: web.Application) -> None:
    """Register the routes and the onboarding client's lifetime (after the effects')."""
    app.cleanup_ctx.append(_onboarding)
    app.add_routes(routes)
