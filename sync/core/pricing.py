"""Prices from rate cards (pure): which card a booking's price is snapshotted from, and
when two cards' validity periods overlap.

A card is valid on the days from `valid_from` to `valid_until`, both included, either end
open when null. Days are the school's (a booking at 00:30 local time on the 1st is priced
as the 1st, whatever the UTC date). Precedence: a card for the booking's instructor, else
the school's default card (no instructor), else the service's own price. Cards of the same
service and instructor never overlap (sync.rules.catalogue refuses it), so at most one card
of each kind is valid on a day; should old data hold two, the latest-starting one wins so
the answer never depends on row order. The PWA's booking screen applies the same rules
(clients/pwa/js/ui/pricing.js).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from typing import Protocol


class Card(Protocol):
    @property
    def instructor_id(self) -> str | None: ...
    @property
    def price_cents(self) -> int: ...
    @property
    def currency(self) -> str: ...
    @property
    def valid_from(self) -> dt.date | None: ...
    @property
    def valid_until(self) -> dt.date | None: ...


def valid_on(card: Card, day: dt.date) -> bool:
    """Whether a card is in force on a day (both ends included, null ends open)."""
    return (card.valid_from is None or card.valid_from <= day) and (
        card.valid_until is None or day <= card.valid_until
    )


def overlaps(
    a_from: dt.date | None,
    a_until: dt.date | None,
    b_from: dt.date | None,
    b_until: dt.date | None,
) -> bool:
    """Whether two inclusive, possibly open-ended periods share a day."""
    starts_before_b_ends = a_from is None or b_until is None or a_from <= b_until
    b_starts_before_a_ends = b_from is None or a_until is None or b_from <= a_until
    return starts_before_b_ends and b_starts_before_a_ends


def price_for(
    cards: Iterable[Card],
    instructor_id: str,
    day: dt.date,
    service_price: tuple[int, str],
) -> tuple[int, str]:
    """(price_cents, currency) for a booking of `instructor_id` on the school's `day`: the
    instructor's card, else the school default card, else the service's own price."""
    valid = [c for c in cards if valid_on(c, day)]
    for wanted in (instructor_id, None):
        mine = [c for c in valid if c.instructor_id == wanted]
        if mine:
            best = max(mine, key=lambda c: c.valid_from or dt.date.min)
            return best.price_cents, best.currency
    return service_price
