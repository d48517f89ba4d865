"""Small helpers shared by handlers: read a JSON body into a pydantic model, answer JSON."""

from __future__ import annotations

import json
from typing import Any, TypeVar

import orjson
from aiohttp import web
from pydantic import BaseModel, ValidationError

from server.keys import PRINCIPAL
from sync.errors import BadRequest, Forbidden, Invalid, TooLarge
from sync.principal import Principal

M = TypeVar("M", bound=BaseModel)


def dumps(value: Any) -> str:
    """JSON text with datetimes as ISO 8601 (orjson: fast, and UTC offsets kept)."""
    return orjson.dumps(value, option=orjson.OPT_UTC_Z | orjson.OPT_NON_STR_KEYS).decode()


def json_response(
    value: Any, status: int = 200, headers: dict[str, str] | None = None
) -> web.Response:
    return web.json_response(value, status=status, dumps=dumps, headers=headers)


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
