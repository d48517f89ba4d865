"""Paying in the app with Stripe Checkout Sessions: a booking, a package or an outstanding
balance, by the student, a guardian of theirs or an admin.

Why Checkout Sessions (and not card fields in the PWA with Stripe.js): the card is typed on
Stripe's own hosted page, so the PWA loads no script from another origin (its CSP stays
`script-src 'self'`), holds no card data, and needs nothing from Stripe to start offline.
The device only navigates there and back; the result reaches it the way every change does,
by sync, when the signed webhook has moved the payment (docs/protocol.md).

Like PaymentIntents (intents.py), the row comes first: a pending `payments` row is written
(or reused), then the session is created with the idempotency key
`drivesync-cs-<tenant>-<payment_id>`, then the row keeps the session id (`checkout_ref`). A
double click or a retry finds that row and its still-open session and answers the same
page; an expired session fails its payment, and the next click starts a new payment (so a
new key). Webhooks: `checkout.session.*` events are applied here (`apply_session_event`,
one dispatch line in webhooks.apply_event) through the same forward-only `_move` as the
PaymentIntent events of the same payment, which metadata.payment_id ties to it.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

import stripe
from sqlalchemy import select

from schemas import Booking, Guardian, Package, Payment, StudentBalance, StudentGuardian, Tenant
from sync.core.principal import Principal
from sync.errors import Conflict, Forbidden, Invalid, NotFound
from sync.money import ledger
from sync.store import WriteTxn
from workers.payments.intents import PAYABLE_BOOKINGS, Payments, record_of
from workers.payments.provider import ProviderError
from workers.payments.webhooks import PARKED, _move


class AlreadyPaid(Conflict):
    """Nothing left to pay: the booking is paid (or paid with credit), or its checkout is
    complete and the webhook is on its way."""

    code = "already_paid"


class NotPayable(Conflict):
    """A booking in this state cannot be paid (declined, cancelled, refunded…)."""

    code = "not_payable"


class NotYourLearner(Forbidden):
    """A guardian asked to pay for a learner they are not linked to."""

    code = "not_your_learner"


class NothingOwed(Conflict):
    """A balance payment while the student owes nothing."""

    code = "nothing_owed"


@dataclass(frozen=True)
class Target:
    """What a checkout pays for: exactly one of the three shapes of the request body."""

    booking_id: str | None = None
    package_id: str | None = None
    student_id: str | None = None  # with package_id: the learner the package is for
    balance_student_id: str | None = None


@dataclass(frozen=True)
class Charge:
    """The amount and what it is for, resolved inside the write transaction."""

    purpose: str
    student_id: str
    amount_cents: int
    currency: str
    description: str
    booking_id: str | None = None
    package_id: str | None = None


async def start_checkout(
    payments: Payments, who: Principal, target: Target, public_url: str, return_to: str
) -> dict[str, Any]:
    """A Checkout Session for the target: {payment, checkout_url, session_id}."""
    client = payments._require()
    for _attempt in range(2):  # a second pass only after an expired session failed its payment
        async with payments.store.write(who.tenant_id) as txn:
            charge = await _charge(txn, who, target)
            payment = await _pending(txn, who, charge)
            payment_id, session_ref = payment.id, payment.checkout_ref
        try:
            session = (
                await client.v1.checkout.sessions.retrieve_async(session_ref)
                if session_ref
                else None
            )
            if session is not None and session.status == "expired":
                async with payments.store.write(who.tenant_id) as txn:
                    row = await txn.session.scalar(select(Payment).where(Payment.id == payment_id))
                    if row is not None:
                        await _move(txn, row, "failed")
                continue
            if session is not None and session.status == "complete":
                raise AlreadyPaid("this payment is complete; the booking updates shortly")
            if session is None:
                session = await client.v1.checkout.sessions.create_async(
                    _session_params(who.tenant_id, payment_id, charge, public_url, return_to),  # type: ignore[arg-type]
                    options={"idempotency_key": f"drivesync-cs-{who.tenant_id}-{payment_id}"},
                )
        except stripe.StripeError as exc:
            raise ProviderError(f"Stripe: {exc.user_message or type(exc).__name__}") from exc
        async with payments.store.write(who.tenant_id) as txn:
            row = await txn.session.scalar(select(Payment).where(Payment.id == payment_id))
            if row is not None and row.checkout_ref != session.id:
                row.checkout_ref = session.id
                txn.stamp("payment", row)
            payment = row or payment
        return {
            "payment": record_of(payment),
            "checkout_url": session.url,
            "session_id": session.id,
        }
    raise ProviderError("Stripe: the checkout session expired twice; try again")


def _session_params(
    tenant_id: str, payment_id: str, charge: Charge, public_url: str, return_to: str
) -> dict[str, Any]:
    meta = {
        "tenant_id": tenant_id,
        "payment_id": payment_id,
        "purpose": charge.purpose,
        "student_id": charge.student_id,
    }
    if charge.booking_id:
        meta["booking_id"] = charge.booking_id
    if charge.package_id:
        meta["package_id"] = charge.package_id
    back = f"{public_url.rstrip('/')}/#/{return_to}"
    return {
        "mode": "payment",
        "line_items": [
            {
                "quantity": 1,
                "price_data": {
                    "currency": charge.currency.lower(),
                    "unit_amount": charge.amount_cents,
                    "product_data": {"name": charge.description},
                },
            }
        ],
        "success_url": f"{back}/paid",
        "cancel_url": f"{back}/cancelled",
        "client_reference_id": payment_id,
        "metadata": meta,
        "payment_intent_data": {"metadata": meta, "description": charge.description},
    }


async def may_pay_for(txn: WriteTxn, who: Principal, student_id: str) -> None:
    """The student themselves, a guardian linked to them, or an admin; 403 otherwise."""
    if who.is_admin or (who.role == "student" and who.student_id == student_id):
        return
    if who.role == "guardian":
        linked = await txn.session.scalar(
            select(StudentGuardian.id)
            .join(Guardian, Guardian.id == StudentGuardian.guardian_id)
            .where(
                Guardian.user_id == who.user_id,
                Guardian.deleted.is_(False),
                StudentGuardian.student_id == student_id,
            )
            .limit(1)
        )
        if linked is None:
            raise NotYourLearner("you can pay only for the learners linked to you")
        return
    raise Forbidden("only the student, their guardian or an admin can pay for this")


async def _charge(txn: WriteTxn, who: Principal, target: Target) -> Charge:
    if target.booking_id:
        return await _booking_charge(txn, who, target.booking_id)
    if target.package_id and target.student_id:
        return await _package_charge(txn, who, target.package_id, target.student_id)
    if target.balance_student_id:
        return await _balance_charge(txn, who, target.balance_student_id)
    raise Invalid("say what to pay: booking_id, package_id with student_id, or balance_student_id")


async def _booking_charge(txn: WriteTxn, who: Principal, booking_id: str) -> Charge:
    booking = await txn.session.scalar(select(Booking).where(Booking.id == booking_id))
    if booking is None or booking.deleted:
        raise NotFound("no such booking")
    await may_pay_for(txn, who, booking.student_id)
    if booking.payment_status in ("paid", "credit"):
        raise AlreadyPaid(
            "this booking is already paid", {"payment_status": booking.payment_status}
        )
    if booking.status not in PAYABLE_BOOKINGS or booking.payment_status == "refunded":
        raise NotPayable(
            f"a {booking.status} booking cannot be paid",
            {"status": booking.status, "payment_status": booking.payment_status},
        )
    if booking.price_cents <= 0:
        raise Invalid("this booking costs nothing", {"field": "booking_id"})
    day = booking.start.date().isoformat()
    return Charge(
        "booking",
        booking.student_id,
        booking.price_cents,
        booking.currency,
        f"Driving lesson on {day}",
        booking_id=booking.id,
    )


# --- package and balance: the ledger's part (sync.money.ledger) -------------------------


async def _package_charge(
    txn: WriteTxn, who: Principal, package_id: str, student_id: str
) -> Charge:
    await may_pay_for(txn, who, student_id)
    package = await txn.session.scalar(select(Package).where(Package.id == package_id))
    if package is None or package.deleted or not package.active:
        raise NotFound("no such package")
    if package.price_cents <= 0:
        raise Invalid("this package costs nothing", {"field": "package_id"})
    return Charge(
        "package",
        student_id,
        package.price_cents,
        package.currency,
        package.name,
        package_id=package.id,
    )


async def _balance_charge(txn: WriteTxn, who: Principal, student_id: str) -> Charge:
    await may_pay_for(txn, who, student_id)
    balance = await txn.session.scalar(
        select(StudentBalance).where(StudentBalance.student_id == student_id)
    )
    owed = int(balance.owed_cents) if balance is not None else 0
    if balance is None or owed <= 0:
        raise NothingOwed("nothing is owed", {"owed_cents": owed})
    currency = balance.currency or await txn.session.scalar(
        select(Tenant.currency).where(Tenant.id == txn.tenant_id)
    )
    return Charge("balance", student_id, owed, str(currency), "Outstanding balance")


async def settle_purpose(txn: WriteTxn, payment: Payment) -> None:
    """On a payment's first success (called from webhooks._move): a package is granted, a
    balance settled; both ledger calls are idempotent per payment."""
    if payment.purpose == "package" and payment.package_id:
        await ledger.grant_package(
            txn, student_id=payment.student_id, package_id=payment.package_id, payment_id=payment.id
        )
    elif payment.purpose == "balance":
        await ledger.settle_balance(
            txn,
            student_id=payment.student_id,
            payment_id=payment.id,
            amount_cents=payment.amount_cents,
        )


# --- end of the ledger slice's part ------------------------------------------------------


async def _pending(txn: WriteTxn, who: Principal, charge: Charge) -> Payment:
    """The target's pending payment of this amount, or a new one (and the booking pending)."""
    s = txn.session
    query = select(Payment).where(
        Payment.purpose == charge.purpose,
        Payment.student_id == charge.student_id,
        Payment.status == "pending",
        Payment.amount_cents == charge.amount_cents,
        Payment.currency == charge.currency,
    )
    if charge.booking_id:
        query = query.where(Payment.booking_id == charge.booking_id)
    if charge.package_id:
        query = query.where(Payment.package_id == charge.package_id)
    existing = await s.scalar(query.order_by(Payment.created_at.desc()).limit(1))
    if existing is not None:
        return existing
    payment = Payment(
        tenant_id=txn.tenant_id,
        id=str(uuid.uuid4()),
        purpose=charge.purpose,
        booking_id=charge.booking_id,
        package_id=charge.package_id,
        student_id=charge.student_id,
        payer_user_id=who.user_id,
        amount_cents=charge.amount_cents,
        currency=charge.currency,
        status="pending",
        provider="stripe",
        created_by=who.user_id,
        field_hlc={},
        deleted=False,
    )
    txn.stamp("payment", payment)
    if charge.booking_id:
        booking = await s.scalar(select(Booking).where(Booking.id == charge.booking_id))
        if booking is not None and booking.payment_status != "pending":
            booking.payment_status = "pending"
            txn.stamp("booking", booking)
    return payment


# --- webhooks ------------------------------------------------------------------------------
SESSION_EVENTS = {
    "checkout.session.completed": None,  # succeeded when paid, else waits for async_*
    "checkout.session.async_payment_succeeded": "succeeded",
    "checkout.session.async_payment_failed": "failed",
    "checkout.session.expired": "failed",
}


async def apply_session_event(txn: WriteTxn, event: dict[str, Any]) -> str:
    """A `checkout.session.*` event: the session's payment moves forward (webhooks._move)."""
    kind = event["type"]
    if kind not in SESSION_EVENTS:
        return "ignored: event type not used"
    obj: dict[str, Any] = (event.get("data") or {}).get("object") or {}
    meta = obj.get("metadata") or {}
    s = txn.session
    payment_id = obj.get("client_reference_id") or meta.get("payment_id")
    payment = None
    if payment_id:
        payment = await s.scalar(select(Payment).where(Payment.id == str(payment_id)))
    if payment is None and obj.get("id"):
        payment = await s.scalar(select(Payment).where(Payment.checkout_ref == str(obj["id"])))
    if payment is None:
        return PARKED
    if obj.get("id") and payment.checkout_ref is None:
        payment.checkout_ref = str(obj["id"])
    intent = obj.get("payment_intent")
    if intent and payment.provider_ref != str(intent):
        # The intent that paid is the one a refund must name (an earlier attempt's intent
        # of the same payment, from POST /v1/payments/intents, never took the money).
        taken = await s.scalar(select(Payment.id).where(Payment.provider_ref == str(intent)))
        if taken is None:
            payment.provider_ref = str(intent)
    target = SESSION_EVENTS[kind]
    if target is None:
        paid = obj.get("payment_status") in ("paid", "no_payment_required")
        target = "succeeded" if paid else None
    if target is None:
        if payment in s.dirty:
            txn.stamp("payment", payment)
        return "waiting: payment not yet taken"
    return await _move(txn, payment, target)
