"""The OpenAPI 3.1 document, generated from the wire models (one source of truth)."""

from __future__ import annotations

from functools import lru_cache
from typing import Any

from pydantic.json_schema import models_json_schema

from schemas.wire import ENVELOPE_MODELS, RECORD_MODELS, WRITE_MODELS


def _ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def _json(name: str) -> dict[str, Any]:
    return {"content": {"application/json": {"schema": _ref(name)}}}


def _errors(*codes: int) -> dict[str, Any]:
    return {str(c): {"description": "error", **_json("ErrorResponse")} for c in codes}


def with_routes(doc: dict[str, Any], routes: list[tuple[str, str, str]]) -> dict[str, Any]:
    """Add every other registered route (method, path, first docstring line) that the
    hand-written part does not describe, so the document never omits an endpoint."""
    paths = {k: dict(v) for k, v in doc["paths"].items()}
    for method, path, summary in routes:
        ops = paths.setdefault(path, {})
        if method.lower() not in ops:
            op: dict[str, Any] = {
                "summary": summary or path,
                "responses": {"200": {"description": "ok"}},
            }
            if not path.startswith(("/healthz", "/readyz")):
                op["security"] = [{"bearer": []}]
            params = [seg[1:-1] for seg in path.split("/") if seg.startswith("{")]
            if params:
                op["parameters"] = [
                    {"name": p, "in": "path", "required": True, "schema": {"type": "string"}}
                    for p in params
                ]
            ops[method.lower()] = op
    return {**doc, "paths": paths}


@lru_cache(maxsize=1)
def build_openapi() -> dict[str, Any]:
    models = [*ENVELOPE_MODELS.values(), *RECORD_MODELS.values(), *WRITE_MODELS.values()]
    _, schema = models_json_schema(
        [(m, "validation") for m in models], ref_template="#/components/schemas/{model}"
    )
    components = schema.get("$defs", {})
    bearer: list[dict[str, list[str]]] = [{"bearer": []}]
    paths: dict[str, Any] = {
        "/v1/auth/login": {
            "post": {
                "summary": "Sign in",
                "requestBody": _json("LoginRequest"),
                "responses": {
                    "200": {"description": "tokens", **_json("TokenResponse")},
                    **_errors(401, 422, 429),
                },
            }
        },
        "/v1/auth/refresh": {
            "post": {
                "summary": "Rotate a refresh token",
                "responses": {
                    "200": {"description": "tokens", **_json("TokenResponse")},
                    **_errors(401),
                },
            }
        },
        "/v1/sync/push": {
            "post": {
                "summary": "Push a batch of mutations (exactly once per client_id and seq)",
                "security": bearer,
                "requestBody": _json("PushRequest"),
                "responses": {
                    "200": {"description": "per-mutation results", **_json("PushResponse")},
                    **_errors(400, 401, 409, 413, 422, 426),
                },
            }
        },
        "/v1/sync/pull": {
            "get": {
                "summary": "Pull changes after a cursor",
                "security": bearer,
                "parameters": [
                    {"name": "cursor", "in": "query", "schema": {"type": "string"}},
                    {
                        "name": "limit",
                        "in": "query",
                        "schema": {"type": "integer", "minimum": 1, "maximum": 5000},
                    },
                    {"name": "entities", "in": "query", "schema": {"type": "string"}},
                    {"name": "schema_version", "in": "query", "schema": {"type": "integer"}},
                ],
                "responses": {
                    "200": {"description": "a page of changes", **_json("PullResponse")},
                    **_errors(401, 410, 422),
                },
            }
        },
        "/v1/sync/checksum": {
            "get": {
                "summary": "Per-entity count and hash of the scope",
                "security": bearer,
                "responses": {"200": {"description": "checksum"}},
            }
        },
        "/v1/sync/info": {
            "get": {
                "summary": "Versions, limits, tombstone horizon",
                "responses": {"200": {"description": "info"}},
            }
        },
        "/v1/sync/live": {
            "get": {"summary": "WebSocket pokes", "responses": {"101": {"description": "upgrade"}}}
        },
        "/v1/sync/events": {
            "get": {"summary": "Server-sent pokes", "responses": {"200": {"description": "stream"}}}
        },
        "/healthz": {"get": {"summary": "Process up", "responses": {"200": {"description": "ok"}}}},
        "/readyz": {
            "get": {"summary": "Database reachable", "responses": {"200": {"description": "ready"}}}
        },
    }
    for path, summary in {
        "/v1/admin/journal": "Journal of rejected, conflicting and lost mutations",
        "/v1/admin/conflicts": "Open conflicts",
        "/v1/admin/rejections": "Open rejections",
        "/v1/admin/devices": "Devices' sync health",
    }.items():
        paths[path] = {
            "get": {
                "summary": summary,
                "security": bearer,
                "responses": {"200": {"description": "ok"}, **_errors(401, 403)},
            }
        }
    return {
        "openapi": "3.1.0",
        "info": {"title": "DriveSync sync API", "version": "1"},
        "paths": paths,
        "components": {
            "schemas": components,
            "securitySchemes": {
                "bearer": {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"}
            },
        },
    }
