"""The middlewares every request passes, in this order: errors (one JSON shape, produced
here only), body (the whole body received, bounded in size and time, before the request
counts as work), overload (a cap on requests in progress) and auth (bearer token →
principal). Handlers marked `@public` skip auth."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from aiohttp import web
from sqlalchemy.exc import TimeoutError as SATimeoutError

from server.auth.tokens import TokenError, read_access
from server.http import CLOSE_CONNECTION, json_response, receive_body
from server.keys import AUTH, PRINCIPAL, SECRET
from server.outage import is_database_unavailable
from sync.core.principal import Principal
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
    if request.match_info.http_exception is not None:
        return True  # no route matched (404, or 405 with Allow): nothing to protect
    handler = request.match_info.handler
    return bool(getattr(handler, "drivesync_public", False))


# How long a client is asked to wait while the database is unreachable.
DATABASE_RETRY_AFTER_S = 2


@web.middleware
async def error_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Every error leaves as `{"error": {"code", "message", "details"}}`; connection-class
    database failures as `503 database_unavailable` (server/outage.py), not 500."""
    try:
        return await handler(request)
    except Exception as exc:
        if isinstance(exc, web.HTTPException) and exc.status < 400:
            raise  # a redirect, not an error
        if request.writer.output_size > 0:
            # A stream (WebSocket, server-sent events) already began: an error document
            # written now would land inside it as garbage. Let aiohttp drop the connection.
            log.warning("error after the response began on %s %s", request.method, request.path)
            raise
        return _error_response(request, exc)


def _error_response(request: web.Request, exc: Exception) -> web.Response:
    if isinstance(exc, DriveSyncError):
        headers = {"Retry-After": str(exc.retry_after)} if exc.retry_after else None
        response = json_response(exc.body(), status=exc.status, headers=headers)
        if request.get(CLOSE_CONNECTION):
            response.force_close()
        return response
    if isinstance(exc, SATimeoutError):
        # Every pooled database connection stayed busy: shed load, the client retries.
        return _unavailable("overloaded", "the server is busy; retry shortly", 1)
    if isinstance(exc, web.HTTPException):
        code = _HTTP_CODES.get(exc.status, "http_error")
        body = {"error": {"code": code, "message": exc.reason, "details": {}}}
        return json_response(body, status=exc.status, headers=_allow(exc))
    if is_database_unavailable(exc):
        # Not a bug: the database is down, restarting or refusing connections.
        log.warning(
            "database unavailable on %s %s: %s: %s",
            request.method,
            request.path,
            type(exc).__name__,
            exc,
        )
        return _unavailable(
            "database_unavailable",
            "the database cannot be reached; retry shortly",
            DATABASE_RETRY_AFTER_S,
        )
    log.error("unhandled error on %s %s", request.method, request.path, exc_info=exc)
    body = {"error": {"code": "internal", "message": "internal error", "details": {}}}
    return json_response(body, status=500)


def _allow(exc: web.HTTPException) -> dict[str, str] | None:
    """A 405 keeps its `Allow` header (the methods the resource takes)."""
    allow = exc.headers.get("Allow")
    return {"Allow": allow} if allow is not None else None


def _unavailable(code: str, message: str, retry_after: int) -> web.Response:
    body = {"error": {"code": code, "message": message, "details": {}}}
    return json_response(body, status=503, headers={"Retry-After": str(retry_after)})


def _is_live(request: web.Request) -> bool:
    return request.path in ("/healthz", "/readyz") or request.path.startswith(
        ("/v1/sync/live", "/v1/sync/events")
    )


# Bodies public routes accept: sign-in, refresh and logout take 16 KiB; webhooks (Stripe)
# up to 1 MiB. Anything larger from an anonymous client is refused as it is read.
PUBLIC_BODY_BYTES = 64 * 1024
WEBHOOK_BODY_BYTES = 1024 * 1024


@web.middleware
async def body_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Receive the whole body (bounded in size and by DRIVESYNC_BODY_TIMEOUT_S; see
    `server.http.read_body`) before the request reaches the overload counter, so a client
    that sends headers and then trickles (or withholds) its body holds a socket, never a
    slot of DRIVESYNC_MAX_INFLIGHT_REQUESTS. Handlers then read the kept bytes at no cost,
    in any of aiohttp's ways (`read()`, `json()`, `content`, `can_read_body`).

    What an anonymous client can make the server hold is small: public routes take
    PUBLIC_BODY_BYTES (webhooks WEBHOOK_BODY_BYTES), and a private route's body is read
    (up to DRIVESYNC_MAX_PUSH_BYTES) only with a bearer token that verifies; without one,
    and for a request no route takes, the body is not read at all (401/404/405 follow)."""
    if request.body_exists and request.match_info.http_exception is None:
        if _is_public(request):
            webhook = request.path.startswith("/v1/webhooks/")
            await receive_body(request, WEBHOOK_BODY_BYTES if webhook else PUBLIC_BODY_BYTES)
        elif _signed_token(request):
            await receive_body(request)
    return await handler(request)


def _signed_token(request: web.Request) -> bool:
    """Whether the request carries an access token this server signed and that has not
    expired (a signature check, no query: the auth middleware does the rest)."""
    token = bearer_token(request)
    if token is None:
        return False
    try:
        read_access(token, request.app[SECRET])
    except TokenError:
        return False
    return True


def overload_middleware(max_inflight: int) -> Any:
    """Shed load instead of queueing without bound: past `max_inflight` requests being
    served by this process, answer `503 overloaded` with Retry-After. Live connections
    (long-lived by design) and health checks are not counted."""
    inflight = 0

    @web.middleware
    async def middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
        nonlocal inflight
        if _is_live(request):
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
    token = token.strip()
    # A token is printable ASCII (a JWT); anything else (bytes that are not UTF-8 arrive
    # as surrogates) is no token at all, rather than a value the JWT library chokes on.
    if scheme.lower() == "bearer" and token and token.isascii() and token.isprintable():
        return token
    return None


async def authenticate(app: web.Application, token: str | None) -> Principal:
    """The principal of a bearer token whose holder still stands (disabled, left the school
    or logged out: void within DRIVESYNC_ACCESS_CHECK_S); 401 otherwise. Every route that
    takes a token goes through here (the live routes read theirs from a message or a query
    parameter)."""
    if not token:
        raise _unauthenticated("missing bearer token")
    try:
        who, family = read_access(token, app[SECRET])
    except TokenError as exc:
        raise _unauthenticated(exc.message) from exc
    await app[AUTH].check_access(who, family)
    return who


@web.middleware
async def auth_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Turn the bearer token into a principal on `request[PRINCIPAL]`; 401 without one."""
    if _is_public(request):
        return await handler(request)
    request[PRINCIPAL] = await authenticate(request.app, bearer_token(request))
    return await handler(request)


def _unauthenticated(message: str) -> DriveSyncError:
    from sync.errors import Unauthenticated

    return Unauthenticated(message)
