"""New messages, end to end on both databases: a student's push → `message_received` (push
only, never an email per message) → the scheduler's `message_unread` row, one per thread and
delay window → the dispatcher → a real SMTP server on 127.0.0.1. The clock is the test's:
messages are dated into a known window and the scheduler ticks at chosen times, so no one
waits fifteen minutes."""

from __future__ import annotations

import asyncio
import datetime as dt
import time
from pathlib import Path
from typing import Any

from sqlalchemy import select, update

from schemas import Message, OutboxEvent
from server.app import create_app
from server.routes.effects import WORKER_CONFIG
from sync.rules.messaging import member_id
from sync.tenancy import ALL_TENANTS, bind_tenant
from tests.conftest import Db, make_settings
from tests.helpers import Device, uid
from tests.workers.conftest import dispatcher, worker_config
from tests.workers.peers import PushPeer, SmtpPeer
from workers.notifications import messages, scheduler

DELAY = dt.timedelta(minutes=15)


def _window_start(at: dt.datetime) -> dt.datetime:
    return messages.EPOCH + messages.window_of(at, DELAY) * DELAY


async def _dated(db: Db, message_id: str, at: dt.datetime) -> None:
    """The server took this message at `at` (the test's clock)."""
    async with db.sessions() as s, s.begin():
        bind_tenant(s, ALL_TENANTS)
        await s.execute(update(Message).where(Message.id == message_id).values(received_at=at))


async def _release(db: Db) -> None:
    """Pending unread-message rows are due now: their time (on the test's clock) has come.
    (Only those: the demo's lesson reminders a tick wrote depend on the time of day.)"""
    async with db.sessions() as s, s.begin():
        bind_tenant(s, ALL_TENANTS)
        await s.execute(
            update(OutboxEvent)
            .where(OutboxEvent.status == "pending", OutboxEvent.event_type == "message_unread")
            .values(available_at=dt.datetime.now(dt.UTC))
        )


def _unread_to(smtp: SmtpPeer, address: str) -> list[Any]:
    """The unread-message mails to an address (not the demo's reminders and digests, which a
    tick at the test's clock may also have made due, depending on the time of day)."""
    return [m for m in smtp.to(address) if m["X-DriveSync-Event"] == "message_unread"]


async def _unread_mail(smtp: SmtpPeer, address: str, within: float = 10.0) -> list[Any]:
    """The unread-message mails to an address, once there is one."""
    deadline = time.monotonic() + within
    while not _unread_to(smtp, address):
        if time.monotonic() > deadline:
            raise AssertionError(f"no message_unread mail for {address} after {within}s")
        await asyncio.sleep(0.05)
    return _unread_to(smtp, address)


async def _tick(db: Db, config: Any, at: dt.datetime) -> int:
    """A scheduler tick at `at`: how many unread-message rows it wrote. (A tick also writes
    the demo's lesson and test reminders falling due then, which depend on the time of day
    the test runs at; they are not counted.)"""
    before = len(await _unread_rows(db))
    await scheduler.tick(db.sessions, config, at)
    return len(await _unread_rows(db)) - before


async def _unread_rows(db: Db) -> list[OutboxEvent]:
    async with db.sessions() as s:
        bind_tenant(s, ALL_TENANTS)
        rows = await s.scalars(
            select(OutboxEvent)
            .where(OutboxEvent.event_type == "message_unread")
            .order_by(OutboxEvent.available_at)
        )
        return list(rows.all())


async def test_an_unread_thread_is_emailed_once_per_window_and_a_read_one_never(
    client: Any, db: Db, tmp_path: Path, smtp: SmtpPeer, closing: list[Any]
) -> None:
    st = await Device(client, "student1@demo.test").login()
    inst = await Device(client, "instructor1@demo.test").login()
    tid = uid()
    opened = await st.one(
        "thread",
        tid,
        "put",
        {"subject": "Thursday", "instructor_id": inst.user["instructor_id"]},
    )
    assert opened["status"] == "applied", opened
    # Two messages in one window, two hours ago by the test's clock.
    w = _window_start(dt.datetime.now(dt.UTC) - dt.timedelta(hours=2))
    sent = []
    for n, body in enumerate(("Can we start at 9?", "Or 9:30 <if easier>")):
        mid = uid()
        r = await st.one("message", mid, "put", {"thread_id": tid, "body": body})
        assert r["status"] == "applied", r
        await _dated(db, mid, w + dt.timedelta(minutes=1 + 2 * n))
        sent.append(mid)
    config = worker_config(db, tmp_path, smtp_url=smtp.url)
    d = dispatcher(db, config)
    closing.append(d)
    await d.run(once=True)  # the two message_received events: push only, nobody subscribed
    assert smtp.messages == []
    # Ticks while the window is open and after: one row, due 15 min after its first message.
    assert await _tick(db, config, w + dt.timedelta(minutes=4)) == 1
    assert await _tick(db, config, w + dt.timedelta(minutes=17)) == 0
    [row] = await _unread_rows(db)
    assert row.available_at == w + dt.timedelta(minutes=1) + DELAY
    assert row.dedupe_key == f"message_unread:{tid}:{messages.window_of(w, DELAY)}"
    await _release(db)
    await d.run(once=True)
    [mail] = await _unread_mail(smtp, "instructor1@demo.test")
    assert mail["X-DriveSync-Event"] == "message_unread"
    assert mail["Subject"] == "Unread: Thursday (2 messages)"
    text = "\n".join(part.get_content() for part in mail.iter_parts())
    assert "Can we start at 9?" in text and "Or 9:30 <if easier>" in text  # text part
    assert "Or 9:30 &lt;if easier&gt;" in text  # HTML part, escaped
    assert _unread_to(smtp, "student1@demo.test") == []  # the author is never told of their own
    # A third message in the next window, read by the instructor before its email is due:
    # no email.
    third = uid()
    assert (await st.one("message", third, "put", {"thread_id": tid, "body": "Thanks"}))[
        "status"
    ] == "applied"
    await _dated(db, third, w + DELAY + dt.timedelta(minutes=2))
    assert await _tick(db, config, w + DELAY + dt.timedelta(minutes=3)) == 1
    mark = member_id(tid, inst.user["id"])
    read = await inst.one(
        "thread_member",
        mark,
        "put",
        {"thread_id": tid, "last_read_at": dt.datetime.now(dt.UTC).isoformat()},
    )
    assert read["status"] == "applied", read
    await _release(db)
    await d.run(once=True)
    assert len(_unread_to(smtp, "instructor1@demo.test")) == 1
    rows = await _unread_rows(db)
    assert [r.status for r in rows] == ["done", "done"]


async def test_the_office_is_emailed_until_one_admin_reads_it(
    client: Any, db: Db, tmp_path: Path, smtp: SmtpPeer, closing: list[Any]
) -> None:
    st = await Device(client, "student2@demo.test").login()
    admin = await Device(client, "admin@demo.test").login()
    tid = uid()
    assert (await st.one("thread", tid, "put", {"subject": "Invoice"}))["status"] == "applied"
    w = _window_start(dt.datetime.now(dt.UTC) - dt.timedelta(hours=3))
    mid = uid()
    await st.one("message", mid, "put", {"thread_id": tid, "body": "Is May paid?"})
    await _dated(db, mid, w + dt.timedelta(minutes=5))
    config = worker_config(db, tmp_path, smtp_url=smtp.url)
    d = dispatcher(db, config)
    closing.append(d)
    assert await _tick(db, config, w + dt.timedelta(minutes=6)) == 1
    await _release(db)
    await d.run(once=True)
    [mail] = await _unread_mail(smtp, "admin@demo.test")
    assert mail["Subject"] == "Unread: Invoice"
    # The admin reads and answers; the student's next message, once read by them, is not
    # mailed to the student, and the office's reply is not mailed to the office.
    reply = uid()
    await admin.one("message", reply, "put", {"thread_id": tid, "body": "Yes, all paid."})
    await _dated(db, reply, w + 2 * DELAY + dt.timedelta(minutes=1))
    now = dt.datetime.now(dt.UTC).isoformat()
    for dev in (admin, st):
        r = await dev.one(
            "thread_member",
            member_id(tid, dev.user["id"]),
            "put",
            {"thread_id": tid, "last_read_at": now},
        )
        assert r["status"] == "applied", r
    assert await _tick(db, config, w + 2 * DELAY + dt.timedelta(minutes=2)) == 1
    await _release(db)
    await d.run(once=True)
    assert len(_unread_to(smtp, "admin@demo.test")) == 1
    assert _unread_to(smtp, "student2@demo.test") == []


async def test_no_unread_email_when_switched_off(db: Db, tmp_path: Path) -> None:
    config = worker_config(db, tmp_path, message_email_delay_min=0)
    assert await messages.unread_rows(None, config, dt.datetime.now(dt.UTC)) == []  # type: ignore[arg-type]


async def test_a_new_message_is_pushed_to_the_other_side_at_once(
    db: Db,
    tmp_path: Path,
    aiohttp_client: Any,
    push: PushPeer,
    vapid: tuple[str, str],
    closing: list[Any],
) -> None:
    app = create_app(make_settings(db, tmp_path))
    app[WORKER_CONFIG] = worker_config(db, tmp_path, vapid_private_key=vapid[0])
    client = await aiohttp_client(app)
    inst = await Device(client, "instructor1@demo.test").login()
    st = await Device(client, "student1@demo.test").login()
    phone = push.subscriber()
    resp = await client.post(
        "/v1/push/subscriptions", json=push.json_for(phone), headers=inst.headers
    )
    assert resp.status == 201
    tid = uid()
    await st.one(
        "thread", tid, "put", {"subject": "Thursday", "instructor_id": inst.user["instructor_id"]}
    )
    r = await st.one("message", uid(), "put", {"thread_id": tid, "body": "Running 5 min late"})
    assert r["status"] == "applied", r
    d = dispatcher(db, worker_config(db, tmp_path, vapid_private_key=vapid[0]))
    closing.append(d)
    await d.run(once=True)
    assert push.errors == []
    [(sid, payload, _headers)] = push.received
    assert sid == phone.id
    assert payload["event"] == "message_received"
    assert payload["title"] == "Amelia Clarke: Thursday"
    assert payload["body"] == "Amelia Clarke: Running 5 min late"
    assert payload["url"] == f"/#/messages/{tid}" and payload["data"]["thread_id"] == tid
