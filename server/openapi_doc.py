"""The OpenAPI 3.1 document, generated from the wire models (one source of truth)."""

from __future__ import annotations

from functools import lru_cache
from typing import Any

from pydantic import BaseModel
from pydantic.json_schema import JsonSchemaMode, models_json_schema

from schemas.response import RESPONSE_MODELS
from schemas.wire import RECORD_MODELS, REQUEST_MODELS, WRITE_MODELS
from server.routes.admin import AssignBody, ResolveBody, SchoolBody

ADMIN_REQUESTS = (AssignBody, ResolveBody, SchoolBody)


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
    # What the server sends in serialization mode, what it accepts in validation mode (the
    # same split as the files in schemas/json/).
    sent: list[type[BaseModel]] = [*RESPONSE_MODELS.values(), *RECORD_MODELS.values()]
    accepted: list[type[BaseModel]] = [
        *REQUEST_MODELS.values(),
        *WRITE_MODELS.values(),
        *ADMIN_REQUESTS,
    ]
    serialization: JsonSchemaMode = "serialization"
    validation: JsonSchemaMode = "validation"
    modes = [(m, serialization) for m in sent] + [(m, validation) for m in accepted]
    _, schema = models_json_schema(modes, ref_template="#/components/schemas/{model}")
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
                "parameters": [
                    {"name": "cursor", "in": "query", "schema": {"type": "string"}},
                    {"name": "entities", "in": "query", "schema": {"type": "string"}},
                ],
                "responses": {
                    "200": {"description": "checksum", **_json("ChecksumResponse")},
                    **_errors(401, 410),
                },
            }
        },
        "/v1/sync/info": {
            "get": {
                "summary": "Versions, limits, tombstone horizon",
                "responses": {"200": {"description": "info", **_json("SyncInfo")}},
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
    paths.update(_admin_paths(bearer))
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


def _admin_paths(bearer: list[dict[str, list[str]]]) -> dict[str, Any]:
    """The admin API (owners and admins only): every answer names its response model."""

    def op(summary: str, answer: str, body: str | None = None, *codes: int) -> dict[str, Any]:
        out: dict[str, Any] = {
            "summary": summary,
            "security": bearer,
            "responses": {
                "200": {"description": "ok", **_json(answer)},
                **_errors(401, 403, *codes),
            },
        }
        if body is not None:
            out["requestBody"] = _json(body)
        return out

    journal_query = [
        {"name": "kind", "in": "query", "schema": {"type": "string"}},
        {"name": "status", "in": "query", "schema": {"type": "string"}},
        {"name": "limit", "in": "query", "schema": {"type": "integer"}},
    ]
    paths: dict[str, dict[str, Any]] = {
        "/v1/admin/school": {
            "get": op("The school's settings", "SchoolSettings"),
            "patch": op("Change school settings", "SchoolSettings", "SchoolBody", 422),
        },
        "/v1/admin/students/{student_id}/instructors": {
            "put": op("Reassign a student", "AssignResult", "AssignBody", 404, 422)
        },
        "/v1/admin/students/{student_id}/leave": {
            "post": op("A student leaves the school", "LeaveResult", None, 404)
        },
        "/v1/admin/journal": {
            "get": {
                **op("Journal of rejected, conflicting and lost mutations", "JournalPage"),
                "parameters": journal_query,
            }
        },
        "/v1/admin/conflicts": {"get": op("Open conflicts", "JournalPage")},
        "/v1/admin/rejections": {"get": op("Open rejections", "JournalPage")},
        "/v1/admin/journal/{entry_id}": {
            "get": op("One journal entry", "JournalEntryBody", None, 404)
        },
        "/v1/admin/conflicts/{entry_id}/resolve": {
            "post": op("Resolve a conflict", "ResolveResult", "ResolveBody", 404, 422)
        },
        "/v1/admin/rejections/{entry_id}/replay": {
            "post": op(
                "Run a rejected mutation again as its author", "ReplayResult", None, 404, 422
            )
        },
        "/v1/admin/devices": {"get": op("Devices' sync health", "DeviceList")},
    }
    for path, ops in paths.items():
        names = [seg[1:-1] for seg in path.split("/") if seg.startswith("{")]
        for operation in ops.values():
            operation["parameters"] = [
                *operation.get("parameters", []),
                *(
                    {"name": n, "in": "path", "required": True, "schema": {"type": "string"}}
                    for n in names
                ),
            ]
            if not operation["parameters"]:
                del operation["parameters"]
    return paths
