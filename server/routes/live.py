"""Live pokes: `GET /v1/sync/live` (WebSocket) and `GET /v1/sync/events` (SSE).

Once authenticated the server sends `{"type": "ready", "rev": N}`, then `{"type": "poke",
"rev": M}` after every commit in the client's scope, and a heartbeat every 25 s. A poke only
says "pull now"; the data always comes by pull, so a lost poke costs latency, never data.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import weakref
from typing import Any

from aiohttp import WSMsgType, web

from server.keys import SETTINGS, SYNC
from server.middlewares import authenticate, bearer_token, public
from server.outage import is_database_unavailable
from sync.core.principal import Principal
from sync.core.scope import Scope, rescopes
from sync.errors import Unauthenticated
from sync.notifier import Subscriber
from sync.store import CommitInfo

log = logging.getLogger("drivesync.live")
routes = web.RouteTableDef()
LIVE_SOCKETS: web.AppKey[weakref.WeakSet[web.WebSocketResponse]] = web.AppKey("live_sockets")
# Set at shutdown: SSE streams end at once instead of at their next heartbeat.
LIVE_CLOSING: web.AppKey[asyncio.Event] = web.AppKey("live_closing")


def setup(app: web.Application) -> None:
    """Track live sockets so shutdown closes them (1001 going away) instead of waiting."""
    sockets: weakref.WeakSet[web.WebSocketResponse] = weakref.WeakSet()
    app[LIVE_SOCKETS] = sockets
    app[LIVE_CLOSING] = asyncio.Event()

    async def close_all(app: web.Application) -> None:
        app[LIVE_CLOSING].set()
        for ws in set(sockets):
            await ws.close(code=1001, message=b"server shutdown")

    app.on_shutdown.append(close_all)
    app.add_routes(routes)


class _Watch:
    """A connection's current scope and the predicate the notifier calls."""

    def __init__(self, who: Principal, scope: Scope) -> None:
        self.who = who
        self.scope = scope
        self.stale = False

    def wants(self, info: CommitInfo) -> bool:
        """The live poke filter of sync.core.scope: a commit that changed this user's scope
        marks it stale (reloaded before the poke) and always pokes."""
        if rescopes(self.who, info.rescoped, info.rescope_all):
            self.stale = True
            return True
        return self.scope.touched_by(
            self.who, info.student_ids, info.instructor_ids, info.catalogue, info.user_ids
        )


async def _open(app: web.Application, who: Principal) -> tuple[_Watch, Subscriber, int]:
    service = app[SYNC]
    head = await service.store.head(who.tenant_id)
    watch = _Watch(who, await service.admin.scope_of(who))
    sub = Subscriber(who.tenant_id, watch.wants)
    service.notifier.subscribe(sub)
    return watch, sub, head


async def _next_poke(
    app: web.Application,
    watch: _Watch,
    sub: Subscriber,
    wait_s: float,
    closed: asyncio.Future[Any] | None = None,
) -> int | None:
    """The next rev to poke with (latest of those queued), or None on heartbeat time or
    when `closed` (the connection's reader) finishes first."""
    getter = asyncio.ensure_future(sub.queue.get())
    waiting: set[asyncio.Future[Any]] = {getter} if closed is None else {getter, closed}
    done, _ = await asyncio.wait(waiting, timeout=wait_s, return_when=asyncio.FIRST_COMPLETED)
    if getter not in done:
        getter.cancel()
        return None
    rev: int = getter.result()
    while not sub.queue.empty():
        rev = max(rev, sub.queue.get_nowait())
    if watch.stale:
        watch.scope = await app[SYNC].admin.scope_of(watch.who)
        watch.stale = False
    return rev


@routes.get("/v1/sync/live")
@public
async def live(request: web.Request) -> web.WebSocketResponse:
    app = request.app
    settings = app[SETTINGS]
    ws = web.WebSocketResponse(heartbeat=settings.heartbeat_s, max_msg_size=64 * 1024)
    await ws.prepare(request)
    token = bearer_token(request)
    if token is None:
        try:
            msg = await ws.receive(timeout=settings.ws_auth_timeout_s)
        except TimeoutError:
            await ws.close(code=4401, message=b"authenticate within 5 s")
            return ws
        data: Any = None
        if msg.type == WSMsgType.TEXT:
            with contextlib.suppress(ValueError, RecursionError):  # not JSON: no token
                data = msg.json()
        if isinstance(data, dict) and data.get("type") == "auth":
            token = data.get("token")
    try:
        who = await authenticate(app, token if isinstance(token, str) else None)
    except Unauthenticated as exc:
        await ws.send_json({"type": "error", "error": {"code": exc.code, "message": exc.message}})
        await ws.close(code=4401, message=b"unauthenticated")
        return ws
    except Exception as exc:  # the standing check could not reach the database
        await _close_on_error(ws, exc)
        return ws
    try:
        watch, sub, head = await _open(app, who)
    except Exception as exc:
        await _close_on_error(ws, exc)
        return ws
    reader = asyncio.create_task(_drain(ws))
    app[LIVE_SOCKETS].add(ws)
    try:
        await ws.send_json({"type": "ready", "rev": head})
        while not ws.closed and not reader.done():
            rev = await _next_poke(app, watch, sub, settings.heartbeat_s, reader)
            if ws.closed or reader.done():
                break
            await ws.send_json(
                {"type": "poke", "rev": rev} if rev is not None else {"type": "heartbeat"}
            )
    except (ConnectionResetError, RuntimeError):
        pass  # the client went away mid-send
    except Exception as exc:  # reloading the scope failed (the database is down, or a bug)
        await _close_on_error(ws, exc)
    finally:
        app[SYNC].notifier.unsubscribe(sub)
        app[LIVE_SOCKETS].discard(ws)
        reader.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await reader
        await ws.close()
    return ws


async def _close_on_error(ws: web.WebSocketResponse, exc: Exception) -> None:
    """After the upgrade an error can no longer become an HTTP answer (the error middleware
    would write one into the WebSocket stream): tell the client and close. The database
    being unreachable closes with 1013 (try again later: the client reconnects with
    backoff); anything else is a bug, logged, and closes with 1011."""
    if is_database_unavailable(exc):
        code, message, close = "database_unavailable", "the database cannot be reached", 1013
    else:
        log.error("live connection failed", exc_info=exc)
        code, message, close = "internal", "internal error", 1011
    with contextlib.suppress(ConnectionResetError, RuntimeError):
        await ws.send_json({"type": "error", "error": {"code": code, "message": message}})
    await ws.close(code=close, message=code.encode())


async def _drain(ws: web.WebSocketResponse) -> None:
    """Read (and ignore) client messages until the socket closes."""
    async for msg in ws:
        if msg.type == WSMsgType.ERROR:
            break


@routes.get("/v1/sync/events")
@public
async def events(request: web.Request) -> web.StreamResponse:
    app = request.app
    who = await authenticate(app, bearer_token(request) or request.query.get("access_token"))
    watch, sub, head = await _open(app, who)
    response = web.StreamResponse(
        headers={
            "Content-Type": "text/event-stream",
            "Cache-Control": "no-cache",
            "X-Accel-Buffering": "no",
        }
    )
    await response.prepare(request)
    closing = app[LIVE_CLOSING]
    stop = asyncio.ensure_future(closing.wait())
    try:
        await response.write(f'event: ready\ndata: {{"type":"ready","rev":{head}}}\n\n'.encode())
        while not closing.is_set():
            rev = await _next_poke(app, watch, sub, app[SETTINGS].heartbeat_s, stop)
            if closing.is_set():
                break  # shutting down: the client reconnects to another process
            if rev is None:
                await response.write(b": heartbeat\n\n")
            else:
                await response.write(
                    f'event: poke\ndata: {{"type":"poke","rev":{rev}}}\n\n'.encode()
                )
    except (ConnectionResetError, asyncio.CancelledError):
        pass
    finally:
        stop.cancel()
        app[SYNC].notifier.unsubscribe(sub)
    return response
