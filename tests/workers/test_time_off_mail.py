"""Time off over a confirmed lesson, end to end on both databases: the instructor's push →
outbox → the server's in-process dispatcher → a real SMTP server on 127.0.0.1. The student
is told once, without the reason; the school's admin is told, with it."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import pytest

from server.app import create_app
from tests.conftest import Db, make_settings
from tests.helpers import Device, uid
from tests.workers.conftest import book_and_confirm, slot
from tests.workers.peers import SmtpPeer

REASON = "Knee surgery"


@pytest.fixture
async def mail_client(db: Db, tmp_path: Path, aiohttp_client: Any, smtp: SmtpPeer) -> Any:
    # No scheduler ticks: reminders for the seeded lessons would mix with the mails under test.
    settings = make_settings(
        db, tmp_path, smtp_url=smtp.url, run_dispatcher=True, worker_scheduler_interval_s=0
    )
    return await aiohttp_client(create_app(settings))


def _text(msg: Any) -> str:
    return "\n".join(part.get_content() for part in msg.iter_parts())


async def test_time_off_over_a_lesson_tells_the_student_and_the_admin(
    mail_client: Any, smtp: SmtpPeer
) -> None:
    _st, inst, bid = await book_and_confirm(mail_client, days=25, hour=10)
    await smtp.wait_for("student1@demo.test")  # the confirmation
    # A second confirmed lesson the same day: still one notice for the student.
    st = await Device(mail_client, "student1@demo.test").login()
    await st.pull(entities="service")
    service = next(s for s in st.of("service").values() if s["duration_min"] == 60)
    second = uid()
    put = {"instructor_id": inst.user["instructor_id"], "service_id": service["id"]}
    r = await st.one("booking", second, "put", {**put, "start": slot(25, 14)})
    assert r["status"] == "applied", r
    assert (await inst.one("booking", second, "patch", {"status": "confirmed"}))["status"] == (
        "applied"
    )
    await smtp.wait_for("student1@demo.test", count=2)
    day = dt.datetime.fromisoformat(slot(25, 10).replace("Z", "+00:00"))
    r = await inst.one(
        "availability_exception",
        uid(),
        "put",
        {
            "start": slot(25, 9),  # widened to the whole local day
            "end": (day + dt.timedelta(hours=1)).isoformat(),
            "reason": REASON,
            "all_day": True,
        },
    )
    assert r["status"] == "applied", r
    mails = await smtp.wait_for("student1@demo.test", count=3)
    told = [m for m in mails if m["X-DriveSync-Event"] == "time_off_clash"]
    assert len(told) == 1
    msg = told[0]
    assert msg["Subject"].startswith("Priya Shah is away: your lesson on ")
    body = _text(msg)
    assert "these lessons" in body and "Nothing has been cancelled yet" in body
    assert body.count("60-minute lesson") == 2 * 2  # both lessons, in the text and the HTML
    assert REASON not in body and REASON not in msg["Subject"]
    flagged = [
        m
        for m in await smtp.wait_for("admin@demo.test")
        if m["X-DriveSync-Event"] == "time_off_clash_admin"
    ]
    assert len(flagged) == 1
    assert flagged[0]["Subject"] == "Time off over 2 confirmed lessons (Priya Shah)"
    admin_body = _text(flagged[0])
    assert REASON in admin_body and "Amelia Clarke" in admin_body
    # Not cancelled: the booking the student holds is still confirmed.
    st.cursor = None  # that cursor was for services only
    await st.pull()
    assert st.of("booking")[bid]["status"] == "confirmed"
