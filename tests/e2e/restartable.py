"""A live server that a test can stop and start again on the same port and database.

`LiveServer.refuse_connections` only stops listening: connections already open (keep-alive,
the live socket) keep being served. `RestartableServer.stop()` tears the application down
as a real shutdown does (live sockets closed with 1001, pools disposed, the port released)
and `start()` builds a new application from the same settings on the same port, so the
browser sees an outage and a restart, not a paused listener.
"""

from __future__ import annotations

import asyncio
import shutil
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from aiohttp import web

from server.config import Settings
from tests.conftest import TEST_SECRET, Templates
from tests.e2e.conftest import LiveServer, _recorder


class _Process:
    """One event loop in a background thread; the app on it can be started and stopped."""

    def __init__(self, settings: Settings, pushes: list[dict[str, Any]]):
        self.settings = settings
        self.pushes = pushes
        self.port = 0  # 0 until the first start picks a free port; kept afterwards
        self.runner: web.AppRunner | None = None
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, name="e2e-restartable")
        self.thread.daemon = True
        self.thread.start()

    def _run(self, coro: Any) -> Any:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout=30)

    async def _start(self) -> None:
        from server.app import create_app

        app = create_app(self.settings)
        app.middlewares.append(_recorder(self.pushes))
        runner = web.AppRunner(app, shutdown_timeout=1.0)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", self.port)
        await site.start()
        self.port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        self.runner = runner

    def start(self) -> None:
        assert self.runner is None, "already running"
        self._run(self._start())

    def stop(self) -> None:
        if self.runner is not None:
            self._run(self.runner.cleanup())
            self.runner = None

    def close(self) -> None:
        self.stop()
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(timeout=10)
        self.loop.close()


@dataclass
class RestartableServer(LiveServer):
    """A LiveServer (same helpers) with `stop()` and `start()`."""

    _process: _Process | None = None

    def stop(self) -> None:
        """Shut the server down: requests to its port are refused until `start()`."""
        assert self._process is not None
        self._process.stop()

    def start(self) -> None:
        """Start a fresh application on the same port with the same database."""
        assert self._process is not None
        self._process.start()


@contextmanager
def restartable_server(templates: Templates, tmp_path: Path) -> Iterator[RestartableServer]:
    """The real app on a fresh copy of the demo school, as the `server` fixture makes it."""
    from server.vapid import new_vapid_keys

    db_path = tmp_path / "e2e-restartable.sqlite3"
    shutil.copy(templates.sqlite_demo, db_path)
    settings = Settings(
        database_url=f"sqlite+aiosqlite:///{db_path}",
        secret_key=TEST_SECRET,
        var_dir=tmp_path / "var",
        heartbeat_s=10.0,
        vapid_private_key=new_vapid_keys()[0],
    )
    pushes: list[dict[str, Any]] = []
    process = _Process(settings, pushes)
    try:
        process.start()
        url = f"http://127.0.0.1:{process.port}/"
        yield RestartableServer(url, db_path, pushes, None, process)
    finally:
        process.close()
