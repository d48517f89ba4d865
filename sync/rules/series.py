"""Recurring lessons (`booking_series`): server-authoritative like single bookings.

A new series is expanded into one booking per date (sync.core.series), each checked on its
own exactly as a single booking is (in the future, inside the instructor's availability
and outside their time off, clashing with no live booking of the instructor or the
student, the earlier dates of the same series included; paid with credit, drawing its
own, `insufficient_credit` once the credit runs out). A date that fails is refused with
its own code and reason in the series' `occurrences`; the others are created (requested,
or confirmed when staff book them). If no date can be booked the series is refused.

Later patches act on the occurrences still to come:
- `status` confirmed or declined (the instructor or an admin, once for the series), or
  cancelled (anyone who may write it): every live occurrence follows; occurrences already
  started are left as they are;
- `until` earlier than before: the occurrences after it are cancelled ("this and
  following"); a series never grows (book another);
- `pickup_location`: the live occurrences to come take it.

Each change sends one notification for the series, not one per lesson. An occurrence can
still be moved or cancelled alone as a booking.
"""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import select

from schemas import Booking, BookingSeries
from sync.core.command import Command, Outcome, Reject
from sync.core.entities import ENTITIES
from sync.core.policy import LIVE_BOOKING, booking_move_ok
from sync.core.series import SeriesShapeError, occurrence_starts
from sync.rules import booking_cancel, booking_credit, booking_history
from sync.rules.batch import Context, load_row
from sync.rules.booking import _follow_status, _price, check_request, check_slot
from sync.rules.lww import check_nulls, check_visible

SERIES = ENTITIES["booking_series"]
OCCURRENCE_NS = uuid.UUID("5b0f7d1e-8a43-4c2e-9d61-2f7a3c9e4b10")
# Fields a patch may change; the rest of a series is fixed once made.
_FIXED = ("student_id", "instructor_id", "service_id", "first_start", "every", "count")


def occurrence_id(series_id: str, index: int) -> str:
    """The booking made for a series' `index`-th date: derived, so a retried or replayed
    push names the same bookings."""
    return str(uuid.uuid5(OCCURRENCE_NS, f"{series_id}:{index}"))


async def apply_series(ctx: Context, m: Command) -> Outcome:
    if m.op == "delete":
        raise Reject("invalid", "a series is cancelled (status: cancelled), not deleted", "op")
    check_nulls(SERIES, m.data)
    row = await load_row(ctx, "booking_series", m.id)
    if row is None:
        if m.op == "patch":
            raise Reject("not_found", "no booking series with this id", "id")
        return await _create(ctx, m)
    check_visible(ctx, SERIES, row)
    return await _change(ctx, row, dict(m.data), m.hlc)


async def _create(ctx: Context, m: Command) -> Outcome:
    d, status, service = await check_request(ctx, m.data, "series")
    who = ctx.who
    try:
        starts = occurrence_starts(
            d["first_start"], d["every"], d.get("count"), d.get("until"), ctx.tenant.timezone
        )
    except SeriesShapeError as exc:
        raise Reject("invalid", str(exc), exc.field) from None
    series = BookingSeries(
        tenant_id=ctx.txn.tenant_id,
        id=m.id,
        created_by=who.user_id,
        student_id=d["student_id"],
        instructor_id=d["instructor_id"],
        service_id=service.id,
        first_start=d["first_start"],
        every=d["every"],
        count=d.get("count"),
        until=d.get("until"),
        pickup_location=d.get("pickup_location"),
        status=status,
        occurrences=[],
        field_hlc={},
        deleted=False,
    )
    check_visible(ctx, SERIES, series)
    occurrences: list[dict[str, Any]] = []
    made: list[Booking] = []
    length = dt.timedelta(minutes=service.duration_min)
    for index, start in enumerate(starts):
        booking_id = occurrence_id(m.id, index)
        entry: dict[str, Any] = {
            "start": start.isoformat(),
            "end": (start + length).isoformat(),
            "booking_id": None,
            "refused": None,
            "reason": None,
        }
        occurrences.append(entry)
        try:
            await check_slot(
                ctx, series.instructor_id, series.student_id, start, start + length, booking_id
            )
        except Reject as refusal:
            entry["refused"], entry["reason"] = refusal.code, refusal.message
            continue
        price, currency = await _price(ctx, service, series.instructor_id, start)
        booking = Booking(
            tenant_id=ctx.txn.tenant_id,
            id=booking_id,
            created_by=who.user_id,
            student_id=series.student_id,
            instructor_id=series.instructor_id,
            service_id=service.id,
            start=start,
            end=start + length,
            status=status,
            pickup_location=series.pickup_location,
            price_cents=price,
            currency=currency,
            payment_status="unpaid",
            series_id=m.id,
            field_hlc={},
            deleted=False,
        )
        if d.get("pay_with") == "credit":  # each date draws its own credit, or is refused
            if not await booking_credit.draw(ctx, booking):
                short = booking_credit.refused()
                entry["refused"], entry["reason"] = short.code, short.message
                continue
            booking.payment_status = "credit"
        ctx.stamp("booking", booking)
        # Flushed at once: the next date's overlap check must see this one.
        await ctx.session.flush()
        await _follow_status(ctx, booking, None, notify=False)
        booking_history.log_changes(ctx, booking, None)
        entry["booking_id"] = booking_id
        made.append(booking)
    if not made:
        raise Reject(
            "unavailable",
            "no date of this series can be booked",
            "first_start",
            occurrences=occurrences,
        )
    series.occurrences = occurrences
    rev = ctx.stamp("booking_series", series)
    await ctx.session.flush()
    _announce(ctx, series, "requested" if status == "requested" else "confirmed", len(made))
    return Outcome("applied", rev, series)


async def _change(ctx: Context, series: BookingSeries, data: dict[str, Any], hlc: str) -> Outcome:
    if "pay_with" in data:
        raise Reject("invalid", "pay_with of a series is chosen when it is made", "pay_with")
    for fixed in _FIXED:
        if fixed in data and data[fixed] != getattr(series, fixed):
            raise Reject(
                "invalid", f"{fixed} of a series cannot change: cancel it and book another", fixed
            )
    role = ctx.who.role
    status = data.get("status", series.status)
    if status != series.status and not booking_move_ok(role, series.status, status):
        raise Reject(
            "invalid_transition",
            f"a {role} cannot move a series from {series.status} to {status}",
            "status",
        )
    until: dt.date | None = data.get("until", series.until)
    shortened = "until" in data and until != series.until
    if shortened and (until is None or (series.until is not None and until > series.until)):
        raise Reject("invalid", "a series cannot grow: book another", "until")
    occurrences = await _occurrences(ctx, series.id)
    to_come = [b for b in occurrences if b.start > ctx.txn.now and b.status in LIVE_BOOKING]
    changed = 0
    if shortened and until is not None:
        tz = ZoneInfo(ctx.tenant.timezone)
        for booking in to_come:
            if booking.start.astimezone(tz).date() > until:
                changed += await _move(ctx, booking, "cancelled", hlc)
        series.until = until
    if status != series.status:
        for booking in to_come:
            if booking.status == status or booking.status not in LIVE_BOOKING:
                continue
            if status == "cancelled" or booking.status == "requested":
                changed += await _move(ctx, booking, status, hlc)
        series.status = status
    if "pickup_location" in data and data["pickup_location"] != series.pickup_location:
        series.pickup_location = data["pickup_location"]
        for booking in to_come:
            if booking.status in LIVE_BOOKING:
                before = booking_history.snapshot(booking)
                booking.pickup_location = series.pickup_location
                ctx.stamp("booking", booking)
                booking_history.log_changes(ctx, booking, before)
    rev = ctx.stamp("booking_series", series)
    if changed:
        _announce(
            ctx, series, "cancelled" if shortened and "status" not in data else status, changed
        )
    return Outcome("applied", rev, series)


async def _occurrences(ctx: Context, series_id: str) -> list[Booking]:
    rows = await ctx.session.scalars(
        select(Booking).where(Booking.series_id == series_id, Booking.deleted.is_(False))
    )
    return sorted(rows, key=lambda b: b.start)


async def _move(ctx: Context, booking: Booking, status: str, hlc: str) -> int:
    """One occurrence to `status`, its lesson following, its history kept, without a
    notification of its own. A cancellation is judged like a single booking's (when it was
    made, by whom: a student's late one owes the school's fee, sync.rules.booking_cancel)."""
    before = booking_history.snapshot(booking)
    previous = booking.status
    if status == "cancelled":
        await booking_cancel.settle(ctx, booking, previous, hlc, None)
    booking.status = status
    ctx.stamp("booking", booking)
    await _follow_status(ctx, booking, previous, notify=False)
    booking_history.log_changes(ctx, booking, before)
    return 1


def _announce(ctx: Context, series: BookingSeries, status: str, lessons: int) -> None:
    """One notification for the series (sync.rules.booking sends one per booking)."""
    event = f"series_{status}"
    payload = {
        "series_id": series.id,
        "student_id": series.student_id,
        "instructor_id": series.instructor_id,
        "status": status,
        "lessons": lessons,
        "by": ctx.who.role,
    }
    ctx.emit(event, payload, f"{event}:{series.id}:{series.rev}")
