"""Bookings are server-authoritative: a request must fit one availability slot of the
instructor, overlap no live booking of the instructor or the student, lie in the future,
and pair a student with an assigned instructor. Confirming creates the lesson in the same
commit; cancelling cancels it, records when it was made and any late fee
(sync.rules.booking_cancel). Every change keeps history rows (sync.rules.booking_history).
A student does not move a booking: they ask to (sync.rules.booking_move)."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import or_, select

from schemas import (
    Availability,
    AvailabilityException,
    Booking,
    Lesson,
    RateCard,
    Service,
    StudentInstructor,
)
from sync.core.command import Command, Outcome, Reject
from sync.core.entities import ENTITIES, EntitySpec
from sync.core.policy import LIVE_BOOKING, booking_move_ok
from sync.core.pricing import price_for
from sync.rules import booking_cancel, booking_credit, booking_history
from sync.rules.batch import Context, load_row
from sync.rules.booking_follow import close_open_moves
from sync.rules.lww import check_nulls, check_visible

BOOKING = ENTITIES["booking"]
LESSON_NS = uuid.UUID("3c8e1f52-41d6-4b8e-b0c4-5a1e2d7f9b63")


def lesson_id_for(booking_id: str) -> str:
    """The lesson a confirmed booking creates has an id derived from the booking's."""
    return str(uuid.uuid5(LESSON_NS, booking_id))


async def lesson_of(ctx: Context, booking_id: str) -> Lesson | None:
    """The lesson made for a booking, if any."""
    lesson: Lesson | None = await ctx.session.scalar(
        select(Lesson).where(Lesson.booking_id == booking_id).limit(1)
    )
    return lesson


async def apply_booking(ctx: Context, m: Command) -> Outcome:
    if m.op == "delete":
        raise Reject("invalid", "bookings are cancelled (status: cancelled), not deleted", "op")
    check_nulls(BOOKING, m.data)
    row = await load_row(ctx, "booking", m.id)
    if row is None:
        if m.op == "patch":
            raise Reject("not_found", "no booking with this id", "id")
        return await _request(ctx, m)
    check_visible(ctx, BOOKING, row)
    data = dict(m.data)
    for fixed in ("student_id", "instructor_id", "service_id"):
        if fixed in data and data[fixed] != getattr(row, fixed):
            raise Reject("invalid", f"{fixed} of a booking cannot change", fixed)
    booking_credit.check_unchanged(row, data)
    role = ctx.who.role
    status = data.pop("status", row.status)
    if status != row.status and not booking_move_ok(role, row.status, status):
        raise Reject(
            "invalid_transition",
            f"a {role} cannot move a booking from {row.status} to {status}",
            "status",
        )
    moved = ("start" in data and data["start"] != row.start) or (
        "end" in data and data["end"] != row.end
    )
    before = booking_history.snapshot(row)
    if moved:
        if role == "student":
            raise Reject("forbidden", "to move a booking, send a booking_move request", "start")
        if row.status not in LIVE_BOOKING:
            raise Reject("invalid_transition", "only a live booking can be moved", "start")
        service = await load_row(ctx, "service", row.service_id)
        start = data.get("start", row.start)
        end = data.get("end") or (start + dt.timedelta(minutes=service.duration_min))
        await check_slot(ctx, row.instructor_id, row.student_id, start, end, exclude=row.id)
        row.start, row.end = start, end
    if "pickup_location" in data:
        row.pickup_location = data["pickup_location"]
    previous = row.status
    if status == "cancelled" and previous != "cancelled":
        await booking_cancel.settle(ctx, row, previous, m.hlc, m.base_rev)
    elif previous == "cancelled" and status != "cancelled":  # an admin re-opened it
        row.cancelled_at = row.cancelled_by = row.late_fee_cents = None
    row.status = status
    rev = ctx.stamp("booking", row)
    await _follow_status(ctx, row, previous)
    if moved:
        await follow_times(ctx, row)
    booking_history.log_changes(ctx, row, before)
    return Outcome("applied", rev, row)


async def follow_times(ctx: Context, row: Booking) -> None:
    """A moved booking's lesson, while still scheduled, moves with it."""
    lesson = await lesson_of(ctx, row.id)
    if lesson is not None and lesson.status == "scheduled":
        lesson.scheduled_start, lesson.scheduled_end = row.start, row.end
        ctx.stamp("lesson", lesson)


def check_required(spec: EntitySpec, data: dict[str, Any]) -> None:
    """A new record must carry its entity's required fields (`invalid` naming the first
    missing one, rather than failing on it later)."""
    missing = sorted(f for f in spec.required if data.get(f) is None)
    if missing:
        raise Reject("invalid", f"{missing[0]} is required", missing[0])


async def check_request(
    ctx: Context, data: dict[str, Any], what: str = "booking"
) -> tuple[dict[str, Any], str, Any]:
    """The checks a new booking and a new series share: who books for whom, the starting
    status, the assignment and the service. Returns the data with the student filled in
    (a student books for themselves), the status and the service row."""
    d = dict(data)
    who = ctx.who
    if who.role == "student":
        if d.get("student_id") not in (None, who.student_id):
            raise Reject("forbidden", "a student books only for themselves", "student_id")
        d["student_id"] = who.student_id
        if d.get("status", "requested") != "requested":
            raise Reject("invalid_transition", f"a student's {what} starts as requested", "status")
    if d.get("student_id") is None:
        raise Reject("invalid", "student_id is required", "student_id")
    if who.role == "instructor" and d["instructor_id"] != who.instructor_id:
        raise Reject("forbidden", "an instructor books only into their own diary", "instructor_id")
    status = d.get("status") or "requested"
    if status not in LIVE_BOOKING:
        raise Reject("invalid_transition", f"a new {what} is requested or confirmed", "status")
    assigned = await ctx.session.scalar(
        select(StudentInstructor.instructor_id).where(
            StudentInstructor.student_id == d["student_id"],
            StudentInstructor.instructor_id == d["instructor_id"],
        )
    )
    if assigned is None:
        raise Reject(
            "not_assigned", "this student is not assigned to this instructor", "instructor_id"
        )
    service = await load_row(ctx, "service", d["service_id"])
    if service is None or service.deleted or not service.active:
        raise Reject("not_found", "service_id names no bookable service", "service_id")
    return d, status, service


async def _request(ctx: Context, m: Command) -> Outcome:
    check_required(BOOKING, m.data)
    d, status, service = await check_request(ctx, m.data)
    who = ctx.who
    start = d["start"]
    end = d.get("end") or start + dt.timedelta(minutes=service.duration_min)
    if end <= start:
        raise Reject("invalid", "end must be after start", "end")
    await check_slot(ctx, d["instructor_id"], d["student_id"], start, end, exclude=m.id)
    price, currency = await _price(ctx, service, d["instructor_id"], start)
    row = Booking(
        tenant_id=ctx.txn.tenant_id,
        id=m.id,
        created_by=who.user_id,
        student_id=d["student_id"],
        instructor_id=d["instructor_id"],
        service_id=service.id,
        start=start,
        end=end,
        status=status,
        pickup_location=d.get("pickup_location"),
        price_cents=price,
        currency=currency,
        payment_status="unpaid",
        field_hlc={},
        deleted=False,
    )
    check_visible(ctx, BOOKING, row)
    await booking_credit.pay_new(ctx, row, d.get("pay_with"))
    rev = ctx.stamp("booking", row)
    await ctx.session.flush()
    await _follow_status(ctx, row, None)
    booking_history.log_changes(ctx, row, None)
    return Outcome("applied", rev, row)


async def check_slot(
    ctx: Context,
    instructor_id: str,
    student_id: str,
    start: dt.datetime,
    end: dt.datetime,
    exclude: str,
) -> None:
    """Reject a time that is past, outside availability, or overlapping a live booking."""
    if start < ctx.txn.now:
        raise Reject("in_past", "this time has already passed", "start")
    tz = ZoneInfo(ctx.tenant.timezone)
    local_start, local_end = start.astimezone(tz), end.astimezone(tz)
    if local_start.date() != local_end.date() and local_end.time() != dt.time(0):
        raise Reject("unavailable", "a booking must fit within one day's slot", "end")
    day = local_start.date()
    hhmm_start = local_start.strftime("%H:%M")
    hhmm_end = "24:00" if local_end.date() != day else local_end.strftime("%H:%M")
    slots = await ctx.session.scalars(
        select(Availability).where(
            Availability.instructor_id == instructor_id,
            Availability.deleted.is_(False),
            Availability.weekday == day.weekday(),
        )
    )
    fits = any(
        s.start_time <= hhmm_start
        and hhmm_end <= s.end_time
        and (s.valid_from is None or s.valid_from <= day)
        and (s.valid_until is None or day <= s.valid_until)
        for s in slots
    )
    if not fits:
        raise Reject("unavailable", "the instructor is not available at this time", "start")
    blocked = await ctx.session.scalar(
        select(AvailabilityException.id)
        .where(
            AvailabilityException.instructor_id == instructor_id,
            AvailabilityException.deleted.is_(False),  # a removed block frees the time
            AvailabilityException.start < end,
            AvailabilityException.end > start,
        )
        .limit(1)
    )
    if blocked:
        raise Reject("unavailable", "the instructor is away at this time", "start")
    clash = await ctx.session.scalar(
        select(Booking.id)
        .where(
            Booking.id != exclude,
            Booking.deleted.is_(False),
            Booking.status.in_(sorted(LIVE_BOOKING)),
            Booking.start < end,
            Booking.end > start,
            or_(Booking.instructor_id == instructor_id, Booking.student_id == student_id),
        )
        .limit(1)
    )
    if clash:
        raise Reject(
            "overlap",
            "this overlaps another booking of the instructor or student",
            "start",
            booking_id=clash,
        )


async def _price(
    ctx: Context, service: Service, instructor_id: str, start: dt.datetime
) -> tuple[int, str]:
    """The price in force on the start's day in the school's timezone (not its UTC date: a
    lesson at 00:30 local time is priced by that local day's cards), chosen by
    sync.core.pricing: the instructor's card, else the school default, else the service."""
    day = start.astimezone(ZoneInfo(ctx.tenant.timezone)).date()
    cards = await ctx.session.scalars(
        select(RateCard).where(RateCard.service_id == service.id, RateCard.deleted.is_(False))
    )
    return price_for(cards, instructor_id, day, (service.price_cents, service.currency))


async def _follow_status(
    ctx: Context, row: Booking, previous: str | None, notify: bool = True
) -> None:
    """Side effects of a booking's status: its lesson and notifications (not when `notify`
    is false: a series sends one notification for all its occurrences, sync.rules.series)."""
    if row.status == previous:
        return
    await booking_credit.follow(ctx, row, previous)
    lesson_id = lesson_id_for(row.id)
    lesson: Any = await lesson_of(ctx, row.id)
    if row.status == "confirmed":
        if lesson is None:
            lesson = Lesson(
                tenant_id=ctx.txn.tenant_id,
                id=lesson_id,
                created_by=ctx.who.user_id,
                booking_id=row.id,
                instructor_id=row.instructor_id,
                student_id=row.student_id,
                scheduled_start=row.start,
                scheduled_end=row.end,
                status="scheduled",
                field_hlc={},
                deleted=False,
            )
            ctx.stamp("lesson", lesson)
        elif lesson.status == "cancelled" or lesson.deleted:
            lesson.status, lesson.deleted = "scheduled", False
            ctx.stamp("lesson", lesson)
    elif (
        row.status in ("cancelled", "declined")
        and lesson is not None
        and lesson.status == "scheduled"
    ):
        lesson.status = "cancelled"
        ctx.stamp("lesson", lesson)
    await close_open_moves(ctx, row)
    payload = {
        "booking_id": row.id,
        "student_id": row.student_id,
        "instructor_id": row.instructor_id,
        "status": row.status,
        "by": ctx.who.role,
    }
    event = {
        "requested": "booking_requested",
        "confirmed": "booking_confirmed",
        "cancelled": "booking_cancelled",
        "declined": "booking_declined",
    }.get(row.status)
    if event and notify:
        ctx.emit(event, payload, f"{event}:{row.id}:{row.rev}")
