"""`POST /v1/auth/login`, `/v1/auth/refresh`, `/v1/auth/logout`."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from schemas.wire import LoginRequest, RefreshRequest, TokenResponse
from server.auth.throttle import client_address
from server.http import parse, read_json, reply
from server.keys import AUTH
from server.middlewares import public
from sync.core.principal import Principal

routes = web.RouteTableDef()


def _token_body(
    tokens: dict[str, Any], name: str | None = None, email: str | None = None
) -> dict[str, Any]:
    who: Principal = tokens["principal"]
    user: dict[str, Any] = {"id": who.user_id, "role": who.role, "tenant_id": who.tenant_id}
    if name is not None:
        user["name"] = name
        user["email"] = email
    if who.student_id:
        user["student_id"] = who.student_id
    if who.instructor_id:
        user["instructor_id"] = who.instructor_id
    return {
        "access_token": tokens["access_token"],
        "refresh_token": tokens["refresh_token"],
        "token_type": "Bearer",
        "expires_in": tokens["expires_in"],
        "user": user,
        "school": tokens["school"],
    }


@routes.post("/v1/auth/login")
@public
async def login(request: web.Request) -> web.Response:
    body = parse(LoginRequest, await read_json(request, 16_384))
    auth = request.app[AUTH]
    hops = auth.limits.trusted_proxy_hops
    address = client_address(request.remote, request.headers.get("X-Forwarded-For"), hops)
    tokens, user = await auth.login(body.tenant, body.email, body.password, address)
    return reply(request, TokenResponse, _token_body(tokens, user.name, user.email))


@routes.post("/v1/auth/refresh")
@public
async def refresh(request: web.Request) -> web.Response:
    body = parse(RefreshRequest, await read_json(request, 16_384))
    tokens = await request.app[AUTH].refresh(body.refresh_token)
    return reply(request, TokenResponse, _token_body(tokens))


@routes.post("/v1/auth/logout")
@public
async def logout(request: web.Request) -> web.Response:
    body = parse(RefreshRequest, await read_json(request, 16_384))
    await request.app[AUTH].revoke(body.refresh_token)
    return web.Response(status=204)
