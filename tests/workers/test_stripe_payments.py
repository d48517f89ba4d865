"""Stripe: PaymentIntents through the real SDK against a local stand-in for its API, webhooks
signed with Stripe's scheme (bad, stale, missing → 400), stored once, applied in any order,
synced to the student's devices; refunds; the instructor's payout."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from schemas import OutboxEvent, Payout, WebhookEvent
from server.app import create_app
from server.routes.effects import WORKER_CONFIG
from sync.tenancy import ALL_TENANTS, bind_tenant
from tests.conftest import Db, bearer, login, make_settings
from tests.helpers import Device
from tests.workers.conftest import (
    STRIPE_KEY,
    STRIPE_WHSEC,
    book_and_confirm,
    dispatcher,
    worker_config,
)
from tests.workers.peers import StripePeer, stripe_event, stripe_signature


@pytest.fixture
async def pay(db: Db, tmp_path: Path, aiohttp_client: Any, stripe_api: StripePeer) -> Any:
    app = create_app(make_settings(db, tmp_path))
    app[WORKER_CONFIG] = worker_config(
        db,
        tmp_path,
        stripe_secret_key=STRIPE_KEY,
        stripe_webhook_secret=STRIPE_WHSEC,
        stripe_api_base=stripe_api.base,
    )
    return await aiohttp_client(app)


async def _hook(
    client: Any, body: bytes, signature: str | None = "sign", slug: str = "demo"
) -> Any:
    headers = {"Content-Type": "application/json"}
    if signature == "sign":
        signature = stripe_signature(body, STRIPE_WHSEC)
    if signature is not None:
        headers["Stripe-Signature"] = signature
    return await client.post(f"/v1/webhooks/stripe/{slug}", data=body, headers=headers)


def _sink(tmp_path: Path, channel: str) -> list[dict[str, Any]]:
    """What an unconfigured channel would have sent (var/outbox-sink/<channel>.jsonl)."""
    path = tmp_path / "var" / "outbox-sink" / f"{channel}.jsonl"
    return [json.loads(line) for line in path.read_text().splitlines()]


async def _rows(db: Db, table: Any, *where: Any) -> list[Any]:
    async with db.sessions() as s:
        bind_tenant(s, ALL_TENANTS)
        return list((await s.scalars(select(table).where(*where))).all())


async def _paid_booking(
    pay: Any, stripe_api: StripePeer
) -> tuple[Device, str, dict[str, Any], dict[str, Any]]:
    st, _inst, bid = await book_and_confirm(pay)
    resp = await pay.post("/v1/payments/intents", json={"booking_id": bid}, headers=st.headers)
    assert resp.status == 201, await resp.text()
    intent = await resp.json()
    pi = stripe_api.intents[intent["payment_intent_id"]]
    ok = await _hook(pay, stripe_event("payment_intent.succeeded", {**pi, "status": "succeeded"}))
    assert ok.status == 200, await ok.text()
    return st, bid, intent, pi


async def test_intent_then_signed_webhook_marks_the_booking_paid_on_the_students_device(
    pay: Any, stripe_api: StripePeer, db: Db, tmp_path: Path, closing: list[Any]
) -> None:
    st, _inst, bid = await book_and_confirm(pay)
    resp = await pay.post("/v1/payments/intents", json={"booking_id": bid}, headers=st.headers)
    assert resp.status == 201, await resp.text()
    intent = await resp.json()
    assert intent["amount_cents"] == 4200 and intent["currency"] == "GBP"
    assert intent["client_secret"].startswith(intent["payment_intent_id"] + "_secret_")
    pi = stripe_api.intents[intent["payment_intent_id"]]
    assert pi["amount"] == 4200 and pi["currency"] == "gbp" and pi["metadata"]["booking_id"] == bid
    [(_, key)] = stripe_api.requests
    assert key == f"drivesync-pi-{pi['metadata']['tenant_id']}-{intent['payment']['id']}"
    # Asking again (a double tap) gives the same intent; Stripe is not asked to create one.
    again = await (
        await pay.post("/v1/payments/intents", json={"booking_id": bid}, headers=st.headers)
    ).json()
    assert (
        again["payment_intent_id"] == intent["payment_intent_id"] and len(stripe_api.requests) == 1
    )
    other = await Device(pay, "student2@demo.test").login()
    assert (
        await pay.post("/v1/payments/intents", json={"booking_id": bid}, headers=other.headers)
    ).status == 403
    await st.pull()
    # (The demo's past lessons were paid at the desk: this booking's payment is the new one.)
    [payment] = [p for p in st.of("payment").values() if p["booking_id"] == bid]
    assert payment["status"] == "pending" and st.of("booking")[bid]["payment_status"] == "pending"

    body = stripe_event("payment_intent.succeeded", {**pi, "status": "succeeded"})
    assert (await _hook(pay, body, signature=None)).status == 400
    assert (await _hook(pay, body, signature="t=1,v1=deadbeef")).status == 400
    stale = stripe_signature(body, STRIPE_WHSEC, timestamp=int(time.time()) - 600)
    assert (await _hook(pay, body, signature=stale)).status == 400
    assert (await _hook(pay, body, signature=stripe_signature(body, "whsec_other"))).status == 400
    assert (await _hook(pay, body, slug="nowhere")).status == 404
    first = await _hook(pay, body)
    assert first.status == 200 and (await first.json())["outcome"] == "succeeded"
    dup = await _hook(pay, body)
    assert dup.status == 200 and (await dup.json())["duplicate"] is True
    late_failure = stripe_event(
        "payment_intent.payment_failed", {**pi, "status": "requires_payment_method"}
    )
    assert (await (await _hook(pay, late_failure)).json())["outcome"] == "kept succeeded"

    changes = await st.pull()
    # (and the invoice issued with the success: tests/workers/test_invoice_webhooks.py)
    assert {c["entity"] for c in changes} == {"payment", "booking", "invoice"}
    assert st.of("payment")[payment["id"]]["status"] == "succeeded"
    assert st.of("booking")[bid]["payment_status"] == "paid"
    [payout] = await _rows(db, Payout)
    assert (payout.gross_cents, payout.fee_cents, payout.net_cents) == (4200, 630, 3570)
    assert payout.booking_id == bid and payout.status == "pending"
    assert len(await _rows(db, WebhookEvent)) == 2
    # The receipt goes out by email (the sink here), once.
    d = dispatcher(db, worker_config(db, tmp_path))
    closing.append(d)
    await d.run(once=True)
    mails = _sink(tmp_path, "email")
    receipts = [
        m
        for m in mails
        if m["event_type"] == "payment_succeeded" and m["to"] == "student1@demo.test"
    ]
    assert len(receipts) == 1  # (the guardian's copy is theirs)
    assert "£42.00" in receipts[0]["subject"] and intent["payment_intent_id"] in receipts[0]["text"]


async def test_refunds_partial_then_full_and_payout_cancelled(
    pay: Any, stripe_api: StripePeer, db: Db
) -> None:
    st, bid, intent, pi = await _paid_booking(pay, stripe_api)
    payment_id = intent["payment"]["id"]
    admin = bearer(await login(pay, "admin@demo.test"))
    url = f"/v1/admin/payments/{payment_id}/refund"
    assert (await pay.post(url, json={"amount_cents": 1000}, headers=st.headers)).status == 403
    part = await pay.post(
        url, json={"amount_cents": 1000, "reason": "requested_by_customer"}, headers=admin
    )
    assert part.status == 201, await part.text()
    assert (await part.json())["refund"]["status"] == "succeeded"
    assert (await pay.post(url, json={"amount_cents": 4000}, headers=admin)).status == 422
    await st.pull()
    assert st.of("payment")[payment_id]["status"] == "partially_refunded"
    assert st.of("booking")[bid]["payment_status"] == "paid"
    rest = await pay.post(url, headers=admin)
    assert rest.status == 201 and (await rest.json())["refund"]["amount_cents"] == 3200
    assert [r["amount"] for r in stripe_api.refunds] == [1000, 3200]
    assert all(
        k and k.startswith("drivesync-refund-") for n, k in stripe_api.requests if n == "refunds"
    )
    # Stripe's own events about the same refunds arrive later: nothing changes twice.
    charge = {
        "id": "ch_1",
        "object": "charge",
        "payment_intent": pi["id"],
        "amount": 4200,
        "amount_refunded": 4200,
    }
    assert (await (await _hook(pay, stripe_event("charge.refunded", charge))).json())[
        "outcome"
    ] == "kept refunded"
    await st.pull()
    assert st.of("payment")[payment_id]["status"] == "refunded"
    assert st.of("booking")[bid]["payment_status"] == "refunded"
    [payout] = await _rows(db, Payout)
    assert payout.status == "cancelled"
    assert (await pay.post(url, headers=admin)).status == 409
    kinds = sorted(
        e.event_type for e in await _rows(db, OutboxEvent, OutboxEvent.event_type.like("payment_%"))
    )
    assert kinds == ["payment_refunded", "payment_refunded", "payment_succeeded"]


async def test_webhooks_in_any_order_a_refund_before_the_success(pay: Any, db: Db) -> None:
    st, _inst, bid = await book_and_confirm(pay)
    tenant_id = (await login(pay, "admin@demo.test"))["user"]["tenant_id"]
    # An intent made outside this server's request (or whose request died after Stripe
    # created it): only its metadata ties it to the booking.
    pi = {
        "id": "pi_outside",
        "object": "payment_intent",
        "amount": 4200,
        "currency": "gbp",
        "status": "succeeded",
        "metadata": {"tenant_id": tenant_id, "booking_id": bid},
    }
    charge = {
        "id": "ch_9",
        "object": "charge",
        "payment_intent": "pi_outside",
        "amount": 4200,
        "amount_refunded": 4200,
    }
    parked = await _hook(pay, stripe_event("charge.refunded", charge))
    assert parked.status == 200 and (await parked.json())["outcome"].startswith("parked")
    done = await _hook(pay, stripe_event("payment_intent.succeeded", pi))
    assert (await done.json())["outcome"] == "succeeded"
    await st.pull()
    [payment] = [p for p in st.of("payment").values() if p["booking_id"] == bid]
    assert payment["status"] == "refunded" and payment["amount_cents"] == 4200
    assert st.of("booking")[bid]["payment_status"] == "refunded"
    assert all(e.processed_at is not None for e in await _rows(db, WebhookEvent))
    [payout] = await _rows(db, Payout)
    assert payout.status == "cancelled"


async def test_a_failed_card_payment_tells_the_student_once_per_attempt(
    pay: Any, stripe_api: StripePeer, db: Db, tmp_path: Path, closing: list[Any]
) -> None:
    st, _inst, bid = await book_and_confirm(pay)
    resp = await pay.post("/v1/payments/intents", json={"booking_id": bid}, headers=st.headers)
    pi = stripe_api.intents[(await resp.json())["payment_intent_id"]]

    def failure(charge: str) -> bytes:
        error = {"charge": charge, "message": "Your card was declined <insufficient funds>."}
        return stripe_event(
            "payment_intent.payment_failed",
            {**pi, "status": "requires_payment_method", "last_payment_error": error},
        )

    first = failure("ch_1")
    assert (await (await _hook(pay, first)).json())["outcome"] == "failed"
    assert (await (await _hook(pay, first)).json())["duplicate"] is True  # redelivered
    again = await _hook(pay, failure("ch_2"))  # the student tried another card: declined too
    assert (await again.json())["outcome"] == "kept failed"
    await st.pull()
    assert st.of("booking")[bid]["payment_status"] == "failed"
    assert st.of("booking")[bid]["status"] == "confirmed"  # the lesson stays booked
    ok = stripe_event("payment_intent.succeeded", {**pi, "status": "succeeded"})
    assert (await (await _hook(pay, ok)).json())["outcome"] == "succeeded"
    late = await _hook(pay, failure("ch_3"))  # reported after the success: nothing to tell
    assert (await late.json())["outcome"] == "kept succeeded"

    d = dispatcher(db, worker_config(db, tmp_path))
    closing.append(d)
    await d.run(once=True)
    mails = _sink(tmp_path, "email")
    # The student's (and, as a copy, their guardian's): once per failed attempt each.
    failed = [
        m for m in mails if m["event_type"] == "payment_failed" and m["to"] == "student1@demo.test"
    ]
    assert len(failed) == 2
    assert failed[0]["subject"] == "Payment of £42.00 did not go through"
    assert "Your card was declined <insufficient funds>." in failed[0]["text"]
    assert "&lt;insufficient funds&gt;" in failed[0]["html"]
    assert [m["event_type"] for m in mails if m["to"] == "student1@demo.test"].count(
        "payment_succeeded"
    ) == 1
    pushes = _sink(tmp_path, "webpush")
    assert (
        sum(x["event_type"] == "payment_failed" and x["to"] == st.user["id"] for x in pushes) == 2
    )
