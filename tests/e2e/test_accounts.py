"""Account links in a real browser: an admin creates a student (a sync push), the invitation
email reaches a local SMTP server, its link opens in Chromium, the student sets a password
and lands signed in; forgot password from the sign-in page, the reset link, and change
password in the account view.

The server runs here with the in-process dispatcher and an SMTP server on 127.0.0.1 (the
shared `server` fixture has neither), and with DRIVESYNC_PUBLIC_URL set to its own address,
so the links in the emails point at it. Screenshots at 390 px and desktop width go to
test-artifacts/screenshots/ (copied to docs/screenshots/ for the README).
"""

from __future__ import annotations

import asyncio
import re
import shutil
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web

from server.config import Settings
from tests.conftest import TEST_SECRET, Templates
from tests.e2e.conftest import DESKTOP, PASSWORD
from tests.e2e.pages import eventually, shot, wait_synced
from tests.workers.peers import SmtpPeer

PHONE = {"width": 390, "height": 844}
NEW_PASSWORD = "my-own-password-1"


@dataclass
class MailServer:
    """The app with its dispatcher, and the SMTP server its emails reach."""

    url: str
    smtp: SmtpPeer
    loop: asyncio.AbstractEventLoop
    settings: Settings

    def run(self, coro: Any) -> Any:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout=30)

    def mail(self, to: str, count: int = 1) -> EmailMessage:
        msgs = eventually(lambda: len(self.smtp.to(to)) >= count and self.smtp.to(to), 20)
        return msgs[count - 1]  # type: ignore[no-any-return]

    def link(self, msg: EmailMessage, route: str) -> str:
        text = next(
            p.get_content() for p in msg.iter_parts() if p.get_content_type() == "text/plain"
        )
        found = re.findall(re.escape(self.url) + r"#/" + route + r"\?token=[A-Za-z0-9_%-]+", text)
        assert len(found) == 1, text
        return str(found[0])


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def mail_server(templates: Templates, tmp_path: Path) -> Iterator[MailServer]:
    from server.app import create_app

    db_path = tmp_path / "e2e.sqlite3"
    shutil.copy(templates.sqlite_demo, db_path)
    smtp = SmtpPeer().start()
    # The links must name this server: its port is chosen before it starts.
    port = _free_port()
    settings = Settings(
        database_url=f"sqlite+aiosqlite:///{db_path}",
        secret_key=TEST_SECRET,
        var_dir=tmp_path / "var",
        smtp_url=smtp.url,
        run_dispatcher=True,
        worker_scheduler_interval_s=0,
        worker_poll_s=0.1,
        public_url=f"http://127.0.0.1:{port}",
    )
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, name="e2e-mail-server", daemon=True)
    thread.start()

    async def start() -> web.AppRunner:
        runner = web.AppRunner(create_app(settings), shutdown_timeout=1.0)
        await runner.setup()
        await web.TCPSite(runner, "127.0.0.1", port).start()
        return runner

    runner = asyncio.run_coroutine_threadsafe(start(), loop).result(timeout=30)
    try:
        yield MailServer(f"http://127.0.0.1:{port}/", smtp, loop, settings)
    finally:
        asyncio.run_coroutine_threadsafe(runner.cleanup(), loop).result(timeout=30)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(timeout=10)
        loop.close()
        smtp.stop()


async def _admin_creates_student(url: str, email: str, name: str) -> None:
    """An admin's device pushes a new student with an email, as the People view does
    (sync/rules/people.py makes the sign-in and the invitation_requested event)."""
    import aiohttp

    from tests.helpers import Device, uid

    async with aiohttp.ClientSession(base_url=url) as http:
        admin = await Device(http, "admin@demo.test").login()
        put = admin.mutation("student", uid(), "put", {"name": name, "email": email})
        result = (await admin.push(put))["results"][0]
        assert result["status"] == "applied", result


def _wait_text(page: Any, testid: str, text: str) -> None:
    """Until the element's text contains `text` (a function, not a string: the CSP has no
    'unsafe-eval')."""
    page.wait_for_function(
        "([id, t]) => document.querySelector(`[data-testid=${id}]`).textContent.includes(t)",
        arg=[testid, text],
    )


def _signed_in_as(page: Any, email: str) -> None:
    wait_synced(page, timeout=20_000)
    assert email in page.evaluate("() => globalThis.__drivesync.user.email")
    # The spent token is gone from the address bar (and so from the history).
    assert "token=" not in page.url


def test_invitation_link_sets_the_password_and_signs_in(
    mail_server: MailServer, launch: Any, shots: Path
) -> None:
    email = "zara.new@demo.test"
    mail_server.run(_admin_creates_student(mail_server.url, email, "Zara New"))
    link = mail_server.link(mail_server.mail(email), "accept")

    # Desktop first, to look at the screen (the token is not spent by opening it).
    desk = launch("desk", viewport=DESKTOP)
    page = desk.new_page()
    page.goto(link)
    page.wait_for_selector("[data-testid=account-accept]")
    shot(page, shots, "account-accept-desktop")
    desk.close()

    ctx = launch("phone", viewport=PHONE)
    page = ctx.new_page()
    page.goto(link)
    form = page.wait_for_selector("[data-testid=account-accept]")
    assert page.locator("h1").inner_text() == "Set your password"
    # Offline the screen says so and sends nothing.
    ctx.set_offline(True)
    page.wait_for_selector("[data-testid=needs-network]", state="visible")
    page.fill("input[name=new-password]", NEW_PASSWORD)
    page.fill("input[name=new-password-again]", NEW_PASSWORD)
    form.query_selector("button[type=submit]").click()
    assert "offline" in page.inner_text("[data-testid=account-error]")
    shot(page, shots, "account-accept-offline-390")
    ctx.set_offline(False)
    page.wait_for_selector("[data-testid=needs-network]", state="hidden")
    # Passwords that differ are caught before anything is sent.
    page.fill("input[name=new-password-again]", NEW_PASSWORD + "x")
    page.click("[data-testid=account-accept] button[type=submit]")
    assert "not the same" in page.inner_text("[data-testid=account-error]")
    page.fill("input[name=new-password-again]", NEW_PASSWORD)
    shot(page, shots, "account-accept-390")
    page.click("[data-testid=account-accept] button[type=submit]")
    _signed_in_as(page, email)
    assert page.evaluate("() => document.body.dataset.role") == "student"
    shot(page, shots, "account-accepted-390")

    # The link is spent: opened again (signed out, another browser) it says so.
    other = launch("other", viewport=PHONE).new_page()
    other.goto(link)
    other.fill("input[name=new-password]", "another-password")
    other.fill("input[name=new-password-again]", "another-password")
    other.click("[data-testid=account-accept] button[type=submit]")
    _wait_text(other, "account-error", "expired")


def test_forgot_password_reset_link_and_change_password(
    mail_server: MailServer, launch: Any, shots: Path
) -> None:
    email = "student1@demo.test"
    for name, viewport in (("390", PHONE), ("desktop", DESKTOP)):
        ctx = launch(f"forgot-{name}", viewport=viewport)
        page = ctx.new_page()
        page.goto(mail_server.url)
        page.fill("input[name=email]", email)
        page.click("[data-testid=forgot-link]")
        page.wait_for_selector("[data-testid=forgot-form]")
        assert page.input_value("[data-testid=forgot-form] input[name=email]") == email
        if name == "390":
            page.click("[data-testid=forgot-form] button[type=submit]")
            page.wait_for_selector("[data-testid=forgot-sent]", state="visible")
        shot(page, shots, f"account-forgot-{name}")
        ctx.close()

    link = mail_server.link(mail_server.mail(email), "reset")
    ctx = launch("reset", viewport=PHONE)
    page = ctx.new_page()
    page.goto(link)
    page.wait_for_selector("[data-testid=account-reset]")
    page.fill("input[name=new-password]", "short")
    page.fill("input[name=new-password-again]", "short")
    page.click("[data-testid=account-reset] button[type=submit]")
    assert "at least 8" in page.inner_text("[data-testid=account-error]")
    page.fill("input[name=new-password]", NEW_PASSWORD)
    page.fill("input[name=new-password-again]", NEW_PASSWORD)
    shot(page, shots, "account-reset-390")
    page.click("[data-testid=account-reset] button[type=submit]")
    _signed_in_as(page, email)

    # Change password in the account view: the current one is checked.
    for name, viewport in (("390", PHONE), ("desktop", DESKTOP)):
        page.set_viewport_size(viewport)
        page.goto(mail_server.url + "#/account")
        page.wait_for_selector("[data-testid=password-form]")
        page.evaluate("() => window.scrollTo(0, 0)")  # full-page shot: header at the top
        shot(page, shots, f"account-change-password-{name}")
    page.fill("input[name=current-password]", PASSWORD)  # the old one: refused
    page.fill("[data-testid=password-form] input[name=new-password]", "third-password-3")
    page.fill("[data-testid=password-form] input[name=new-password-again]", "third-password-3")
    page.click("[data-testid=password-form] button[type=submit]")
    _wait_text(page, "password-status", "not right")
    page.fill("input[name=current-password]", NEW_PASSWORD)
    page.fill("[data-testid=password-form] input[name=new-password]", "third-password-3")
    page.fill("[data-testid=password-form] input[name=new-password-again]", "third-password-3")
    page.click("[data-testid=password-form] button[type=submit]")
    _wait_text(page, "password-status", "changed")
    shot(page, shots, "account-password-changed-390")
    # The new password signs in (the API, as another device would).
    body = _login(mail_server.url, email, "third-password-3")
    assert body["user"]["email"] == email
    deadline = time.monotonic() + 1
    while time.monotonic() < deadline:  # the page stays signed in after the change
        assert page.evaluate("() => !!globalThis.__drivesync.engine")
        time.sleep(0.2)


def _login(url: str, email: str, password: str) -> dict[str, Any]:
    import json
    import urllib.request

    body = json.dumps({"tenant": "demo", "email": email, "password": password}).encode()
    req = urllib.request.Request(
        url + "v1/auth/login", body, {"Content-Type": "application/json"}, method="POST"
    )
    with urllib.request.urlopen(req, timeout=10) as resp:
        answer: dict[str, Any] = json.loads(resp.read())
    return answer
