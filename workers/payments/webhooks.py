"""Stripe webhook events: verified, stored once, applied in any order.

`handle_webhook` checks the `Stripe-Signature` header with Stripe's own scheme (HMAC-SHA256
of "<t>.<body>" with the endpoint secret, within a tolerance of 5 minutes), then, in one
write transaction of the school: stores the event by its id (a duplicate changes nothing and
still answers 200, so Stripe stops retrying), applies it, and marks it processed. A failure
rolls everything back and answers 500, and Stripe retries later.

Events may arrive in any order, so statuses only move forward:
pending < failed < succeeded < partially_refunded < refunded. A late `payment_failed` never
undoes a success, and a `succeeded` after a `charge.refunded` leaves the payment refunded.
An event about a payment not known yet (say a refund that outran the success that creates
the payment) is parked, stored unprocessed, and applied as soon as that payment appears.
Each change is stamped like any synced change, so the payment and the booking's
`payment_status` reach the student's devices on their next pull (and live connections are
poked). A first success also writes the instructor's payout (gross = fee + share, the fee from
the school's `platform_fee_bps`; workers/payments/connect.py, which also applies the Stripe
Connect events), the invoice and a receipt email (carrying the invoice) to the outbox; a
succeeded refund, a credit note (workers/payments/invoicing.py).
"""

from __future__ import annotations

import json
import logging
import uuid
from typing import Any

import stripe
from sqlalchemy import func, select

from schemas import Booking, OutboxEvent, Payment, Refund, Tenant, WebhookEvent
from sync.errors import BadRequest, NotFound
from sync.money import ledger
from sync.store import Store, WriteTxn
from sync.tenancy import ALL_TENANTS, bind_tenant
from workers.outbox import new_event
from workers.payments import connect, invoicing
from workers.payments.provider import PaymentsUnavailable

log = logging.getLogger("drivesync.stripe")

RANK = {"pending": 0, "failed": 1, "succeeded": 2, "partially_refunded": 3, "refunded": 4}
BOOKING_PAYMENT = {
    "pending": "pending",
    "failed": "failed",
    "succeeded": "paid",
    "partially_refunded": "paid",
    "refunded": "refunded",
}


def verify(
    payload: bytes, signature: str | None, secret: str | None, tolerance_s: int
) -> dict[str, Any]:
    """The event, if the signature is Stripe's and recent; BadRequest (400) otherwise."""
    if not secret:
        raise PaymentsUnavailable(
            "Stripe webhooks are not configured (DRIVESYNC_STRIPE_WEBHOOK_SECRET)"
        )
    try:
        payload.decode("utf-8")  # Stripe's verifier decodes it and would fail with a 500
    except UnicodeDecodeError as exc:
        raise BadRequest("webhook body is not UTF-8") from exc
    try:
        stripe.WebhookSignature.verify_header(payload, signature, secret, tolerance_s)
    except stripe.SignatureVerificationError as exc:
        raise BadRequest(f"invalid Stripe signature: {exc.user_message or 'no match'}") from exc
    try:
        event = json.loads(payload)
    except ValueError as exc:
        raise BadRequest("webhook body is not JSON") from exc
    if not isinstance(event, dict) or not event.get("id") or not event.get("type"):
        raise BadRequest("webhook body is not a Stripe event")
    return event


async def tenant_by_slug(store: Store, slug: str) -> str:
    async with store.sessions() as session:
        bind_tenant(session, ALL_TENANTS)
        tenant_id = await session.scalar(select(Tenant.id).where(Tenant.slug == slug))
    if tenant_id is None:
        raise NotFound("no such school")
    return str(tenant_id)


async def handle_webhook(
    store: Store,
    slug: str,
    payload: bytes,
    signature: str | None,
    secret: str | None,
    tolerance_s: int,
) -> dict[str, Any]:
    """Verify, store once and apply one webhook delivery; returns what happened."""
    event = verify(payload, signature, secret, tolerance_s)
    tenant_id = await tenant_by_slug(store, slug)
    async with store.write(tenant_id) as txn:
        seen = await txn.session.scalar(
            select(WebhookEvent.event_id).where(
                WebhookEvent.provider == "stripe", WebhookEvent.event_id == event["id"]
            )
        )
        if seen is not None:
            return {"received": True, "duplicate": True}
        row = WebhookEvent(
            tenant_id=tenant_id,
            provider="stripe",
            event_id=str(event["id"])[:200],
            type=str(event["type"])[:100],
            payload=event,
        )
        txn.session.add(row)
        outcome = await apply_event(txn, event)
        if outcome != PARKED:
            row.processed_at = txn.now
            await _replay_parked(txn, event)
    return {"received": True, "duplicate": False, "outcome": outcome}


# An event about a payment not known yet (it outran the one that creates it): stored with
# processed_at NULL and applied when that payment appears.
PARKED = "parked: unknown payment"


def _intent_of(event: dict[str, Any]) -> str | None:
    obj = (event.get("data") or {}).get("object") or {}
    ref = obj.get("id") if obj.get("object") == "payment_intent" else obj.get("payment_intent")
    return str(ref) if ref else None


async def _replay_parked(txn: WriteTxn, event: dict[str, Any]) -> None:
    """Apply parked events of the PaymentIntent this event made known, oldest first."""
    ref = _intent_of(event)
    if ref is None:
        return
    parked = await txn.session.scalars(
        select(WebhookEvent)
        .where(WebhookEvent.provider == "stripe", WebhookEvent.processed_at.is_(None))
        .order_by(WebhookEvent.received_at)
    )
    for row in parked.all():
        if _intent_of(row.payload) == ref and await apply_event(txn, row.payload) != PARKED:
            row.processed_at = txn.now


async def apply_event(txn: WriteTxn, event: dict[str, Any]) -> str:
    """Apply one event's effect; returns a word for the log and the response."""
    kind = event["type"]
    obj: dict[str, Any] = (event.get("data") or {}).get("object") or {}
    meta = obj.get("metadata") or {}
    if meta.get("tenant_id") not in (None, txn.tenant_id):
        return "ignored: another school's object"
    if kind.startswith("checkout.session."):  # paying in the app: workers/payments/checkout.py
        return str(await _checkout().apply_session_event(txn, event))
    if kind in (
        "payment_intent.succeeded",
        "payment_intent.payment_failed",
        "payment_intent.canceled",
    ):
        payment = await _payment_for(txn, obj.get("id"), meta, obj)
        if payment is None:
            return PARKED
        target = "succeeded" if kind.endswith("succeeded") else "failed"
        outcome = await _move(txn, payment, target)
        if kind == "payment_intent.payment_failed" and payment.status == "failed":
            # Tell the student once per failed attempt (the error names the attempt's charge
            # or card); a failure reported after a success changes nothing and says nothing.
            error = obj.get("last_payment_error") or {}
            method = error.get("payment_method")
            attempt = error.get("charge") or (
                method.get("id") if isinstance(method, dict) else method
            )
            await _emit(
                txn,
                "payment_failed",
                {**_payload(payment), "reason": str(error.get("message") or "")[:300]},
                f"payment_failed:{payment.id}:{attempt or event.get('id')}",
            )
        return outcome
    if kind == "charge.refunded":
        payment = await _payment_for(txn, obj.get("payment_intent"), meta, None)
        if payment is None:
            return PARKED
        amount, refunded = int(obj.get("amount") or 0), int(obj.get("amount_refunded") or 0)
        target = "refunded" if refunded >= amount > 0 else "partially_refunded"
        return await _move(txn, payment, target, refunded_cents=refunded)
    if kind in ("refund.created", "refund.updated", "charge.refund.updated", "refund.failed"):
        payment = await _payment_for(txn, obj.get("payment_intent"), meta, None)
        if payment is None:
            return PARKED
        status = "failed" if kind == "refund.failed" else str(obj.get("status") or "pending")
        await apply_refund(
            txn,
            str(obj.get("id")),
            status,
            int(obj.get("amount") or 0),
            payment.id,
            meta.get("refund_id"),
        )
        return f"refund {status}"
    if connect.handles(kind):  # Stripe Connect: accounts, transfers, bank payouts
        return await connect.apply(txn, event)
    return "ignored: event type not used"


async def _payment_for(
    txn: WriteTxn, intent_id: Any, meta: dict[str, Any], intent: dict[str, Any] | None
) -> Payment | None:
    """The payment of a PaymentIntent: by Stripe id, else by the id in its metadata (the
    webhook can outrun the request that created the intent), else made from the intent."""
    s = txn.session
    if intent_id:
        found = await s.scalar(select(Payment).where(Payment.provider_ref == str(intent_id)))
        if found is not None:
            return found
    if meta.get("payment_id"):
        found = await s.scalar(select(Payment).where(Payment.id == str(meta["payment_id"])))
        if found is not None:
            if found.provider_ref is None and intent_id:
                found.provider_ref = str(intent_id)
            return found
    if intent is None or not meta.get("booking_id"):
        return None
    booking = await s.scalar(select(Booking).where(Booking.id == str(meta["booking_id"])))
    if booking is None:
        return None
    payment = Payment(
        tenant_id=txn.tenant_id,
        id=str(meta.get("payment_id") or uuid.uuid4()),
        booking_id=booking.id,
        student_id=booking.student_id,
        amount_cents=int(intent.get("amount") or 0),
        currency=str(intent.get("currency") or booking.currency).upper(),
        status="pending",
        provider="stripe",
        provider_ref=str(intent_id),
        field_hlc={},
        deleted=False,
    )
    txn.stamp("payment", payment)
    return payment


async def _move(txn: WriteTxn, payment: Payment, target: str, refunded_cents: int = 0) -> str:
    """Move a payment's status forward only, and the booking's payment status with it."""
    s = txn.session
    if RANK[target] <= RANK.get(payment.status, 0):
        if payment in s.dirty or payment in s.new:
            txn.stamp("payment", payment)
        if target == payment.status == "partially_refunded" and refunded_cents:
            await _emit(
                txn,
                "payment_refunded",
                {**_payload(payment), "refunded_cents": refunded_cents},
                f"payment_refunded:{payment.id}:{refunded_cents}",
            )
            await connect.on_refund(txn, payment, target, refunded_cents)
        return f"kept {payment.status}"
    first_success = payment.status in ("pending", "failed") and target == "succeeded"
    payment.status = target
    txn.stamp("payment", payment)
    booking = await s.scalar(select(Booking).where(Booking.id == payment.booking_id))
    if booking is not None:
        wanted = BOOKING_PAYMENT[target]
        if booking.payment_status != wanted and not (
            booking.payment_status == "paid" and wanted == "failed"
        ):
            booking.payment_status = wanted
            txn.stamp("booking", booking)
    if first_success and payment.purpose != "booking":  # a package or a balance: the ledger
        await _checkout().settle_purpose(txn, payment)
    invoice_id = await invoicing.settle(txn, payment)  # the invoice, credit notes (once)
    if first_success and booking is not None:
        await connect.payout_for_payment(txn, payment, booking)
    if first_success:  # a lesson's, a package's or a balance's receipt, with its invoice
        receipt = {**_payload(payment), "invoice_id": invoice_id}  # the PDF goes with it
        await _emit(txn, "payment_succeeded", receipt, f"payment_succeeded:{payment.id}")
    if target in ("refunded", "partially_refunded"):
        await _emit(
            txn,
            "payment_refunded",
            {**_payload(payment), "refunded_cents": refunded_cents},
            f"payment_refunded:{payment.id}:{refunded_cents}",
        )
        await connect.on_refund(txn, payment, target, refunded_cents)
    return target


def _checkout() -> Any:
    """workers.payments.checkout, imported when first used (it imports this module)."""
    from workers.payments import checkout

    return checkout


async def _emit(txn: WriteTxn, event_type: str, payload: dict[str, Any], dedupe: str) -> None:
    """An outbox row in this transaction, unless one with the same dedupe key exists."""
    exists = await txn.session.scalar(
        select(OutboxEvent.id).where(OutboxEvent.dedupe_key == dedupe)
    )
    if exists is None:
        txn.session.add(new_event(txn.tenant_id, event_type, payload, dedupe))


def _payload(payment: Payment) -> dict[str, Any]:
    return {
        "payment_id": payment.id,
        "booking_id": payment.booking_id,
        "student_id": payment.student_id,
        "amount_cents": payment.amount_cents,
        "currency": payment.currency,
    }


async def apply_refund(
    txn: WriteTxn, refund_ref: str, status: str, amount: int, payment_id: str, refund_id: str | None
) -> None:
    """Record a Stripe refund (ours, or one made in Stripe's dashboard) and, once it has
    succeeded, move the payment to (partially) refunded by the total refunded."""
    s = txn.session
    row = await s.scalar(select(Refund).where(Refund.provider_ref == refund_ref))
    if row is None and refund_id:
        row = await s.scalar(select(Refund).where(Refund.id == refund_id))
    payment = await s.scalar(select(Payment).where(Payment.id == payment_id))
    if payment is None:
        return
    if row is None:
        row = Refund(
            tenant_id=txn.tenant_id,
            id=str(uuid.uuid4()),
            payment_id=payment_id,
            amount_cents=max(1, amount),
            currency=payment.currency,
            status=status,
        )
        s.add(row)
    row.provider_ref = refund_ref
    if row.status != "succeeded":  # a succeeded refund stays succeeded, whatever comes late
        row.status = status
    await s.flush()
    total = await s.scalar(
        select(func.coalesce(func.sum(Refund.amount_cents), 0)).where(
            Refund.payment_id == payment_id, Refund.status == "succeeded"
        )
    )
    refunded = int(total or 0)
    if refunded > 0 and payment.status in ("succeeded", "partially_refunded"):
        target = "refunded" if refunded >= payment.amount_cents else "partially_refunded"
        await _move(txn, payment, target, refunded_cents=refunded)
    await invoicing.settle(txn, payment)  # this refund's credit note, if it succeeded
    if row.status == "succeeded" and payment.purpose in ("package", "balance"):
        # On the student's ledger: money paid for credit or towards a debt, given back, is
        # owed again (the credit stays until the office takes it back with an adjustment).
        await ledger.refund_entry(
            txn,
            student_id=payment.student_id,
            payment_id=payment.id,
            refund_id=row.id,
            amount_cents=row.amount_cents,
        )
