"""Email end to end: sync pushes → outbox → the server's in-process dispatcher → a real SMTP
server on 127.0.0.1 (aiosmtpd)."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from server.app import create_app
from tests.conftest import Db, bearer, login, make_settings
from tests.helpers import Device, uid
from tests.workers.conftest import book_and_confirm
from tests.workers.peers import SmtpPeer


@pytest.fixture
async def mail_client(db: Db, tmp_path: Path, aiohttp_client: Any, smtp: SmtpPeer) -> Any:
    # No scheduler ticks: reminders for the seeded lessons near the real time of day would
    # mix with the mails under test.
    settings = make_settings(
        db, tmp_path, smtp_url=smtp.url, run_dispatcher=True, worker_scheduler_interval_s=0
    )
    return await aiohttp_client(create_app(settings))


def _parts(msg: Any) -> dict[str, str]:
    return {part.get_content_type(): part.get_content() for part in msg.iter_parts()}


async def test_confirmed_booking_mails_the_student_within_seconds(
    mail_client: Any, smtp: SmtpPeer, tmp_path: Path
) -> None:
    _st, inst, bid = await book_and_confirm(
        mail_client, pickup='<b>Gate</b> & "yard"', confirm=False
    )
    request = (await smtp.wait_for("instructor1@demo.test"))[0]
    assert request["Subject"].startswith("New lesson request from Amelia Clarke")
    assert (await inst.one("booking", bid, "patch", {"status": "confirmed"}))["status"] == "applied"
    msg = (await smtp.wait_for("student1@demo.test", within=5))[0]
    assert msg["To"] == "Amelia Clarke <student1@demo.test>"
    assert msg["From"] == "DriveSync <no-reply@drivesync.local>"
    assert msg["Subject"].startswith("Your lesson is confirmed: ")
    assert (
        msg["Auto-Submitted"] == "auto-generated"
        and msg["X-DriveSync-Event"] == "booking_confirmed"
    )
    assert msg["Message-ID"].endswith("@drivesync.local>") and msg["Date"]
    assert msg.get_content_type() == "multipart/alternative"
    parts = _parts(msg)
    assert set(parts) == {"text/plain", "text/html"}
    assert 'Pick-up: <b>Gate</b> & "yard"' in parts["text/plain"]
    assert "Priya Shah" in parts["text/plain"] and "£42.00" in parts["text/plain"]
    assert "&lt;b&gt;Gate&lt;/b&gt; &amp; &#34;yard&#34;" in parts["text/html"]
    assert "<b>Gate</b>" not in parts["text/html"]
    # Unconfigured channels went to the local sink: the SMS (the student has a phone).
    sink = tmp_path / "var" / "outbox-sink" / "sms.jsonl"
    lines = [json.loads(x) for x in sink.read_text().splitlines()]
    assert [(x["event_type"], x["to"]) for x in lines] == [("booking_confirmed", "+447700900001")]
    # The log has every attempt; the admin sees them.
    admin = await login(mail_client, "admin@demo.test")
    resp = await mail_client.get("/v1/admin/notifications?status=sent", headers=bearer(admin))
    sent = {(n["event_type"], n["channel"]) for n in (await resp.json())["notifications"]}
    assert {
        ("booking_requested", "email"),
        ("booking_confirmed", "email"),
        ("booking_confirmed", "sms"),
    } <= sent
    skipped = await mail_client.get("/v1/admin/notifications?status=skipped", headers=bearer(admin))
    assert {n["channel"] for n in (await skipped.json())["notifications"]} <= {"webpush"}
    assert len(smtp.to("student1@demo.test")) == 1  # exactly once
    # Web push is not configured here: the PWA is told so.
    assert (await mail_client.get("/v1/push/vapid-key")).status == 404


async def test_finished_lesson_mails_its_public_notes_only(
    mail_client: Any, smtp: SmtpPeer
) -> None:
    _st, inst, bid = await book_and_confirm(mail_client, days=21)
    await inst.pull(entities="lesson")
    lesson = next(x for x in inst.of("lesson").values() if x["booking_id"] == bid)
    notes = [
        inst.mutation(
            "lesson_note",
            uid(),
            "put",
            {"lesson_id": lesson["id"], "body": "Great <roundabout> work & signals"},
        ),
        inst.mutation(
            "lesson_note",
            uid(),
            "put",
            {"lesson_id": lesson["id"], "body": "Nervous; talk to parents", "private": True},
        ),
        inst.mutation("lesson", lesson["id"], "patch", {"status": "in_progress"}),
        inst.mutation("lesson", lesson["id"], "patch", {"status": "completed"}),
    ]
    body = await inst.push(*notes)
    assert [r["status"] for r in body["results"]] == ["applied"] * 4, body
    mails = await smtp.wait_for("student1@demo.test", count=2)
    summary = next(m for m in mails if m["X-DriveSync-Event"] == "lesson_completed")
    parts = _parts(summary)
    assert "Great <roundabout> work & signals" in parts["text/plain"]
    assert "Great &lt;roundabout&gt; work &amp; signals" in parts["text/html"]
    for part in parts.values():
        assert "Nervous" not in part and "parents" not in part
    assert summary["Subject"].endswith(": summary")


async def test_a_lesson_cancelled_in_the_car_tells_the_student(
    mail_client: Any, smtp: SmtpPeer
) -> None:
    _st, inst, bid = await book_and_confirm(mail_client, days=22)
    await inst.pull(entities="lesson")
    lesson = next(x for x in inst.of("lesson").values() if x["booking_id"] == bid)
    assert (await inst.one("lesson", lesson["id"], "patch", {"status": "cancelled"}))[
        "status"
    ] == "applied"
    mails = await smtp.wait_for("student1@demo.test", count=2)
    assert [m["X-DriveSync-Event"] for m in mails] == ["booking_confirmed", "booking_cancelled"]
    assert mails[1]["Subject"].startswith("Lesson cancelled: ")
    to_instructor = [m["X-DriveSync-Event"] for m in smtp.to("instructor1@demo.test")]
    assert "booking_cancelled" not in to_instructor  # they cancelled it themselves


async def test_smtp_auth_and_a_temporary_refusal_then_success(
    db: Db, tmp_path: Path, closing: list[Any]
) -> None:
    from tests.workers.conftest import dispatcher, worker_config
    from workers.outbox import new_event

    peer = SmtpPeer(user="mailer", password="s3cr:t").start()
    try:
        peer.replies = ["451 4.3.0 try again later"]
        config = worker_config(db, tmp_path, smtp_url=peer.url.replace("s3cr:t", "s3cr%3At"))
        d = dispatcher(db, config)
        closing.append(d)
        tenant_id, student_id = await _demo_student(db)
        async with db.sessions() as s, s.begin():
            from sync.tenancy import bind_tenant

            bind_tenant(s, tenant_id)
            s.add(
                new_event(
                    tenant_id,
                    "mock_test_passed",
                    {"mock_test_id": uid(), "student_id": student_id, "score": 47, "total": 50},
                    None,
                )
            )
        await d.run(once=True)
        got = {str(m["To"]).split("<")[-1].rstrip(">") for m in peer.messages}
        assert got == {"student1@demo.test", "instructor1@demo.test"}
        assert len(peer.messages) == 2  # the refused one went again, once
    finally:
        peer.stop()


async def _demo_student(db: Db) -> tuple[str, str]:
    from sqlalchemy import select

    from schemas import Student, Tenant
    from sync.tenancy import ALL_TENANTS, bind_tenant

    async with db.sessions() as s:
        bind_tenant(s, ALL_TENANTS)
        tenant_id = await s.scalar(select(Tenant.id).where(Tenant.slug == "demo"))
        student_id = await s.scalar(select(Student.id).where(Student.email == "student1@demo.test"))
    assert tenant_id and student_id
    return tenant_id, student_id


async def test_a_series_is_one_email_each_way_listing_its_dates_and_refusals(
    mail_client: Any, smtp: SmtpPeer
) -> None:
    london = ZoneInfo("Europe/London")
    st = await Device(mail_client, "student1@demo.test").login()
    inst = await Device(mail_client, "instructor1@demo.test").login()
    await st.pull()
    service = next(s for s in st.of("service").values() if s["duration_min"] == 60)["id"]
    day = dt.datetime.now(london).date() + dt.timedelta(days=30)
    while day.weekday() >= 5:
        day += dt.timedelta(days=1)
    first = dt.datetime.combine(day, dt.time(10), london).astimezone(dt.UTC)
    iid = inst.user["instructor_id"]
    taken = (first + dt.timedelta(weeks=1)).isoformat()
    clash = await st.one(
        "booking", uid(), "put", {"instructor_id": iid, "service_id": service, "start": taken}
    )
    assert clash["status"] == "applied"
    await smtp.wait_for("instructor1@demo.test")  # the single booking's request
    sid = uid()
    made = await st.one(
        "booking_series",
        sid,
        "put",
        {
            "instructor_id": iid,
            "service_id": service,
            "first_start": first.isoformat(),
            "every": "week",
            "count": 3,
        },
    )
    assert made["status"] == "applied", made
    mails = await smtp.wait_for("instructor1@demo.test", count=2)
    request = mails[-1]
    assert request["X-DriveSync-Event"] == "series_requested"
    assert request["Subject"] == "Amelia Clarke asks for 2 lessons every week"
    text = _parts(request)["text/plain"]
    assert text.count("(requested)") == 2 and "Not booked:" in text
    assert (await inst.one("booking_series", sid, "patch", {"status": "confirmed"}))[
        "status"
    ] == "applied"
    confirmed = (await smtp.wait_for("student1@demo.test", within=5))[0]
    assert confirmed["X-DriveSync-Event"] == "series_confirmed"
    assert _parts(confirmed)["text/plain"].count("(confirmed)") == 2
    assert len(smtp.to("student1@demo.test")) == 1  # one for the series, none per booking
