"""`POST /v1/auth/login`, `/v1/auth/refresh`, `/v1/auth/logout`, and the account routes:
`/v1/auth/invitations/accept`, `/v1/auth/password/forgot`, `/v1/auth/password/reset`,
`/v1/auth/password/change` (logic in server/auth/accounts.py and sync/accounts.py)."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from schemas.accounts import (
    ChangePasswordRequest,
    ForgotPasswordRequest,
    ForgotPasswordResponse,
    SetPasswordRequest,
)
from schemas.wire import LoginRequest, RefreshRequest, TokenResponse
from server.auth.throttle import client_address
from server.auth.tokens import read_access
from server.http import parse, read_json, reply
from server.keys import AUTH, PRINCIPAL, SECRET
from server.middlewares import bearer_token, public
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


def _address(request: web.Request) -> str:
    hops = request.app[AUTH].limits.trusted_proxy_hops
    return client_address(request.remote, request.headers.get("X-Forwarded-For"), hops)


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


@routes.post("/v1/auth/invitations/accept")
@public
async def accept_invitation(request: web.Request) -> web.Response:
    body = parse(SetPasswordRequest, await read_json(request, 16_384))
    tokens, user = await request.app[AUTH].accounts.accept_invitation(body.token, body.password)
    return reply(request, TokenResponse, _token_body(tokens, user.name, user.email))


# One answer for every (school, email), known or not, so accounts cannot be enumerated.
FORGOT_ANSWER = {
    "status": "accepted",
    "message": "If this email has an account at this school, a link to set a new password "
    "is on its way to it.",
}


@routes.post("/v1/auth/password/forgot")
@public
async def forgot_password(request: web.Request) -> web.Response:
    body = parse(ForgotPasswordRequest, await read_json(request, 16_384))
    await request.app[AUTH].accounts.forgot(body.school, body.email, _address(request))
    return reply(request, ForgotPasswordResponse, FORGOT_ANSWER, status=202)


@routes.post("/v1/auth/password/reset")
@public
async def reset_password(request: web.Request) -> web.Response:
    body = parse(SetPasswordRequest, await read_json(request, 16_384))
    tokens, user = await request.app[AUTH].accounts.reset_password(body.token, body.password)
    return reply(request, TokenResponse, _token_body(tokens, user.name, user.email))


@routes.post("/v1/auth/password/change")
async def change_password(request: web.Request) -> web.Response:
    body = parse(ChangePasswordRequest, await read_json(request, 16_384))
    # The sign-in making the change stays; the auth middleware has checked this token.
    _who, family = read_access(bearer_token(request) or "", request.app[SECRET])
    await request.app[AUTH].accounts.change_password(
        request[PRINCIPAL], family, body.current_password, body.new_password, _address(request)
    )
    return web.Response(status=204)
