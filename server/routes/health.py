"""`GET /healthz` (the process is up) and `GET /readyz` (the database answers)."""

from __future__ import annotations

from aiohttp import web
from sqlalchemy import text

from server.http import json_response
from server.keys import ENGINE

routes = web.RouteTableDef()


@routes.get("/healthz")
async def healthz(_request: web.Request) -> web.Response:
    return json_response({"status": "ok"})


@routes.get("/readyz")
async def readyz(request: web.Request) -> web.Response:
    try:
        async with request.app[ENGINE].connect() as conn:
            await conn.execute(text("SELECT 1"))
    except Exception as exc:  # any failure to reach the database means "not ready"
        body = {
            "error": {
                "code": "not_ready",
                "message": f"database unreachable: {type(exc).__name__}",
                "details": {},
            }
        }
        return json_response(body, status=503)
    return json_response({"status": "ready"})
