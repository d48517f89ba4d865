"""sync.core.cancellation: when a cancellation counts as made, and who owes the late fee."""

from __future__ import annotations

import datetime as dt

import pytest

from sync.core.cancellation import judge, made_at
from sync.core.hlc import Hlc

START = dt.datetime(2030, 3, 4, 10, 0, tzinfo=dt.UTC)


def _hlc(when: dt.datetime) -> str:
    return str(Hlc(int(when.timestamp() * 1000), 3, "device-1"))


def test_made_at_is_the_stamp_time_but_never_before_what_the_device_saw() -> None:
    seen = START - dt.timedelta(days=3)
    made = START - dt.timedelta(days=2)
    assert made_at(_hlc(made), seen) == made
    # A clock set back a month cannot go before the version it cancelled.
    assert made_at(_hlc(made - dt.timedelta(days=30)), seen) == seen


@pytest.mark.parametrize(
    ("hours_before", "late"),
    [(25, False), (24, False), (23.99, True), (1, True), (-1, True)],
)
def test_late_is_after_the_cutoff(hours_before: float, late: bool) -> None:
    made = START - dt.timedelta(hours=hours_before)
    verdict = judge("student", "confirmed", START, made, 24, 2500)
    assert verdict.late is late
    assert verdict.fee_cents == (2500 if late else None)
    assert verdict.made_at == made


@pytest.mark.parametrize(
    ("role", "status", "fee", "owed"),
    [
        ("student", "confirmed", 2500, 2500),
        ("student", "requested", 2500, None),  # never confirmed: withdrawing costs nothing
        ("student", "confirmed", 0, None),  # the school charges no fee
        ("instructor", "confirmed", 2500, None),
        ("admin", "confirmed", 2500, None),
        ("owner", "confirmed", 2500, None),
    ],
)
def test_only_a_students_late_cancellation_of_a_confirmed_lesson_owes(
    role: str, status: str, fee: int, owed: int | None
) -> None:
    verdict = judge(role, status, START, START - dt.timedelta(hours=1), 24, fee)
    assert verdict.late and verdict.fee_cents == owed


def test_a_zero_cutoff_is_late_only_once_the_lesson_started() -> None:
    assert not judge("student", "confirmed", START, START - dt.timedelta(seconds=1), 0, 500).late
    assert judge("student", "confirmed", START, START + dt.timedelta(seconds=1), 0, 500).late
