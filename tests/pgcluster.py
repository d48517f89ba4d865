"""A throwaway PostgreSQL cluster for tests that stop and start the database.

Tests that need PostgreSQL to go away (an outage, a restart) must never touch the machine's
shared cluster: this one lives in a temporary directory, listens on a free port of
127.0.0.1 (and a socket in its own directory), trusts local connections, runs with
fsync off, and is stopped and removed when the context ends, whatever happened.

PostgreSQL refuses to run as root: when the tests run as root, the directory is given to
the `postgres` OS user and every server command runs as that user (`runuser`).

A test process killed outright (SIGKILL, a CI timeout) runs no cleanup; its cluster would
keep running. Each cluster's directory therefore records the pid of the process that made
it, and making a new cluster first stops and removes those whose process is gone.
"""

from __future__ import annotations

import contextlib
import glob
import os
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

# Where initdb and pg_ctl are looked for after PATH (Debian's layout).
_BIN_GLOB = "/usr/lib/postgresql/*/bin"
_PREFIX = "drivesync-pg-"
_OWNER = "owner.pid"  # the pid of the test process that made the cluster


def _bin_dir() -> Path | None:
    found = shutil.which("initdb")
    if found and shutil.which("pg_ctl"):
        return Path(os.path.realpath(found)).parent
    for candidate in sorted(glob.glob(_BIN_GLOB), reverse=True):
        if (Path(candidate) / "initdb").exists() and (Path(candidate) / "pg_ctl").exists():
            return Path(candidate)
    return None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class PgCluster:
    """One initialised cluster: `start()`, `stop()`, and URLs to its databases."""

    def __init__(self, bin_dir: Path, root: Path, as_user: list[str]) -> None:
        self.bin_dir = bin_dir
        self.root = root
        self.data = root / "data"
        self.port = _free_port()
        self._as_user = as_user

    def _run(self, *args: str, timeout: float = 30) -> None:
        result = subprocess.run(
            [*self._as_user, *args], capture_output=True, text=True, timeout=timeout
        )
        if result.returncode != 0:
            log = self.root / "server.log"
            tail = log.read_text()[-2000:] if log.exists() else ""
            raise RuntimeError(f"{args[0]} failed: {result.stderr or result.stdout}\n{tail}")

    def init(self) -> None:
        self._run(
            str(self.bin_dir / "initdb"),
            "-D",
            str(self.data),
            "-A",
            "trust",
            "-U",
            "postgres",
            "-E",
            "UTF8",
            "--no-sync",
        )

    def start(self) -> None:
        options = (
            f"-k {self.root} -c listen_addresses=127.0.0.1 -p {self.port} "
            "-c fsync=off -c synchronous_commit=off -c full_page_writes=off"
        )
        self._run(
            str(self.bin_dir / "pg_ctl"),
            "-D",
            str(self.data),
            "-l",
            str(self.root / "server.log"),
            "-o",
            options,
            "-w",
            "start",
        )

    def stop(self, mode: str = "fast") -> None:
        """Stop the server (`fast`: backends are told and their connections closed)."""
        self._run(str(self.bin_dir / "pg_ctl"), "-D", str(self.data), "-m", mode, "-w", "stop")

    def running(self) -> bool:
        status = subprocess.run(
            [*self._as_user, str(self.bin_dir / "pg_ctl"), "-D", str(self.data), "status"],
            capture_output=True,
            timeout=30,
        )
        return status.returncode == 0

    def url(self, database: str = "postgres") -> str:
        """A SQLAlchemy URL (asyncpg) to `database` on this cluster."""
        return f"postgresql+asyncpg://postgres@127.0.0.1:{self.port}/{database}"

    def dsn(self, database: str = "postgres") -> str:
        """A libpq-style DSN (asyncpg.connect) to `database` on this cluster."""
        return f"postgresql://postgres@127.0.0.1:{self.port}/{database}"


def unavailable() -> str | None:
    """Why no throwaway cluster can be made here, or None."""
    if _bin_dir() is None:
        return f"no initdb/pg_ctl on PATH or in {_BIN_GLOB}"
    if os.geteuid() == 0 and shutil.which("runuser") is None:
        return "running as root and no runuser to start PostgreSQL as another user"
    return None


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _reap_orphans(bin_dir: Path, as_user: list[str]) -> None:
    """Stop and remove clusters left by test processes that died without cleaning up."""
    for root in Path(tempfile.gettempdir()).glob(f"{_PREFIX}*"):
        try:
            pid = int((root / _OWNER).read_text())
        except (OSError, ValueError):
            continue  # not ours, or still being made
        if _alive(pid):
            continue
        with contextlib.suppress(Exception):
            PgCluster(bin_dir, root, as_user).stop("immediate")
        shutil.rmtree(root, ignore_errors=True)


@contextlib.contextmanager
def throwaway_cluster() -> Iterator[PgCluster]:
    """A started cluster, stopped and deleted on exit (also when the body fails)."""
    bin_dir = _bin_dir()
    if bin_dir is None:
        raise RuntimeError(unavailable())
    as_user = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
    _reap_orphans(bin_dir, as_user)
    root = Path(tempfile.mkdtemp(prefix=_PREFIX))
    (root / _OWNER).write_text(str(os.getpid()))
    if as_user:
        shutil.chown(root, user="postgres", group="postgres")
    cluster = PgCluster(bin_dir, root, as_user)
    try:
        cluster.init()
        cluster.start()
        yield cluster
    finally:
        # Immediate: nothing in it is worth a checkpoint. Fails harmlessly if not running.
        with contextlib.suppress(Exception):
            cluster.stop("immediate")
        shutil.rmtree(root, ignore_errors=True)
