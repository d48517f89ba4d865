"""The dates of a recurring booking (sync.core.series): same wall-clock time across a
daylight-saving change, count or until, and the limits."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

import pytest

from sync.core.series import MAX_OCCURRENCES, SeriesShapeError, occurrence_starts

LONDON = ZoneInfo("Europe/London")


def _london(*args: int) -> dt.datetime:
    return dt.datetime(*args, tzinfo=LONDON).astimezone(dt.UTC)


def test_weekly_keeps_the_wall_clock_time_across_the_clock_change() -> None:
    # British Summer Time starts on Sunday 28 March 2027: 09:00 is 09:00Z before, 08:00Z after.
    starts = occurrence_starts(_london(2027, 3, 22, 9), "week", 2, None, "Europe/London")
    assert starts == [_london(2027, 3, 22, 9), _london(2027, 3, 29, 9)]
    assert [s.hour for s in starts] == [9, 8]


def test_fortnightly_until_a_date_includes_that_date() -> None:
    starts = occurrence_starts(
        _london(2027, 1, 4, 10), "2weeks", None, dt.date(2027, 2, 1), "Europe/London"
    )
    assert [s.date() for s in starts] == [
        dt.date(2027, 1, 4),
        dt.date(2027, 1, 18),
        dt.date(2027, 2, 1),
    ]


def test_until_is_read_in_the_schools_zone() -> None:
    # 00:30 in Auckland on 5 Jan is still 4 Jan in UTC: until 5 Jan includes it.
    first = dt.datetime(2027, 1, 5, 0, 30, tzinfo=ZoneInfo("Pacific/Auckland"))
    starts = occurrence_starts(first, "week", None, dt.date(2027, 1, 5), "Pacific/Auckland")
    assert starts == [first.astimezone(dt.UTC)]


@pytest.mark.parametrize(
    ("count", "until", "field"),
    [
        (None, None, "count"),
        (3, dt.date(2027, 2, 1), "count"),
        (None, dt.date(2026, 12, 31), "until"),  # before the first date
        (None, dt.date(2028, 6, 1), "until"),  # more than a year
    ],
)
def test_shapes_refused(count: int | None, until: dt.date | None, field: str) -> None:
    with pytest.raises(SeriesShapeError) as err:
        occurrence_starts(_london(2027, 1, 4, 10), "week", count, until, "Europe/London")
    assert err.value.field == field


def test_never_more_than_the_limit() -> None:
    starts = occurrence_starts(_london(2027, 1, 4, 10), "week", 52, None, "Europe/London")
    assert len(starts) == MAX_OCCURRENCES == 52
    # 53 Mondays fit in 2027-01-04 .. 2028-01-03 (366 days): refused rather than cut.
    with pytest.raises(SeriesShapeError):
        occurrence_starts(
            _london(2027, 1, 4, 10), "week", None, dt.date(2028, 1, 3), "Europe/London"
        )
