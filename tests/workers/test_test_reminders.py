"""The reminder the evening before a driving test (issue 13), on both databases: an
instructor records a practical test booking through a sync push; the scheduler's tick at the
digest hour of the day before writes one `test_reminder`; the dispatcher sends it through a
real SMTP server on 127.0.0.1 to the student and to each of their guardians, once. A test
moved to another day or given a result is not reminded of its old day."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import select

from schemas import OutboxEvent
from sync.tenancy import ALL_TENANTS, bind_tenant
from tests.conftest import Db
from tests.helpers import Device, uid
from tests.workers.conftest import dispatcher, worker_config
from tests.workers.peers import SmtpPeer
from tests.workers.test_reminders import _release
from workers.notifications import scheduler

LONDON = ZoneInfo("Europe/London")


def _evening_before(day: dt.date, hour: int = 18, minute: int = 30) -> dt.datetime:
    local = dt.datetime.combine(day - dt.timedelta(days=1), dt.time(hour, minute), LONDON)
    return local.astimezone(dt.UTC)


async def _events(db: Db) -> list[OutboxEvent]:
    async with db.sessions() as s:
        bind_tenant(s, ALL_TENANTS)
        rows = await s.scalars(select(OutboxEvent).where(OutboxEvent.event_type == "test_reminder"))
        return list(rows.all())


async def test_a_booked_test_is_reminded_to_the_student_and_guardians(
    client: Any, db: Db, tmp_path: Path, smtp: SmtpPeer, closing: list[Any]
) -> None:
    inst = await Device(client, "instructor1@demo.test").login()
    await inst.pull(entities="student")
    sid = next(s["id"] for s in inst.of("student").values() if s["email"] == "student1@demo.test")
    day = dt.datetime.now(LONDON).date() + dt.timedelta(days=40)
    tid = uid()
    data = {
        "student_id": sid,
        "kind": "practical",
        "date": day.isoformat(),
        "time": "10:14",
        "centre": "Exampleton Driving Test Centre",
    }
    r = await inst.one("test_record", tid, "put", data)
    assert r["status"] == "applied", r
    config = worker_config(db, tmp_path, smtp_url=smtp.url)
    assert await scheduler.tick(db.sessions, config, _evening_before(day, 17, 30)) == 0  # not yet
    assert await scheduler.tick(db.sessions, config, _evening_before(day)) == 1
    assert await scheduler.tick(db.sessions, config, _evening_before(day, 19)) == 0  # once
    [event] = await _events(db)
    assert event.payload == {"test_record_id": tid, "student_id": sid, "date": day.isoformat()}
    d = dispatcher(db, config)
    closing.append(d)
    await _release(db)
    await d.run(once=True)
    [to_student] = await smtp.wait_for("student1@demo.test")
    [to_guardian] = await smtp.wait_for("guardian1@demo.test")
    for msg in (to_student, to_guardian):
        assert msg["X-DriveSync-Event"] == "test_reminder"
        assert msg["Subject"] == "Reminder: Amelia Clarke's practical test is tomorrow"
        body = "\n".join(part.get_content() for part in msg.iter_parts())
        assert "at 10:14" in body and "Exampleton Driving Test Centre" in body
    assert "Hello Sarah Clarke" in "\n".join(p.get_content() for p in to_guardian.iter_parts())
    # Moved a week later: the old day's evening writes nothing; the new day's does.
    later = day + dt.timedelta(days=7)
    r = await inst.one("test_record", tid, "patch", {"date": later.isoformat()})
    assert r["status"] == "applied", r
    assert await scheduler.tick(db.sessions, config, _evening_before(later)) == 1
    # Given a result (a practical test taken early, say): its reminder goes stale unsent.
    before = len(smtp.messages)
    past = (dt.datetime.now(LONDON).date() - dt.timedelta(days=1)).isoformat()
    r = await inst.one("test_record", tid, "patch", {"date": past, "result": "passed", "faults": 4})
    assert r["status"] == "applied", r
    await _release(db)
    await d.run(once=True)
    assert len(smtp.messages) == before
    assert {e.status for e in await _events(db)} == {"done"}
