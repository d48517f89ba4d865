"""Which rate card prices a booking, and when two cards' periods overlap (pure)."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import pytest

from sync.core.pricing import overlaps, price_for, valid_on

D = dt.date


@dataclass
class Card:
    instructor_id: str | None
    price_cents: int
    currency: str = "GBP"
    valid_from: dt.date | None = None
    valid_until: dt.date | None = None


SERVICE = (4000, "GBP")


def test_instructor_card_beats_school_card_beats_service_price() -> None:
    cards = [Card(None, 5000), Card("i1", 6000, "EUR")]
    assert price_for(cards, "i1", D(2027, 1, 5), SERVICE) == (6000, "EUR")
    assert price_for(cards, "i2", D(2027, 1, 5), SERVICE) == (5000, "GBP")
    assert price_for([], "i1", D(2027, 1, 5), SERVICE) == SERVICE


def test_only_cards_valid_on_the_day_count_both_ends_included() -> None:
    jan = Card("i1", 6000, valid_from=D(2027, 1, 1), valid_until=D(2027, 1, 31))
    assert valid_on(jan, D(2027, 1, 1)) and valid_on(jan, D(2027, 1, 31))
    assert not valid_on(jan, D(2026, 12, 31)) and not valid_on(jan, D(2027, 2, 1))
    assert price_for([jan, Card(None, 5000)], "i1", D(2027, 2, 1), SERVICE) == (5000, "GBP")


def test_a_tie_old_data_might_hold_goes_to_the_latest_start_whatever_the_order() -> None:
    a = Card("i1", 1000, valid_from=D(2027, 1, 1))
    b = Card("i1", 2000, valid_from=D(2027, 1, 10))
    for cards in ([a, b], [b, a]):
        assert price_for(cards, "i1", D(2027, 1, 20), SERVICE) == (2000, "GBP")


@pytest.mark.parametrize(
    "a,b,expected",
    [
        ((D(2027, 1, 1), D(2027, 1, 31)), (D(2027, 1, 31), None), True),  # one shared day
        ((D(2027, 1, 1), D(2027, 1, 31)), (D(2027, 2, 1), None), False),  # the day after
        ((None, None), (D(2030, 1, 1), D(2030, 1, 1)), True),  # always vs a single day
        ((None, D(2027, 1, 1)), (D(2027, 1, 2), None), False),
        ((None, D(2027, 1, 1)), (None, D(2020, 1, 1)), True),  # both open at the start
    ],
)
def test_overlaps(a: tuple, b: tuple, expected: bool) -> None:  # type: ignore[type-arg]
    assert overlaps(*a, *b) is expected
    assert overlaps(*b, *a) is expected
