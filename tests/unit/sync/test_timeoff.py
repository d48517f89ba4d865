"""sync.core.timeoff: all-day blocks widened to the school's local days (DST included), and
clashes grouped per student."""

from __future__ import annotations

import datetime as dt
from types import SimpleNamespace
from zoneinfo import ZoneInfo

from sync.core.timeoff import by_student, overlaps, whole_days

LONDON = ZoneInfo("Europe/London")


def utc(text: str) -> dt.datetime:
    return dt.datetime.fromisoformat(text).replace(tzinfo=dt.UTC)


def test_a_summer_day_starts_at_local_midnight_not_utc_midnight() -> None:
    # 1 July in London is BST (UTC+1): the local day runs 23:00Z on 30 June to 23:00Z.
    assert whole_days(utc("2027-07-01T10:00"), utc("2027-07-01T11:00"), LONDON) == (
        utc("2027-06-30T23:00"),
        utc("2027-07-01T23:00"),
    )


def test_a_week_ending_at_a_local_midnight_does_not_take_the_next_day() -> None:
    start = dt.datetime(2027, 7, 5, 0, 0, tzinfo=LONDON)
    end = dt.datetime(2027, 7, 10, 0, 0, tzinfo=LONDON)
    assert whole_days(start, end, LONDON) == (start.astimezone(dt.UTC), end.astimezone(dt.UTC))


def test_a_block_across_the_clock_change_ends_at_the_right_midnight() -> None:
    # Clocks go back on 31 October 2027: Saturday is 23 h after Friday's midnight (BST),
    # and Monday's midnight is GMT.
    start, end = whole_days(utc("2027-10-29T12:00"), utc("2027-11-01T09:00"), LONDON)
    assert start == utc("2027-10-28T23:00")
    assert end == utc("2027-11-02T00:00")
    assert (end - start) == dt.timedelta(days=4, hours=1)


def test_a_point_in_time_still_covers_its_day() -> None:
    start, end = whole_days(utc("2027-01-04T00:00"), utc("2027-01-04T00:00"), LONDON)
    assert (start, end) == (utc("2027-01-04T00:00"), utc("2027-01-05T00:00"))


def test_overlaps_is_half_open() -> None:
    a, b, c = utc("2027-01-04T09:00"), utc("2027-01-04T10:00"), utc("2027-01-04T11:00")
    assert not overlaps(a, b, b, c)
    assert overlaps(a, c, b, c)


def test_clashes_group_per_student_in_time_order() -> None:
    rows = [
        SimpleNamespace(id="b3", student_id="s2", start=utc("2027-01-05T09:00")),
        SimpleNamespace(id="b2", student_id="s1", start=utc("2027-01-06T09:00")),
        SimpleNamespace(id="b1", student_id="s1", start=utc("2027-01-04T09:00")),
    ]
    assert by_student(rows) == {"s1": ["b1", "b2"], "s2": ["b3"]}
