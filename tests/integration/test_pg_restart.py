"""PostgreSQL goes away and comes back: the project's own throwaway cluster (tests.pgcluster)
is stopped and started under a pool, then under two real `drivesync serve` processes; and a
TCP relay that goes silent stands for a link that died without a word.

What must hold: while the database is down, requests answer `503` with `Retry-After`
quickly (not 500, not hanging); once it is back, the first request on each process
succeeds (no stale pooled connection is handed out, and only a connection that sat idle
costs a ping); and live pokes cross processes again (the LISTEN connection reconnects): a
push on process B pokes a client on process A.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
import sys
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any, BinaryIO

import aiohttp
import asyncpg
import pytest
from sqlalchemy import event, text

from sync import database
from sync.database import make_engine, make_sessionmaker
from sync.store import Store
from tests.conftest import REQUIRE_PG, TEST_SECRET
from tests.pgcluster import PgCluster, throwaway_cluster, unavailable

# Outage timings: run alone, after the parallel part of the suite (Makefile).
pytestmark = [pytest.mark.pg_only, pytest.mark.timing]

LOGIN = {"tenant": "demo", "email": "instructor1@demo.test", "password": "drive-demo-1"}
OUTAGE_S = 4.0  # how long PostgreSQL stays down
OUTAGE_ANSWER_S = 5.0  # a request during the outage must be answered within this


@pytest.fixture(scope="module")
def cluster_module() -> Iterator[tuple[PgCluster, str]]:
    """A throwaway cluster holding a migrated database with the demo schools."""
    why = unavailable()
    if why is not None:
        if REQUIRE_PG:
            pytest.fail(f"a throwaway PostgreSQL cluster is required: {why}")
        pytest.skip(f"no throwaway PostgreSQL cluster: {why}")
    from server.migrate import upgrade
    from server.seed import seed_demo

    async def create_database() -> None:
        conn = await asyncpg.connect(pg.dsn(), timeout=5)
        try:
            await conn.execute("CREATE DATABASE drivesync")
        finally:
            await conn.close()

    async def seed(url: str) -> None:
        engine = make_engine(url)
        try:
            sessions = make_sessionmaker(engine)
            await seed_demo(sessions, Store(sessions, engine.dialect.name))
        finally:
            await engine.dispose()

    with throwaway_cluster() as pg:
        url = pg.url("drivesync")
        asyncio.run(create_database())
        upgrade(url)
        asyncio.run(seed(url))
        yield pg, url


@pytest.fixture
def cluster(cluster_module: tuple[PgCluster, str]) -> tuple[PgCluster, str]:
    """The module's cluster, running (a test that failed mid-outage left it stopped)."""
    pg, _url = cluster_module
    if not pg.running():
        pg.start()
    return cluster_module


async def test_pool_hands_out_no_stale_connection_after_a_restart(
    cluster: tuple[PgCluster, str],
) -> None:
    pg, url = cluster
    engine = make_engine(url, pool_size=3)
    opened: list[Any] = []
    event.listen(
        engine.sync_engine, "connect", lambda conn, _rec: opened.append(conn.driver_connection)
    )

    async def select_one(hold_s: float) -> int:
        async with engine.connect() as conn:
            value = (await conn.execute(text("SELECT 1"))).scalar_one()
            await asyncio.sleep(hold_s)  # overlap, so the pool holds several connections
            return int(value)

    try:
        assert await asyncio.gather(*(select_one(0.05) for _ in range(3))) == [1, 1, 1]
        assert len(opened) == 3
        await asyncio.to_thread(pg.stop)
        await asyncio.to_thread(pg.start)
        await asyncio.sleep(0.05)  # let the event loop read the closed sockets
        # The restart left the pool full of dead connections ...
        assert all(conn.is_closed() for conn in opened)
        # ... and none of them is handed out: every first use succeeds.
        assert await asyncio.gather(*(select_one(0) for _ in range(3))) == [1, 1, 1]
        assert len(opened) > 3
    finally:
        await engine.dispose()


class _Link:
    """A TCP relay to PostgreSQL that can go silently dead for the connections it carries
    (a NAT or firewall forgetting them: no reset, no EOF, bytes simply vanish), while new
    connections pass."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.generation = 0
        self._tasks: set[asyncio.Task[None]] = set()
        self._writers: list[asyncio.StreamWriter] = []
        self.swallow_new = False

    async def start(self) -> tuple[asyncio.Server, int]:
        server = await asyncio.start_server(self._relay, "127.0.0.1", 0)
        return server, int(server.sockets[0].getsockname()[1])

    def go_silent(self) -> None:
        self.generation += 1

    async def _relay(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if self.swallow_new:  # a host that drops packets: the handshake never completes
            self._writers.append(writer)
            return
        up_reader, up_writer = await asyncio.open_connection("127.0.0.1", self.port)
        born = self.generation
        self._writers += [writer, up_writer]
        for src, dst in ((reader, up_writer), (up_reader, writer)):
            task = asyncio.create_task(self._pump(src, dst, born))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    async def _pump(self, src: asyncio.StreamReader, dst: asyncio.StreamWriter, born: int) -> None:
        with contextlib.suppress(ConnectionError):
            while data := await src.read(65536):
                if self.generation != born:
                    return  # silently dropped: neither side hears anything
                dst.write(data)
                await dst.drain()
            dst.close()  # an orderly end is passed on

    def close(self) -> None:
        for task in self._tasks:
            task.cancel()
        for writer in self._writers:
            writer.close()


async def test_pool_pings_only_idle_connections_and_replaces_a_silently_dead_one(
    cluster: tuple[PgCluster, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    pg, _url = cluster
    monkeypatch.setattr(database, "IDLE_PING_S", 0.5)
    monkeypatch.setattr(database, "PING_TIMEOUT_S", 0.5)
    pings = 0
    ping = database._ping

    def counted(dbapi_conn: Any) -> None:
        nonlocal pings
        pings += 1
        ping(dbapi_conn)

    monkeypatch.setattr(database, "_ping", counted)
    link = _Link(pg.port)
    server, port = await link.start()
    engine = make_engine(f"postgresql+asyncpg://postgres@127.0.0.1:{port}/drivesync")
    connects = 0

    def connected(_conn: Any, _record: Any) -> None:
        nonlocal connects
        connects += 1

    event.listen(engine.sync_engine, "connect", connected)

    async def select_one() -> int:
        async with engine.connect() as conn:
            return int((await conn.execute(text("SELECT 1"))).scalar_one())

    try:
        for _ in range(20):  # back to back: never pinged
            assert await select_one() == 1
        assert (pings, connects) == (0, 1)
        await asyncio.sleep(0.7)  # idle past IDLE_PING_S: pinged, still alive, kept
        assert await select_one() == 1
        assert (pings, connects) == (1, 1)
        link.go_silent()
        await asyncio.sleep(0.7)
        # The ping finds the connection dead and a fresh one serves the request.
        t0 = time.monotonic()
        assert await asyncio.wait_for(select_one(), 5) == 1
        assert time.monotonic() - t0 < database.PING_TIMEOUT_S + 0.5
        assert (pings, connects) == (2, 2)
    finally:
        link.close()  # every relayed socket closed: nothing left to wait for
        await asyncio.wait_for(engine.dispose(), 10)
        server.close()


async def test_a_connection_that_cannot_be_made_fails_fast_as_unavailable(
    cluster: tuple[PgCluster, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A database host that drops packets: the request fails within the connect timeout
    (asyncpg's own default is 60 s), with an error the server answers 503."""
    from server.outage import is_database_unavailable

    pg, _url = cluster
    monkeypatch.setattr(database, "CONNECT_TIMEOUT_S", 0.5)
    link = _Link(pg.port)
    link.swallow_new = True
    server, port = await link.start()
    engine = make_engine(f"postgresql+asyncpg://postgres@127.0.0.1:{port}/drivesync")
    try:
        t0 = time.monotonic()
        with pytest.raises(Exception) as failure:
            async with engine.connect() as conn:
                await conn.execute(text("SELECT 1"))
        assert time.monotonic() - t0 < 2
        assert is_database_unavailable(failure.value), repr(failure.value)
    finally:
        link.close()
        await asyncio.wait_for(engine.dispose(), 10)
        server.close()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _die_with_parent() -> None:
    """In the server's child process: SIGTERM when the test process dies, even killed
    outright (Linux's PR_SET_PDEATHSIG), so no server outlives a killed run."""
    if sys.platform == "linux":
        import ctypes
        import signal

        ctypes.CDLL(None).prctl(1, signal.SIGTERM)


def _new_log(var: Path) -> BinaryIO:
    var.mkdir(parents=True)
    return (var / "server.log").open("wb")


@contextlib.asynccontextmanager
async def _serve(url: str, var: Path) -> AsyncIterator[str]:
    """A `drivesync serve` process on `url`; its log goes to `var`/server.log."""
    port = _free_port()
    env = {
        **os.environ,
        "DRIVESYNC_DATABASE_URL": url,
        "DRIVESYNC_SECRET_KEY": TEST_SECRET,
        "DRIVESYNC_VAR_DIR": str(var),
    }
    with _new_log(var) as log:
        proc = await asyncio.create_subprocess_exec(
            sys.executable,
            *("-m", "server.cli", "serve", "--port", str(port)),
            env=env,
            stdout=log,
            stderr=log,
            preexec_fn=_die_with_parent,
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
                    raise RuntimeError((var / "server.log").read_text() or "server died")
                await asyncio.sleep(0.1)
        yield base
    finally:
        if proc.returncode is None:
            proc.terminate()
        await asyncio.wait_for(proc.wait(), 15)


def _push(lesson: dict[str, Any], attended: bool) -> dict[str, Any]:
    """A one-mutation push from a new device (a failed push leaves no seq behind)."""
    return {
        "client_id": str(uuid.uuid4()),
        "mutations": [
            {
                "seq": 1,
                "entity": "lesson",
                "id": lesson["id"],
                "op": "patch",
                "hlc": f"{int(time.time() * 1000):013d}-0000-tester",
                "data": {"attended": attended},
            }
        ],
    }


async def _poke_at_least(ws: aiohttp.ClientWebSocketResponse, rev: int, within_s: float) -> float:
    """Seconds until a poke with a rev >= `rev` arrives (heartbeats and older pokes skipped)."""
    t0 = time.monotonic()
    deadline = t0 + within_s
    while True:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise AssertionError(f"no poke for rev {rev} within {within_s} s")
        msg = await ws.receive_json(timeout=remaining)
        if msg["type"] == "poke" and msg["rev"] >= rev:
            return time.monotonic() - t0


async def test_outage_answers_503_and_both_processes_recover(
    cluster: tuple[PgCluster, str], tmp_path: Path
) -> None:
    pg, url = cluster
    async with (
        _serve(url, tmp_path / "a") as a,
        _serve(url, tmp_path / "b") as b,
        aiohttp.ClientSession() as http,
    ):
        try:
            async with http.post(f"{b}/v1/auth/login", json=LOGIN) as resp:
                assert resp.status == 200, await resp.text()
                headers = {"Authorization": f"Bearer {(await resp.json())['access_token']}"}

            async def pull(base: str) -> tuple[int, dict[str, Any]]:
                # No cursor: a full pull, always answered from the database.
                async with http.get(
                    f"{base}/v1/sync/pull", params={"entities": "lesson"}, headers=headers
                ) as resp:
                    return resp.status, await resp.json()

            async def push(base: str, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
                async with http.post(f"{base}/v1/sync/push", json=body, headers=headers) as resp:
                    return resp.status, await resp.json()

            async with http.ws_connect(f"{a}/v1/sync/live", headers=headers) as ws:
                assert (await ws.receive_json(timeout=5))["type"] == "ready"
                # Both processes' pools hold several connections before the outage.
                pulls = await asyncio.gather(*(pull(base) for base in (a, b) for _ in range(4)))
                assert [status for status, _ in pulls] == [200] * 8
                lesson = pulls[0][1]["changes"][0]["record"]

                await asyncio.to_thread(pg.stop)
                stopped = time.monotonic()
                # During the outage (OUTAGE_S, long enough for the LISTEN reconnect to back
                # off) process A answers 503 + Retry-After, and quickly. Process B stays
                # idle, so its pool keeps its dead connections.
                timeout = aiohttp.ClientTimeout(total=OUTAGE_ANSWER_S + 5)
                while time.monotonic() - stopped < OUTAGE_S:
                    for method, path, body in (
                        ("GET", "/v1/sync/pull?entities=lesson", None),
                        ("POST", "/v1/sync/push", _push(lesson, True)),
                        ("GET", "/readyz", None),
                    ):
                        t0 = time.monotonic()
                        async with http.request(
                            method, f"{a}{path}", json=body, headers=headers, timeout=timeout
                        ) as resp:
                            elapsed = time.monotonic() - t0
                            answer = await resp.json()
                            assert resp.status == 503, (path, resp.status, answer)
                            assert set(answer["error"]) == {"code", "message", "details"}
                            if path != "/readyz":
                                assert answer["error"]["code"] == "database_unavailable"
                                assert int(resp.headers["Retry-After"]) >= 1, path
                        assert elapsed < OUTAGE_ANSWER_S, (path, elapsed)
                    await asyncio.sleep(0.5)
                # A live connection opened during the outage is told so and closed with
                # 1013 (try again later), not broken by an HTTP answer in its stream.
                async with http.ws_connect(f"{a}/v1/sync/live", headers=headers) as late:
                    msg = await late.receive_json(timeout=OUTAGE_ANSWER_S)
                    assert msg["error"]["code"] == "database_unavailable", msg
                    assert (await late.receive(timeout=OUTAGE_ANSWER_S)).type in (
                        aiohttp.WSMsgType.CLOSE,
                        aiohttp.WSMsgType.CLOSED,
                    )
                    assert late.close_code == 1013
                assert not ws.closed  # the live connection outlives the outage

                await asyncio.to_thread(pg.start)
                started = time.monotonic()
                # The first requests after recovery succeed on both processes (B's pool is
                # full of connections PostgreSQL closed).
                firsts = await asyncio.gather(
                    *(pull(b) for _ in range(4)), pull(a), push(a, _push(lesson, False))
                )
                assert [status for status, _ in firsts] == [200] * 6, firsts
                assert firsts[-1][1]["results"][0]["status"] == "applied", firsts[-1]

                # Pokes cross processes again: a push on B reaches the client on A ...
                status, body = await push(b, _push(lesson, True))
                assert status == 200 and body["results"][0]["status"] == "applied", body
                poke_s = await _poke_at_least(ws, body["results"][0]["rev"], within_s=8)
                print(
                    f"outage {started - stopped:.2f} s; first poke "
                    f"{time.monotonic() - started:.2f} s after PostgreSQL was back "
                    f"({poke_s:.2f} s after the push)"
                )
                # ... and keep doing so (LISTEN itself is back, not only a catch-up poke).
                status, body = await push(b, _push(lesson, False))
                assert status == 200 and body["results"][0]["status"] == "applied", body
                assert await _poke_at_least(ws, body["results"][0]["rev"], within_s=3) < 3
        except BaseException:
            for name in ("a", "b"):
                log = (tmp_path / name / "server.log").read_text()
                print(f"--- server {name} log (tail) ---\n{log[-4000:]}")
            raise
