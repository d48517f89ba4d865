"""The first minutes of a new user with `drivesync serve` and `make run`: a port already in
use fails with one clear line and a non-zero exit (no "serving on …" first, no traceback),
a real occupied port; the shell's files are not logged one line each (the API still is);
`make run` listens on DRIVESYNC_PORT."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
CLI = [sys.executable, "-m", "server.cli"]


def _env(tmp_path: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("DRIVESYNC_")}
    env.update(
        DRIVESYNC_DATABASE_URL=f"sqlite+aiosqlite:///{tmp_path / 'cli.sqlite3'}",
        DRIVESYNC_VAR_DIR=str(tmp_path / "var"),
        DRIVESYNC_RUN_DISPATCHER="false",
        **extra,
    )
    return env


@pytest.fixture
def migrated(tmp_path: Path) -> Path:
    done = subprocess.run(
        [*CLI, "migrate"], env=_env(tmp_path), capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, done.stdout + done.stderr
    return tmp_path


@pytest.fixture
def occupied() -> Iterator[int]:
    """A port something really listens on."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as held:
        held.bind(("127.0.0.1", 0))
        held.listen()
        yield held.getsockname()[1]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.mark.parametrize("processes", ["1", "2"])
def test_a_port_in_use_fails_with_one_clear_line(
    migrated: Path, occupied: int, processes: str
) -> None:
    env = _env(migrated)
    if processes == "2":  # several processes need PostgreSQL: the check comes first anyway
        env["DRIVESYNC_DATABASE_URL"] = "postgresql+asyncpg://postgres@127.0.0.1:5432/unused"
    done = subprocess.run(
        [*CLI, "serve", "--host", "127.0.0.1", "--port", str(occupied), "--processes", processes],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 1, done.stdout + done.stderr
    assert "serving on" not in done.stdout, done.stdout
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    assert lines[0].startswith(f"drivesync: cannot listen on 127.0.0.1:{occupied}: "), lines
    assert "in use" in lines[0], lines


def test_shell_files_are_not_logged_one_line_each(migrated: Path) -> None:
    port = _free_port()
    server = subprocess.Popen(
        [*CLI, "serve", "--host", "127.0.0.1", "--port", str(port)],
        env=_env(migrated, DRIVESYNC_LOG_LEVEL="INFO"),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 30
        while True:
            try:
                urllib.request.urlopen(f"{base}/healthz", timeout=2).read()
                break
            except OSError:
                assert server.poll() is None, "the server stopped"
                assert time.monotonic() < deadline, "the server never answered"
                time.sleep(0.2)
        for path in ("/", "/app/app.css", "/app/js/app.js", "/sw.js", "/healthz"):
            urllib.request.urlopen(base + path, timeout=5).read()
    finally:
        server.terminate()
        out, err = server.communicate(timeout=30)
    assert out.startswith(f"DriveSync serving on http://127.0.0.1:{port}/"), out
    logged = out + err
    assert logged.count('"GET /healthz ') == 2, logged  # the API's requests are logged
    for path in ("/app/app.css", "/app/js/app.js", "/sw.js", "GET / "):
        assert path not in logged, logged


def test_make_run_listens_on_drivesync_port() -> None:
    env = {**os.environ, "DRIVESYNC_PORT": "8123"}
    env.pop("PORT", None)
    env.pop("HOST", None)
    done = subprocess.run(
        ["make", "-n", "run"], cwd=ROOT, env=env, capture_output=True, text=True, check=True
    )
    serve = [line for line in done.stdout.splitlines() if " serve " in line]
    assert serve and serve[-1].endswith("--port 8123"), done.stdout
