"""Small helpers shared by handlers: read a request body (bounded in size and time, the one
place bodies are received and decoded), parse JSON into a pydantic model, answer JSON
through a response model (`reply`)."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import logging
import warnings
from typing import Any, TypeVar

import orjson
from aiohttp import web
from aiohttp.web_protocol import RequestPayloadError
from pydantic import BaseModel, ValidationError

from server.keys import PRINCIPAL, SETTINGS
from sync.core.principal import Principal
from sync.errors import BadRequest, DriveSyncError, Forbidden, Invalid, TooLarge

M = TypeVar("M", bound=BaseModel)
log = logging.getLogger("drivesync.http")


def dumps(value: Any) -> str:
    """JSON text with datetimes as ISO 8601 (orjson: fast, and UTC offsets kept)."""
    try:
        return orjson.dumps(value, option=orjson.OPT_UTC_Z | orjson.OPT_NON_STR_KEYS).decode()
    except orjson.JSONEncodeError:
        # orjson refuses lone surrogates (a client's own odd text echoed back in an error's
        # details, say) and nesting past 254 levels; the standard encoder takes both,
        # escaping the surrogates, which JSON allows and every client parser accepts.
        return json.dumps(value, default=_iso, ensure_ascii=True)


def _iso(value: Any) -> str:
    if isinstance(value, dt.datetime | dt.date | dt.time):
        text = value.isoformat()
        return text.removesuffix("+00:00") + "Z" if text.endswith("+00:00") else text
    raise TypeError(f"{type(value).__name__} is not JSON serializable")


def json_response(
    value: Any, status: int = 200, headers: dict[str, str] | None = None
) -> web.Response:
    return web.json_response(value, status=status, dumps=dumps, headers=headers)


class ResponseMismatch(DriveSyncError):
    """A body the server was about to send does not match its published response model
    (raised only with DRIVESYNC_STRICT_RESPONSES, as in the tests)."""

    code = "response_mismatch"
    status = 500


def conform(model: type[BaseModel], body: Any, *, strict: bool, envelope_only: bool) -> None:
    """Check `body` against `model`. `envelope_only` skips the items of list fields (a pull
    page's changes) unless `strict`: the top-level keys and values are still checked. A
    mismatch raises `ResponseMismatch` when `strict`, else is logged and the body goes out
    anyway: the work behind it is committed, and refusing to send it (a push's resend gets
    the same stored results) would stall the devices over a description, not their data."""
    if envelope_only and not strict and isinstance(body, dict):
        body = {k: [] if isinstance(v, list) else v for k, v in body.items()}
    try:
        model.model_validate(body)
    except ValidationError as exc:
        details = validation_details(exc)
        where, why = details["field"], details["reason"]
        message = f"response does not match {model.__name__}: {where}: {why}"
        if strict:
            raise ResponseMismatch(message, details) from exc
        log.error("%s (update schemas/response.py and regenerate schemas/json/)", message)


def reply(
    request: web.Request,
    model: type[BaseModel],
    body: Any,
    status: int = 200,
    *,
    hot: bool = False,
) -> web.Response:
    """Answer `body` as its response model describes it, checked in full, except a `hot`
    body (a pull page) which is checked at the envelope only unless
    DRIVESYNC_STRICT_RESPONSES is set (the tests set it): validating a page of 1,000 records
    costs 4-9 ms, about 10 % of the request (bench/reply.py). The body is sent as built
    (orjson), so what was checked is byte for byte what goes out."""
    strict = request.app[SETTINGS].strict_responses
    conform(model, body, strict=strict, envelope_only=hot)
    return json_response(body, status)


class BodyTimeout(DriveSyncError):
    """The request's body did not arrive in full within DRIVESYNC_BODY_TIMEOUT_S."""

    code = "body_timeout"
    status = 408


class BadBody(DriveSyncError):
    """A body that cannot be received as sent: its Content-Encoding does not decode, or it
    breaks off."""

    code = "bad_body"
    status = 400


# Set on a request whose body could not be read: its connection is closed after the error
# (the rest of the body is not worth reading, nor the connection worth keeping).
CLOSE_CONNECTION = web.RequestKey("drivesync_close_connection", bool)


# The body of this request, once received in full (see `read_body`).
RAW_BODY = web.RequestKey("drivesync_raw_body", bytes)


async def read_body(request: web.Request, max_bytes: int | None = None) -> bytes:
    """The request's whole body: 413 `too_large` past `max_bytes` (and past the app's
    client_max_size), 408 `body_timeout` when it does not arrive in full within
    DRIVESYNC_BODY_TIMEOUT_S, 400 `bad_body` when its Content-Encoding does not decode.
    It is read in chunks and refused as soon as it passes the limit; a compressed body is
    inflated as it is read, so a small gzip bomb never grows past the limit in memory.
    Received once: a second call (the body middleware reads first) costs nothing."""
    # aiohttp's own read() refuses a body of client_max_size bytes or more.
    cap = request.client_max_size - 1
    limit = cap if max_bytes is None else min(max_bytes, cap)
    body = request.get(RAW_BODY)
    if body is None:
        body = await _receive(request, limit)
        request[RAW_BODY] = body
    if len(body) > limit:
        raise _too_large(limit)
    return body


async def _receive(request: web.Request, limit: int) -> bytes:
    length = request.content_length
    if length is not None and length > limit:
        raise _too_large(limit)
    timeout = request.app[SETTINGS].body_timeout_s
    buffer = bytearray()
    try:
        async with asyncio.timeout(timeout):
            while chunk := await request.content.readany():
                buffer += chunk
                if len(buffer) > limit:
                    if request.headers.get("Content-Encoding"):
                        # What is left may inflate a thousandfold: do not linger over it.
                        _abandon(request)
                    raise _too_large(limit)
    except TimeoutError as exc:
        _abandon(request)
        raise BodyTimeout(
            f"the request body did not arrive within {timeout:g} s", {"timeout_s": timeout}
        ) from exc
    except RequestPayloadError as exc:
        _abandon(request)
        raise BadBody(f"the request body cannot be read: {_reason(exc)}") from exc
    except ConnectionError as exc:
        # The link dropped mid-body (an ordinary event for a phone): nothing was applied,
        # the client is gone and will resend. A 400 no one reads, not an unhandled error.
        raise BadBody("the connection was lost while the body arrived") from exc
    return bytes(buffer)


async def receive_body(request: web.Request, max_bytes: int | None = None) -> None:
    """Receive the whole body now (see `read_body`), and leave the request looking unread
    to the handler: the bytes go back into `request.content`, so `request.read()`,
    `json()`, `can_read_body` and a streamed read all find the body as they would have
    without this early read (and `read_body` finds it kept)."""
    body = await read_body(request, max_bytes)
    if body:
        with warnings.catch_warnings():
            # Deprecated in aiohttp 3 (no replacement yet), still there in 3.14.
            warnings.simplefilter("ignore", DeprecationWarning)
            request.content.unread_data(body)


def _abandon(request: web.Request) -> None:
    """Give up on the rest of this request's body: read nothing more from the connection
    and close it once the error is sent. Left to itself aiohttp would "linger", reading and
    discarding the body for 10 more seconds, which for a body that trickles is exactly what
    a slow client wants, and for one that does not decode ends in a logged traceback."""
    transport = request.transport
    if transport is not None and transport.is_reading():
        transport.pause_reading()
    request.content.feed_eof()  # nothing left to linger over
    request[CLOSE_CONNECTION] = True


def _too_large(max_bytes: int) -> TooLarge:
    return TooLarge(f"request body over {max_bytes} bytes", {"max_bytes": max_bytes})


def _reason(exc: RequestPayloadError) -> str:
    return " ".join(str(getattr(exc, "message", "") or exc).split()) or "payload error"


# orjson refuses nesting deeper than this; a body nested deeper is refused outright rather
# than handed to the json module (whose recursion would end in a RecursionError).
MAX_JSON_DEPTH = 1024


async def read_json(request: web.Request, max_bytes: int = 1024 * 1024) -> Any:
    """The request body parsed as JSON: 413 past `max_bytes`, 400 `bad_request` when it is
    not JSON (not UTF-8, malformed, nested deeper than MAX_JSON_DEPTH); see `read_body`."""
    if request.content_length is not None and request.content_length > max_bytes:
        raise _too_large(max_bytes)
    return decode_json(await read_body(request, max_bytes))


def decode_json(raw: bytes) -> Any:
    """`raw` parsed as JSON, or `BadRequest`; never another exception."""
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        if "depth limit" in str(exc) or "recursion" in str(exc).lower():
            raise BadRequest(
                f"body is not valid JSON: nested deeper than {MAX_JSON_DEPTH} levels",
                {"max_depth": MAX_JSON_DEPTH},
            ) from exc
        # Some serializers emit NaN/Infinity, and orjson refuses lone surrogates that the
        # json module accepts. Accept them here so that one bad GPS point or string is
        # rejected alone as `invalid` instead of failing (and blocking) the whole batch.
        try:
            return json.loads(raw)
        except (ValueError, RecursionError):
            raise BadRequest(f"body is not valid JSON: {exc}") from exc


def validation_details(exc: ValidationError) -> dict[str, Any]:
    """The first failing field of a pydantic error, named the way the client sent it."""
    first = exc.errors()[0]
    field = ".".join(str(p) for p in first["loc"])
    return {"field": field, "reason": first["msg"], "errors": len(exc.errors())}


def parse(model: type[M], value: Any) -> M:
    """Validate `value` into `model`, or 422 `invalid` naming the field."""
    try:
        return model.model_validate(value)
    except ValidationError as exc:
        details = validation_details(exc)
        raise Invalid(f"{details['field']}: {details['reason']}", details) from exc


def principal(request: web.Request) -> Principal:
    """The authenticated principal (the auth middleware guarantees one on private routes)."""
    value = request.get(PRINCIPAL)
    assert isinstance(value, Principal)
    return value


def require_admin(request: web.Request) -> Principal:
    """The principal, who must be an owner or admin of the school."""
    who = principal(request)
    if not who.is_admin:
        raise Forbidden("only the school's owner or admins may do this")
    return who
