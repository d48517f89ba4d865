"""Move requests (`booking_move`, the MOVE policy): a student asks to move a live booking
to another time; the instructor (their own diary) or an admin accepts or declines it; the
student may withdraw it while it is open.

A move request is its own record rather than fields on the booking: the booking keeps one
authoritative time until someone with the diary accepts, a booking can be asked to move
more than once (each answer stays readable), and the student writes only their request,
never the booking's time. Asking runs the slot checks (so a time that cannot work is
refused at once, with its reason); accepting runs them again, against the diary as it is
then, and moves the booking and its lesson in the same commit, or is refused with the
reason (`overlap`, `unavailable`, `in_past`) and leaves everything as it was.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import select

from schemas import Booking, BookingMove
from sync.core.command import Command, Outcome, Reject
from sync.core.entities import ENTITIES
from sync.core.policy import LIVE_BOOKING
from sync.rules import booking_history
from sync.rules.batch import Context, load_row
from sync.rules.booking import check_required, check_slot, follow_times
from sync.rules.lww import check_nulls, check_visible

MOVE = ENTITIES["booking_move"]
BOOKING = ENTITIES["booking"]

# Who may take an open request where: the student withdraws, the diary's owner decides.
DECISIONS = {
    "student": frozenset({"withdrawn"}),
    "instructor": frozenset({"accepted", "declined"}),
    "admin": frozenset({"accepted", "declined", "withdrawn"}),
}


async def apply_move(ctx: Context, m: Command) -> Outcome:
    """Apply a pushed move request, or an answer to one."""
    if m.op == "delete":
        raise Reject("invalid", "a move request is withdrawn (status: withdrawn)", "op")
    check_nulls(MOVE, m.data)
    row = await load_row(ctx, "booking_move", m.id)
    if row is None:
        if m.op == "patch":
            raise Reject("not_found", "no move request with this id", "id")
        return await _ask(ctx, m)
    return await _answer(ctx, m, row)


async def _live_booking(ctx: Context, booking_id: str) -> Booking:
    booking: Booking | None = await load_row(ctx, "booking", booking_id)
    if booking is None or booking.deleted:
        raise Reject("not_found", "booking_id names no booking", "booking_id")
    check_visible(ctx, BOOKING, booking)
    if booking.status not in LIVE_BOOKING:
        raise Reject("invalid_transition", f"the booking is {booking.status}", "booking_id")
    return booking


async def _ask(ctx: Context, m: Command) -> Outcome:
    d = m.data
    if ctx.who.role != "student":
        raise Reject("forbidden", "staff move the booking itself (its start and end)", "entity")
    check_required(MOVE, d)
    if d.get("status", "requested") != "requested":
        raise Reject("invalid_transition", "a move request starts as requested", "status")
    booking = await _live_booking(ctx, d["booking_id"])
    open_one = await ctx.session.scalar(
        select(BookingMove.id).where(
            BookingMove.booking_id == booking.id,
            BookingMove.status == "requested",
            BookingMove.id != m.id,
        )
    )
    if open_one:
        raise Reject(
            "move_pending",
            "this booking already has an open move request",
            "booking_id",
            move_id=open_one,
        )
    start: dt.datetime = d["start"]
    end: dt.datetime = d.get("end") or start + (booking.end - booking.start)
    if end <= start:
        raise Reject("invalid", "end must be after start", "end")
    await check_slot(ctx, booking.instructor_id, booking.student_id, start, end, booking.id)
    row = BookingMove(
        tenant_id=ctx.txn.tenant_id,
        id=m.id,
        created_by=ctx.who.user_id,
        booking_id=booking.id,
        student_id=booking.student_id,
        instructor_id=booking.instructor_id,
        start=start,
        end=end,
        status="requested",
        note=d.get("note"),
        requested_by=ctx.who.role,
        field_hlc={},
        deleted=False,
    )
    rev = ctx.stamp("booking_move", row)
    _emit(ctx, row, "booking_move_requested")
    return Outcome("applied", rev, row)


async def _answer(ctx: Context, m: Command, row: BookingMove) -> Outcome:
    check_visible(ctx, MOVE, row)
    d = m.data
    for fixed in ("booking_id", "start", "end"):
        if fixed in d and d[fixed] != getattr(row, fixed):
            raise Reject(
                "invalid", "a move request's time cannot change: withdraw it and ask again", fixed
            )
    target = d.get("status", row.status)
    role = "admin" if ctx.who.role in ("owner", "admin") else ctx.who.role
    edits_note = "note" in d and d["note"] != row.note
    # The note is the asker's, while the request is open: an answer never overwrites it.
    if edits_note and (role != "student" or row.status != "requested"):
        raise Reject("forbidden", "only the student edits the note of an open request", "note")
    if target == row.status:
        if edits_note:
            row.note = d["note"]
            return Outcome("applied", ctx.stamp("booking_move", row), row)
        return Outcome("applied", row.rev, row)
    if row.status != "requested" or target not in DECISIONS.get(role, frozenset()):
        raise Reject(
            "invalid_transition",
            f"a {role} cannot move a move request from {row.status} to {target}",
            "status",
        )
    if target == "accepted":
        booking = await _live_booking(ctx, row.booking_id)
        await check_slot(
            ctx, booking.instructor_id, booking.student_id, row.start, row.end, booking.id
        )
        before = booking_history.snapshot(booking)
        booking.start, booking.end = row.start, row.end
        ctx.stamp("booking", booking)
        await follow_times(ctx, booking)
        booking_history.log_changes(ctx, booking, before)
    row.status = target
    if edits_note:
        row.note = d["note"]
    if target != "withdrawn":
        row.decided_by, row.decided_at = role, ctx.txn.now
    rev = ctx.stamp("booking_move", row)
    if target in ("accepted", "declined"):
        _emit(ctx, row, f"booking_move_{target}")
    return Outcome("applied", rev, row)


def _emit(ctx: Context, row: BookingMove, event: str) -> None:
    payload = {
        "move_id": row.id,
        "booking_id": row.booking_id,
        "student_id": row.student_id,
        "instructor_id": row.instructor_id,
        "status": row.status,
        "by": ctx.who.role,
    }
    ctx.emit(event, payload, f"{event}:{row.id}")
