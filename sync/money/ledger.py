"""The students' credit ledger, written inside a school's write transaction (`WriteTxn`).

Every function here appends `credit_entry` rows (never edits one) and then rewrites the
student's `student_balance` from the whole ledger, in the same transaction, so the balance
is always the sum of the entries. The arithmetic (what to draw, what to give back, what has
expired, what a lesson is worth) is sync.core.credits; this module only reads and writes.

Exactly once: entries that answer an outside event have ids derived from that event's own
id (a payment, a refund), so a second call finds the entry and writes nothing. Entries that
follow a booking are decided from the ledger's state (what the booking holds now), so
repeating a cancellation gives nothing back twice, and a re-opened booking draws again.
The school's writes are serialized by its rev lock (sync.store), so a check-and-draw never
races another one of the same school.

Public, for the other slices: `grant_package`, `settle_balance`, `refund_entry`,
`lesson_value`. For the booking rules: `draw_for_booking`, `give_back`, `charge_fee`,
`waive_fee`. For the office: `adjust`. For the scheduler: `expire_due`.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Iterable, Sequence

from sqlalchemy import select

from schemas import CreditEntry, Package, Payment, StudentBalance, Tenant
from sync.core import credits
from sync.store import WriteTxn

NS = uuid.UUID("0b7e3c52-6d2f-4f0e-a1c9-5e8d7a4b3f21")


class LedgerError(Exception):
    """A ledger write that cannot be made; `code` is stable (`insufficient_credit`,
    `not_found`, `invalid`)."""

    def __init__(self, code: str, message: str, **details: object) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.details = details


def entry_id(*parts: object) -> str:
    """An entry id derived from what it answers: the same event, the same entry."""
    return str(uuid.uuid5(NS, ":".join(str(p) for p in parts)))


# --- reading ---------------------------------------------------------------------------------


async def entries_of(txn: WriteTxn, student_id: str) -> list[CreditEntry]:
    """The student's whole ledger, oldest first."""
    rows = await txn.session.scalars(
        select(CreditEntry)
        .where(CreditEntry.student_id == student_id, CreditEntry.deleted.is_(False))
        .order_by(CreditEntry.created_at, CreditEntry.id)
    )
    return list(rows)


def pure(rows: Iterable[CreditEntry]) -> list[credits.Entry]:
    return [
        credits.Entry(
            id=r.id,
            kind=r.kind,
            lessons=r.lessons or 0,
            minutes=r.minutes or 0,
            amount_cents=r.amount_cents or 0,
            source_id=r.source_id,
            booking_id=r.booking_id,
            expires_at=r.expires_at,
            created_at=r.created_at,
        )
        for r in rows
    ]


async def _currency(txn: WriteTxn) -> str:
    currency = await txn.session.scalar(select(Tenant.currency).where(Tenant.id == txn.tenant_id))
    return currency or "GBP"


# --- writing ---------------------------------------------------------------------------------


def _entry(
    txn: WriteTxn, student_id: str, kind: str, rid: str, currency: str, **fields: object
) -> CreditEntry:
    row = CreditEntry(
        tenant_id=txn.tenant_id,
        id=rid,
        student_id=student_id,
        kind=kind,
        lessons=0,
        minutes=0,
        amount_cents=0,
        currency=currency,
        created_at=txn.now,
        field_hlc={},
        deleted=False,
    )
    for name, value in fields.items():
        setattr(row, name, value)
    return row


async def _append(
    txn: WriteTxn, student_id: str, ledger: list[CreditEntry], new: Sequence[CreditEntry]
) -> None:
    """Stamp the new entries and rewrite the balance from the whole ledger."""
    for row in new:
        txn.stamp("credit_entry", row)
        ledger.append(row)
    await txn.session.flush()
    await _rebalance(txn, student_id, ledger)


async def _rebalance(txn: WriteTxn, student_id: str, ledger: Sequence[CreditEntry]) -> None:
    sums = credits.balance(pure(ledger))
    row = await txn.session.scalar(select(StudentBalance).where(StudentBalance.id == student_id))
    if row is None:
        row = StudentBalance(
            tenant_id=txn.tenant_id,
            id=student_id,
            student_id=student_id,
            currency=await _currency(txn),
            field_hlc={},
            deleted=False,
        )
    elif (row.lessons_left, row.minutes_left, row.owed_cents, row.next_expiry) == (
        sums.lessons_left,
        sums.minutes_left,
        sums.owed_cents,
        sums.next_expiry,
    ):
        return
    row.lessons_left = sums.lessons_left
    row.minutes_left = sums.minutes_left
    row.owed_cents = sums.owed_cents
    row.next_expiry = sums.next_expiry
    txn.stamp("student_balance", row)
    await txn.session.flush()


def _expired(
    txn: WriteTxn,
    student_id: str,
    ledger: Sequence[CreditEntry],
    currency: str,
    now: dt.datetime | None = None,
) -> list[CreditEntry]:
    """Expiry entries for what is left on the student's sources whose validity ended."""
    by_id = {r.id: r for r in ledger}
    out = []
    for take in credits.expiries(credits.sources(pure(ledger)), now or txn.now):
        source = by_id[take.source_id]
        used = sum(1 for r in ledger if r.source_id == source.id)
        out.append(
            _entry(
                txn,
                student_id,
                "expiry",
                entry_id("expiry", source.id, used),
                currency,
                source_id=source.id,
                package_id=source.package_id,
                payment_id=source.payment_id,
                note="unused credit expired",
                **{take.unit: -take.units},
            )
        )
    return out


# --- the public functions (called inside a write transaction of the school) ----------------


async def grant_package(
    txn: WriteTxn, *, student_id: str, package_id: str, payment_id: str, by: str | None = None
) -> None:
    """A package bought by `payment_id`: its credit, valid for the package's days from now,
    priced at what the payment paid (the package's price if there is no payment row), and
    the payment that paid it. Idempotent per payment_id."""
    purchase_id = entry_id("purchase", payment_id)
    if await txn.session.get(CreditEntry, (txn.tenant_id, purchase_id)) is not None:
        return
    package = await txn.session.scalar(select(Package).where(Package.id == package_id))
    if package is None or package.deleted:
        raise LedgerError("not_found", "package_id names no package", field="package_id")
    paid = await txn.session.scalar(select(Payment.amount_cents).where(Payment.id == payment_id))
    price = package.price_cents if paid is None else paid
    ledger = await entries_of(txn, student_id)
    units = {"lessons": package.lessons} if package.lessons else {"minutes": package.minutes}
    common = {"package_id": package.id, "payment_id": payment_id, "created_by": by}
    new = [
        _entry(
            txn,
            student_id,
            "purchase",
            purchase_id,
            package.currency,
            amount_cents=price,
            expires_at=credits.expiry_of(txn.now, package.valid_days),
            note=package.name,
            **units,
            **common,
        ),
        _entry(
            txn,
            student_id,
            "payment",
            entry_id("paid", payment_id),
            package.currency,
            amount_cents=-price,
            note=f"paid: {package.name}",
            **common,
        ),
    ]
    await _append(txn, student_id, ledger, new)


async def settle_balance(
    txn: WriteTxn, *, student_id: str, payment_id: str, amount_cents: int
) -> None:
    """A payment of what the student owes (fees). Idempotent per payment_id."""
    rid = entry_id("payment", payment_id)
    if await txn.session.get(CreditEntry, (txn.tenant_id, rid)) is not None:
        return
    ledger = await entries_of(txn, student_id)
    row = _entry(
        txn,
        student_id,
        "payment",
        rid,
        await _currency(txn),
        amount_cents=-amount_cents,
        payment_id=payment_id,
        note="balance paid",
    )
    await _append(txn, student_id, ledger, [row])


async def refund_entry(
    txn: WriteTxn, *, student_id: str, payment_id: str, refund_id: str, amount_cents: int
) -> None:
    """Money given back on a payment (the money side only: credit bought with it stays
    unless the office adjusts it). Idempotent per refund_id."""
    rid = entry_id("refund", refund_id)
    if await txn.session.get(CreditEntry, (txn.tenant_id, rid)) is not None:
        return
    ledger = await entries_of(txn, student_id)
    row = _entry(
        txn,
        student_id,
        "refund",
        rid,
        await _currency(txn),
        amount_cents=amount_cents,
        payment_id=payment_id,
        refund_id=refund_id,
        note="money refunded",
    )
    await _append(txn, student_id, ledger, [row])


async def lesson_value(txn: WriteTxn, booking_id: str) -> int | None:
    """What the credit a booking holds is worth, in cents (the price of the purchases it
    was drawn from, per unit, floored); None when it holds no credit (a card booking, or
    one whose credit was given back)."""
    student_id = await txn.session.scalar(
        select(CreditEntry.student_id).where(CreditEntry.booking_id == booking_id).limit(1)
    )
    if student_id is None:
        return None
    ledger = pure(await entries_of(txn, student_id))
    held = credits.owed_back(ledger, booking_id)
    if not held:
        return None
    return credits.value_of(credits.sources(ledger), held)


# --- for the booking rules -------------------------------------------------------------------


async def draw_for_booking(
    txn: WriteTxn, *, student_id: str, booking_id: str, duration_min: int, by: str | None = None
) -> bool:
    """Draw one lesson (else the booking's minutes) for a booking: False, with nothing
    written, when the student does not hold enough valid credit. Credit that has expired
    is swept first (so the balance read afterwards is what can be drawn)."""
    ledger = await entries_of(txn, student_id)
    currency = await _currency(txn)
    swept = _expired(txn, student_id, ledger, currency)
    if swept:
        await _append(txn, student_id, ledger, swept)
    found = credits.sources(pure(ledger))
    chosen = credits.choose_unit(found, duration_min, txn.now)
    if chosen is None:
        return False
    unit, units = chosen
    takes = credits.plan_draw(found, unit, units, txn.now)
    by_id = {r.id: r for r in ledger}
    n = sum(1 for r in ledger if r.booking_id == booking_id)
    new = [
        _entry(
            txn,
            student_id,
            "booking",
            entry_id("draw", booking_id, n + i),
            currency,
            booking_id=booking_id,
            source_id=t.source_id,
            package_id=by_id[t.source_id].package_id,
            created_by=by,
            **{t.unit: -t.units},
        )
        for i, t in enumerate(takes)
    ]
    await _append(txn, student_id, ledger, new)
    return True


async def give_back(
    txn: WriteTxn, *, student_id: str, booking_id: str, note: str, by: str | None = None
) -> int:
    """Return what a booking's draws hold to the sources they came from; returns the
    number of entries written (0 when nothing is held: a repeat writes nothing)."""
    ledger = await entries_of(txn, student_id)
    held = credits.owed_back(pure(ledger), booking_id)
    if not held:
        return 0
    currency = await _currency(txn)
    by_id = {r.id: r for r in ledger}
    n = sum(1 for r in ledger if r.booking_id == booking_id)
    new = [
        _entry(
            txn,
            student_id,
            "refund",
            entry_id("return", booking_id, n + i),
            currency,
            booking_id=booking_id,
            source_id=t.source_id,
            package_id=by_id[t.source_id].package_id,
            note=note,
            created_by=by,
            **{t.unit: t.units},
        )
        for i, t in enumerate(held)
    ]
    await _append(txn, student_id, ledger, new)
    return len(new)


async def charge_fee(
    txn: WriteTxn,
    *,
    student_id: str,
    booking_id: str,
    fee_cents: int,
    currency: str,
    by: str | None = None,
) -> bool:
    """Charge a late cancellation's fee, once per cancellation (nothing when the ledger
    already charges this booking a fee)."""
    ledger = await entries_of(txn, student_id)
    if fee_cents <= 0 or credits.fee_charged(pure(ledger), booking_id) > 0:
        return False
    n = sum(1 for r in ledger if r.booking_id == booking_id)
    row = _entry(
        txn,
        student_id,
        "fee",
        entry_id("fee", booking_id, n),
        currency,
        booking_id=booking_id,
        amount_cents=fee_cents,
        note="late cancellation",
        created_by=by,
    )
    await _append(txn, student_id, ledger, [row])
    return True


async def waive_fee(
    txn: WriteTxn, *, student_id: str, booking_id: str, note: str, by: str | None = None
) -> bool:
    """Take back a booking's charged fee (the booking was re-opened)."""
    ledger = await entries_of(txn, student_id)
    charged = credits.fee_charged(pure(ledger), booking_id)
    if charged <= 0:
        return False
    n = sum(1 for r in ledger if r.booking_id == booking_id)
    row = _entry(
        txn,
        student_id,
        "fee",
        entry_id("fee", booking_id, n),
        await _currency(txn),
        booking_id=booking_id,
        amount_cents=-charged,
        note=note,
        created_by=by,
    )
    await _append(txn, student_id, ledger, [row])
    return True


# --- for the office and the scheduler --------------------------------------------------------


async def adjust(
    txn: WriteTxn,
    *,
    student_id: str,
    lessons: int,
    minutes: int,
    amount_cents: int,
    note: str,
    by: str | None,
) -> list[CreditEntry]:
    """An admin's correction. Credit granted becomes a source that never expires; credit
    taken is drawn like a booking (FIFO by expiry) and never below zero
    (`insufficient_credit`). One unit per adjustment (`invalid` for both)."""
    if lessons and minutes:
        raise LedgerError("invalid", "adjust lessons or minutes, not both", field="minutes")
    if not (lessons or minutes or amount_cents):
        raise LedgerError("invalid", "an adjustment changes something", field="lessons")
    ledger = await entries_of(txn, student_id)
    currency = await _currency(txn)
    swept = _expired(txn, student_id, ledger, currency)
    if swept:
        await _append(txn, student_id, ledger, swept)
    unit, units = ("minutes", minutes) if minutes else ("lessons", lessons)
    base = len(ledger)
    new: list[CreditEntry] = []
    if units < 0:
        found = credits.sources(pure(ledger))
        takes = credits.plan_draw(found, unit, -units, txn.now)
        if not takes:
            raise LedgerError(
                "insufficient_credit",
                f"the student holds only {credits.available(found, unit, txn.now)} {unit}",
                field=unit,
            )
        new = [
            _entry(
                txn,
                student_id,
                "adjustment",
                entry_id("adjust", student_id, base + i, uuid.uuid4()),
                currency,
                source_id=t.source_id,
                note=note,
                created_by=by,
                **{t.unit: -t.units},
            )
            for i, t in enumerate(takes)
        ]
        if amount_cents:
            new[0].amount_cents = amount_cents
    else:
        fields: dict[str, object] = {unit: units} if units else {}
        new = [
            _entry(
                txn,
                student_id,
                "adjustment",
                entry_id("adjust", student_id, base, uuid.uuid4()),
                currency,
                amount_cents=amount_cents,
                note=note,
                created_by=by,
                **fields,
            )
        ]
    await _append(txn, student_id, ledger, new)
    return new


async def expire_due(txn: WriteTxn, now: dt.datetime | None = None) -> int:
    """Write expiry entries for credit left on every purchase of the school whose validity
    ended by `now` (default: the transaction's clock); returns how many. Idempotent: what
    is left is read from the ledger."""
    now = now or txn.now
    students = await txn.session.scalars(
        select(CreditEntry.student_id)
        .where(
            CreditEntry.kind == "purchase",
            CreditEntry.expires_at <= now,
            CreditEntry.deleted.is_(False),
        )
        .distinct()
    )
    currency = await _currency(txn)
    written = 0
    for student_id in sorted(students):
        ledger = await entries_of(txn, student_id)
        swept = _expired(txn, student_id, ledger, currency, now)
        if swept:
            await _append(txn, student_id, ledger, swept)
            written += len(swept)
    return written
