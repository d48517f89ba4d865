"""Sync endpoints: push, pull, checksum, info. Thin: parse, authorize, call the engine,
shape the answer."""

from __future__ import annotations

from collections.abc import AsyncIterator

import orjson
from aiohttp import web

from schemas.response import ChecksumResponse, PullResponse, PushResponse, SyncInfo
from schemas.wire import PushRequest
from server.http import parse, principal, read_json, reply
from server.keys import SECRET, SESSIONS, SETTINGS, SYNC
from server.middlewares import public
from server.params import bool_param, int_param, optional_int_param, text_param, uuid_param
from sync.errors import TooLarge
from sync.service import Limits, SyncService
from sync.store import Store

routes = web.RouteTableDef()


def _entities(request: web.Request) -> frozenset[str] | None:
    """The `entities` filter: names separated by commas (the engine refuses unknown ones)."""
    raw = text_param(request.query, "entities", max_length=2000)
    if raw is None:
        return None
    return frozenset(p.strip() for p in raw.split(",") if p.strip())


def _cursor(request: web.Request) -> str | None:
    # A cursor is base64url text: anything else is refused by its HMAC check (410) anyway,
    # but a control character is a malformed request, not a stale cursor.
    return text_param(request.query, "cursor", max_length=4096)


@routes.post("/v1/sync/push")
async def push(request: web.Request) -> web.Response:
    settings = request.app[SETTINGS]
    body = await read_json(request, settings.max_push_bytes)
    if isinstance(body, dict) and isinstance(body.get("mutations"), list):
        if len(body["mutations"]) > settings.max_push_mutations:
            raise TooLarge(
                f"at most {settings.max_push_mutations} mutations a request",
                {"max_mutations": settings.max_push_mutations},
            )
    req = parse(PushRequest, body)
    raw = [m for m in body["mutations"]]
    for item, parsed in zip(raw, req.mutations, strict=True):
        item["seq"] = parsed.seq
    result = await request.app[SYNC].push.push(
        principal(request), req.client_id, req.schema_version, raw, req.device
    )
    response = reply(request, PushResponse, result)
    body = response.body
    if isinstance(body, bytes) and len(body) > 512:  # smaller ones would grow by gzip's framing
        response.enable_compression()
    return response


@routes.get("/v1/sync/pull")
async def pull(request: web.Request) -> web.StreamResponse:
    settings = request.app[SETTINGS]
    q = request.query
    limit = int_param(q, "limit", settings.default_pull_limit, 1, settings.max_pull_limit)
    version = optional_int_param(q, "schema_version", 1, 10**18)
    client_id = uuid_param(q, "client_id")
    skip_own = bool_param(q, "skip_own")
    who = principal(request)
    service = request.app[SYNC]
    page = await service.pull.pull(
        who,
        _cursor(request),
        limit,
        _entities(request),
        version,
        skip_own=client_id if skip_own else None,
    )
    if client_id and not page.has_more:  # caught up: the device's lag is now known
        await service.push.note_pull(who, client_id, page.rev)
    cursor = page.cursor.to_string(request.app[SECRET])
    if "application/x-ndjson" in request.headers.get("Accept", ""):
        return await _ndjson(request, page.changes, cursor, page.has_more, page.rev)
    body = {"changes": page.changes, "cursor": cursor, "has_more": page.has_more, "rev": page.rev}
    response = reply(request, PullResponse, body, hot=True)
    response.enable_compression()
    return response


async def _ndjson(
    request: web.Request, changes: list[dict[str, object]], cursor: str, has_more: bool, rev: int
) -> web.StreamResponse:
    """One change per line, then a final line with the cursor: a client can apply a large
    initial sync as it streams in."""
    response = web.StreamResponse(headers={"Content-Type": "application/x-ndjson"})
    response.enable_compression()
    await response.prepare(request)
    buffer = bytearray()
    for change in changes:
        buffer += orjson.dumps(change) + b"\n"
        if len(buffer) > 65536:
            await response.write(bytes(buffer))
            buffer.clear()
    buffer += orjson.dumps({"cursor": cursor, "has_more": has_more, "rev": rev}) + b"\n"
    await response.write(bytes(buffer))
    await response.write_eof()
    return response


@routes.get("/v1/sync/checksum")
async def checksum(request: web.Request) -> web.Response:
    from sync.checksum import checksum as compute

    who = principal(request)
    service = request.app[SYNC]
    cursor_text = _cursor(request)
    cursor_rev = None
    entities = _entities(request)
    if cursor_text:
        cursor = service.pull.decode(who, cursor_text)
        cursor_rev = cursor.rev
        entities = frozenset(cursor.entities) if cursor.entities is not None else entities
    body = await compute(service.store, who, entities)
    if cursor_rev is not None:
        body["cursor_rev"] = cursor_rev
    return reply(request, ChecksumResponse, body)


@routes.get("/v1/sync/info")
@public
async def info(request: web.Request) -> web.Response:
    return reply(request, SyncInfo, request.app[SYNC].info())


async def _sync_service(app: web.Application) -> AsyncIterator[None]:
    settings = app[SETTINGS]
    sessions = app[SESSIONS]
    dialect = "sqlite" if settings.is_sqlite else "postgresql"
    limits = Limits(
        max_mutations=settings.max_push_mutations,
        max_push_bytes=settings.max_push_bytes,
        max_pull_limit=settings.max_pull_limit,
        default_pull_limit=settings.default_pull_limit,
        tombstone_horizon_days=settings.tombstone_horizon_days,
        max_clock_skew_ms=settings.max_clock_skew_ms,
    )
    service = SyncService(Store(sessions, dialect), app[SECRET], limits)
    app[SYNC] = service
    if not settings.is_sqlite:
        from sqlalchemy.engine import make_url

        url = make_url(settings.database_url).set(drivername="postgresql")
        await service.notifier.start_pg(url.render_as_string(hide_password=False))
    yield
    await service.notifier.close()


def setup(app: web.Application) -> None:
    """Register sync routes and the engine's lifetime (after the database's)."""
    app.cleanup_ctx.append(_sync_service)
    app.add_routes(routes)
    from server.routes import admin, live, openapi

    app.add_routes(admin.routes)
    live.setup(app)
    app.add_routes(openapi.routes)
