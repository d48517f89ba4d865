"""The dates of a recurring booking (pure: no I/O).

A series repeats at the same wall-clock time in the school's time zone: a 09:00 lesson
stays at 09:00 across a daylight-saving change, so its UTC time moves by an hour. It runs
`count` times, or while the local date is on or before `until`, and never more than
`MAX_OCCURRENCES` times or past `MAX_SPAN` (a year of weekly lessons).
"""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

MAX_OCCURRENCES = 52
MAX_SPAN = dt.timedelta(days=366)
STEP_DAYS = {"week": 7, "2weeks": 14}


class SeriesShapeError(ValueError):
    """A series that names neither or both of `count` and `until`, or ends before it
    starts, or runs past the limits. `field` names the offending field."""

    def __init__(self, message: str, field: str) -> None:
        super().__init__(message)
        self.field = field


def occurrence_starts(
    first_start: dt.datetime,
    every: str,
    count: int | None,
    until: dt.date | None,
    timezone: str,
) -> list[dt.datetime]:
    """The UTC start of each occurrence, the first being `first_start`."""
    if (count is None) == (until is None):
        raise SeriesShapeError("a series has either a count or an until date", "count")
    tz = ZoneInfo(timezone)
    local = first_start.astimezone(tz)
    if until is not None:
        if until < local.date():
            raise SeriesShapeError("until is before the first lesson", "until")
        if until - local.date() > MAX_SPAN:
            raise SeriesShapeError("a series spans at most a year", "until")
    step = STEP_DAYS[every]
    out: list[dt.datetime] = []
    for k in range(MAX_OCCURRENCES):
        day = local.date() + dt.timedelta(days=step * k)
        if count is not None and k >= count:
            break
        if until is not None and day > until:
            break
        wall = dt.datetime.combine(day, local.time(), tz)
        # A wall time that does not exist that day (inside a spring-forward gap) is read
        # by zoneinfo with the offset before the change: normalise through UTC.
        out.append(wall.astimezone(dt.UTC))
    if until is not None and len(out) == MAX_OCCURRENCES:
        day = local.date() + dt.timedelta(days=step * MAX_OCCURRENCES)
        if day <= until:
            raise SeriesShapeError(f"a series has at most {MAX_OCCURRENCES} lessons", "until")
    return out
