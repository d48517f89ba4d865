"""Small helpers shared by handlers: read a JSON body into a pydantic model, answer JSON
through a response model (`reply`)."""

from __future__ import annotations

import json
import logging
from typing import Any, TypeVar

import orjson
from aiohttp import web
from pydantic import BaseModel, ValidationError

from server.keys import PRINCIPAL, SETTINGS
from sync.core.principal import Principal
from sync.errors import BadRequest, DriveSyncError, Forbidden, Invalid, TooLarge

M = TypeVar("M", bound=BaseModel)
log = logging.getLogger("drivesync.http")


def dumps(value: Any) -> str:
    """JSON text with datetimes as ISO 8601 (orjson: fast, and UTC offsets kept)."""
    return orjson.dumps(value, option=orjson.OPT_UTC_Z | orjson.OPT_NON_STR_KEYS).decode()


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


async def read_json(request: web.Request, max_bytes: int = 1024 * 1024) -> Any:
    """The request body parsed as JSON: 413 past `max_bytes`, 400 when it is not JSON."""
    if request.content_length is not None and request.content_length > max_bytes:
        raise TooLarge(f"request body over {max_bytes} bytes", {"max_bytes": max_bytes})
    buffer = bytearray()
    while chunk := await request.content.read(65536):
        buffer += chunk
        if len(buffer) > max_bytes:
            raise TooLarge(f"request body over {max_bytes} bytes", {"max_bytes": max_bytes})
    raw = bytes(buffer)
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        # Some serializers emit NaN/Infinity. Accept them here so that one bad GPS point is
        # rejected alone as `invalid` instead of failing (and blocking) the whole batch.
        try:
            return json.loads(raw)
        except ValueError:
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
