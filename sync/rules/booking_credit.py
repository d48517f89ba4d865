"""Bookings paid with credit, and what a booking's end does to the ledger.

A new booking with `pay_with: credit` draws its credit when it is made, inside the push's
write transaction: one lesson, or the booking's minutes from a minutes package when the
student holds no lesson (sync.core.credits). Not enough credit: `insufficient_credit`,
nothing written. The school's writes are serialized by its rev lock, so two devices that
each spent the student's last credit offline reach the server one after the other: the
first draws it, the second is refused.

When a booking ends unplayed (cancelled or declined), a credit booking gives its credit
back (kind `refund`), and a late cancellation's fee (`late_fee_cents`, set by
sync.rules.booking_cancel) is charged on the ledger (kind `fee`), whatever paid for the
booking: the fee replaces the forfeited lesson, never both. A booking re-opened by the
office draws its credit again (or is refused) and its fee is waived. All of it is read
from the ledger's state, so nothing is ever given back or charged twice. A credit booking
that is completed earns its instructor's payout (sync.money.payouts, once per booking).
"""

from __future__ import annotations

from typing import Any

from schemas import Booking
from sync.core.command import Reject
from sync.core.policy import LIVE_BOOKING
from sync.money import ledger, payouts
from sync.rules.batch import Context

ENDED = frozenset({"cancelled", "declined"})


def _minutes(row: Booking) -> int:
    return int((row.end - row.start).total_seconds() // 60)


def paid_with(row: Booking) -> str:
    return "credit" if row.payment_status == "credit" else "card"


def check_unchanged(row: Booking, data: dict[str, Any]) -> None:
    """How a booking is paid is chosen when it is made."""
    if "pay_with" in data and data["pay_with"] != paid_with(row):
        raise Reject("invalid", "pay_with of a booking cannot change", "pay_with")


async def draw(ctx: Context, row: Booking) -> bool:
    """Draw the booking's credit; False (nothing written) when there is not enough."""
    return await ledger.draw_for_booking(
        ctx.txn,
        student_id=row.student_id,
        booking_id=row.id,
        duration_min=_minutes(row),
        by=ctx.who.user_id,
    )


def refused() -> Reject:
    return Reject(
        "insufficient_credit", "the student holds no credit left for this lesson", "pay_with"
    )


async def pay_new(ctx: Context, row: Booking, pay_with: str | None) -> None:
    """A new booking paid with credit draws it now (before the row is stamped)."""
    if pay_with != "credit":
        return
    if not await draw(ctx, row):
        raise refused()
    row.payment_status = "credit"


async def follow(ctx: Context, row: Booking, previous: str | None) -> None:
    """The ledger follows a booking's status change."""
    if previous is None or previous == row.status:
        return
    by = ctx.who.user_id
    if row.status == "completed":  # a lesson played on credit earns its instructor's payout
        await payouts.for_credit_booking(ctx.txn, row)
    if row.status in ENDED and previous not in ENDED:
        if row.payment_status == "credit":
            await ledger.give_back(
                ctx.txn,
                student_id=row.student_id,
                booking_id=row.id,
                note=f"lesson {row.status}",
                by=by,
            )
        if row.late_fee_cents:
            await ledger.charge_fee(
                ctx.txn,
                student_id=row.student_id,
                booking_id=row.id,
                fee_cents=row.late_fee_cents,
                currency=row.currency,
                by=by,
            )
    elif previous in ENDED and row.status in LIVE_BOOKING:
        if row.payment_status == "credit" and not await draw(ctx, row):
            raise refused()
        await ledger.waive_fee(
            ctx.txn, student_id=row.student_id, booking_id=row.id, note="lesson re-opened", by=by
        )
