"""Notices for time off laid over confirmed lessons (events queued by sync.rules.timeoff).

`time_off_clash` tells one student about their own lessons the block covers (one notice
per student per change of the block); `time_off_clash_admin` flags every clashing lesson to
the school's owners and admins, who decide what happens to them (nothing is cancelled for
them). Both are read when delivered: a block deleted or moved off the lessons since, or
lessons cancelled meanwhile, leave nothing to say (`stale`). The reason is staff-only: it is
in the admins' facts, never in a student's.
"""

from __future__ import annotations

from typing import Any

from schemas import AvailabilityException
from sync.core.timeoff import overlaps
from workers.notifications.recipients import Expansion, Facts, local_text


async def _facts(f: Facts, p: dict[str, Any]) -> tuple[Any, list[dict[str, Any]], str | None]:
    """The block, the listed bookings it still lies over (confirmed, in time order), or why
    nothing is left to tell."""
    block: AvailabilityException | None = await f._get(AvailabilityException, p.get("exception_id"))
    if block is None or block.deleted:
        return None, [], "time off removed"
    still = []
    for booking_id in p.get("booking_ids") or []:
        row, booking = await f.booking(booking_id)
        if row is None or row.deleted or row.status != "confirmed":
            continue
        if overlaps(row.start, row.end, block.start, block.end):
            still.append(booking)
    if not still:
        return block, [], "no confirmed lesson under the time off any more"
    return block, still, None


def _time_off(f: Facts, block: AvailabilityException, instructor: str) -> dict[str, Any]:
    return {
        "start": local_text(block.start, f.tz),
        "end": local_text(block.end, f.tz),
        "all_day": block.all_day,
        "instructor": instructor,
    }


async def _student(f: Facts, p: dict[str, Any]) -> Expansion:
    block, bookings, stale = await _facts(f, p)
    if stale:
        return Expansion(stale=stale)
    student = await f.student(p.get("student_id"))
    if student is None:
        return Expansion(stale="student not found")
    mine = [b for b in bookings if b["id"] in set(p.get("booking_ids") or [])]
    context = {"time_off": _time_off(f, block, mine[0]["instructor"]), "bookings": mine}
    return Expansion([student], context)


async def _admins(f: Facts, p: dict[str, Any]) -> Expansion:
    block, bookings, stale = await _facts(f, p)
    if stale:
        return Expansion(stale=stale)
    time_off = {**_time_off(f, block, bookings[0]["instructor"]), "reason": block.reason or ""}
    return Expansion(await f.admins(), {"time_off": time_off, "bookings": bookings})


EXPANDERS = {"time_off_clash": _student, "time_off_clash_admin": _admins}
