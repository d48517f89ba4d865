"""The calendar feed: `GET|POST|DELETE /v1/calendar/feed` (the signed-in user's feed: its
state, a new address, off) and `GET /v1/calendar/feeds/{secret}.ics`, the feed itself, read
by calendar apps with no token (the secret in the address is the credential). Logic in
server/calendar.py and sync/calendar_feed.py."""

from __future__ import annotations

from aiohttp import web

from schemas.response import CalendarFeedStatus
from server.calendar import CalendarService
from server.http import principal, reply
from server.keys import SESSIONS, SETTINGS
from server.middlewares import public

routes = web.RouteTableDef()

# A secret is token_urlsafe(32): 43 characters of the URL-safe alphabet.
_SECRET = r"[A-Za-z0-9_-]{20,100}"


def _service(request: web.Request) -> CalendarService:
    return CalendarService(request.app[SESSIONS], request.app[SETTINGS].public_url)


@routes.get("/v1/calendar/feed")
async def feed_status(request: web.Request) -> web.Response:
    result = await _service(request).status(principal(request))
    return reply(request, CalendarFeedStatus, result)


@routes.post("/v1/calendar/feed")
async def feed_on(request: web.Request) -> web.Response:
    result = await _service(request).turn_on(principal(request))
    return reply(request, CalendarFeedStatus, result, status=201)


@routes.delete("/v1/calendar/feed")
async def feed_off(request: web.Request) -> web.Response:
    result = await _service(request).turn_off(principal(request))
    return reply(request, CalendarFeedStatus, result)


@routes.get("/v1/calendar/feeds/{secret:" + _SECRET + r"}.ics")
@public
async def feed(request: web.Request) -> web.Response:
    found = await _service(request).feed(request.match_info["secret"])
    headers = {
        "ETag": found.etag,
        # Private: the address is a credential, no shared cache may keep the answer.
        "Cache-Control": "private, max-age=300",
        "Content-Disposition": f'inline; filename="{found.filename}"',
        # The secret is in this page's own address: never send it on as a referrer.
        "Referrer-Policy": "no-referrer",
    }
    if found.etag in request.headers.get("If-None-Match", ""):
        return web.Response(status=304, headers=headers)
    return web.Response(
        body=found.body, content_type="text/calendar", charset="utf-8", headers=headers
    )
