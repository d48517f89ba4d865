"""While the database cannot be reached, requests answer `503 database_unavailable` with
Retry-After, not 500; a genuine bug still answers 500.

PostgreSQL is reached through a small TCP relay of the test's own, which is cut (its port
closed, its connections dropped) once the app has started: pooled connections die and new
ones are refused, as in a real outage, and the machine's shared cluster is never touched.
On SQLite the database's directory is moved away, so the file cannot be opened. (The full
outage-and-recovery of a real PostgreSQL restart is tests/integration/test_pg_restart.py.)"""

from __future__ import annotations

import asyncio
import shutil
import sqlite3
from pathlib import Path
from typing import Any

import asyncpg
import pytest
from aiohttp import web
from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import IntegrityError, OperationalError

from server.app import create_app
from server.middlewares import error_middleware
from server.outage import is_database_unavailable
from tests.conftest import Db, bearer, login, make_settings
from tests.helpers import uid


class Relay:
    """127.0.0.1:<port> → target, until `cut()`."""

    def __init__(self, host: str, port: int) -> None:
        self.target = (host, port)
        self.server: asyncio.Server | None = None
        self.writers: set[asyncio.StreamWriter] = set()

    async def start(self) -> int:
        self.server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        return int(self.server.sockets[0].getsockname()[1])

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            up_reader, up_writer = await asyncio.open_connection(*self.target)
        except OSError:
            writer.close()
            return
        self.writers |= {writer, up_writer}
        await asyncio.gather(
            self._pipe(reader, up_writer), self._pipe(up_reader, writer), return_exceptions=True
        )

    async def _pipe(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while data := await reader.read(65536):
                writer.write(data)
                await writer.drain()
        finally:
            writer.close()

    async def cut(self) -> None:
        assert self.server is not None
        self.server.close()
        await self.server.wait_closed()
        for writer in self.writers:
            writer.transport.abort()
        self.writers.clear()


async def _assert_unavailable(client: Any, method: str, path: str, **kwargs: Any) -> None:
    resp = await client.request(method, path, **kwargs)
    body = await resp.json()
    assert resp.status == 503, (path, body)
    assert body["error"]["code"] == "database_unavailable", body
    assert int(resp.headers["Retry-After"]) >= 1


async def test_outage_answers_503_with_retry_after(
    db: Db, tmp_path: Path, aiohttp_client: Any
) -> None:
    relay: Relay | None = None
    if db.kind == "pg":
        url = make_url(db.url)
        relay = Relay(url.host or "127.0.0.1", url.port or 5432)
        port = await relay.start()
        database_url = url.set(port=port).render_as_string(hide_password=False)
        where: Path | None = None
    else:
        where = tmp_path / "db"
        where.mkdir()
        shutil.copy(make_url(db.url).database or "", where / "outage.sqlite3")
        database_url = f"sqlite+aiosqlite:///{where / 'outage.sqlite3'}"
    settings = make_settings(db, tmp_path).model_copy(update={"database_url": database_url})
    client = await aiohttp_client(create_app(settings))
    tokens = await login(client, "instructor1@demo.test")
    auth = bearer(tokens)
    resp = await client.get("/v1/sync/pull", params={"client_id": uid()}, headers=auth)
    assert resp.status == 200, await resp.text()

    # The outage.
    if relay is not None:
        await relay.cut()
    else:
        assert where is not None
        where.rename(tmp_path / "db-gone")

    login_body = {"tenant": "demo", "email": "instructor1@demo.test", "password": "drive-demo-1"}
    # Twice each: the first may meet a pooled connection that has just died, the second a
    # refused new one; both are the database being away.
    for _ in range(2):
        await _assert_unavailable(client, "POST", "/v1/auth/login", json=login_body)
        await _assert_unavailable(
            client, "GET", "/v1/sync/pull", params={"client_id": uid()}, headers=auth
        )
    resp = await client.get("/readyz")
    assert resp.status == 503
    resp = await client.get("/healthz")  # the process itself is fine
    assert resp.status == 200

    if relay is None:  # and it heals: the file is back, requests succeed again
        assert where is not None
        (tmp_path / "db-gone").rename(where)
        resp = await client.get("/v1/sync/pull", params={"client_id": uid()}, headers=auth)
        assert resp.status == 200, await resp.text()


# --- which errors count as "unavailable" -------------------------------------------------


async def _refused_by_postgres() -> BaseException:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # nothing listens there once the socket is closed
    try:
        await asyncpg.connect(host="127.0.0.1", port=port, user="x", timeout=5)
    except Exception as exc:  # the exception is what is being tested
        return exc
    raise AssertionError("connected to a closed port")


async def test_connection_failures_are_unavailable(tmp_path: Path) -> None:
    assert is_database_unavailable(await _refused_by_postgres())
    with pytest.raises(sqlite3.OperationalError) as opened:
        sqlite3.connect(tmp_path)  # a directory: "unable to open database file"
    assert is_database_unavailable(opened.value)
    wrapped = OperationalError("SELECT 1", {}, opened.value)
    assert is_database_unavailable(wrapped)
    try:
        raise RuntimeError("while loading") from await _refused_by_postgres()
    except RuntimeError as chained:
        assert is_database_unavailable(chained)
    assert is_database_unavailable(asyncpg.exceptions.CannotConnectNowError("starting up"))
    assert is_database_unavailable(asyncpg.exceptions.ConnectionDoesNotExistError("gone"))


async def test_bugs_are_not_unavailable(db: Db) -> None:
    """Errors from the database that are not about reaching it, and connection-looking
    errors raised outside the database drivers, stay 500s."""
    with pytest.raises(Exception) as bad_sql:
        async with db.engine.connect() as conn:
            await conn.execute(text("SELECT no_such_column FROM tenants"))
    assert not is_database_unavailable(bad_sql.value)
    with pytest.raises(IntegrityError) as duplicate:
        async with db.engine.begin() as conn:
            await conn.execute(text("INSERT INTO tenants SELECT * FROM tenants LIMIT 1"))
    assert not is_database_unavailable(duplicate.value)
    assert not is_database_unavailable(asyncpg.exceptions.QueryCanceledError("timeout"))
    assert not is_database_unavailable(ConnectionRefusedError(111, "refused by a provider"))
    assert not is_database_unavailable(FileNotFoundError(2, "no such file"))
    assert not is_database_unavailable(sqlite3.OperationalError("database is locked"))
    assert not is_database_unavailable(ValueError("a bug"))


async def test_a_bug_still_answers_500(aiohttp_client: Any) -> None:
    async def broken(_request: web.Request) -> web.Response:
        raise ConnectionRefusedError(111, "not the database")

    async def sql_bug(_request: web.Request) -> web.Response:
        raise IntegrityError("INSERT", {}, Exception("duplicate key"))

    app = web.Application(middlewares=[error_middleware])
    app.router.add_get("/broken", broken)
    app.router.add_get("/sql", sql_bug)
    client = await aiohttp_client(app)
    for path in ("/broken", "/sql"):
        resp = await client.get(path)
        assert resp.status == 500
        assert (await resp.json())["error"]["code"] == "internal"


async def test_an_error_inside_a_begun_stream_closes_it(aiohttp_client: Any) -> None:
    """Once a stream's headers are out, an error document would land inside the stream:
    the connection is dropped instead, and what was sent before stays intact."""

    async def stream(request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
        await response.prepare(request)
        await response.write(b"data: first\n\n")
        raise RuntimeError("a bug mid-stream")

    app = web.Application(middlewares=[error_middleware])
    app.router.add_get("/stream", stream)
    client = await aiohttp_client(app)
    reader, writer = await asyncio.open_connection("127.0.0.1", client.server.port)
    writer.write(b"GET /stream HTTP/1.1\r\nHost: x\r\n\r\n")
    received = b""
    try:
        async with asyncio.timeout(5):
            while chunk := await reader.read(65536):
                received += chunk
    finally:
        writer.close()
    assert received.startswith(b"HTTP/1.1 200"), received
    assert b"data: first" in received
    assert b"500" not in received.split(b"data: first", 1)[1], received


async def test_405_keeps_allow(aiohttp_client: Any) -> None:
    async def only_get(_request: web.Request) -> web.Response:
        return web.Response(text="ok")

    app = web.Application(middlewares=[error_middleware])
    app.router.add_get("/thing", only_get)
    client = await aiohttp_client(app)
    resp = await client.delete("/thing")
    assert resp.status == 405
    assert (await resp.json())["error"]["code"] == "method_not_allowed"
    assert set(resp.headers["Allow"].split(",")) >= {"GET"}
