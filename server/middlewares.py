"""The two middlewares every request passes: errors (one JSON shape, produced here only)
and auth (bearer token → principal). Handlers marked `@public` skip auth."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from aiohttp import web
from sqlalchemy.exc import TimeoutError as SATimeoutError

from server.auth.tokens import TokenError, read_access
from server.http import json_response
from server.keys import AUTH, PRINCIPAL, SECRET
from sync.errors import DriveSyncError

log = logging.getLogger("drivesync.http")

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
H = TypeVar("H", bound=Callable[..., Any])

_HTTP_CODES = {
    400: "bad_request",
    401: "unauthenticated",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    409: "conflict",
    410: "reset_required",
    413: "too_large",
    415: "unsupported_media_type",
    422: "invalid",
    429: "rate_limited",
}


def public(handler: H) -> H:
    """Mark a handler as reachable without a token."""
    handler.drivesync_public = True  # type: ignore[attr-defined]
    return handler


def _is_public(request: web.Request) -> bool:
    if not request.path.startswith("/v1/"):
        return True  # health checks and the static PWA
    handler = request.match_info.handler
    return bool(getattr(handler, "drivesync_public", False))


@web.middleware
async def error_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Every error leaves as `{"error": {"code", "message", "details"}}`."""
    try:
        return await handler(request)
    except DriveSyncError as exc:
        headers = {"Retry-After": str(exc.retry_after)} if exc.retry_after else None
        return json_response(exc.body(), status=exc.status, headers=headers)
    except SATimeoutError:
        # Every pooled database connection stayed busy: shed load, the client retries.
        body = {
            "error": {
                "code": "overloaded",
                "message": "the server is busy; retry shortly",
                "details": {},
            }
        }
        return json_response(body, status=503, headers={"Retry-After": "1"})
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        code = _HTTP_CODES.get(exc.status, "http_error")
        body = {"error": {"code": code, "message": exc.reason, "details": {}}}
        return json_response(body, status=exc.status)
    except Exception:
        log.exception("unhandled error on %s %s", request.method, request.path)
        body = {"error": {"code": "internal", "message": "internal error", "details": {}}}
        return json_response(body, status=500)


def overload_middleware(max_inflight: int) -> Any:
    """Shed load instead of queueing without bound: past `max_inflight` requests being
    served by this process, answer `503 overloaded` with Retry-After. Live connections
    (long-lived by design) and health checks are not counted."""
    inflight = 0

    @web.middleware
    async def middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
        nonlocal inflight
        if request.path in ("/healthz", "/readyz") or request.path.startswith(
            ("/v1/sync/live", "/v1/sync/events")
        ):
            return await handler(request)
        if inflight >= max_inflight:
            from sync.errors import Overloaded

            raise Overloaded("the server is busy; retry shortly", retry_after=1)
        inflight += 1
        try:
            return await handler(request)
        finally:
            inflight -= 1

    return middleware


def bearer_token(request: web.Request) -> str | None:
    """The token of an `Authorization: Bearer …` header, if any."""
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() == "bearer" and token.strip():
        return token.strip()
    return None


@web.middleware
async def auth_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Turn the bearer token into a principal on `request[PRINCIPAL]`; 401 without one."""
    if _is_public(request):
        return await handler(request)
    token = bearer_token(request)
    if token is None:
        raise _unauthenticated("missing bearer token")
    try:
        who, family = read_access(token, request.app[SECRET])
    except TokenError as exc:
        raise _unauthenticated(exc.message) from exc
    # Disabled, left the school or logged out: void within DRIVESYNC_ACCESS_CHECK_S.
    await request.app[AUTH].check_access(who, family)
    request[PRINCIPAL] = who
    return await handler(request)


def _unauthenticated(message: str) -> DriveSyncError:
    from sync.errors import Unauthenticated

    return Unauthenticated(message)
