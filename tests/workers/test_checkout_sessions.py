"""Paying in the app with Stripe Checkout Sessions, through the real SDK against the local
stand-in: the session's parameters and idempotency key, a double click answering the same
session, the hosted page's Pay posting signed events back to the server, who may pay (the
student, their guardian, an admin), and the webhooks redelivered, reordered and forged —
each leaving exactly one succeeded payment, one payout and one receipt event."""

from __future__ import annotations

import asyncio
from typing import Any

import aiohttp
import pytest
from sqlalchemy import select, update

from schemas import Booking, OutboxEvent, Payment, Payout, WebhookEvent
from sync.tenancy import ALL_TENANTS, bind_tenant
from tests.conftest import Db, bearer, login
from tests.helpers import Device
from tests.workers.conftest import PUBLIC, STRIPE_WHSEC, book_and_confirm
from tests.workers.peers import StripePeer, stripe_event, stripe_signature


async def _rows(db: Db, table: Any, *where: Any) -> list[Any]:
    async with db.sessions() as s:
        bind_tenant(s, ALL_TENANTS)
        return list((await s.scalars(select(table).where(*where))).all())


async def _hook(client: Any, body: bytes, secret: str = STRIPE_WHSEC) -> Any:
    headers = {
        "Content-Type": "application/json",
        "Stripe-Signature": stripe_signature(body, secret),
    }
    return await client.post("/v1/webhooks/stripe/demo", data=body, headers=headers)


async def _checkout(client: Any, who: Device | dict[str, str], **body: Any) -> Any:
    headers = who.headers if isinstance(who, Device) else who
    return await client.post("/v1/payments/checkout", json=body, headers=headers)


async def _exactly_once(db: Db, bid: str) -> Payment:
    """One succeeded payment for the booking, one payout, one receipt event."""
    payments = await _rows(db, Payment, Payment.booking_id == bid)
    [paid] = [p for p in payments if p.status == "succeeded"]
    assert [p.booking_id for p in await _rows(db, Payout, Payout.payment_id == paid.id)] == [bid]
    receipts = await _rows(
        db,
        OutboxEvent,
        OutboxEvent.event_type == "payment_succeeded",
        OutboxEvent.dedupe_key == f"payment_succeeded:{paid.id}",
    )
    everything = await _rows(db, OutboxEvent, OutboxEvent.event_type == "payment_succeeded")
    assert len(receipts) == 1 and [e.payload["booking_id"] for e in everything].count(bid) == 1
    return paid


async def test_student_pays_on_the_hosted_page_and_the_device_learns_it_by_sync(
    pay: Any, stripe_api: StripePeer, db: Db
) -> None:
    st, _inst, bid = await book_and_confirm(pay)
    # A double click: two requests at once, then a retry — one payment, one session.
    first, second = await asyncio.gather(
        _checkout(pay, st, booking_id=bid), _checkout(pay, st, booking_id=bid)
    )
    assert first.status == second.status == 201, await first.text()
    a, b = await first.json(), await second.json()
    again = await (await _checkout(pay, st, booking_id=bid)).json()
    assert a["session_id"] == b["session_id"] == again["session_id"]
    assert a["payment"]["id"] == b["payment"]["id"] == again["payment"]["id"]
    assert len(stripe_api.sessions) == 1
    payment = a["payment"]
    assert payment["purpose"] == "booking" and payment["booking_id"] == bid
    assert payment["payer_user_id"] == st.user["id"] and payment["status"] == "pending"
    tenant_id = st.user["tenant_id"]
    keys = {k for n, k in stripe_api.requests if n == "checkout_sessions"}
    assert keys == {f"drivesync-cs-{tenant_id}-{payment['id']}"}
    session = stripe_api.sessions[a["session_id"]]
    assert a["checkout_url"] == session["url"] == f"{stripe_api.base}/pay/{a['session_id']}"
    assert (session["mode"], session["amount_total"], session["currency"]) == (
        "payment",
        4200,
        "gbp",
    )
    assert session["client_reference_id"] == payment["id"]
    meta = {
        "tenant_id": tenant_id,
        "payment_id": payment["id"],
        "purpose": "booking",
        "student_id": st.user["student_id"],
        "booking_id": bid,
    }
    assert session["metadata"] == meta and session["_intent_metadata"] == meta
    assert session["success_url"] == f"{PUBLIC}/#/bookings/paid"
    assert session["cancel_url"] == f"{PUBLIC}/#/bookings/cancelled"
    await st.pull()
    assert st.of("booking")[bid]["payment_status"] == "pending"

    # The hosted page: the amount, Pay, and Cancel back into the app.
    async with aiohttp.ClientSession() as browser:
        async with browser.get(a["checkout_url"]) as resp:
            html = await resp.text()
        assert "£42.00" in html and ">Pay</button>" in html and session["cancel_url"] in html
        async with browser.post(a["checkout_url"], allow_redirects=False) as resp:
            assert resp.status == 303 and resp.headers["Location"] == session["success_url"]
    assert stripe_api.deliveries == [
        ("checkout.session.completed", 200),
        ("payment_intent.succeeded", 200),
    ]
    changes = await st.pull()
    assert {c["entity"] for c in changes} == {"payment", "booking", "invoice"}
    assert st.of("payment")[payment["id"]]["status"] == "succeeded"
    assert st.of("booking")[bid]["payment_status"] == "paid"
    paid = await _exactly_once(db, bid)
    assert paid.id == payment["id"] and paid.checkout_ref == a["session_id"]
    assert paid.provider_ref == session["payment_intent"]
    # Paid: another click is refused with a stable code.
    late = await _checkout(pay, st, booking_id=bid)
    assert late.status == 409 and (await late.json())["error"]["code"] == "already_paid"


@pytest.mark.parametrize("order", ["session_first", "intent_first"])
async def test_webhooks_forged_reordered_and_redelivered(
    pay: Any, stripe_api: StripePeer, db: Db, order: str
) -> None:
    st, _inst, bid = await book_and_confirm(pay)
    made = await (await _checkout(pay, st, booking_id=bid)).json()
    session = stripe_api.sessions[made["session_id"]]
    meta = session["_intent_metadata"]
    done = {k: v for k, v in session.items() if not k.startswith("_")}
    done.update(status="complete", payment_status="paid", payment_intent="pi_paid_here")
    intent = {
        "id": "pi_paid_here",
        "object": "payment_intent",
        "amount": 4200,
        "currency": "gbp",
        "status": "succeeded",
        "metadata": meta,
    }
    completed = stripe_event("checkout.session.completed", done)
    succeeded = stripe_event("payment_intent.succeeded", intent)
    # Forged: signed with another secret — refused, nothing changes.
    forged = await _hook(pay, completed, secret="whsec_not_ours")
    assert forged.status == 400
    assert await _rows(db, WebhookEvent) == []
    [pending] = await _rows(db, Payment, Payment.booking_id == bid)
    assert pending.status == "pending" and pending.provider_ref is None
    events = [completed, succeeded] if order == "session_first" else [succeeded, completed]
    outcomes = [(await (await _hook(pay, e)).json())["outcome"] for e in events]
    assert outcomes == ["succeeded", "kept succeeded"]
    for e in events:  # Stripe redelivers both
        assert (await (await _hook(pay, e)).json())["duplicate"] is True
    paid = await _exactly_once(db, bid)
    assert paid.provider_ref == "pi_paid_here" and paid.checkout_ref == made["session_id"]
    await st.pull()
    assert st.of("booking")[bid]["payment_status"] == "paid"
    # A late expiry of the same session changes nothing.
    expired = stripe_event("checkout.session.expired", {**done, "status": "expired"})
    assert (await (await _hook(pay, expired)).json())["outcome"] == "kept succeeded"


async def test_an_earlier_intent_then_checkout_one_payment_and_refunds_name_the_paying_intent(
    pay: Any, stripe_api: StripePeer, db: Db
) -> None:
    st, _inst, bid = await book_and_confirm(pay)
    intent = await (
        await pay.post("/v1/payments/intents", json={"booking_id": bid}, headers=st.headers)
    ).json()
    made = await (await _checkout(pay, st, booking_id=bid)).json()
    assert made["payment"]["id"] == intent["payment"]["id"]  # the same pending payment
    async with aiohttp.ClientSession() as browser:
        async with browser.post(made["checkout_url"], allow_redirects=False) as resp:
            assert resp.status == 303
    paid = await _exactly_once(db, bid)
    paying = stripe_api.sessions[made["session_id"]]["payment_intent"]
    assert paid.provider_ref == paying != intent["payment_intent_id"]
    admin = bearer(await login(pay, "admin@demo.test"))
    refund = await pay.post(f"/v1/admin/payments/{paid.id}/refund", headers=admin)
    assert refund.status == 201, await refund.text()
    assert [r["payment_intent"] for r in stripe_api.refunds] == [paying]


async def test_a_delayed_method_waits_for_async_payment_succeeded(
    pay: Any, stripe_api: StripePeer, db: Db
) -> None:
    st, _inst, bid = await book_and_confirm(pay)
    made = await (await _checkout(pay, st, booking_id=bid)).json()
    session = {
        k: v for k, v in stripe_api.sessions[made["session_id"]].items() if not k.startswith("_")
    }
    waiting = {**session, "status": "complete", "payment_status": "unpaid"}
    body = stripe_event("checkout.session.completed", waiting)
    assert (await (await _hook(pay, body)).json())["outcome"].startswith("waiting")
    [row] = await _rows(db, Payment, Payment.booking_id == bid)
    assert row.status == "pending"
    paid = {**waiting, "payment_status": "paid"}
    ok = stripe_event("checkout.session.async_payment_succeeded", paid)
    assert (await (await _hook(pay, ok)).json())["outcome"] == "succeeded"
    await _exactly_once(db, bid)


async def test_an_expired_session_fails_its_payment_and_the_next_click_starts_afresh(
    pay: Any, stripe_api: StripePeer, db: Db
) -> None:
    st, _inst, bid = await book_and_confirm(pay)
    one = await (await _checkout(pay, st, booking_id=bid)).json()
    # Expired at Stripe, its webhook not here yet: the next click notices and starts over.
    stripe_api.expire(one["session_id"])
    two = await (await _checkout(pay, st, booking_id=bid)).json()
    assert two["payment"]["id"] != one["payment"]["id"]
    assert two["session_id"] != one["session_id"] and len(stripe_api.sessions) == 2
    # The expiry's webhook arrives late: the old payment is failed already.
    late = stripe_event("checkout.session.expired", stripe_api.expire(one["session_id"]))
    assert (await (await _hook(pay, late)).json())["outcome"] == "kept failed"
    statuses = {p.id: p.status for p in await _rows(db, Payment, Payment.booking_id == bid)}
    assert statuses == {one["payment"]["id"]: "failed", two["payment"]["id"]: "pending"}
    # An expiry through the webhook alone fails the second one too; the booking can be paid.
    gone = stripe_event("checkout.session.expired", stripe_api.expire(two["session_id"]))
    assert (await (await _hook(pay, gone)).json())["outcome"] == "failed"
    await st.pull()
    assert st.of("booking")[bid]["payment_status"] == "failed"
    three = await _checkout(pay, st, booking_id=bid)
    assert three.status == 201 and (await three.json())["payment"]["id"] not in statuses


async def test_who_may_pay_and_what_can_be_paid(pay: Any, db: Db) -> None:
    st, inst, bid = await book_and_confirm(pay)
    other = await Device(pay, "student2@demo.test").login()
    guardian = await Device(pay, "guardian1@demo.test").login()
    admin = bearer(await login(pay, "admin@demo.test"))

    async def code(who: Any, status: int, **body: Any) -> str:
        resp = await _checkout(pay, who, **body)
        assert resp.status == status, await resp.text()
        return str((await resp.json())["error"]["code"])

    assert await code(other, 403, booking_id=bid) == "forbidden"
    assert await code(inst, 403, booking_id=bid) == "forbidden"
    # guardian1 follows student1 and student2, not student3.
    student3 = await Device(pay, "student3@demo.test").login()
    not_theirs = student3.user["student_id"]
    assert await code(guardian, 403, balance_student_id=not_theirs) == "not_your_learner"
    assert await code(guardian, 403, package_id=bid, student_id=not_theirs) == "not_your_learner"
    # Exactly one target.
    assert await code(st, 422) == "invalid"
    assert await code(st, 422, booking_id=bid, balance_student_id=not_theirs) == "invalid"
    assert await code(st, 422, package_id=bid) == "invalid"
    assert await code(st, 422, booking_id=bid, return_to="https://evil.test/") == "invalid"
    assert await code(st, 404, booking_id="00000000-0000-4000-8000-000000000000") == "not_found"
    # The guardian pays for their learner; the payment says who paid.
    by_guardian = await _checkout(pay, guardian, booking_id=bid, return_to="home")
    assert by_guardian.status == 201, await by_guardian.text()
    made = await by_guardian.json()
    assert made["payment"]["payer_user_id"] == guardian.user["id"]
    # The same pending payment answers the student and an admin (the same session).
    assert (await (await _checkout(pay, admin, booking_id=bid)).json())["session_id"] == made[
        "session_id"
    ]
    # A booking paid (at the desk, say), or cancelled, is not payable. (One paid with credit,
    # payment_status 'credit', is refused the same way; that status comes with the ledger.)
    async with db.sessions() as s:
        bind_tenant(s, ALL_TENANTS)
        await s.execute(update(Booking).where(Booking.id == bid).values(payment_status="paid"))
        await s.commit()
    assert await code(st, 409, booking_id=bid) == "already_paid"
    async with db.sessions() as s:
        bind_tenant(s, ALL_TENANTS)
        await s.execute(
            update(Booking)
            .where(Booking.id == bid)
            .values(payment_status="pending", status="cancelled")
        )
        await s.commit()
    assert await code(st, 409, booking_id=bid) == "not_payable"
