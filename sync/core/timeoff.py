"""Time off (availability exceptions) as plain functions: the whole local days an all-day
block covers, and which bookings a block lies over. No I/O; sync.rules.timeoff uses them
on a push, and the PWA's slot picker applies the same idea to its replica."""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Iterable
from typing import Any
from zoneinfo import ZoneInfo


def local_midnight(day: dt.date, tz: ZoneInfo) -> dt.datetime:
    """The instant a local day starts, in UTC (a day without a midnight, where the clocks
    jump at 00:00, starts at the first instant after the gap)."""
    return dt.datetime.combine(day, dt.time(0), tz).astimezone(dt.UTC)


def whole_days(
    start: dt.datetime, end: dt.datetime, tz: ZoneInfo
) -> tuple[dt.datetime, dt.datetime]:
    """[start, end) widened to the whole local days it touches: from the midnight that
    begins start's day to the midnight that ends end's day (end exactly at a midnight
    stays: that day is not touched). A block from Monday to Friday noon covers Friday."""
    first = start.astimezone(tz).date()
    local_end = end.astimezone(tz)
    last = local_end.date()
    if local_end.time() != dt.time(0) or last == first:
        last += dt.timedelta(days=1)
    return local_midnight(first, tz), local_midnight(last, tz)


def overlaps(
    a_start: dt.datetime, a_end: dt.datetime, b_start: dt.datetime, b_end: dt.datetime
) -> bool:
    """Half-open intervals share an instant (a lesson ending when time off starts does not)."""
    return a_start < b_end and b_start < a_end


def by_student(bookings: Iterable[Any]) -> dict[str, list[str]]:
    """Booking ids grouped by their student, both in a stable order (one notice each)."""
    out: dict[str, list[str]] = defaultdict(list)
    for b in sorted(bookings, key=lambda b: (b.student_id, b.start, b.id)):
        out[b.student_id].append(b.id)
    return dict(out)
