"""The late-cancellation fee in real mail: a student's late cancellation (inside the
school's notice) reaches the local SMTP server (aiosmtpd) saying what is owed; the
instructor's copy says it too; a move request reaches the instructor with its note."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

import pytest

from server.app import create_app
from tests.conftest import Db, bearer, login, make_settings
from tests.helpers import uid
from tests.workers.conftest import book_and_confirm, slot
from tests.workers.peers import SmtpPeer


@pytest.fixture
async def mail_client(db: Db, tmp_path: Path, aiohttp_client: Any, smtp: SmtpPeer) -> Any:
    settings = make_settings(
        db, tmp_path, smtp_url=smtp.url, run_dispatcher=True, worker_scheduler_interval_s=0
    )
    return await aiohttp_client(create_app(settings))


async def _mail(smtp: SmtpPeer, address: str, event: str, within: float = 15.0) -> Any:
    """The first mail of an event type to an address, once it has arrived."""
    deadline = time.monotonic() + within
    while True:
        found = [m for m in smtp.to(address) if m["X-DriveSync-Event"] == event]
        if found:
            return found[0]
        if time.monotonic() > deadline:
            raise AssertionError(f"no {event} mail for {address} after {within}s")
        await asyncio.sleep(0.05)


def _text(msg: Any) -> str:
    return next(p.get_content() for p in msg.iter_parts() if p.get_content_type() == "text/plain")


async def test_late_cancellation_mail_names_the_fee(mail_client: Any, smtp: SmtpPeer) -> None:
    admin = await login(mail_client, "admin@demo.test")
    resp = await mail_client.patch(
        "/v1/admin/school",
        json={"cancel_cutoff_hours": 720, "late_fee_cents": 2500},
        headers=bearer(admin),
    )
    assert resp.status == 200
    st, _inst, bid = await book_and_confirm(mail_client, days=6, hour=13)
    assert (await st.one("booking", bid, "patch", {"status": "cancelled"}))["status"] == "applied"
    for address in ("student1@demo.test", "instructor1@demo.test"):
        mail = await _mail(smtp, address, "booking_cancelled")
        assert mail["Subject"].startswith("Lesson cancelled: ")
        assert "a fee of £25.00 applies" in _text(mail), _text(mail)


async def test_move_request_mail_reaches_the_instructor(mail_client: Any, smtp: SmtpPeer) -> None:
    st, _inst, bid = await book_and_confirm(mail_client, days=9, hour=13)
    data = {"booking_id": bid, "start": slot(9, 14), "note": "Exam moved"}
    assert (await st.one("booking_move", uid(), "put", data))["status"] == "applied"
    asked = await _mail(smtp, "instructor1@demo.test", "booking_move_requested")
    assert asked["Subject"].startswith("Amelia Clarke asks to move a lesson to ")
    assert "Note: Exam moved" in _text(asked)
