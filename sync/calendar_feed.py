"""What a user's calendar feed holds, and its secret.

The feed of a user is their lessons and time off, read from the school's tables (not from
a replica: a calendar app is not a sync client):

| role        | lessons                          | requested bookings | time off            |
|-------------|----------------------------------|--------------------|---------------------|
| instructor  | their own                        | their own          | their own           |
| student     | their own                        | their own          | —                   |
| guardian    | their learners'                  | their learners'    | —                   |
| owner/admin | the school's                     | the school's       | every instructor's  |

Lessons from `PAST` ago to `AHEAD` from now; deleted ones leave the feed (apps drop them),
cancelled ones stay marked CANCELLED. A private note never reaches a feed, nor does the
reason of someone else's time off (only staff read reasons, as on devices).

The secret works like an account token (sync.accounts): 32 random bytes handed out once,
only the SHA-256 kept, one answer (`feed_not_found`) for unknown, revoked and disabled.
"""

from __future__ import annotations

import datetime as dt
import secrets
import uuid
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import Select, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from schemas import (
    AvailabilityException,
    Booking,
    CalendarFeed,
    Instructor,
    Lesson,
    Service,
    Student,
    Tenant,
)
from sync.accounts import hash_token
from sync.core.principal import Principal
from sync.errors import DriveSyncError
from sync.ical import FeedEvent, Status

PAST = dt.timedelta(days=60)
AHEAD = dt.timedelta(days=400)
# A feed of a large school's every lesson stays a size a phone's calendar app will take.
MAX_EVENTS = 5000
UID_DOMAIN = "drivesync"


class FeedNotFound(DriveSyncError):
    code = "feed_not_found"
    status = 404


def new_secret() -> str:
    return secrets.token_urlsafe(32)


async def live_feed(session: AsyncSession, user_id: str) -> CalendarFeed | None:
    """The user's live feed row (session bound to their tenant)."""
    row: CalendarFeed | None = await session.scalar(
        select(CalendarFeed)
        .where(CalendarFeed.user_id == user_id, CalendarFeed.revoked_at.is_(None))
        .order_by(CalendarFeed.created_at.desc())
        .limit(1)
    )
    return row


async def revoke(session: AsyncSession, user_id: str, now: dt.datetime) -> None:
    """End every live feed of the user (in the caller's transaction, bound to the tenant)."""
    await session.execute(
        update(CalendarFeed)
        .where(CalendarFeed.user_id == user_id, CalendarFeed.revoked_at.is_(None))
        .values(revoked_at=now)
        .execution_options(synchronize_session=False)
    )


async def replace(
    session: AsyncSession, tenant_id: str, user_id: str, now: dt.datetime
) -> tuple[str, CalendarFeed]:
    """A new secret for the user's feed; the old URL stops working. Returns the secret,
    which is not stored, and the row."""
    await revoke(session, user_id, now)
    secret = new_secret()
    row = CalendarFeed(
        tenant_id=tenant_id,
        id=str(uuid.uuid4()),
        user_id=user_id,
        token_hash=hash_token(secret),
        created_at=now,
    )
    session.add(row)
    await session.flush()
    return secret, row


async def find(session: AsyncSession, secret: str) -> CalendarFeed:
    """The live feed of a secret, in any school (the session is bound to ALL_TENANTS)."""
    row = await session.scalar(
        select(CalendarFeed).where(CalendarFeed.token_hash == hash_token(secret))
    )
    if row is None or row.revoked_at is not None:
        raise FeedNotFound("no calendar feed at this address; turn it on again in the app")
    return row


def _lessons_of(who: Principal) -> Select[Any]:
    query = select(Lesson).where(Lesson.deleted.is_(False))
    if who.is_admin:
        return query
    if who.role == "instructor" and who.instructor_id:
        return query.where(Lesson.instructor_id == who.instructor_id)
    if who.role == "student" and who.student_id:
        return query.where(Lesson.student_id == who.student_id)
    if who.role == "guardian" and who.ward_ids:
        return query.where(Lesson.student_id.in_(who.ward_ids))
    return query.where(Lesson.id.is_(None))  # nobody's: an empty feed


def _requests_of(who: Principal) -> Select[Any]:
    query = select(Booking).where(Booking.deleted.is_(False), Booking.status == "requested")
    if who.is_admin:
        return query
    if who.role == "instructor" and who.instructor_id:
        return query.where(Booking.instructor_id == who.instructor_id)
    if who.role == "student" and who.student_id:
        return query.where(Booking.student_id == who.student_id)
    if who.role == "guardian" and who.ward_ids:
        return query.where(Booking.student_id.in_(who.ward_ids))
    return query.where(Booking.id.is_(None))


def _time_off_of(who: Principal) -> Select[Any] | None:
    query = select(AvailabilityException)
    if who.is_admin:
        return query
    if who.role == "instructor" and who.instructor_id:
        return query.where(AvailabilityException.instructor_id == who.instructor_id)
    return None


async def events(
    session: AsyncSession, who: Principal, tenant: Tenant, now: dt.datetime, app_url: str
) -> list[FeedEvent]:
    """The events of `who`'s feed (session bound to their tenant)."""
    since, until = now - PAST, now + AHEAD
    lessons = list(
        await session.scalars(
            _lessons_of(who)
            .where(Lesson.scheduled_end > since, Lesson.scheduled_start < until)
            .order_by(Lesson.scheduled_start)
            .limit(MAX_EVENTS)
        )
    )
    requests = list(
        await session.scalars(
            _requests_of(who)
            .where(Booking.end > now, Booking.start < until)
            .order_by(Booking.start)
            .limit(MAX_EVENTS)
        )
    )
    time_off_query = _time_off_of(who)
    time_off = (
        list(
            await session.scalars(
                time_off_query.where(
                    AvailabilityException.deleted.is_(False),
                    AvailabilityException.end > since,
                    AvailabilityException.start < until,
                ).limit(MAX_EVENTS)
            )
        )
        if time_off_query is not None
        else []
    )
    booking_ids = {lesson.booking_id for lesson in lessons if lesson.booking_id}
    bookings = (
        {b.id: b for b in await session.scalars(select(Booking).where(Booking.id.in_(booking_ids)))}
        if booking_ids
        else {}
    )
    bookings.update({b.id: b for b in requests})
    names = await _names(session, lessons, requests, time_off)
    services = (
        {
            s.id: s.name
            for s in await session.scalars(
                select(Service).where(Service.id.in_({b.service_id for b in bookings.values()}))
            )
        }
        if bookings
        else {}
    )
    out = [
        _lesson_event(lesson, who, names, bookings.get(lesson.booking_id or ""), services, app_url)
        for lesson in lessons
    ]
    out += [_request_event(b, who, names, services, app_url) for b in requests]
    out += [_time_off_event(x, who, names, tenant) for x in time_off]
    return out[:MAX_EVENTS]


async def _names(
    session: AsyncSession,
    lessons: list[Lesson],
    requests: list[Booking],
    time_off: list[AvailabilityException],
) -> dict[str, str]:
    """Names of the students and instructors the events mention, by id."""
    student_ids = {x.student_id for x in lessons} | {x.student_id for x in requests}
    instructor_ids = (
        {x.instructor_id for x in lessons}
        | {x.instructor_id for x in requests}
        | {x.instructor_id for x in time_off}
    )
    names: dict[str, str] = {}
    if student_ids:
        rows = await session.execute(
            select(Student.id, Student.name).where(Student.id.in_(student_ids))
        )
        names.update({r.id: r.name for r in rows})
    if instructor_ids:
        rows = await session.execute(
            select(Instructor.id, Instructor.name).where(Instructor.id.in_(instructor_ids))
        )
        names.update({r.id: r.name for r in rows})
    return names


def _title(who: Principal, student_id: str, instructor_id: str, names: dict[str, str]) -> str:
    """ "Driving lesson with …": the other person, or both for admins and guardians."""
    student = names.get(student_id, "a student")
    instructor = names.get(instructor_id, "an instructor")
    if who.role == "instructor" and who.instructor_id == instructor_id:
        return f"Driving lesson with {student}"
    if who.role == "student":
        return f"Driving lesson with {instructor}"
    return f"Driving lesson: {student} with {instructor}"


_LESSON_STATUS: dict[str, Status] = {
    "scheduled": "CONFIRMED",
    "in_progress": "CONFIRMED",
    "completed": "CONFIRMED",
    "no_show": "CONFIRMED",
    "cancelled": "CANCELLED",
}
_SUFFIX = {"completed": " (completed)", "no_show": " (no-show)", "cancelled": " (cancelled)"}


def _lesson_event(
    lesson: Lesson,
    who: Principal,
    names: dict[str, str],
    booking: Booking | None,
    services: dict[str, str],
    app_url: str,
) -> FeedEvent:
    lines = []
    if booking is not None and booking.service_id in services:
        lines.append(services[booking.service_id])
    pickup = booking.pickup_location if booking is not None else None
    if pickup:
        lines.append(f"Pickup: {pickup}")
    url = f"{app_url}/#/lesson/{lesson.id}" if who.role != "student" else f"{app_url}/#/bookings"
    lines.append(url)
    return FeedEvent(
        uid=f"lesson-{lesson.id}@{UID_DOMAIN}",
        start=lesson.scheduled_start,
        end=lesson.scheduled_end,
        summary=_title(who, lesson.student_id, lesson.instructor_id, names)
        + _SUFFIX.get(lesson.status, ""),
        status=_LESSON_STATUS.get(lesson.status, "CONFIRMED"),
        sequence=lesson.rev,
        stamp=lesson.updated_at,
        description="\n".join(lines),
        location=pickup,
        url=url,
        categories=("Driving lesson",),
    )


def _request_event(
    booking: Booking, who: Principal, names: dict[str, str], services: dict[str, str], app: str
) -> FeedEvent:
    lines = [services.get(booking.service_id, ""), "Requested: not confirmed yet"]
    if booking.pickup_location:
        lines.append(f"Pickup: {booking.pickup_location}")
    url = f"{app}/#/bookings" if who.role in ("student", "guardian") else f"{app}/#/today"
    return FeedEvent(
        uid=f"booking-{booking.id}@{UID_DOMAIN}",
        start=booking.start,
        end=booking.end,
        summary="Requested: " + _title(who, booking.student_id, booking.instructor_id, names),
        status="TENTATIVE",
        sequence=booking.rev,
        stamp=booking.updated_at,
        description="\n".join(line for line in lines if line),
        location=booking.pickup_location,
        url=url,
        categories=("Booking request",),
    )


def _time_off_event(
    block: AvailabilityException, who: Principal, names: dict[str, str], tenant: Tenant
) -> FeedEvent:
    own = who.role == "instructor" and who.instructor_id == block.instructor_id
    summary = "Time off" if own else f"Time off: {names.get(block.instructor_id, 'instructor')}"
    if block.reason:
        summary += f" ({block.reason})"
    start: dt.datetime | dt.date = block.start
    end: dt.datetime | dt.date = block.end
    if block.all_day:
        # Stored widened to whole local days (sync.rules.timeoff): dates, the end exclusive.
        tz = ZoneInfo(tenant.timezone)
        start, end = block.start.astimezone(tz).date(), block.end.astimezone(tz).date()
    return FeedEvent(
        uid=f"time-off-{block.id}@{UID_DOMAIN}",
        start=start,
        end=end,
        summary=summary,
        status="CONFIRMED",
        sequence=block.rev,
        stamp=block.updated_at,
        categories=("Time off",),
    )
