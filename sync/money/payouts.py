"""Instructors' payouts, written inside a school's write transaction: the share of one
lesson, once per booking.

A lesson paid by card gets its payout when the payment first succeeds (the Stripe webhook);
a lesson paid with package credit gets it when the lesson is completed, in the push that
completes it (sync.rules.lww), valued at what the student paid per lesson of the package
the credit came from (`ledger.lesson_value`). Both go through `write_payout`, so the split
(the school's platform fee, sync.core.payouts.split_fee) and the once-per-booking rule live
in one place. Moving the money (a Stripe transfer once the lesson is completed) is the
workers' part (workers/payments/connect.py, transfers.py).
"""

from __future__ import annotations

import uuid

from sqlalchemy import select

from schemas import Booking, Payout, Tenant
from sync.core.payouts import split_fee
from sync.money import ledger
from sync.store import WriteTxn

DEFAULT_FEE_BPS = 1500


async def write_payout(
    txn: WriteTxn, booking: Booking, gross_cents: int, currency: str, payment_id: str | None
) -> Payout | None:
    """The instructor's share of one lesson, split by the school's platform fee and stamped
    so it syncs to its instructor; None if the booking has one already. A payout cancelled
    by a full refund before any money moved is the one a new payment of the same booking
    revives (one payout per booking, never none for a re-paid lesson)."""
    s = txn.session
    bps = await s.scalar(select(Tenant.platform_fee_bps).where(Tenant.id == txn.tenant_id))
    fee, net = split_fee(gross_cents, int(bps if bps is not None else DEFAULT_FEE_BPS))
    existing = await s.scalar(select(Payout).where(Payout.booking_id == booking.id))
    if existing is not None:
        if existing.status != "cancelled" or existing.transfer_status is not None:
            return None
        existing.payment_id, existing.status, existing.currency = payment_id, "pending", currency
        existing.gross_cents, existing.fee_cents, existing.net_cents = gross_cents, fee, net
        txn.stamp("payout", existing)
        await s.flush()
        return existing
    payout = Payout(
        tenant_id=txn.tenant_id,
        id=str(uuid.uuid4()),
        instructor_id=booking.instructor_id,
        booking_id=booking.id,
        payment_id=payment_id,
        gross_cents=gross_cents,
        fee_cents=fee,
        net_cents=net,
        currency=currency,
        status="pending",
        lesson_start=booking.start,
        reversed_cents=0,
        field_hlc={},
        deleted=False,
    )
    txn.stamp("payout", payout)
    await s.flush()
    return payout


async def for_credit_booking(txn: WriteTxn, booking: Booking) -> Payout | None:
    """The payout of a completed booking paid with package credit; None when it is not one,
    or its credit is worth nothing (an adjustment with no price)."""
    if booking.status != "completed" or booking.payment_status != "credit":
        return None
    value = await ledger.lesson_value(txn, booking.id)
    if not value or value <= 0:
        return None
    return await write_payout(txn, booking, int(value), booking.currency, None)
