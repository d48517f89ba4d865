"""The OpenAPI document describes exactly the routes the app serves, by hand (no generic
entry), with the security the handlers really have. tests/integration/test_schemathesis.py
checks the rest against a live server."""

from __future__ import annotations

from pathlib import Path

from server.app import create_app
from server.config import Settings
from server.openapi_doc import build_openapi, with_routes
from server.routes.openapi import served_routes


def _served(tmp_path: Path) -> list[tuple[str, str, bool]]:
    settings = Settings(
        database_url=f"sqlite+aiosqlite:///{tmp_path / 'unused.sqlite3'}",
        secret_key="test-secret-key-not-for-production-0123456789",
        var_dir=tmp_path / "var",
    )
    return [(r.method.lower(), r.path, r.public) for r in served_routes(create_app(settings))]


def test_every_served_route_is_described_and_nothing_else(tmp_path: Path) -> None:
    described = {(m, p) for p, ops in build_openapi()["paths"].items() for m in ops}
    served = {(m, p) for m, p, _ in _served(tmp_path)}
    assert served - described == set(), "describe these in server/openapi_doc.py"
    assert described - served == set(), "described but not served"


def test_security_follows_the_public_mark(tmp_path: Path) -> None:
    routes = _served(tmp_path)
    from server.openapi_doc import Route

    doc = with_routes(build_openapi(), [Route(m.upper(), p, "", pub) for m, p, pub in routes])
    public = {"/v1/auth/login", "/v1/auth/refresh", "/v1/auth/logout", "/v1/sync/info"}
    public |= {"/v1/openapi.json", "/healthz", "/readyz", "/v1/push/vapid-key"}
    for method, path, is_public in routes:
        op = doc["paths"][path][method]
        if path in public:
            assert is_public, path  # the handlers say so too
        if is_public:
            assert op["security"] == [], (method, path)
        else:
            assert op["security"] == [{"bearer": []}], (method, path)
            assert "401" in op["responses"], (method, path)


def test_bodies_a_handler_always_reads_are_required() -> None:
    doc = build_openapi()
    for path, method in (
        ("/v1/auth/login", "post"),
        ("/v1/auth/refresh", "post"),
        ("/v1/sync/push", "post"),
        ("/v1/admin/school", "patch"),
        ("/v1/push/subscriptions", "post"),
    ):
        assert doc["paths"][path][method]["requestBody"]["required"] is True, path
