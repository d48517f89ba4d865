"""`drivesync serve --processes 2`: two processes on one port against a fresh PostgreSQL
database (migrated and seeded with the CLI). Both serve requests, a poke reaches a client
connected to the other process, a cursor made by one is read by the other, SIGTERM stops
them all, a worker that dies takes the server down; on SQLite the option is refused.

Which process served a connection is read from the kernel, not asked of the server: the
server-side socket of the client's connection (found in /proc/net/tcp by the client's own
port) is a file descriptor of exactly one worker. So the server needs no debug header, and
the tests need Linux (as the server's SO_REUSEPORT spreading does)."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import subprocess
import sys
import time
import urllib.request
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from tests.conftest import PG_URL, REQUIRE_PG, RUN_ID, _pg_admin, _pg_available, _pg_sa_url

# Several server processes and their timings: run alone, after the parallel part (Makefile).
pytestmark = [
    pytest.mark.skipif(sys.platform != "linux", reason="reads /proc (Linux)"),
    pytest.mark.timing,
]

CLI = [sys.executable, "-m", "server.cli"]
LOGIN = {"tenant": "demo", "email": "instructor1@demo.test", "password": "drive-demo-1"}
ATTEMPTS = 64  # fresh connections tried before giving up on reaching the other process


def _env(url: str, var_dir: Path) -> dict[str, str]:
    """No DRIVESYNC_SECRET_KEY: the parent must make one key for both processes."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("DRIVESYNC_")}
    env.update(
        DRIVESYNC_DATABASE_URL=url, DRIVESYNC_VAR_DIR=str(var_dir), DRIVESYNC_LOG_LEVEL="WARNING"
    )
    return env


@pytest.fixture(scope="module")
def pg_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A database of its own, made the operator's way: `drivesync migrate` + `seed-demo`."""
    error = _pg_available()
    if error is not None:
        if REQUIRE_PG:
            pytest.fail(f"PostgreSQL required (DRIVESYNC_REQUIRE_PG=1) but {error}")
        pytest.skip(f"PostgreSQL unreachable at {PG_URL} ({error})")
    name = f"dst_{RUN_ID}_procs_{uuid.uuid4().hex[:6]}"
    asyncio.run(_pg_admin(f"CREATE DATABASE {name}"))
    url = _pg_sa_url(name)
    env = _env(url, tmp_path_factory.mktemp("cli-var"))
    try:
        for command in ("migrate", "seed-demo"):
            done = subprocess.run(
                [*CLI, command], env=env, capture_output=True, text=True, check=False
            )
            assert done.returncode == 0, done.stdout + done.stderr
        yield url
    finally:
        asyncio.run(_pg_admin(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)"))


# --- which process holds a connection (from /proc) -----------------------------------


def _children(pid: int) -> set[int]:
    found = set()
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            with contextlib.suppress(OSError):
                stat = (entry / "stat").read_text()
                if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
                    found.add(int(entry.name))
    return found


def _socket_inodes(pid: int) -> set[int]:
    inodes = set()
    with contextlib.suppress(OSError):
        for fd in os.listdir(f"/proc/{pid}/fd"):
            with contextlib.suppress(OSError):
                target = os.readlink(f"/proc/{pid}/fd/{fd}")
                if target.startswith("socket:["):
                    inodes.add(int(target[8:-1]))
    return inodes


def _tcp_inodes(local_port: int, remote_port: int | None) -> set[int]:
    """Inodes of IPv4 sockets on `local_port`: listening ones when `remote_port` is None,
    else the one connected to `remote_port`."""
    inodes = set()
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        cols = line.split()
        local, remote, state, inode = cols[1], cols[2], cols[3], int(cols[9])
        if int(local.split(":")[1], 16) != local_port:
            continue
        if remote_port is None and state == "0A":  # LISTEN
            inodes.add(inode)
        elif remote_port is not None and int(remote.split(":")[1], 16) == remote_port:
            inodes.add(inode)
    return inodes


def _holder(pids: set[int], inodes: set[int]) -> set[int]:
    return {pid for pid in pids if _socket_inodes(pid) & inodes}


@dataclass
class Served:
    """A running `drivesync serve --processes 2`."""

    proc: subprocess.Popen[bytes]
    port: int
    workers: set[int]
    var_dir: Path
    log: Path

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def pid_of(self, client_port: int) -> int:
        """The worker holding the server side of the client's connection."""
        for _ in range(50):
            holders = _holder(self.workers, _tcp_inodes(self.port, client_port))
            if len(holders) == 1:
                return holders.pop()
            time.sleep(0.02)  # accepted but not yet in the worker's fd table
        raise AssertionError(f"no worker holds the connection from port {client_port}")

    def output(self) -> str:
        return self.log.read_text(errors="replace")[-3000:]


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextlib.contextmanager
def _serve(url: str, tmp_path: Path) -> Iterator[Served]:
    port = _free_port()
    var_dir = tmp_path / f"var-{port}"
    log = tmp_path / f"serve-{port}.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [*CLI, "serve", "--port", str(port), "--processes", "2"],
            env=_env(url, var_dir),
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    served = Served(proc, port, set(), var_dir, log)
    try:
        deadline = time.monotonic() + 30
        while True:  # until both workers listen on the port and the database answers
            assert proc.poll() is None, f"server exited {proc.returncode}:\n{served.output()}"
            assert time.monotonic() < deadline, f"not ready in 30 s:\n{served.output()}"
            workers = _children(proc.pid)
            if len(workers) == 2 and len(_holder(workers, _tcp_inodes(port, None))) == 2:
                with contextlib.suppress(OSError):
                    with urllib.request.urlopen(f"{served.base}/readyz", timeout=5) as resp:
                        if resp.status == 200:
                            served.workers = workers
                            break
            time.sleep(0.1)
        yield served
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(15)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        for pid in served.workers:  # never leave a worker behind, whatever happened
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)


@pytest.fixture(scope="module")
def server(pg_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    with _serve(pg_url, tmp_path_factory.mktemp("serve")) as served:
        yield served


# --- a client that owns its connection ------------------------------------------------


class Conn:
    """One keep-alive HTTP/1.1 connection, so the test knows which worker serves it
    (aiohttp's pool would choose the connection for us)."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader, self.writer = reader, writer
        self.port: int = writer.get_extra_info("sockname")[1]

    @classmethod
    async def open(cls, port: int) -> Conn:
        return cls(*await asyncio.open_connection("127.0.0.1", port))

    async def request(
        self, method: str, path: str, body: Any = None, token: str | None = None
    ) -> tuple[int, Any]:
        data = b"" if body is None else json.dumps(body).encode()
        head = [f"{method} {path} HTTP/1.1", "Host: 127.0.0.1", f"Content-Length: {len(data)}"]
        if body is not None:
            head.append("Content-Type: application/json")
        if token:
            head.append(f"Authorization: Bearer {token}")
        self.writer.write(("\r\n".join(head) + "\r\n\r\n").encode() + data)
        status_line = await asyncio.wait_for(self.reader.readline(), 10)
        headers = {}
        while (line := await self.reader.readline()) not in (b"\r\n", b""):
            name, _, value = line.decode().partition(":")
            headers[name.strip().lower()] = value.strip()
        raw = await self.reader.readexactly(int(headers["content-length"]))
        return int(status_line.split()[1]), json.loads(raw) if raw else None

    async def close(self) -> None:
        self.writer.close()
        with contextlib.suppress(OSError):
            await self.writer.wait_closed()


@contextlib.asynccontextmanager
async def _conn_on(server: Served, want: int | None = None, avoid: int | None = None) -> Any:
    """A connection served by worker `want` (or by any worker but `avoid`): fresh
    connections are opened until the kernel hands one to it (bounded)."""
    for _ in range(ATTEMPTS):
        conn = await Conn.open(server.port)
        status, _ = await conn.request("GET", "/healthz")  # the worker has accepted it now
        pid = server.pid_of(conn.port)
        if status == 200 and (want is None or pid == want) and pid != avoid:
            try:
                yield conn, pid
            finally:
                await conn.close()
            return
        await conn.close()
    raise AssertionError(f"{ATTEMPTS} connections never reached the wanted worker")


async def _token(server: Served) -> str:
    async with _conn_on(server) as (conn, _pid):
        status, body = await conn.request("POST", "/v1/auth/login", LOGIN)
    assert status == 200, body
    return str(body["access_token"])


# --- the tests --------------------------------------------------------------------------


async def test_both_processes_serve_the_port(server: Served) -> None:
    seen: set[int] = set()
    for _ in range(ATTEMPTS):
        conn = await Conn.open(server.port)
        try:
            assert (await conn.request("GET", "/healthz"))[0] == 200
            seen.add(server.pid_of(conn.port))
        finally:
            await conn.close()
        if seen == server.workers:
            break
    assert seen == server.workers
    # the key was made once, by the parent, in the var dir
    assert (server.var_dir / "secret.key").is_file()


async def test_poke_reaches_a_client_of_the_other_process(server: Served) -> None:
    token = await _token(server)
    async with aiohttp.ClientSession() as http:
        auth = {"Authorization": f"Bearer {token}"}
        async with http.ws_connect(f"{server.base}/v1/sync/live", headers=auth) as ws:
            assert (await ws.receive_json(timeout=10))["type"] == "ready"
            live_pid = server.pid_of(ws.get_extra_info("sockname")[1])
            async with _conn_on(server, avoid=live_pid) as (conn, push_pid):
                status, page = await conn.request(
                    "GET", "/v1/sync/pull?entities=lesson", token=token
                )
                assert status == 200, page
                lesson = page["changes"][0]["record"]
                push = {
                    "client_id": str(uuid.uuid4()),
                    "mutations": [
                        {
                            "seq": 1,
                            "entity": "lesson",
                            "id": lesson["id"],
                            "op": "patch",
                            "hlc": f"{int(time.time() * 1000):013d}-0000-tester",
                            "data": {"attended": not lesson["attended"]},
                        }
                    ],
                }
                status, body = await conn.request("POST", "/v1/sync/push", push, token)
            assert status == 200 and body["results"][0]["status"] == "applied", body
            assert push_pid != live_pid
            rev = body["results"][0]["rev"]
            deadline = time.monotonic() + 10
            while True:  # heartbeats may come first
                msg = await ws.receive_json(timeout=max(0.1, deadline - time.monotonic()))
                if msg["type"] == "poke":
                    break
            assert msg["rev"] >= rev


async def test_cursor_from_one_process_is_read_by_the_other(server: Served) -> None:
    token = await _token(server)
    async with _conn_on(server) as (conn, first):
        status, page = await conn.request("GET", "/v1/sync/pull?limit=5", token=token)
    assert status == 200 and page["has_more"], page
    async with _conn_on(server, avoid=first) as (conn, _second):
        status, nxt = await conn.request(
            "GET", f"/v1/sync/pull?cursor={page['cursor']}", None, token
        )
    assert status == 200, nxt
    # By (entity, id): a balance shares its student's id (`student_balance.id` = student_id).
    seen = {(c["entity"], c["id"]) for c in page["changes"]}
    assert seen.isdisjoint((c["entity"], c["id"]) for c in nxt["changes"])  # went on, not anew


def test_sigterm_stops_every_process(pg_url: str, tmp_path: Path) -> None:
    with _serve(pg_url, tmp_path) as served:
        t0 = time.monotonic()
        served.proc.send_signal(signal.SIGTERM)
        assert served.proc.wait(10) == 0, served.output()
        assert time.monotonic() - t0 < 10
        assert not [pid for pid in served.workers if Path(f"/proc/{pid}").exists()]


def test_a_dead_worker_stops_the_server(pg_url: str, tmp_path: Path) -> None:
    with _serve(pg_url, tmp_path) as served:
        victim = min(served.workers)
        os.kill(victim, signal.SIGKILL)
        assert served.proc.wait(10) == 1
        assert not [pid for pid in served.workers if Path(f"/proc/{pid}").exists()]
        assert f"(pid {victim}) was killed by SIGKILL; stopping the others" in served.output()


def test_processes_refused_on_sqlite(tmp_path: Path) -> None:
    env = _env(f"sqlite+aiosqlite:///{tmp_path}/one.sqlite3", tmp_path / "var")
    done = subprocess.run(
        [*CLI, "serve", "--port", str(_free_port()), "--processes", "2"],
        env=env,
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert done.returncode == 2
    assert "--processes 2 needs PostgreSQL" in done.stderr
