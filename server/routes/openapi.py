"""`GET /v1/openapi.json`: the OpenAPI 3.1 document, built from the same pydantic models
the server validates with (schemas.wire)."""

from __future__ import annotations

from aiohttp import web

from server.http import json_response
from server.middlewares import public
from server.openapi_doc import build_openapi, with_routes

routes = web.RouteTableDef()


@routes.get("/v1/openapi.json")
@public
async def openapi(request: web.Request) -> web.Response:
    routes = []
    for route in request.app.router.routes():
        info = route.resource.get_info() if route.resource else {}
        path = info.get("path") or info.get("formatter")
        if (
            not path
            or not path.startswith(("/v1/", "/healthz", "/readyz"))
            or route.method == "HEAD"
        ):
            continue
        doc = (getattr(route.handler, "__doc__", None) or "").strip().splitlines()
        routes.append((route.method, str(path), doc[0] if doc else ""))
    return json_response(with_routes(build_openapi(), routes))
