"""`GET /v1/openapi.json`: the OpenAPI 3.1 document, built from the same pydantic models
the server validates with (schemas.wire), completed with what the router knows: which
routes exist and which need no token (`@public`)."""

from __future__ import annotations

from aiohttp import web

from server.http import json_response
from server.middlewares import public
from server.openapi_doc import Route, build_openapi, with_routes

routes = web.RouteTableDef()


def served_routes(app: web.Application) -> list[Route]:
    """The API's routes (method, path, first docstring line, public?), HEAD left out."""
    out = []
    for route in app.router.routes():
        info = route.resource.get_info() if route.resource else {}
        path = info.get("path") or info.get("formatter")
        if (
            not path
            or not path.startswith(("/v1/", "/healthz", "/readyz"))
            or route.method == "HEAD"
        ):
            continue
        doc = (getattr(route.handler, "__doc__", None) or "").strip().splitlines()
        # As the auth middleware decides: outside /v1/ nothing needs a token.
        public_ = not path.startswith("/v1/") or getattr(route.handler, "drivesync_public", False)
        out.append(Route(route.method, str(path), doc[0] if doc else "", bool(public_)))
    return out


@routes.get("/v1/openapi.json")
@public
async def openapi(request: web.Request) -> web.Response:
    return json_response(with_routes(build_openapi(), served_routes(request.app)))
