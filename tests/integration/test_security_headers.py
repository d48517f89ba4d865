"""Every kind of response carries the browser-facing headers (server/security.py): API JSON,
the PWA shell and its static files, the service worker, errors of every kind, a WebSocket
upgrade; HSTS only over HTTPS. Headers do not depend on the database: one (SQLite) app."""

from __future__ import annotations

import asyncio
import shutil
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import make_mocked_request
from multidict import CIMultiDict, CIMultiDictProxy

from server.app import create_app
from server.config import Settings
from server.security import API_HEADERS, CONTENT_SECURITY_POLICY, SECURITY_HEADERS, is_https
from tests.conftest import TEST_SECRET, Templates, bearer, login


def _settings(templates: Templates, tmp_path: Path) -> Settings:
    path = tmp_path / "headers.sqlite3"
    shutil.copy(templates.sqlite_demo, path)
    return Settings(
        database_url=f"sqlite+aiosqlite:///{path}",
        secret_key=TEST_SECRET,
        var_dir=tmp_path / "var",
        strict_responses=True,
    )


@pytest.fixture
async def app_client(templates: Templates, tmp_path: Path, aiohttp_client: Any) -> Any:
    return await aiohttp_client(create_app(_settings(templates, tmp_path)))


def _assert_browser_headers(headers: Any, what: str) -> None:
    data = headers.get("Content-Type", "").startswith("application/json")
    for name, value in (API_HEADERS if data else SECURITY_HEADERS).items():
        assert headers.get(name) == value, (what, name, headers.get(name))
    assert "Strict-Transport-Security" not in headers, what  # plain HTTP here
    assert headers.get("Server") == "DriveSync", what  # no Python or aiohttp version


def test_policy_is_the_agreed_one() -> None:
    """The PWA is written to this exact policy (its browser test imports the constant):
    loosening it is a decision, not a side effect."""
    directives = {
        name: value
        for name, _, value in (part.partition(" ") for part in CONTENT_SECURITY_POLICY.split("; "))
    }
    assert directives["default-src"] == "'self'"
    assert directives["script-src"] == "'self'"  # no 'unsafe-inline', no 'unsafe-eval'
    assert directives["style-src"] == "'self'"
    assert directives["connect-src"] == "'self'"
    assert directives["object-src"] == "'none'"
    assert directives["frame-ancestors"] == "'none'"
    assert directives["base-uri"] == "'none'"
    assert "unsafe" not in CONTENT_SECURITY_POLICY
    assert SECURITY_HEADERS["X-Frame-Options"] == "DENY"
    assert SECURITY_HEADERS["Cross-Origin-Opener-Policy"] == "same-origin"
    assert SECURITY_HEADERS["X-Content-Type-Options"] == "nosniff"
    assert SECURITY_HEADERS["Referrer-Policy"] in {"no-referrer", "strict-origin-when-cross-origin"}
    # JSON answers: nothing may load from them or frame them, and they are never sniffed.
    assert API_HEADERS == {
        "Content-Security-Policy": "default-src 'none'; frame-ancestors 'none'",
        "X-Content-Type-Options": "nosniff",
    }


async def test_every_kind_of_response_has_them(app_client: Any) -> None:
    tokens = await login(app_client, "instructor1@demo.test")
    auth = bearer(tokens)
    cases: list[tuple[str, str, dict[str, str], bytes | None, int]] = [
        ("GET", "/healthz", {}, None, 200),
        ("GET", "/v1/sync/info", auth, None, 200),
        ("GET", "/v1/sync/pull?client_id=9b2f4a53-2d3b-4a43-9a83-1a3a3c1b5e01", auth, None, 200),
        ("GET", "/", {}, None, 200),  # the PWA shell
        ("GET", "/app/app.css", {}, None, 200),  # a static file
        ("GET", "/app/js/app.js", {}, None, 200),
        ("GET", "/sw.js", {}, None, 200),
        ("GET", "/v1/openapi.json", {}, None, 200),
        ("GET", "/no/such/page", {}, None, 404),
        ("GET", "/app/no-such-file.js", {}, None, 404),
        ("GET", "/v1/sync/pull", {}, None, 401),
        ("DELETE", "/healthz", {}, None, 405),
        ("POST", "/v1/auth/login", {"Content-Type": "application/json"}, b"{nope", 400),
        ("POST", "/v1/auth/login", {"Content-Type": "application/json"}, b"{}", 422),
    ]
    for method, path, headers, data, status in cases:
        resp = await app_client.request(method, path, headers=headers, data=data)
        await resp.read()
        assert resp.status == status, (method, path, resp.status)
        _assert_browser_headers(resp.headers, f"{method} {path}")


async def test_websocket_upgrade_has_them(app_client: Any) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", app_client.server.port)
    try:
        writer.write(
            b"GET /v1/sync/live HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\n"
            b"Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
            b"Sec-WebSocket-Version: 13\r\n\r\n"
        )
        async with asyncio.timeout(5):
            head = await reader.readuntil(b"\r\n\r\n")
    finally:
        writer.close()
    assert head.startswith(b"HTTP/1.1 101"), head
    headers = CIMultiDict[str]()
    for line in head.decode().split("\r\n")[1:]:
        if line:
            name, _, value = line.partition(":")
            headers.add(name.strip(), value.strip())
    _assert_browser_headers(CIMultiDictProxy(headers), "websocket upgrade")


async def test_hsts_only_over_https(
    templates: Templates, tmp_path: Path, aiohttp_client: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Plain HTTP: never, whatever X-Forwarded-Proto says (any client can send it). With a
    trusted proxy in front (DRIVESYNC_TRUSTED_PROXY_HOPS=1), its X-Forwarded-Proto counts."""
    plain = await aiohttp_client(create_app(_settings(templates, tmp_path)))
    resp = await plain.get("/healthz", headers={"X-Forwarded-Proto": "https"})
    assert "Strict-Transport-Security" not in resp.headers

    monkeypatch.setenv("DRIVESYNC_TRUSTED_PROXY_HOPS", "1")
    proxied = await aiohttp_client(create_app(_settings(templates, tmp_path)))
    resp = await proxied.get("/healthz", headers={"X-Forwarded-Proto": "https"})
    assert resp.headers.get("Strict-Transport-Security") == "max-age=31536000"
    resp = await proxied.get("/no/such/page", headers={"X-Forwarded-Proto": "https"})
    assert resp.status == 404
    assert resp.headers.get("Strict-Transport-Security") == "max-age=31536000"
    resp = await proxied.get("/healthz", headers={"X-Forwarded-Proto": "http"})
    assert "Strict-Transport-Security" not in resp.headers
    resp = await proxied.get("/healthz")
    assert "Strict-Transport-Security" not in resp.headers


def test_is_https_reads_tls_and_trusted_proxies() -> None:
    import ssl

    tls = make_mocked_request("GET", "/", sslcontext=ssl.create_default_context())
    assert is_https(tls, 0)
    forwarded = {"X-Forwarded-Proto": "https"}
    assert not is_https(make_mocked_request("GET", "/", headers=forwarded), 0)
    assert is_https(make_mocked_request("GET", "/", headers=forwarded), 1)
    # Appended by each proxy: the outermost trusted one's value counts, not the client's.
    chain = {"X-Forwarded-Proto": "https, http"}
    assert not is_https(make_mocked_request("GET", "/", headers=chain), 1)
    assert is_https(make_mocked_request("GET", "/", headers=chain), 2)
