"""The PWA's files on the wire (server/shell.py): text gzip-compressed for clients that
accept it and plain for the others, the same bytes every time with a validator (a
revalidation is a bodiless 304), recompressed when a file changes, images as they are,
nothing outside clients/pwa, and no-cache plus no client hints on the shell and worker.
No database is read: one (SQLite) app."""

from __future__ import annotations

import gzip
import shutil
from pathlib import Path
from typing import Any

import pytest

from server.app import create_app
from server.config import Settings
from server.shell import NO_CLIENT_HINTS
from tests.conftest import TEST_SECRET, Templates

PWA = Path(__file__).resolve().parents[2] / "clients" / "pwa"


@pytest.fixture
def pwa(tmp_path: Path) -> Path:
    """A copy of the PWA that a test may edit."""
    copy = tmp_path / "pwa"
    shutil.copytree(PWA, copy, ignore=shutil.ignore_patterns("node_modules"))
    return copy


@pytest.fixture
async def client(templates: Templates, tmp_path: Path, pwa: Path, aiohttp_client: Any) -> Any:
    path = tmp_path / "shell.sqlite3"
    shutil.copy(templates.sqlite_demo, path)
    settings = Settings(
        database_url=f"sqlite+aiosqlite:///{path}",
        secret_key=TEST_SECRET,
        var_dir=tmp_path / "var",
        pwa_dir=pwa,
    )
    return await aiohttp_client(create_app(settings), auto_decompress=False)


GZIP = {"Accept-Encoding": "gzip, deflate, br"}


async def test_text_is_gzipped_for_clients_that_accept_it(client: Any, pwa: Path) -> None:
    for path, file in [
        ("/", "index.html"),
        ("/app/js/sync.js", "js/sync.js"),
        ("/app/app.css", "app.css"),
    ]:
        resp = await client.get(path, headers=GZIP)
        body = await resp.read()
        assert resp.status == 200, path
        assert resp.headers["Content-Encoding"] == "gzip", path
        assert "Accept-Encoding" in resp.headers["Vary"]
        assert gzip.decompress(body) == (pwa / file).read_bytes(), path
        assert len(body) < (pwa / file).stat().st_size * 0.6, path
    js = await client.get("/app/js/sync.js", headers=GZIP)
    assert js.headers["Content-Type"].startswith("text/javascript")


async def test_plain_for_clients_that_do_not(client: Any, pwa: Path) -> None:
    for headers in ({"Accept-Encoding": "identity"}, {"Accept-Encoding": "gzip;q=0"}):
        resp = await client.get("/app/js/sync.js", headers=headers)
        assert resp.status == 200
        assert "Content-Encoding" not in resp.headers
        assert await resp.read() == (pwa / "js/sync.js").read_bytes()


async def test_revalidation_is_a_304_without_body(client: Any) -> None:
    first = await client.get("/app/js/api.js", headers=GZIP)
    etag = first.headers["ETag"]
    again = await client.get("/app/js/api.js", headers={**GZIP, "If-None-Match": etag})
    assert again.status == 304
    assert await again.read() == b""
    assert (await client.get("/app/js/api.js", headers=GZIP)).headers["ETag"] == etag


async def test_a_changed_file_is_compressed_again(client: Any, pwa: Path) -> None:
    first = await client.get("/app/js/version.js", headers=GZIP)
    before = await first.read()
    target = pwa / "js" / "version.js"
    target.write_text(target.read_text() + "// a new build\n")
    second = await client.get("/app/js/version.js", headers=GZIP)
    assert gzip.decompress(await second.read()) == target.read_bytes()
    assert second.headers["ETag"] != first.headers["ETag"]
    assert gzip.decompress(before) != target.read_bytes()


async def test_images_go_as_they_are(client: Any, pwa: Path) -> None:
    resp = await client.get("/app/icons/icon-192.png", headers=GZIP)
    assert resp.status == 200
    assert "Content-Encoding" not in resp.headers
    assert await resp.read() == (pwa / "icons/icon-192.png").read_bytes()


@pytest.mark.parametrize(
    "path",
    [
        "/app/no-such-file.js",
        "/app/js",
        "/app/../pyproject.toml",
        "/app/%2e%2e/README.md",
        "/app/js/%2e%2e/%2e%2e/%2e%2e/pyproject.toml",
    ],
)
async def test_nothing_outside_the_pwa(client: Any, path: str) -> None:
    resp = await client.get(path, headers=GZIP)
    assert resp.status == 404, path


async def test_shell_and_worker_are_revalidated_and_ask_for_no_client_hints(client: Any) -> None:
    for path in ("/", "/sw.js"):
        resp = await client.get(path, headers=GZIP)
        assert resp.status == 200
        assert resp.headers["Cache-Control"] == "no-cache", path
        assert resp.headers["Permissions-Policy"] == NO_CLIENT_HINTS, path
        assert resp.headers["Content-Encoding"] == "gzip", path
    worker = gzip.decompress(await (await client.get("/sw.js", headers=GZIP)).read()).decode()
    assert worker.startswith("self.DRIVESYNC_BUILD = ")
    assert '"/app/js/transport.js"' in worker  # the shell's files, precached by the worker
    assert '"/app/tests/' not in worker
