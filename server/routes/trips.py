"""Trip endpoints: `GET /v1/trips/{trip_id}/route`, a trip's route fetched when it is shown
(the PWA keeps trip segments out of its pulls). Thin: the engine (sync.trip_route) reads and
scope-checks; the answer is gzip-compressed for a client that accepts it."""

from __future__ import annotations

import uuid

from aiohttp import web

from schemas.wire import TripRoute
from server.http import principal, reply
from server.keys import SYNC
from sync.errors import NotFound
from sync.trip_route import trip_route

routes = web.RouteTableDef()


@routes.get("/v1/trips/{trip_id}/route")
async def route(request: web.Request) -> web.Response:
    raw = request.match_info["trip_id"]
    try:
        trip_id = str(uuid.UUID(raw))
    except ValueError:
        # Not an id a trip can have: the same answer as an unknown trip.
        raise NotFound("no such trip", {"field": "trip_id"}) from None
    body = await trip_route(request.app[SYNC].store, principal(request), trip_id)
    response = reply(request, TripRoute, body)
    response.enable_compression()
    return response
