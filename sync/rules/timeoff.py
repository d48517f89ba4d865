"""Time off (`availability_exception`): field last-writer-wins like availability, plus
three rules of its own.

- An instructor writes their own (the registry's `instructor_owned`, checked by the LWW
  rule); a new one needs no `instructor_id` from them.
- An `all_day` block is stored widened to whole local days of the school's timezone
  (sync.core.timeoff.whole_days), so the server's slot check and every replica compare
  plain instants and agree on which days are blocked.
- Laid over confirmed bookings, it tells each affected student once and the school's admins
  once (outbox events `time_off_clash` and `time_off_clash_admin`). The bookings are not
  cancelled: the admin decides. The admin dashboard shows the clashes from the replica.
"""

from __future__ import annotations

import dataclasses
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import select

from schemas import Booking
from sync.core.command import Command, Outcome, Reject
from sync.core.timeoff import by_student, whole_days
from sync.rules.batch import Context, load_row
from sync.rules.lww import apply_lww

ENTITY = "availability_exception"


async def apply_timeoff(ctx: Context, m: Command) -> Outcome:
    """Apply a pushed exception, then tell who its new times affect."""
    row = await load_row(ctx, ENTITY, m.id)
    before = None if row is None or row.deleted else (row.start, row.end)
    sent = m
    if m.op != "delete":
        m = _completed(ctx, m, row)
    outcome = await apply_lww(ctx, m)
    if m.data != sent.data:  # the device must learn the times it did not send
        outcome.include_record = True
    after = outcome.row
    if after is not None and not after.deleted and (after.start, after.end) != before:
        await _tell_clashes(ctx, after)
    return outcome


def _completed(ctx: Context, m: Command, row: Any) -> Command:
    """The mutation with what the server fills in: the writing instructor's id on a new
    block, and all-day times widened to whole local days; times out of order rejected."""
    data = dict(m.data)
    if row is None and ctx.who.role == "instructor":
        data.setdefault("instructor_id", ctx.who.instructor_id)
    current: dict[str, Any] = {
        "start": getattr(row, "start", None),
        "end": getattr(row, "end", None),
        "all_day": getattr(row, "all_day", False),
    }
    merged = {**current, **{k: v for k, v in data.items() if k in current}}
    start, end = merged["start"], merged["end"]
    if start is None or end is None:
        return dataclasses.replace(m, data=data)  # the LWW rule names what is missing
    if end <= start:
        raise Reject("invalid", "end must be after start", "end")
    if merged["all_day"]:
        wide = whole_days(start, end, ZoneInfo(ctx.tenant.timezone))
        if wide != (start, end):
            data["start"], data["end"] = wide
    return dataclasses.replace(m, data=data)


async def _tell_clashes(ctx: Context, row: Any) -> None:
    """Queue one notice per affected student and one for the admins, when the block lies
    over the instructor's confirmed bookings. Keyed by the block's rev, so moving it again
    tells again and a resent push does not."""
    clashing = list(
        await ctx.session.scalars(
            select(Booking)
            .where(
                Booking.instructor_id == row.instructor_id,
                Booking.deleted.is_(False),
                Booking.status == "confirmed",
                Booking.start < row.end,
                Booking.end > row.start,
            )
            .order_by(Booking.start, Booking.id)
        )
    )
    if not clashing:
        return
    groups = by_student(clashing)
    for student_id, booking_ids in groups.items():
        ctx.emit(
            "time_off_clash",
            {"exception_id": row.id, "student_id": student_id, "booking_ids": booking_ids},
            f"time_off_clash:{row.id}:{row.rev}:{student_id}",
        )
    ctx.emit(
        "time_off_clash_admin",
        {
            "exception_id": row.id,
            "instructor_id": row.instructor_id,
            "booking_ids": [b.id for b in clashing],
            "student_ids": sorted(groups),
        },
        f"time_off_clash_admin:{row.id}:{row.rev}",
    )
