"""The arithmetic of a student's credit ledger (pure: no I/O).

A ledger is an append-only list of entries (`credit_entry`). Credit comes from *sources*:
a package purchase, or an admin's positive adjustment. Every entry that takes credit away
or gives it back (a booking's draw, its return on cancellation, an expiry, a negative
adjustment) names the source it acts on (`source_id`), so what is left of each source is
its own units plus the signed units of the entries naming it. Three things follow from
that one rule and nothing else:

- a draw takes from the sources still valid, the one expiring first first (FIFO by
  expiry; sources that never expire last, oldest first), and may span several;
- a cancellation returns to each source exactly what the booking's draws took from it and
  not yet returned (idempotent: what is owed back is read from the ledger, not assumed);
- an expiry takes what is left of a source whose `expires_at` has passed.

A lesson's value (for the instructor's earnings) is priced by the sources its credit came
from: the source's price times the units drawn over the units it granted, floored to
whole cents. Balances are sums: lessons, minutes and cents owed (+ owed by the student,
- paid or credited) over all the student's entries.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

LESSONS = "lessons"
MINUTES = "minutes"
KINDS = ("purchase", "booking", "refund", "expiry", "adjustment", "fee", "payment")
# Entries that take credit from, or give it back to, a source.
DRAW_KINDS = frozenset({"booking", "refund"})


@dataclass(frozen=True)
class Entry:
    """The fields of a ledger entry the arithmetic reads."""

    id: str
    kind: str
    lessons: int = 0
    minutes: int = 0
    amount_cents: int = 0
    source_id: str | None = None
    booking_id: str | None = None
    expires_at: dt.datetime | None = None
    created_at: dt.datetime | None = None

    @property
    def is_source(self) -> bool:
        """A purchase, or an adjustment that grants credit (naming no source itself)."""
        if self.kind == "purchase":
            return True
        return self.kind == "adjustment" and self.source_id is None and self.units > 0

    @property
    def unit(self) -> str:
        return MINUTES if self.minutes and not self.lessons else LESSONS

    @property
    def units(self) -> int:
        return self.minutes if self.unit == MINUTES else self.lessons


@dataclass(frozen=True)
class Source:
    """A credit that can be drawn from, and what is left of it."""

    id: str
    unit: str
    granted: int
    left: int
    amount_cents: int
    expires_at: dt.datetime | None
    created_at: dt.datetime | None

    def valid(self, now: dt.datetime) -> bool:
        return self.expires_at is None or self.expires_at > now


@dataclass(frozen=True)
class Balance:
    """The sums of a ledger; `next_expiry` is the earliest expiry of credit still left."""

    lessons_left: int
    minutes_left: int
    owed_cents: int
    next_expiry: dt.datetime | None


@dataclass(frozen=True)
class Take:
    """Units to take from (negative: give back to) one source."""

    source_id: str
    unit: str
    units: int


def sources(entries: Iterable[Entry]) -> list[Source]:
    """Every source of a ledger with what is left of it, FIFO order (see `fifo`)."""
    entries = list(entries)
    used: dict[str, int] = {}
    for e in entries:
        if e.source_id is not None:
            used[e.source_id] = used.get(e.source_id, 0) + e.units
    found = [
        Source(
            e.id,
            e.unit,
            e.units,
            e.units + used.get(e.id, 0),
            e.amount_cents,
            e.expires_at,
            e.created_at,
        )
        for e in entries
        if e.is_source
    ]
    return fifo(found)


def fifo(found: Iterable[Source]) -> list[Source]:
    """Sources in the order credit is drawn: expiring first first, never-expiring last;
    ties by age, then id (so the order never depends on how rows were read)."""
    far = dt.datetime.max.replace(tzinfo=dt.UTC)
    return sorted(
        found,
        key=lambda s: (s.expires_at or far, s.created_at or far, s.id),
    )


def balance(entries: Iterable[Entry]) -> Balance:
    """The sums of a ledger."""
    entries = list(entries)
    left = [s for s in sources(entries) if s.left > 0 and s.expires_at is not None]
    return Balance(
        lessons_left=sum(e.lessons for e in entries),
        minutes_left=sum(e.minutes for e in entries),
        owed_cents=sum(e.amount_cents for e in entries),
        next_expiry=min((s.expires_at for s in left if s.expires_at), default=None),
    )


def available(found: Sequence[Source], unit: str, now: dt.datetime) -> int:
    """Units of `unit` that can be drawn now (valid sources only)."""
    return sum(s.left for s in found if s.unit == unit and s.left > 0 and s.valid(now))


def plan_draw(found: Sequence[Source], unit: str, units: int, now: dt.datetime) -> list[Take]:
    """What to take, FIFO by expiry across valid sources, for `units` of `unit`; empty
    when there is not enough (nothing is ever drawn below zero)."""
    if units <= 0 or available(found, unit, now) < units:
        return []
    takes: list[Take] = []
    need = units
    for s in fifo(found):
        if need == 0:
            break
        if s.unit != unit or s.left <= 0 or not s.valid(now):
            continue
        n = min(s.left, need)
        takes.append(Take(s.id, unit, n))
        need -= n
    return takes


def choose_unit(
    found: Sequence[Source], duration_min: int, now: dt.datetime
) -> tuple[str, int] | None:
    """What one booking of `duration_min` minutes draws: one lesson if the student holds
    one, else its minutes if they hold enough of them, else None (not enough credit)."""
    if available(found, LESSONS, now) >= 1:
        return LESSONS, 1
    if duration_min > 0 and available(found, MINUTES, now) >= duration_min:
        return MINUTES, duration_min
    return None


def owed_back(entries: Iterable[Entry], booking_id: str) -> list[Take]:
    """What a booking's draws took and was not yet given back, per source (a positive
    `units` to return). Read from the ledger, so asking twice after returning gives []."""
    net: dict[tuple[str, str], int] = {}
    for e in entries:
        if e.booking_id != booking_id or e.kind not in DRAW_KINDS or e.source_id is None:
            continue
        key = (e.source_id, e.unit)
        net[key] = net.get(key, 0) + e.units
    return [Take(sid, unit, -n) for (sid, unit), n in sorted(net.items()) if n < 0]


def drawn(entries: Iterable[Entry], booking_id: str) -> bool:
    """Whether the booking currently holds credit (drawn and not given back)."""
    return bool(owed_back(entries, booking_id))


def fee_charged(entries: Iterable[Entry], booking_id: str) -> int:
    """The net late fee the ledger charges for a booking (fees less waivers)."""
    return sum(e.amount_cents for e in entries if e.booking_id == booking_id and e.kind == "fee")


def expiries(found: Sequence[Source], now: dt.datetime) -> list[Take]:
    """What is left on sources whose validity has ended, to be taken as expired."""
    return [
        Take(s.id, s.unit, s.left)
        for s in found
        if s.left > 0 and s.expires_at is not None and s.expires_at <= now
    ]


def value_of(found: Sequence[Source], takes: Iterable[Take]) -> int:
    """What credit taken from these sources is worth, in cents: each source's price times
    the units taken over the units it granted, floored per source."""
    by_id = {s.id: s for s in found}
    total = 0
    for t in takes:
        s = by_id.get(t.source_id)
        if s is None or s.granted <= 0 or s.amount_cents <= 0:
            continue
        total += s.amount_cents * t.units // s.granted
    return total


def expiry_of(purchased_at: dt.datetime, valid_days: int) -> dt.datetime:
    """When a package bought at `purchased_at` stops being valid."""
    return purchased_at + dt.timedelta(days=valid_days)
