"""Stripe payments for bookings: PaymentIntents for a booking's price snapshot, and refunds.

Money never moves without a row first: a payment (or refund) row is written, then Stripe is
called with an idempotency key derived from that row's id, then the row gets Stripe's id. A
double click, a retried request or a crash in between therefore reuses the same row and the
same idempotency key, and Stripe answers with the same PaymentIntent (or refund) instead of
charging twice. Status changes come from webhooks (workers/payments/webhooks.py).

Stripe's SDK runs on asyncio (`StripeClient` with its aiohttp client, `*_async` methods); its
API base can be pointed elsewhere (a local stand-in in tests).
"""

from __future__ import annotations

import uuid
from typing import Any

import stripe
from sqlalchemy import func, select

from schemas import Booking, Payment, Refund
from sync.core.principal import Principal
from sync.errors import Conflict, Forbidden, Invalid, NotFound
from sync.store import Store, WriteTxn
from workers.config import WorkerConfig
from workers.payments.provider import PaymentsUnavailable, ProviderError, stripe_client
from workers.payments.webhooks import apply_refund

PAYABLE_BOOKINGS = frozenset({"requested", "confirmed", "completed"})


def record_of(p: Payment) -> dict[str, Any]:
    return {
        "id": p.id,
        "student_id": p.student_id,
        "booking_id": p.booking_id,
        "amount_cents": p.amount_cents,
        "currency": p.currency,
        "status": p.status,
        "provider_ref": p.provider_ref,
        "purpose": p.purpose,
        "package_id": p.package_id,
        "payer_user_id": p.payer_user_id,
        "rev": p.rev,
    }


class Payments:
    """Creates PaymentIntents and refunds through Stripe, recording them first."""

    def __init__(self, config: WorkerConfig, store: Store) -> None:
        self.config = config
        self.store = store
        self.client, self._http = stripe_client(config)

    def _require(self) -> stripe.StripeClient:
        if self.client is None:
            raise PaymentsUnavailable("payments are not configured (DRIVESYNC_STRIPE_SECRET_KEY)")
        return self.client

    async def create_intent(self, who: Principal, booking_id: str) -> dict[str, Any]:
        """A PaymentIntent for the booking's price snapshot: the booking's own student or an
        admin may ask; the same pending payment is reused until it succeeds or fails."""
        client = self._require()
        async with self.store.write(who.tenant_id) as txn:
            payment = await self._pending_payment(txn, who, booking_id)
            payment_id, ref = payment.id, payment.provider_ref
        params: dict[str, Any] = {
            "amount": payment.amount_cents,
            "currency": payment.currency.lower(),
            "automatic_payment_methods": {"enabled": True},
            "description": f"Driving lesson booking {booking_id}",
            "metadata": {
                "tenant_id": who.tenant_id,
                "booking_id": booking_id,
                "payment_id": payment_id,
                "student_id": payment.student_id,
            },
        }
        try:
            if ref:
                intent = await client.v1.payment_intents.retrieve_async(ref)
            else:
                intent = await client.v1.payment_intents.create_async(
                    params,  # type: ignore[arg-type]
                    options={"idempotency_key": f"drivesync-pi-{who.tenant_id}-{payment_id}"},
                )
        except stripe.StripeError as exc:
            raise ProviderError(f"Stripe: {exc.user_message or type(exc).__name__}") from exc
        if not ref:
            async with self.store.write(who.tenant_id) as txn:
                row = await txn.session.scalar(select(Payment).where(Payment.id == payment_id))
                if row is not None and row.provider_ref is None:
                    row.provider_ref = intent.id
                    txn.stamp("payment", row)
                payment = row or payment
        return {
            "payment": record_of(payment),
            "client_secret": intent.client_secret,
            "payment_intent_id": intent.id,
            "amount_cents": payment.amount_cents,
            "currency": payment.currency,
        }

    async def _pending_payment(self, txn: WriteTxn, who: Principal, booking_id: str) -> Payment:
        s = txn.session
        booking = await s.scalar(select(Booking).where(Booking.id == booking_id))
        if booking is None or booking.deleted:
            raise NotFound("no such booking")
        if not who.is_admin and who.student_id != booking.student_id:
            raise Forbidden("only the booking's student or an admin can pay for it")
        if booking.status not in PAYABLE_BOOKINGS:
            raise Conflict(f"a {booking.status} booking cannot be paid", {"status": booking.status})
        if booking.payment_status == "paid":
            raise Conflict("this booking is already paid", {"payment_status": "paid"})
        if booking.price_cents <= 0:
            raise Invalid("this booking costs nothing", {"field": "booking_id"})
        existing = await s.scalar(
            select(Payment)
            .where(
                Payment.booking_id == booking_id,
                Payment.status == "pending",
                Payment.amount_cents == booking.price_cents,
                Payment.currency == booking.currency,
            )
            .order_by(Payment.created_at.desc())
            .limit(1)
        )
        if existing is not None:
            return existing
        payment = Payment(
            tenant_id=txn.tenant_id,
            id=str(uuid.uuid4()),
            booking_id=booking.id,
            student_id=booking.student_id,
            amount_cents=booking.price_cents,
            currency=booking.currency,
            status="pending",
            provider="stripe",
            created_by=who.user_id,
            field_hlc={},
            deleted=False,
        )
        txn.stamp("payment", payment)
        if booking.payment_status != "pending":
            booking.payment_status = "pending"
            txn.stamp("booking", booking)
        return payment

    async def refund(
        self,
        who: Principal,
        payment_id: str,
        amount_cents: int | None = None,
        reason: str | None = None,
    ) -> dict[str, Any]:
        """Refund all or part of a succeeded payment (admins). The amount is reserved by a
        pending refund row before Stripe is called, so two clicks cannot refund twice."""
        client = self._require()
        async with self.store.write(who.tenant_id) as txn:
            payment = await txn.session.scalar(select(Payment).where(Payment.id == payment_id))
            if payment is None:
                raise NotFound("no such payment")
            if (
                payment.status not in ("succeeded", "partially_refunded")
                or not payment.provider_ref
            ):
                raise Conflict(
                    f"a {payment.status} payment cannot be refunded", {"status": payment.status}
                )
            taken = await txn.session.scalar(
                select(func.coalesce(func.sum(Refund.amount_cents), 0)).where(
                    Refund.payment_id == payment.id, Refund.status != "failed"
                )
            )
            left = payment.amount_cents - int(taken or 0)
            amount = left if amount_cents is None else amount_cents
            if amount <= 0 or amount > left:
                raise Invalid(f"the refund must be between 1 and {left}", {"field": "amount_cents"})
            refund = Refund(
                tenant_id=txn.tenant_id,
                id=str(uuid.uuid4()),
                payment_id=payment.id,
                amount_cents=amount,
                currency=payment.currency,
                status="pending",
            )
            txn.session.add(refund)
            ref = payment.provider_ref
        params: dict[str, Any] = {
            "payment_intent": ref,
            "amount": amount,
            "metadata": {
                "tenant_id": who.tenant_id,
                "payment_id": payment_id,
                "refund_id": refund.id,
            },
        }
        if reason in ("duplicate", "fraudulent", "requested_by_customer"):
            params["reason"] = reason
        try:
            made = await client.v1.refunds.create_async(
                params,  # type: ignore[arg-type]
                options={"idempotency_key": f"drivesync-refund-{who.tenant_id}-{refund.id}"},
            )
        except stripe.StripeError as exc:
            async with self.store.write(who.tenant_id) as txn:
                row = await txn.session.scalar(select(Refund).where(Refund.id == refund.id))
                if row is not None:
                    row.status = "failed"
            raise ProviderError(f"Stripe: {exc.user_message or type(exc).__name__}") from exc
        async with self.store.write(who.tenant_id) as txn:
            await apply_refund(
                txn, made.id, made.status or "pending", made.amount, payment_id, refund.id
            )
        return {
            "refund": {
                "id": refund.id,
                "payment_id": payment_id,
                "amount_cents": amount,
                "currency": refund.currency,
                "status": made.status,
                "provider_ref": made.id,
            }
        }

    async def close(self) -> None:
        if self._http is not None:
            await self._http.close_async()  # type: ignore[no-untyped-call]
