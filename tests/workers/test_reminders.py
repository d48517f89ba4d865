"""Notifications caused by the clock: reminders 24 h and 2 h before a lesson (idempotent
ticks, skipped when the booking moved), and the instructors' evening digest."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import select, update

from schemas import Booking, OutboxEvent
from sync.tenancy import ALL_TENANTS, bind_tenant
from tests.conftest import Db
from tests.workers.conftest import book_and_confirm, dispatcher, slot, worker_config
from workers.notifications import scheduler

LONDON = ZoneInfo("Europe/London")


async def _events(db: Db, kind: str) -> list[OutboxEvent]:
    async with db.sessions() as s:
        bind_tenant(s, ALL_TENANTS)
        rows = await s.scalars(
            select(OutboxEvent)
            .where(OutboxEvent.event_type == kind)
            .order_by(OutboxEvent.available_at)
        )
        return list(rows.all())


async def _release(db: Db) -> None:
    """Make every pending row due now (as if its time had come)."""
    async with db.sessions() as s, s.begin():
        bind_tenant(s, ALL_TENANTS)
        await s.execute(
            update(OutboxEvent)
            .where(OutboxEvent.status == "pending")
            .values(available_at=dt.datetime.now(dt.UTC))
        )


def _sink(tmp_path: Path, channel: str) -> list[dict[str, Any]]:
    path = tmp_path / "var" / "outbox-sink" / f"{channel}.jsonl"
    return [json.loads(x) for x in path.read_text().splitlines()] if path.exists() else []


async def test_reminders_are_written_once_sent_and_follow_a_moved_booking(
    client: Any, db: Db, tmp_path: Path, closing: list[Any]
) -> None:
    _st, inst, bid = await book_and_confirm(client, days=20, hour=10)
    config = worker_config(db, tmp_path)
    d = dispatcher(db, config)
    closing.append(d)
    await d.run(once=True)  # the confirmation itself
    async with db.sessions() as s:
        bind_tenant(s, ALL_TENANTS)
        start = await s.scalar(select(Booking.start).where(Booking.id == bid))
    assert start is not None
    at = start - dt.timedelta(hours=24, minutes=5)
    assert await scheduler.tick(db.sessions, config, at) == 1
    assert await scheduler.tick(db.sessions, config, at) == 0  # idempotent: every worker ticks
    [r24] = await _events(db, "booking_reminder")
    assert r24.available_at == start - dt.timedelta(hours=24) and r24.payload["hours"] == 24
    assert await scheduler.tick(db.sessions, config, start - dt.timedelta(hours=2, minutes=1)) == 1
    await _release(db)
    await d.run(once=True)
    sms = [m for m in _sink(tmp_path, "sms") if m["event_type"] == "booking_reminder"]
    assert len(sms) == 2 and all(m["to"] == "+447700900001" for m in sms)
    assert "reminder, your lesson with Priya Shah" in sms[0]["text"]
    # The instructor moves the lesson an hour later: old reminders would be wrong, new ones come.
    moved = await inst.one("booking", bid, "patch", {"start": slot(20, 11), "end": slot(20, 12)})
    assert moved["status"] == "applied", moved
    new_start = start + dt.timedelta(hours=1)
    assert await scheduler.tick(db.sessions, config, new_start - dt.timedelta(hours=23)) == 1
    async with db.sessions() as s, s.begin():  # an old-start reminder still queued
        bind_tenant(s, ALL_TENANTS)
        old = OutboxEvent(**{c: getattr(r24, c) for c in ("tenant_id", "event_type", "payload")})
        old.id, old.status, old.attempts, old.dedupe_key = (
            "00000000-0000-4000-8000-000000000001",
            "pending",
            0,
            "old",
        )
        s.add(old)
    await _release(db)
    await d.run(once=True)
    sms = [m for m in _sink(tmp_path, "sms") if m["event_type"] == "booking_reminder"]
    assert len(sms) == 3  # only the reminder for the new time went
    assert {e.status for e in await _events(db, "booking_reminder")} == {"done"}


async def test_the_dispatcher_ticks_at_start_unless_scheduling_is_off(
    client: Any, db: Db, tmp_path: Path, closing: list[Any]
) -> None:
    await book_and_confirm(client, days=20, hour=10)
    async with db.sessions() as s:
        bind_tenant(s, ALL_TENANTS)
        start = max((await s.scalars(select(Booking.start))).all())
    at = start - dt.timedelta(hours=23)  # the 24 h reminder is due, late but in its window
    off = dispatcher(db, worker_config(db, tmp_path), "off", clock=lambda: at)
    closing.append(off)
    await off.run(once=True)
    assert await _events(db, "booking_reminder") == []
    on = dispatcher(
        db, worker_config(db, tmp_path, scheduler_interval_s=3600), "on", clock=lambda: at
    )
    closing.append(on)
    await on.run(once=True)
    [r24] = await _events(db, "booking_reminder")
    assert r24.payload["hours"] == 24 and r24.available_at == at  # late: goes at once


async def test_instructor_digest_lists_tomorrows_lessons_once(
    client: Any, db: Db, tmp_path: Path, closing: list[Any]
) -> None:
    await book_and_confirm(client, days=25, hour=9, pickup="Station")
    _st, _inst, _bid = await book_and_confirm(client, days=25, hour=14)
    async with db.sessions() as s:
        bind_tenant(s, ALL_TENANTS)
        starts = sorted(
            (await s.scalars(select(Booking.start).where(Booking.status == "confirmed"))).all()
        )
    day = starts[-1].astimezone(LONDON).date()
    evening = dt.datetime.combine(day - dt.timedelta(days=1), dt.time(18, 30), LONDON).astimezone(
        dt.UTC
    )
    config = worker_config(db, tmp_path)
    await scheduler.tick(db.sessions, config, evening - dt.timedelta(hours=1))
    assert await _events(db, "instructor_digest") == []  # 17:30: not yet
    await scheduler.tick(db.sessions, config, evening)
    await scheduler.tick(db.sessions, config, evening + dt.timedelta(minutes=30))
    [digest] = await _events(db, "instructor_digest")
    assert digest.payload["date"] == day.isoformat()
    d = dispatcher(db, config)
    closing.append(d)
    await _release(db)
    await d.run(once=True)
    [mail] = [m for m in _sink(tmp_path, "email") if m["event_type"] == "instructor_digest"]
    assert mail["to"] == "instructor1@demo.test" and mail["subject"].endswith("(2)")
    assert "09:00-10:00  Amelia Clarke (pick-up: Station)" in mail["text"]
    assert "14:00-15:00  Amelia Clarke" in mail["text"]
    assert not [m for m in _sink(tmp_path, "sms") if m["event_type"] == "instructor_digest"]
