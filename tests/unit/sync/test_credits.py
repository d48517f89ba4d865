"""Tests for sync.core.credits: the ledger's arithmetic, without a database."""

from __future__ import annotations

import datetime as dt

from sync.core import credits
from sync.core.credits import Entry, Take

NOW = dt.datetime(2026, 12, 2, 10, 0, tzinfo=dt.UTC)
DAY = dt.timedelta(days=1)


def purchase(rid: str, lessons: int = 0, minutes: int = 0, days: int = 30, price: int = 0) -> Entry:
    return Entry(
        rid,
        "purchase",
        lessons=lessons,
        minutes=minutes,
        amount_cents=price,
        expires_at=NOW + days * DAY,
        created_at=NOW - DAY,
    )


def test_sources_are_drawn_expiring_first_and_never_expiring_last() -> None:
    ledger = [
        Entry("gift", "adjustment", lessons=1, created_at=NOW - 5 * DAY),
        purchase("late", lessons=2, days=60),
        purchase("soon", lessons=1, days=10),
    ]
    found = credits.sources(ledger)
    assert [s.id for s in found] == ["soon", "late", "gift"]
    assert credits.plan_draw(found, "lessons", 3, NOW) == [
        Take("soon", "lessons", 1),
        Take("late", "lessons", 2),
    ]
    assert credits.plan_draw(found, "lessons", 5, NOW) == []  # never below zero
    assert credits.plan_draw(found, "lessons", 4, NOW) != []


def test_expired_sources_are_not_drawn_and_expire_what_is_left() -> None:
    ledger = [
        purchase("old", lessons=3, days=-1),
        Entry("d1", "booking", lessons=-1, source_id="old", booking_id="b1"),
        purchase("new", lessons=1),
    ]
    found = credits.sources(ledger)
    assert credits.available(found, "lessons", NOW) == 1
    assert credits.plan_draw(found, "lessons", 1, NOW) == [Take("new", "lessons", 1)]
    assert credits.expiries(found, NOW) == [Take("old", "lessons", 2)]
    swept = [*ledger, Entry("x1", "expiry", lessons=-2, source_id="old")]
    assert credits.expiries(credits.sources(swept), NOW) == []  # nothing twice


def test_lessons_first_then_minutes_of_the_booking_length() -> None:
    minutes_only = credits.sources([purchase("m", minutes=90)])
    assert credits.choose_unit(minutes_only, 60, NOW) == ("minutes", 60)
    assert credits.choose_unit(minutes_only, 120, NOW) is None
    both = credits.sources([purchase("m", minutes=90), purchase("l", lessons=1)])
    assert credits.choose_unit(both, 60, NOW) == ("lessons", 1)
    assert credits.choose_unit(credits.sources([]), 60, NOW) is None


def test_a_cancellation_returns_what_the_booking_holds_once() -> None:
    ledger = [
        purchase("a", minutes=30, days=5),
        purchase("b", minutes=120, days=9),
        Entry("d1", "booking", minutes=-30, source_id="a", booking_id="bk"),
        Entry("d2", "booking", minutes=-30, source_id="b", booking_id="bk"),
    ]
    back = credits.owed_back(ledger, "bk")
    assert back == [Take("a", "minutes", 30), Take("b", "minutes", 30)]
    returned = [
        *ledger,
        Entry("r1", "refund", minutes=30, source_id="a", booking_id="bk"),
        Entry("r2", "refund", minutes=30, source_id="b", booking_id="bk"),
    ]
    assert credits.owed_back(returned, "bk") == []
    assert not credits.drawn(returned, "bk")
    assert credits.owed_back(ledger, "other") == []


def test_balance_sums_the_ledger_and_names_the_next_expiry() -> None:
    ledger = [
        purchase("p", lessons=5, days=20, price=20000),
        Entry("paid", "payment", amount_cents=-20000),
        Entry("d", "booking", lessons=-1, source_id="p", booking_id="b"),
        Entry("f", "fee", amount_cents=2500, booking_id="c"),
        purchase("gone", lessons=1, days=3),
        Entry("e", "expiry", lessons=-1, source_id="gone"),
    ]
    b = credits.balance(ledger)
    assert (b.lessons_left, b.minutes_left, b.owed_cents) == (4, 0, 2500)
    assert b.next_expiry == NOW + 20 * DAY  # the used-up source does not count
    assert credits.balance([]).next_expiry is None
    assert credits.fee_charged(ledger, "c") == 2500
    waived = [*ledger, Entry("w", "fee", amount_cents=-2500, booking_id="c")]
    assert credits.fee_charged(waived, "c") == 0


def test_a_lesson_is_worth_its_share_of_the_price_floored() -> None:
    found = credits.sources(
        [purchase("p", lessons=3, price=10000), purchase("m", minutes=600, price=30000)]
    )
    assert credits.value_of(found, [Take("p", "lessons", 1)]) == 3333
    assert credits.value_of(found, [Take("m", "minutes", 45)]) == 2250
    assert credits.value_of(found, [Take("p", "lessons", 1), Take("m", "minutes", 30)]) == 4833
    gift = credits.sources([Entry("g", "adjustment", lessons=2)])
    assert credits.value_of(gift, [Take("g", "lessons", 1)]) == 0


def test_negative_adjustments_are_not_sources() -> None:
    ledger = [
        purchase("p", lessons=2),
        Entry("a", "adjustment", lessons=-1, source_id="p"),
        Entry("money", "adjustment", amount_cents=500),
    ]
    assert [s.id for s in credits.sources(ledger)] == ["p"]
    assert credits.sources(ledger)[0].left == 1
    assert credits.expiry_of(NOW, 30) == NOW + 30 * DAY
