"""Notifications caused by the clock: lesson reminders (24 h and 2 h before, by default),
every instructor's evening digest of tomorrow's lessons, the evening reminder before a
driving test, and the email of a message still unread after a delay
(workers/notifications/messages.py).

A tick writes outbox rows for what falls due soon; the row's `available_at` is the moment it
should go out, and its dedupe key (unique per school) makes the write idempotent, so every
worker may tick and a tick may repeat. Reminders are keyed by the booking's start time too:
a booking moved later gets fresh reminders, and the old ones find the start changed when
they are delivered and are skipped. A reminder may go out late (a
booking confirmed 20 hours ahead still gets its "24 h" reminder at once, saying 20 hours),
but only within half the gap to the next one: a lesson booked 3 hours ahead gets the 2 h
reminder, not a late 24 h one.

Digests go out at `digest_hour` (school's local time) for the next local day, to
instructors with at least one confirmed booking that day; so do driving-test reminders, to
the student and their guardians of each test still booked for the next local day.
"""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from schemas import Booking, OutboxEvent, Tenant, TestRecord
from sync.database import insert_for
from sync.tenancy import ALL_TENANTS, bind_tenant
from workers.config import WorkerConfig
from workers.notifications import messages
from workers.payments import transfers

# How far ahead a tick writes reminders: a little more than the scheduler's period, so a
# reminder is in the queue (due at its exact time) before that time arrives.
LOOKAHEAD = dt.timedelta(minutes=15)


def reminder_rows(
    booking: Booking, offsets_h: tuple[int, ...], now: dt.datetime, lookahead: dt.timedelta
) -> list[dict[str, Any]]:
    """Outbox values of the reminders of one confirmed booking that are due before
    `now + lookahead` and still make sense."""
    out = []
    ordered = sorted(offsets_h, reverse=True)  # 24, 2
    for i, hours in enumerate(ordered):
        due = booking.start - dt.timedelta(hours=hours)
        if due > now + lookahead or booking.start <= now:
            continue
        later = ordered[i + 1] if i + 1 < len(ordered) else 0
        if now > due + dt.timedelta(hours=(hours - later) / 2):
            continue  # too late to be this reminder; the next one (if any) takes over
        start = booking.start.isoformat()
        out.append(
            {
                "tenant_id": booking.tenant_id,
                "event_type": "booking_reminder",
                "payload": {
                    "booking_id": booking.id,
                    "student_id": booking.student_id,
                    "instructor_id": booking.instructor_id,
                    "start": start,
                    "hours": hours,
                },
                "dedupe_key": f"booking_reminder:{booking.id}:{hours}h:{start}",
                "available_at": max(due, now),
            }
        )
    return out


async def tick(
    sessions: async_sessionmaker[AsyncSession], config: WorkerConfig, now: dt.datetime
) -> int:
    """Write the reminder and digest rows due soon; returns how many rows were new."""
    async with sessions() as session:
        bind_tenant(session, ALL_TENANTS)
        async with session.begin():
            rows = await _reminders(session, config, now)
            rows += await _digests(session, config, now)
            rows += await _test_reminders(session, config, now)
            rows += await messages.unread_rows(session, config, now)
            rows += await transfers.due_rows(session, now)  # instructors' payouts now due
            return await _insert_new(session, rows, now)


async def _reminders(
    session: AsyncSession, config: WorkerConfig, now: dt.datetime
) -> list[dict[str, Any]]:
    horizon = now + dt.timedelta(hours=max(config.reminder_offsets_h, default=0)) + LOOKAHEAD
    bookings = await session.scalars(
        select(Booking).where(
            Booking.status == "confirmed",
            Booking.deleted.is_(False),
            Booking.start > now,
            Booking.start <= horizon,
        )
    )
    rows: list[dict[str, Any]] = []
    for b in bookings:
        rows += reminder_rows(b, config.reminder_offsets_h, now, LOOKAHEAD)
    return rows


async def _digests(
    session: AsyncSession, config: WorkerConfig, now: dt.datetime
) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    tenants = (await session.scalars(select(Tenant))).all()
    for tenant in tenants:
        tz = ZoneInfo(tenant.timezone)
        local = now.astimezone(tz)
        if local.hour < config.digest_hour:
            continue
        day = local.date() + dt.timedelta(days=1)
        start = dt.datetime.combine(day, dt.time(0), tz).astimezone(dt.UTC)
        end = dt.datetime.combine(day + dt.timedelta(days=1), dt.time(0), tz).astimezone(dt.UTC)
        instructors = await session.scalars(
            select(Booking.instructor_id)
            .where(
                Booking.tenant_id == tenant.id,
                Booking.status == "confirmed",
                Booking.deleted.is_(False),
                Booking.start >= start,
                Booking.start < end,
            )
            .distinct()
        )
        for instructor_id in sorted(instructors.all()):
            rows.append(
                {
                    "tenant_id": tenant.id,
                    "event_type": "instructor_digest",
                    "payload": {"instructor_id": instructor_id, "date": day.isoformat()},
                    "dedupe_key": f"instructor_digest:{instructor_id}:{day.isoformat()}",
                    "available_at": now,
                }
            )
    return rows


async def _test_reminders(
    session: AsyncSession, config: WorkerConfig, now: dt.datetime
) -> list[dict[str, Any]]:
    """A reminder of each booked driving test, from `digest_hour` (school's local time) on
    the day before it. Keyed by the test's date: a test moved to another day is reminded
    again, and a reminder of the old day finds the date changed and is skipped."""
    rows: list[dict[str, Any]] = []
    for tenant in (await session.scalars(select(Tenant))).all():
        local = now.astimezone(ZoneInfo(tenant.timezone))
        if local.hour < config.digest_hour:
            continue
        day = local.date() + dt.timedelta(days=1)
        tests = await session.scalars(
            select(TestRecord).where(
                TestRecord.tenant_id == tenant.id,
                TestRecord.result == "booked",
                TestRecord.deleted.is_(False),
                TestRecord.date == day,
            )
        )
        for test in tests:
            rows.append(
                {
                    "tenant_id": tenant.id,
                    "event_type": "test_reminder",
                    "payload": {
                        "test_record_id": test.id,
                        "student_id": test.student_id,
                        "date": day.isoformat(),
                    },
                    "dedupe_key": f"test_reminder:{test.id}:{day.isoformat()}",
                    "available_at": now,
                }
            )
    return rows


async def _insert_new(session: AsyncSession, rows: list[dict[str, Any]], now: dt.datetime) -> int:
    """Insert rows whose dedupe key is new (ON CONFLICT DO NOTHING on both databases)."""
    if not rows:
        return 0
    insert = insert_for(session)
    values = [
        {**r, "id": str(uuid.uuid4()), "status": "pending", "attempts": 0, "created_at": now}
        for r in rows
    ]
    stmt = insert(OutboxEvent).on_conflict_do_nothing(index_elements=["tenant_id", "dedupe_key"])
    result = await session.execute(stmt.returning(OutboxEvent.id), values)
    return len(result.all())
