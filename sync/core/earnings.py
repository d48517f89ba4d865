"""Instructors' earnings: payouts grouped by the week (ISO 8601, Monday first) or the month
of their lesson, in the school's time zone, with the gross, the school's fee, the
instructor's net share and the number of lessons. Pure; the PWA computes the same from the
synced `payout` records (clients/pwa/js/ui/earnings.js).

A cancelled payout (refunded before any money moved) earns nothing and is left out; what
was taken back after a transfer (`reversed_cents`) is subtracted from the net.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from typing import Any, Literal
from zoneinfo import ZoneInfo

Period = Literal["week", "month"]
PERIODS: tuple[Period, ...] = ("week", "month")


@dataclass(frozen=True)
class Earning:
    """One payout as the grouping needs it."""

    instructor_id: str
    when: dt.datetime  # the lesson's start (aware, UTC)
    gross_cents: int
    fee_cents: int
    net_cents: int
    reversed_cents: int
    currency: str
    status: str  # 'pending' | 'cancelled'
    transfer_status: str | None


def period_of(when: dt.datetime, tz: ZoneInfo, period: Period) -> tuple[str, dt.date, dt.date]:
    """(key, first day, day after the last) of the week or month `when` falls in, by the
    school's local date: "2026-W49" or "2026-12"."""
    day = when.astimezone(tz).date()
    if period == "week":
        year, week, weekday = day.isocalendar()
        start = day - dt.timedelta(days=weekday - 1)
        return f"{year}-W{week:02d}", start, start + dt.timedelta(days=7)
    start = day.replace(day=1)
    after = (start + dt.timedelta(days=32)).replace(day=1)
    return f"{start.year}-{start.month:02d}", start, after


@dataclass
class Totals:
    """One period's earnings of one instructor in one currency."""

    period: str
    start: str
    end: str
    instructor_id: str
    currency: str
    lessons: int = 0
    gross_cents: int = 0
    fee_cents: int = 0
    net_cents: int = 0  # after what was taken back
    reversed_cents: int = 0
    transferred_cents: int = 0  # sent to their Stripe account (or on to their bank)
    paid_out_cents: int = 0  # in their bank

    def add(self, e: Earning) -> None:
        kept = e.net_cents - e.reversed_cents
        self.lessons += 1
        self.gross_cents += e.gross_cents
        self.fee_cents += e.fee_cents
        self.net_cents += kept
        self.reversed_cents += e.reversed_cents
        if e.transfer_status in ("sent", "payout_failed", "paid_out"):
            self.transferred_cents += kept
        if e.transfer_status == "paid_out":
            self.paid_out_cents += kept


def group(items: Iterable[Earning], tz: ZoneInfo, period: Period) -> list[dict[str, Any]]:
    """The periods with earnings, newest first, per instructor and currency."""
    out: dict[tuple[str, str, str], Totals] = {}
    for e in items:
        if e.status == "cancelled":
            continue
        key, start, after = period_of(e.when, tz, period)
        totals = out.get((key, e.instructor_id, e.currency))
        if totals is None:
            totals = out[(key, e.instructor_id, e.currency)] = Totals(
                key, start.isoformat(), after.isoformat(), e.instructor_id, e.currency
            )
        totals.add(e)
    ordered = sorted(out.values(), key=lambda t: (t.start, t.instructor_id, t.currency))
    return [asdict(t) for t in reversed(ordered)]
