"""End-to-end fixtures: the real server in a background thread (its own event loop, port 0,
a copy of the demo database per test) and headless Chromium from Debian's package driven
by Playwright's sync API (never a downloaded browser).

Without /usr/bin/chromium these tests are skipped with the reason — unless CI is set, when
that is a failure. Screenshots go to test-artifacts/screenshots/.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import socket
import sqlite3
import threading
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web

from bench.browser import ARGS, CHROMIUM
from server.config import Settings
from server.keys import PRINCIPAL
from tests.conftest import TEST_SECRET, Templates
from tests.e2e.link import Link, link_middleware
from tests.workers.conftest import STRIPE_KEY, STRIPE_WHSEC
from tests.workers.peers import SmtpPeer, StripePeer

ROOT = Path(__file__).resolve().parents[2]
SHOTS = ROOT / "test-artifacts" / "screenshots"
PASSWORD = "drive-demo-1"
PHONE = {"width": 360, "height": 740}
DESKTOP = {"width": 1280, "height": 800}


def _require_chromium() -> None:
    if Path(CHROMIUM).exists():
        return
    message = (
        f"{CHROMIUM} not found: install Debian's chromium "
        "(apt-get install -y chromium fonts-dejavu-core)"
    )
    if os.environ.get("CI"):
        pytest.fail(f"CI is set and the browser tests cannot run: {message}")
    pytest.skip(message)


# Stripe webhooks signed with this secret are accepted by every e2e server (the stand-in of
# a `stripe` test signs with it; tests/e2e/test_earnings.py signs its own).
E2E_STRIPE_WHSEC = STRIPE_WHSEC


@dataclass
class LiveServer:
    """The app under test, reachable at `url`, with what its pushes answered recorded."""

    url: str
    db_path: Path
    pushes: list[dict[str, Any]] = field(default_factory=list)
    _listening: Callable[[bool], None] | None = None
    # Every request as received, and a link that can drop (tests/e2e/link.py).
    link: Link = field(default_factory=Link, kw_only=True)
    # The Stripe stand-in, for tests marked `stripe` (None otherwise).
    stripe: StripePeer | None = field(default=None, kw_only=True)
    # The local SMTP server the dispatcher's email goes to, for tests marked `smtp`.
    smtp: SmtpPeer | None = field(default=None, kw_only=True)

    def refuse_connections(self) -> None:
        """Stop listening (connections are refused, as with no network), e.g. while a
        browser restarts: Chromium fires pending Background Syncs at start-up, before a
        context's offline emulation reaches the service worker."""
        assert self._listening is not None
        self._listening(False)

    def accept_connections(self) -> None:
        assert self._listening is not None
        self._listening(True)

    def sql(self, query: str, *args: Any) -> list[tuple[Any, ...]]:
        """Read the server's database directly (for assertions)."""
        con = sqlite3.connect(self.db_path)
        try:
            return con.execute(query, args).fetchall()
        finally:
            con.close()

    def execute(self, statement: str, *args: Any) -> None:
        """Change the server's database directly (test set-up a school admin would do)."""
        con = sqlite3.connect(self.db_path)
        try:
            con.execute(statement, args)
            con.commit()
        finally:
            con.close()

    def api(self, method: str, path: str, body: Any = None, token: str | None = None) -> Any:
        data = json.dumps(body).encode() if body is not None else None
        req = urllib.request.Request(self.url.rstrip("/") + path, data=data, method=method)
        req.add_header("Content-Type", "application/json")
        if token:
            req.add_header("Authorization", f"Bearer {token}")
        with urllib.request.urlopen(req, timeout=10) as resp:
            text = resp.read()
        return json.loads(text) if text else None

    def token(self, email: str) -> str:
        body = self.api(
            "POST", "/v1/auth/login", {"tenant": "demo", "email": email, "password": PASSWORD}
        )
        return str(body["access_token"])

    def pushed_seqs(self, user_email: str) -> list[tuple[int, bool, str]]:
        """(seq, duplicate, status) of every push result for a user, in arrival order."""
        user_id = self.sql("SELECT id FROM users WHERE email = ?", user_email)[0][0]
        return [r for p in self.pushes if p["user_id"] == user_id for r in p["results"]]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def _stripe_peer() -> tuple[StripePeer, web.AppRunner]:
    peer = StripePeer(STRIPE_KEY)
    runner = web.AppRunner(peer.app())
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    peer.base = f"http://127.0.0.1:{site._server.sockets[0].getsockname()[1]}"  # type: ignore[union-attr]
    return peer, runner


def _recorder(pushes: list[dict[str, Any]]) -> Any:
    @web.middleware
    async def record(request: web.Request, handler: Any) -> web.StreamResponse:
        response = await handler(request)
        if (
            request.path == "/v1/sync/push"
            and isinstance(response, web.Response)
            and response.status == 200
            and response.body is not None
        ):
            body = json.loads(bytes(response.body))  # type: ignore[arg-type]
            who = request.get(PRINCIPAL)
            pushes.append(
                {
                    "user_id": who.user_id if who else None,
                    "results": [
                        (r["seq"], bool(r.get("duplicate")), r["status"]) for r in body["results"]
                    ],
                }
            )
        return response

    return record


@pytest.fixture
def server(
    templates: Templates, tmp_path: Path, request: pytest.FixtureRequest
) -> Iterator[LiveServer]:
    """The real app on a fresh copy of the demo school, in a thread with its own loop. A
    test marked `dispatcher` gets the outbox dispatcher in the server too (notifications
    are sent to files under var/, and kept in inboxes), without the clock's reminders."""
    from server.app import create_app

    db_path = tmp_path / "e2e.sqlite3"
    shutil.copy(templates.sqlite_demo, db_path)
    from server.vapid import new_vapid_keys

    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, name="e2e-server", daemon=True)
    thread.start()
    # A test marked `stripe` gets the local Stripe stand-in (its API and hosted page) on
    # 127.0.0.1 in the server's loop, and the server configured for it; the server's own
    # port is chosen first, since the checkout's return URLs start with it.
    stripe = None
    port0, paying = 0, {"stripe_webhook_secret": E2E_STRIPE_WHSEC}
    # A test marked `smtp` gets a real SMTP server on 127.0.0.1 for the dispatcher's email
    # (otherwise email goes to files under var/).
    smtp = SmtpPeer().start() if request.node.get_closest_marker("smtp") is not None else None
    if smtp is not None:
        paying["smtp_url"] = smtp.url
    if request.node.get_closest_marker("stripe") is not None:
        stripe, stripe_runner = asyncio.run_coroutine_threadsafe(_stripe_peer(), loop).result(30)
        port0 = _free_port()
        paying |= {
            "public_url": f"http://127.0.0.1:{port0}",
            "stripe_secret_key": STRIPE_KEY,
            "stripe_webhook_secret": E2E_STRIPE_WHSEC,
            "stripe_api_base": stripe.base,
        }
    settings = Settings(
        database_url=f"sqlite+aiosqlite:///{db_path}",
        secret_key=TEST_SECRET,
        var_dir=tmp_path / "var",
        heartbeat_s=10.0,
        vapid_private_key=new_vapid_keys()[0],
        run_dispatcher=request.node.get_closest_marker("dispatcher") is not None,
        worker_scheduler_interval_s=0,
        **paying,
    )
    pushes: list[dict[str, Any]] = []
    link = Link()

    async def start() -> tuple[web.AppRunner, int]:
        app = create_app(settings)
        app.middlewares.append(_recorder(pushes))
        app.middlewares.insert(0, link_middleware(link))  # outermost: sees what the wire does
        runner = web.AppRunner(app, shutdown_timeout=1.0)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", port0)
        await site.start()
        port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        return runner, port

    runner, port = asyncio.run_coroutine_threadsafe(start(), loop).result(timeout=30)
    if stripe is not None:
        stripe.webhook_url = f"http://127.0.0.1:{port}/v1/webhooks/stripe/demo"
        stripe.webhook_secret = STRIPE_WHSEC

    async def listening(on: bool) -> None:
        if on:
            if not runner.sites:
                await web.TCPSite(runner, "127.0.0.1", port).start()
        else:
            for site in list(runner.sites):
                await site.stop()

    def set_listening(on: bool) -> None:
        asyncio.run_coroutine_threadsafe(listening(on), loop).result(timeout=10)

    try:
        yield LiveServer(
            f"http://127.0.0.1:{port}/",
            db_path,
            pushes,
            set_listening,
            link=link,
            stripe=stripe,
            smtp=smtp,
        )
    finally:
        asyncio.run_coroutine_threadsafe(runner.cleanup(), loop).result(timeout=30)
        if stripe is not None:
            asyncio.run_coroutine_threadsafe(stripe_runner.cleanup(), loop).result(timeout=30)
        if smtp is not None:
            smtp.stop()
        loop.call_soon_threadsafe(loop.stop)
        thread.join(timeout=10)
        loop.close()


@pytest.fixture(scope="session")
def playwright() -> Iterator[Any]:
    _require_chromium()
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        message = 'the playwright package is missing: pip install -e ".[dev]"'
        if os.environ.get("CI"):
            pytest.fail(f"CI is set and the browser tests cannot run: {message}")
        pytest.skip(message)

    with sync_playwright() as pw:
        yield pw


Launch = Callable[..., Any]


@pytest.fixture
def launch(playwright: Any, tmp_path: Path) -> Iterator[Launch]:
    """launch(name, viewport=PHONE, **options) → a persistent browser context (one profile
    per name, so launching the same name again is a browser restart on the same profile)."""
    opened: list[Any] = []

    def _launch(name: str, viewport: dict[str, int] | None = None, **options: Any) -> Any:
        ctx = playwright.chromium.launch_persistent_context(
            str(tmp_path / f"profile-{name}"),
            executable_path=CHROMIUM,
            args=ARGS,
            service_workers="allow",
            viewport=viewport or PHONE,
            locale="en-GB",
            timezone_id="Europe/London",
            **options,
        )
        ctx.set_default_timeout(10_000)
        opened.append(ctx)
        return ctx

    yield _launch
    for ctx in opened:
        try:
            ctx.close()
        except Exception:  # already closed by the test (a browser restart)
            pass


@pytest.fixture(scope="session")
def shots() -> Path:
    SHOTS.mkdir(parents=True, exist_ok=True)
    return SHOTS
