"""Pokes cross server processes: two real `drivesync serve` processes on one PostgreSQL,
a WebSocket client on one, a push through the other (LISTEN/NOTIFY)."""

from __future__ import annotations

import asyncio
import os
import socket
import sys
import time
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest

from tests.conftest import TEST_SECRET, Db


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def _serve(db: Db, tmp_path: Path) -> AsyncIterator[str]:
    port = _free_port()
    env = {
        **os.environ,
        "DRIVESYNC_DATABASE_URL": db.url,
        "DRIVESYNC_SECRET_KEY": TEST_SECRET,
        "DRIVESYNC_VAR_DIR": str(tmp_path / f"var{port}"),
    }
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "server.cli",
        "serve",
        "--port",
        str(port),
        env=env,
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.PIPE,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        async with aiohttp.ClientSession() as http:
            for _ in range(100):
                try:
                    async with http.get(f"{base}/readyz") as resp:
                        if resp.status == 200:
                            break
                except aiohttp.ClientError:
                    pass
                if proc.returncode is not None:
                    err = await proc.stderr.read() if proc.stderr else b""
                    raise RuntimeError(err.decode() or "server died")
                await asyncio.sleep(0.1)
        yield base
    finally:
        proc.terminate()
        await asyncio.wait_for(proc.wait(), 15)


async def test_poke_crosses_processes(db: Db, tmp_path: Path) -> None:
    if db.kind != "pg":
        pytest.skip("cross-process pokes use PostgreSQL LISTEN/NOTIFY; SQLite is one process")
    gen_a, gen_b = _serve(db, tmp_path), _serve(db, tmp_path)
    a, b = await gen_a.__anext__(), await gen_b.__anext__()
    try:
        async with aiohttp.ClientSession() as http:
            login = {"tenant": "demo", "email": "instructor1@demo.test", "password": "drive-demo-1"}
            async with http.post(f"{b}/v1/auth/login", json=login) as resp:
                tokens = await resp.json()
            headers = {"Authorization": f"Bearer {tokens['access_token']}"}
            async with http.ws_connect(f"{a}/v1/sync/live", headers=headers) as ws:
                assert (await ws.receive_json(timeout=5))["type"] == "ready"
                async with http.get(
                    f"{b}/v1/sync/pull", params={"entities": "lesson"}, headers=headers
                ) as resp:
                    lesson = (await resp.json())["changes"][0]["record"]
                push = {
                    "client_id": "6f1c2b1e-3f4a-4c1d-9a77-5d0c0e0d5e99",
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
                async with http.post(f"{b}/v1/sync/push", json=push, headers=headers) as resp:
                    result = (await resp.json())["results"][0]
                assert result["status"] == "applied", result
                poke = await ws.receive_json(timeout=5)
                assert poke["type"] == "poke" and poke["rev"] >= result["rev"]
    finally:
        for gen in (gen_a, gen_b):
            await gen.aclose()
