"""Slow and idle clients cannot take the server from other schools, and nothing a client
sends on the wire (a broken Content-Encoding, a gzip bomb, a body that is not JSON or not
UTF-8, 100,000 nested arrays, bytes that are not UTF-8 in Authorization) gets a 500.

The slow-client test runs a real `drivesync serve` (one process on SQLite, `--processes 2`
on PostgreSQL, so both ways of serving are checked) with short timeouts, opens a few hundred
connections that send headers and part of a body (or only part of the headers, or nothing),
and measures another school's pulls before and during."""

from __future__ import annotations

import asyncio
import contextlib
import gzip
import os
import shutil
import socket
import statistics
import sys
import time
import uuid
import zlib
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import web

from server.app import create_app
from server.config import Settings
from tests.conftest import TEST_SECRET, Db, Templates, login

# Short, for the test, yet long enough for the "during" measurement to end well inside them
# on a busy machine.
BODY_TIMEOUT_S = 5.0
KEEPALIVE_TIMEOUT_S = 5.0
MAX_INFLIGHT = 64  # well below the connections opened: before the fix they took every slot
HELD_BODIES = 240  # headers + a few bytes of a 10,000-byte body
HELD_HEADERS = 40  # half a request line and a header, then nothing
IDLE = 20  # connected, nothing sent
SAMPLES = 60  # p99 is the second slowest: one scheduling hiccup does not decide it


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def _serve(db: Db, tmp_path: Path) -> AsyncIterator[str]:
    port = _free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("DRIVESYNC_")}
    env.update(
        DRIVESYNC_DATABASE_URL=db.url,
        DRIVESYNC_SECRET_KEY=TEST_SECRET,
        DRIVESYNC_VAR_DIR=str(tmp_path / "var"),
        DRIVESYNC_LOG_LEVEL="ERROR",
        DRIVESYNC_BODY_TIMEOUT_S=str(BODY_TIMEOUT_S),
        DRIVESYNC_KEEPALIVE_TIMEOUT_S=str(KEEPALIVE_TIMEOUT_S),
        DRIVESYNC_MAX_INFLIGHT_REQUESTS=str(MAX_INFLIGHT),
    )
    processes = "2" if db.kind == "pg" else "1"
    proc = await asyncio.create_subprocess_exec(
        *(sys.executable, "-m", "server.cli", "serve", "--port", str(port)),
        *("--processes", processes),
        env=env,
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.PIPE,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        async with aiohttp.ClientSession() as http:
            for _ in range(150):
                with contextlib.suppress(aiohttp.ClientError):
                    async with http.get(f"{base}/readyz") as resp:
                        if resp.status == 200:
                            break
                if proc.returncode is not None:
                    err = await proc.stderr.read() if proc.stderr else b""
                    raise RuntimeError(err.decode() or "server died")
                await asyncio.sleep(0.1)
        yield base
    finally:
        proc.terminate()
        await asyncio.wait_for(proc.wait(), 20)


async def _pull_latencies(http: aiohttp.ClientSession, base: str, token: str) -> list[float]:
    """SAMPLES no-change pulls of the rival school, one after another: seconds each."""
    headers = {"Authorization": f"Bearer {token}"}
    params = {"client_id": str(uuid.uuid4())}
    async with http.get(f"{base}/v1/sync/pull", params=params, headers=headers) as resp:
        assert resp.status == 200, await resp.text()
        params["cursor"] = (await resp.json())["cursor"]
    took = []
    for _ in range(SAMPLES):
        start = time.perf_counter()
        async with http.get(f"{base}/v1/sync/pull", params=params, headers=headers) as resp:
            body = await resp.read()
            assert resp.status == 200, body
        took.append(time.perf_counter() - start)
    return took


def _p99(values: list[float]) -> float:
    return sorted(values)[min(len(values) - 1, round(0.99 * (len(values) - 1)))]


async def _open(port: int, data: bytes) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    if data:
        writer.write(data)
        await writer.drain()
    return reader, writer


async def _until_closed(reader: asyncio.StreamReader, within: float) -> bytes:
    """Everything the server sends until it closes the connection (TimeoutError if it
    keeps it open longer than `within` seconds)."""
    received = b""
    async with asyncio.timeout(within):
        while chunk := await reader.read(65536):
            received += chunk
    return received


@pytest.mark.timing  # latency: run alone, after the parallel part (Makefile)
async def test_unfinished_requests_do_not_starve_other_schools(db: Db, tmp_path: Path) -> None:
    gen = _serve(db, tmp_path)
    base = await gen.__anext__()
    port = int(base.rsplit(":", 1)[1])
    writers: list[asyncio.StreamWriter] = []
    try:
        async with aiohttp.ClientSession() as http:
            demo = await login(_Client(http, base), "instructor1@demo.test")
            rival = await login(_Client(http, base), "instructor1@rival.test", tenant="rival")
            before = await _pull_latencies(http, base, rival["access_token"])

            # The attack: headers announcing 10,000 bytes and then only a few of them, on
            # a public route (login) and a private one (push, with a token), plus
            # connections that stop halfway through their headers or send nothing.
            def held(path: str, token: str | None) -> bytes:
                auth = f"Authorization: Bearer {token}\r\n" if token else ""
                return (
                    f"POST {path} HTTP/1.1\r\nHost: x\r\n{auth}Content-Type: application/json"
                    '\r\nContent-Length: 10000\r\n\r\n{"mutations": ['
                ).encode()

            bodies = [
                held("/v1/auth/login", None)
                if i % 2
                else held("/v1/sync/push", demo["access_token"])
                for i in range(HELD_BODIES)
            ]
            slowloris = [b"POST /v1/auth/login HTTP/1.1\r\nHost: x\r\nContent-Le"] * HELD_HEADERS
            opened_at = time.monotonic()
            conns = await asyncio.gather(
                *(_open(port, data) for data in [*bodies, *slowloris, *([b""] * IDLE)])
            )
            writers = [w for _, w in conns]
            await asyncio.sleep(0.3)  # let the server take them all in

            during = await _pull_latencies(http, base, rival["access_token"])
            measured_in = time.monotonic() - opened_at
            # The measurement must have happened while every connection was still held
            # (their timeouts run from when the server accepted them, after `opened_at`).
            assert measured_in < min(BODY_TIMEOUT_S, KEEPALIVE_TIMEOUT_S), measured_in

            before_p99, during_p99 = _p99(before), _p99(during)
            print(
                f"\nrival pull p50/p99 before {statistics.median(before) * 1000:.1f}/"
                f"{before_p99 * 1000:.1f} ms, during {len(conns)} unfinished connections "
                f"{statistics.median(during) * 1000:.1f}/{during_p99 * 1000:.1f} ms ({db.kind})"
            )
            assert during_p99 < max(5 * before_p99, 0.2), (before, during)

            # Each of them is closed by the server once its timeout has passed: the unfinished
            # bodies with a 408 in the project's error shape, the rest without a word.
            within = max(BODY_TIMEOUT_S, KEEPALIVE_TIMEOUT_S) + 5.0
            answers = await asyncio.gather(*(_until_closed(r, within) for r, _ in conns))
            closed_after = time.monotonic() - opened_at
            for answer in answers[:HELD_BODIES]:
                head, _, body = answer.partition(b"\r\n\r\n")
                assert head.startswith(b"HTTP/1.1 408"), answer[:200]
                assert b'"code":"body_timeout"' in body, answer
            assert all(answer == b"" for answer in answers[HELD_BODIES:]), answers[HELD_BODIES:]
            assert closed_after >= min(BODY_TIMEOUT_S, KEEPALIVE_TIMEOUT_S) - 0.5, closed_after

            # And the server still serves normally afterwards.
            after = await _pull_latencies(http, base, rival["access_token"])
            assert len(after) == SAMPLES
    finally:
        for w in writers:
            w.close()
        with contextlib.suppress(StopAsyncIteration):
            await gen.__anext__()


class _Client:
    """Just enough of the aiohttp test client for `tests.conftest.login`."""

    def __init__(self, http: aiohttp.ClientSession, base: str) -> None:
        self.http, self.base = http, base

    async def post(self, path: str, **kwargs: Any) -> Any:
        resp = await self.http.post(self.base + path, **kwargs)
        await resp.read()
        return resp


# --- what a client sends on the wire: 4xx with stable codes, never 500 ------------------
# All of it happens before any query, the same on both databases: one (SQLite) app.


@pytest.fixture
async def client(templates: Templates, tmp_path: Path, aiohttp_client: Any) -> Any:
    path = tmp_path / "wire.sqlite3"
    shutil.copy(templates.sqlite_demo, path)
    settings = Settings(
        database_url=f"sqlite+aiosqlite:///{path}",
        secret_key=TEST_SECRET,
        var_dir=tmp_path / "var",
        strict_responses=True,
    )
    return await aiohttp_client(create_app(settings))


async def _post_raw(client: Any, path: str, data: bytes, **headers: str) -> tuple[int, Any]:
    resp = await client.post(
        path, data=data, headers={"Content-Type": "application/json", **headers}
    )
    return resp.status, await resp.json()


async def test_broken_content_encoding_is_400(client: Any) -> None:
    for encoding, data, code in [
        ("gzip", b"this is not gzip", "bad_body"),
        ("deflate", b"\xff\x00 nor deflate", "bad_body"),
        # A deflate stream cut short is caught by aiohttp's parser at its end, before any
        # handler: its own 400 (text/plain), not the project's shape, but never a 500.
        ("deflate", zlib.compress(b'{"tenant": "demo"}')[:-6], None),
        # A gzip stream cut short inflates to what it holds (aiohttp does not check its
        # trailer): here JSON cut short.
        ("gzip", gzip.compress(b'{"tenant": "demo"}')[:-12], "bad_request"),
    ]:
        headers = {"Content-Type": "application/json", "Content-Encoding": encoding}
        resp = await client.post("/v1/auth/login", data=data, headers=headers)
        if code is None:
            assert resp.status == 400, await resp.text()
            continue
        body = await resp.json()
        assert (resp.status, body["error"]["code"]) == (400, code), (encoding, body)


async def test_valid_gzip_body_is_read(client: Any) -> None:
    login = b'{"tenant": "demo", "email": "instructor1@demo.test", "password": "drive-demo-1"}'
    status, body = await _post_raw(
        client, "/v1/auth/login", gzip.compress(login), **{"Content-Encoding": "gzip"}
    )
    assert status == 200, body
    assert body["access_token"]


async def test_gzip_bomb_is_refused_without_inflating_it(client: Any) -> None:
    """32 MB of zeros compress to 32 KB; the server refuses at its limit (2 MB + 64 KB)
    as it inflates, so the 413 comes back quickly and memory stays bounded."""
    bomb = zlib.compress(b"\0" * (32 * 1024 * 1024), 9)
    assert len(bomb) < 64 * 1024
    tokens = await login(client, "instructor1@demo.test")
    for path, headers in [
        ("/v1/auth/login", {}),  # public: refused past 64 KiB
        ("/v1/sync/push", {"Authorization": f"Bearer {tokens['access_token']}"}),
    ]:
        start = time.perf_counter()
        status, body = await _post_raw(
            client, path, bomb, **{"Content-Encoding": "deflate", **headers}
        )
        assert (status, body["error"]["code"]) == (413, "too_large"), body
        assert time.perf_counter() - start < 5


async def test_public_routes_take_small_bodies(client: Any) -> None:
    """An anonymous client cannot make the server hold a large body: past 64 KiB on a
    public route (sign-in takes 16 KiB) the request is refused as it is read."""
    for data in [b" " * (70 * 1024) + b"{}", gzip.compress(b" " * (70 * 1024) + b"{}")]:
        headers = {"Content-Encoding": "gzip"} if data[:2] == b"\x1f\x8b" else {}
        status, body = await _post_raw(client, "/v1/auth/login", data, **headers)
        assert (status, body["error"]["code"]) == (413, "too_large"), body


async def test_a_large_anonymous_body_is_refused_as_it_arrives(client: Any) -> None:
    """Chunked, so no length is declared: 70 KiB sent and the rest held back. The server
    refuses at 64 KiB instead of waiting to receive (and hold) the whole of it."""
    chunk = b" " * (70 * 1024)
    reader, writer = await _open(
        client.server.port,
        b"POST /v1/auth/login HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        b"Transfer-Encoding: chunked\r\n\r\n" + f"{len(chunk):x}\r\n".encode() + chunk + b"\r\n",
    )
    try:
        async with asyncio.timeout(5):
            head = await reader.readuntil(b"\r\n\r\n")
    finally:
        writer.close()
    assert head.startswith(b"HTTP/1.1 413"), head


async def test_bodies_that_are_not_json_are_400(client: Any) -> None:
    tokens = await login(client, "instructor1@demo.test")
    auth = {"Authorization": f"Bearer {tokens['access_token']}"}
    for path, headers, depth in [("/v1/auth/login", {}, 8_000), ("/v1/sync/push", auth, 100_000)]:
        for data in [
            b"[" * depth,
            b'{"a":' * (depth // 5),
            b"[" * depth + b"]" * depth,
            b"\xff\xfe\x00not utf-8",
            b'{"tenant": "demo\xc3"}',
            b"{not json",
            b"",
        ]:
            status, body = await _post_raw(client, path, data, **headers)
            assert (status, body["error"]["code"]) == (400, "bad_request"), (data[:20], body)


async def test_deep_nesting_within_a_valid_body_is_4xx(client: Any) -> None:
    deep = "[" * 5000 + "]" * 5000
    for data in [
        f'{{"tenant": "demo", "email": "a@b.c", "password": "x", "extra": {deep}}}',
        f'{{"tenant": {deep}, "email": "a@b.c", "password": "x"}}',
    ]:
        status, body = await _post_raw(client, "/v1/auth/login", data.encode())
        assert 400 <= status < 500 and body["error"]["code"], body


async def test_authorization_that_is_not_utf8_is_401(client: Any) -> None:
    """Sent as raw bytes: aiohttp's client would refuse to send such a header."""
    port = client.server.port
    for value in [
        b"Bearer \xff\xfe\xfd",
        b"Bearer abc\xc3",
        b"\xff\xff token",
        b"Bearer \xe2\x82\xac",
    ]:
        reader, writer = await _open(
            port,
            b"GET /v1/sync/pull HTTP/1.1\r\nHost: x\r\nAuthorization: " + value + b"\r\n"
            b"Connection: close\r\n\r\n",
        )
        try:
            answer = await _until_closed(reader, 5)
        finally:
            writer.close()
        head, _, body = answer.partition(b"\r\n\r\n")
        assert head.startswith(b"HTTP/1.1 401"), (value, answer[:300])
        assert b'"code":"unauthenticated"' in body


async def test_oversized_headers_are_refused(client: Any) -> None:
    """Past DRIVESYNC_MAX_HEADER_BYTES (8190 by default) aiohttp refuses the request before
    any handler (so before the app's error shape) with a 4xx and closes the connection."""
    resp = await client.get("/healthz", headers={"X-Padding": "a" * 9000})
    assert 400 <= resp.status < 500
    resp = await client.get("/healthz", headers={f"X-H{i}": "1" for i in range(200)})
    assert 400 <= resp.status < 500
    resp = await client.get("/healthz", headers={"X-Padding": "a" * 4000})
    assert resp.status == 200


async def test_header_limits_follow_the_settings(tmp_path: Path, aiohttp_client: Any) -> None:
    settings = Settings(
        database_url=f"sqlite+aiosqlite:///{tmp_path / 'unused.sqlite3'}",  # /healthz only
        secret_key=TEST_SECRET,
        var_dir=tmp_path / "var",
        max_header_bytes=2048,
        max_headers=32,
    )
    small = await aiohttp_client(create_app(settings))
    resp = await small.get("/healthz", headers={"X-Padding": "a" * 3000})
    assert 400 <= resp.status < 500
    resp = await small.get("/healthz", headers={f"X-H{i}": "1" for i in range(40)})
    assert 400 <= resp.status < 500
    resp = await small.get("/healthz", headers={"X-Padding": "a" * 1500})
    assert resp.status == 200


async def test_declared_length_over_the_limit_is_413_before_reading(client: Any) -> None:
    port = client.server.port
    reader, writer = await _open(
        port,
        b"POST /v1/auth/login HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        b"Content-Length: 999999999\r\n\r\n{",
    )
    try:
        async with asyncio.timeout(5):
            head = await reader.readuntil(b"\r\n\r\n")
    finally:
        writer.close()
    assert head.startswith(b"HTTP/1.1 413"), head


async def test_bodies_no_one_will_use_are_not_waited_for(client: Any) -> None:
    """A private route without a token or with one this server did not sign (or that has
    expired), or a path no route takes, answers at once: the server does not wait (here up
    to the default 60 s) for a body it would throw away, nor hold one for a stranger."""
    port = client.server.port
    forged = "Authorization: Bearer eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJ4In0.c2lnbmF0dXJl\r\n"
    cases = [
        ("/v1/sync/push", "", b"401"),
        ("/v1/sync/push", forged, b"401"),
        ("/no/such/page", "", b"404"),
        ("/healthz", "", b"405"),
    ]
    for path, auth, status in cases:
        reader, writer = await _open(
            port,
            f"POST {path} HTTP/1.1\r\nHost: x\r\n{auth}Content-Type: application/json\r\n"
            "Content-Length: 10000\r\n\r\n{".encode(),
        )
        try:
            async with asyncio.timeout(5):
                head = await reader.readuntil(b"\r\n\r\n")
        finally:
            writer.close()
        assert head.startswith(b"HTTP/1.1 " + status), head


async def test_a_body_received_early_reads_as_usual(aiohttp_client: Any, tmp_path: Path) -> None:
    """The body middleware reads first; handlers still find the body however they read it
    (the refund route, for one, asks `can_read_body` before parsing)."""
    from server.keys import SETTINGS
    from server.middlewares import body_middleware, error_middleware

    seen: dict[str, Any] = {}

    async def whole(request: web.Request) -> web.Response:
        seen["can_read_body"] = request.can_read_body
        seen["read"] = await request.read()
        seen["json"] = await request.json()
        return web.Response(text="ok")

    async def streamed(request: web.Request) -> web.Response:
        seen["streamed"] = await request.content.read()
        return web.Response(text="ok")

    app = web.Application(middlewares=[error_middleware, body_middleware])
    app[SETTINGS] = Settings(secret_key=TEST_SECRET, var_dir=tmp_path / "var")
    app.router.add_post("/whole", whole)
    app.router.add_post("/streamed", streamed)
    client = await aiohttp_client(app)
    raw = b'{"amount_cents":1000}'
    for path in ("/whole", "/streamed"):
        resp = await client.post(path, data=raw, headers={"Content-Type": "application/json"})
        assert resp.status == 200, await resp.text()
    assert seen == {
        "can_read_body": True,
        "read": raw,
        "json": {"amount_cents": 1000},
        "streamed": raw,
    }
