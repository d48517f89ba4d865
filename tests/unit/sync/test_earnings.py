"""Earnings grouping (sync.core.earnings) and the payout rules (sync.core.payouts): weeks
and months by the school's local date (across DST and year ends), totals that add up, the
fee split, forward-only transfer statuses, Connect status and refund shares."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st

from sync.core import payouts as rules
from sync.core.earnings import Earning, group, period_of
from workers.money import split_fee

LONDON = ZoneInfo("Europe/London")
SYDNEY = ZoneInfo("Australia/Sydney")
UTC = dt.UTC


def _e(
    when: dt.datetime,
    gross: int = 4200,
    bps: int = 1500,
    instructor: str = "i1",
    status: str = "pending",
    transfer: str | None = None,
    reversed_cents: int = 0,
) -> Earning:
    fee, net = split_fee(gross, bps)
    return Earning(instructor, when, gross, fee, net, reversed_cents, "GBP", status, transfer)


def test_iso_weeks_start_on_monday_in_the_schools_time_zone() -> None:
    # Sunday 23:30 in London in summer is Sunday 22:30 UTC: still the week before Monday.
    sunday_late = dt.datetime(2026, 6, 14, 22, 30, tzinfo=UTC)
    assert period_of(sunday_late, LONDON, "week")[0] == "2026-W24"
    # Monday 00:30 London time (BST) is Sunday 23:30 UTC: already the next week there.
    monday_early = dt.datetime(2026, 6, 14, 23, 30, tzinfo=UTC)
    key, start, end = period_of(monday_early, LONDON, "week")
    assert (key, start, end) == ("2026-W25", dt.date(2026, 6, 15), dt.date(2026, 6, 22))
    # In UTC the same instant is still week 24: the school's zone decides.
    assert period_of(monday_early, ZoneInfo("UTC"), "week")[0] == "2026-W24"


def test_dst_changes_do_not_move_lessons_between_weeks_or_months() -> None:
    # London leaves BST on Sunday 25 October 2026 at 02:00 local (01:00 UTC).
    before = dt.datetime(2026, 10, 25, 0, 30, tzinfo=UTC)  # 01:30 BST, Sunday
    after = dt.datetime(2026, 10, 25, 23, 30, tzinfo=UTC)  # 23:30 GMT, Sunday
    monday = dt.datetime(2026, 10, 26, 0, 0, tzinfo=UTC)  # 00:00 GMT, Monday
    weeks = {period_of(t, LONDON, "week")[0] for t in (before, after)}
    assert weeks == {"2026-W43"} and period_of(monday, LONDON, "week")[0] == "2026-W44"
    # Month ends follow the local date too: 00:30 BST on 1 April is 23:30 UTC on 31 March.
    assert period_of(dt.datetime(2026, 3, 31, 22, 30, tzinfo=UTC), LONDON, "month")[0] == (
        "2026-03"
    )
    assert period_of(dt.datetime(2026, 3, 31, 23, 30, tzinfo=UTC), LONDON, "month")[0] == (
        "2026-04"
    )


def test_iso_week_years_and_month_ends() -> None:
    # 1 January 2027 is a Friday: it belongs to ISO week 53 of 2026.
    key, start, end = period_of(dt.datetime(2027, 1, 1, 12, tzinfo=UTC), LONDON, "week")
    assert (key, start, end) == ("2026-W53", dt.date(2026, 12, 28), dt.date(2027, 1, 4))
    key, start, end = period_of(dt.datetime(2026, 12, 31, 12, tzinfo=UTC), LONDON, "month")
    assert (key, start, end) == ("2026-12", dt.date(2026, 12, 1), dt.date(2027, 1, 1))
    # Sydney is ahead: a UTC afternoon of 28 February is 1 March there.
    assert period_of(dt.datetime(2026, 2, 28, 14, tzinfo=UTC), SYDNEY, "month")[0] == "2026-03"


def test_groups_add_up_skip_cancelled_and_subtract_reversals() -> None:
    w = dt.datetime(2026, 12, 1, 10, tzinfo=UTC)  # Tuesday, week 49
    items = [
        _e(w, transfer="paid_out"),
        _e(w + dt.timedelta(days=1), gross=5000, transfer="sent"),
        _e(w + dt.timedelta(days=2), status="cancelled"),  # refunded before transfer
        _e(w + dt.timedelta(days=3), transfer="reversed", reversed_cents=3570),
        _e(w + dt.timedelta(days=7)),  # the next week, not sent yet
        _e(w, instructor="i2", gross=3000),
    ]
    weeks = group(items, LONDON, "week")
    assert [(g["period"], g["instructor_id"]) for g in weeks] == [
        ("2026-W50", "i1"),
        ("2026-W49", "i2"),
        ("2026-W49", "i1"),
    ]
    mine = weeks[2]
    assert mine["lessons"] == 3
    assert mine["gross_cents"] == 4200 + 5000 + 4200
    assert mine["fee_cents"] == 630 + 750 + 630
    assert mine["net_cents"] == 3570 + 4250 + 0
    assert mine["reversed_cents"] == 3570
    assert mine["transferred_cents"] == 3570 + 4250
    assert mine["paid_out_cents"] == 3570
    month = group(items, LONDON, "month")
    assert [(g["period"], g["instructor_id"], g["lessons"]) for g in month] == [
        ("2026-12", "i2", 1),
        ("2026-12", "i1", 4),
    ]
    assert group([], LONDON, "week") == []


@given(
    st.lists(
        st.tuples(st.integers(0, 3 * 366 * 24), st.integers(0, 100_000), st.integers(0, 10_000)),
        max_size=30,
    )
)
def test_any_payouts_group_to_the_same_totals_by_week_and_by_month(
    draws: list[tuple[int, int, int]],
) -> None:
    base = dt.datetime(2025, 1, 1, tzinfo=UTC)
    items = [_e(base + dt.timedelta(hours=h), gross=g, bps=b) for h, g, b in draws]
    for period in ("week", "month"):
        groups = group(items, LONDON, period)  # type: ignore[arg-type]
        assert sum(g["lessons"] for g in groups) == len(items)
        assert sum(g["gross_cents"] for g in groups) == sum(e.gross_cents for e in items)
        for g in groups:
            assert g["gross_cents"] == g["fee_cents"] + g["net_cents"]


@pytest.mark.parametrize(
    ("gross", "bps", "fee"),
    [
        (4200, 1500, 630),
        (1, 5000, 1),
        (3, 1500, 0),
        (4199, 1500, 630),
        (100, 0, 0),
        (99, 10000, 99),
    ],
)
def test_split_rounds_the_fee_half_up_and_adds_up(gross: int, bps: int, fee: int) -> None:
    assert split_fee(gross, bps) == (fee, gross - fee)


def test_transfer_statuses_only_move_forward() -> None:
    assert rules.moves_forward(None, "sending") and rules.moves_forward("sending", "sent")
    assert rules.moves_forward("payout_failed", "paid_out")
    assert not rules.moves_forward("paid_out", "sent")
    assert not rules.moves_forward("reversed", "paid_out")
    assert not rules.moves_forward("sent", "sent")


def test_connect_status_of_an_account() -> None:
    assert rules.connect_status({"payouts_enabled": True}) == (True, "enabled")
    assert rules.connect_status({"details_submitted": False}) == (False, "pending")
    disabled = {"details_submitted": True, "requirements": {"disabled_reason": "rejected.fraud"}}
    assert rules.connect_status(disabled) == (False, "restricted")
    checking = {"requirements": {"disabled_reason": "requirements.pending_verification"}}
    assert rules.connect_status({**checking, "details_submitted": True}) == (False, "pending")
    more = {"details_submitted": True, "requirements": {"currently_due": ["individual.dob"]}}
    assert rules.connect_status(more) == (False, "restricted")


def test_refund_share_and_country() -> None:
    assert rules.refund_share(3570, 4200, 1000) == 850
    assert rules.refund_share(3570, 4200, 4200) == 3570
    assert rules.refund_share(3570, 4200, 9999) == 3570  # never more than they got
    assert rules.refund_share(3570, 0, 100) == 0
    assert rules.refund_share(3570, 4200, 1) == 0  # rounded down
    assert rules.country_of("en-GB") == "GB" and rules.country_of("de_DE") == "DE"
    assert rules.country_of("en") == "GB" and rules.country_of(None) == "GB"
