"""Invoices and credit notes (workers/payments/invoicing.py) issued by the Stripe webhooks:
one paid invoice per payment's success, synced read-only to the student and their guardian;
a credit note per succeeded refund, the invoice `credited` when all of it is; redelivered and
reordered webhooks issue nothing twice; numbers per school gap-free under concurrent
deliveries and after a rolled-back transaction."""

from __future__ import annotations

import asyncio
import uuid
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from schemas import Booking, Instructor, Invoice, OutboxEvent, Payment, Service, Tenant
from server.app import create_app
from server.routes.effects import WORKER_CONFIG
from sync.core.invoicing import format_number
from sync.store import WriteTxn
from sync.tenancy import ALL_TENANTS, bind_tenant
from tests.conftest import Db, bearer, login, make_settings
from tests.helpers import Device
from tests.workers.conftest import STRIPE_KEY, STRIPE_WHSEC, book_and_confirm, worker_config
from tests.workers.peers import StripePeer, stripe_event, stripe_signature
from workers.payments import invoicing


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


async def _hook(client: Any, body: bytes) -> dict[str, Any]:
    headers = {
        "Content-Type": "application/json",
        "Stripe-Signature": stripe_signature(body, STRIPE_WHSEC),
    }
    resp = await client.post("/v1/webhooks/stripe/demo", data=body, headers=headers)
    assert resp.status == 200, await resp.text()
    answer: dict[str, Any] = await resp.json()
    return answer


async def _rows(db: Db, table: Any, *where: Any) -> list[Any]:
    async with db.sessions() as s:
        bind_tenant(s, ALL_TENANTS)
        return list((await s.scalars(select(table).where(*where))).all())


async def _demo_id(db: Db) -> str:
    [tenant] = await _rows(db, Tenant, Tenant.slug == "demo")
    return str(tenant.id)


def _seq(number: str) -> int:
    return int(number.split("-")[1])


async def _last(db: Db, tenant_id: str, kind: str = "invoice") -> int:
    """The highest number of the school's series so far (the demo seed issued some)."""
    rows = await _rows(db, Invoice, Invoice.tenant_id == tenant_id, Invoice.kind == kind)
    return max((_seq(r.number) for r in rows), default=0)


async def _pay(pay: Any, stripe_api: StripePeer) -> tuple[Device, str, dict[str, Any]]:
    """student1's new booking, paid: (student's device, booking id, the PaymentIntent)."""
    st, _inst, bid = await book_and_confirm(pay)
    resp = await pay.post("/v1/payments/intents", json={"booking_id": bid}, headers=st.headers)
    assert resp.status == 201, await resp.text()
    pi = stripe_api.intents[(await resp.json())["payment_intent_id"]]
    return st, bid, pi


async def test_a_success_issues_one_paid_invoice_synced_to_the_student_and_guardian(
    pay: Any, stripe_api: StripePeer, db: Db
) -> None:
    tenant_id = await _demo_id(db)
    st, bid, pi = await _pay(pay, stripe_api)
    before = await _last(db, tenant_id)
    [pending] = await _rows(db, Payment, Payment.provider_ref == pi["id"])
    assert not await _rows(db, Invoice, Invoice.payment_id == pending.id)  # not paid yet
    succeeded = {**pi, "status": "succeeded"}
    assert (await _hook(pay, stripe_event("payment_intent.succeeded", succeeded)))[
        "outcome"
    ] == "succeeded"
    # Stripe delivers again under a new event id, and a late failure: nothing more issued.
    await _hook(pay, stripe_event("payment_intent.succeeded", succeeded))
    await _hook(pay, stripe_event("payment_intent.payment_failed", pi))
    [payment] = await _rows(db, Payment, Payment.provider_ref == pi["id"])
    [invoice] = await _rows(db, Invoice, Invoice.payment_id == payment.id)
    assert invoice.number == format_number("INV", before + 1)
    assert (invoice.kind, invoice.status, invoice.currency) == ("invoice", "paid", "GBP")
    assert (invoice.subtotal_cents, invoice.tax_cents, invoice.total_cents) == (4200, 0, 4200)
    assert invoice.student_id == payment.student_id and invoice.payment_reference == pi["id"]
    [line] = invoice.lines
    [booking] = await _rows(db, Booking, Booking.id == bid)
    [service] = await _rows(db, Service, Service.id == booking.service_id)
    [teacher] = await _rows(db, Instructor, Instructor.id == booking.instructor_id)
    assert line["description"].startswith("Driving lesson, ")
    assert line["description"].endswith(f", {service.name}, {teacher.name}")
    assert (line["quantity"], line["unit_cents"], line["amount_cents"]) == (1, 4200, 4200)
    assert invoice.bill_to_name and invoice.school_name
    # The receipt in the outbox names the invoice (its PDF goes with the mail).
    [receipt] = await _rows(
        db, OutboxEvent, OutboxEvent.dedupe_key == f"payment_succeeded:{payment.id}"
    )
    assert receipt.payload["invoice_id"] == invoice.id

    await st.pull()
    mine = st.of("invoice")[invoice.id]
    assert mine["number"] == invoice.number and mine["total_cents"] == 4200
    assert mine["lines"] == invoice.lines and mine["status"] == "paid"
    guardian = await Device(pay, "guardian1@demo.test").login()
    await guardian.pull()
    assert invoice.id in guardian.of("invoice")
    instructor = await Device(pay, "instructor1@demo.test").login()
    await instructor.pull()
    assert not instructor.of("invoice")  # money documents: the student's side and admins
    # Clients cannot write invoices.
    r = await st.one("invoice", invoice.id, "patch", {"status": "void"})
    assert r["status"] == "rejected" and r["error"]["code"] == "forbidden"


async def test_refunds_issue_credit_notes_and_a_full_refund_credits_the_invoice(
    pay: Any, stripe_api: StripePeer, db: Db
) -> None:
    tenant_id = await _demo_id(db)
    st, _bid, pi = await _pay(pay, stripe_api)
    await _hook(pay, stripe_event("payment_intent.succeeded", {**pi, "status": "succeeded"}))
    [payment] = await _rows(db, Payment, Payment.provider_ref == pi["id"])
    [invoice] = await _rows(db, Invoice, Invoice.payment_id == payment.id)
    cn_before = await _last(db, tenant_id, "credit_note")
    admin = bearer(await login(pay, "admin@demo.test"))
    url = f"/v1/admin/payments/{payment.id}/refund"
    part = await pay.post(url, json={"amount_cents": 1000}, headers=admin)
    assert part.status == 201, await part.text()
    [first] = await _rows(db, Invoice, Invoice.credits_invoice_id == invoice.id)
    assert first.number == format_number("CN", cn_before + 1) and first.kind == "credit_note"
    assert (first.total_cents, first.subtotal_cents) == (-1000, -1000)
    assert first.refund_id == (await part.json())["refund"]["id"]
    assert first.payment_id == payment.id and first.status == "issued"
    [still] = await _rows(db, Invoice, Invoice.id == invoice.id)
    assert still.status == "paid"  # a part refunded: the invoice stands

    rest = await pay.post(url, headers=admin)
    assert rest.status == 201
    notes = sorted(
        await _rows(db, Invoice, Invoice.credits_invoice_id == invoice.id), key=lambda n: n.number
    )
    assert [(n.number, n.total_cents) for n in notes] == [
        (format_number("CN", cn_before + 1), -1000),
        (format_number("CN", cn_before + 2), -3200),
    ]
    [credited] = await _rows(db, Invoice, Invoice.id == invoice.id)
    assert credited.status == "credited"
    # Stripe's own events about the same refunds, later and twice: nothing issued again.
    for refund in stripe_api.refunds:
        for _ in range(2):
            await _hook(pay, stripe_event("refund.updated", refund))
    charge = {
        "id": "ch_1",
        "object": "charge",
        "payment_intent": pi["id"],
        "amount": 4200,
        "amount_refunded": 4200,
    }
    await _hook(pay, stripe_event("charge.refunded", charge))
    assert len(await _rows(db, Invoice, Invoice.payment_id == payment.id)) == 3
    mails = await _rows(db, OutboxEvent, OutboxEvent.event_type == "credit_note_issued")
    assert sorted(m.payload["invoice_id"] for m in mails) == sorted(n.id for n in notes)
    await st.pull()
    assert {i["number"] for i in st.of("invoice").values() if i["payment_id"] == payment.id} == {
        invoice.number,
        *(n.number for n in notes),
    }
    assert st.of("invoice")[invoice.id]["status"] == "credited"


async def test_a_refund_that_outruns_the_success_still_gets_invoice_then_credit_note(
    pay: Any, stripe_api: StripePeer, db: Db
) -> None:
    tenant_id = await _demo_id(db)
    _st, _bid, pi = await _pay(pay, stripe_api)
    inv_before, cn_before = await _last(db, tenant_id), await _last(db, tenant_id, "credit_note")
    refund = {
        "id": "re_early",
        "object": "refund",
        "amount": 4200,
        "status": "succeeded",
        "payment_intent": pi["id"],
        "metadata": {},
    }
    assert (await _hook(pay, stripe_event("refund.updated", refund)))["outcome"] == (
        "refund succeeded"
    )
    [payment] = await _rows(db, Payment, Payment.provider_ref == pi["id"])
    assert not await _rows(db, Invoice, Invoice.payment_id == payment.id)  # not paid yet
    await _hook(pay, stripe_event("payment_intent.succeeded", {**pi, "status": "succeeded"}))
    await _hook(pay, stripe_event("refund.updated", refund))
    docs = {d.kind: d for d in await _rows(db, Invoice, Invoice.payment_id == payment.id)}
    assert set(docs) == {"invoice", "credit_note"}
    assert docs["invoice"].number == format_number("INV", inv_before + 1)
    assert docs["credit_note"].number == format_number("CN", cn_before + 1)
    assert docs["credit_note"].credits_invoice_id == docs["invoice"].id
    assert docs["credit_note"].total_cents == -4200 and docs["invoice"].status == "credited"
    assert docs["credit_note"].lines[0]["description"].startswith("Refund: Driving lesson")


async def _pending_payments(db: Db, tenant_id: str, n: int) -> list[Payment]:
    """`n` pending card payments of student1's lessons, as the intents endpoint makes them."""
    async with db.store.write(tenant_id) as txn:
        booking = await txn.session.scalar(
            select(Booking).where(Booking.deleted.is_(False)).order_by(Booking.id).limit(1)
        )
        assert booking is not None
        made = []
        for i in range(n):
            payment = Payment(
                tenant_id=tenant_id,
                id=str(uuid.uuid4()),
                booking_id=booking.id,
                student_id=booking.student_id,
                amount_cents=1000 + i,
                currency="GBP",
                status="pending",
                provider="stripe",
                provider_ref=f"pi_conc_{uuid.uuid4().hex[:12]}",
                field_hlc={},
                deleted=False,
            )
            txn.stamp("payment", payment)
            made.append(payment)
    return made


async def test_twenty_concurrent_deliveries_number_without_gap_or_repeat(pay: Any, db: Db) -> None:
    tenant_id = await _demo_id(db)
    payments = await _pending_payments(db, tenant_id, 20)
    before = await _last(db, tenant_id)
    bodies = [
        stripe_event(
            "payment_intent.succeeded",
            {
                "id": p.provider_ref,
                "object": "payment_intent",
                "amount": p.amount_cents,
                "currency": "gbp",
                "status": "succeeded",
                "metadata": {"tenant_id": tenant_id, "payment_id": p.id},
            },
        )
        for p in payments
    ]
    answers = await asyncio.gather(*(_hook(pay, b) for b in bodies))
    assert {a["outcome"] for a in answers} == {"succeeded"}
    ids = [p.id for p in payments]
    issued = await _rows(db, Invoice, Invoice.payment_id.in_(ids))
    assert len(issued) == 20
    assert sorted(_seq(i.number) for i in issued) == list(range(before + 1, before + 21))
    assert {i.payment_id: i.total_cents for i in issued} == {p.id: p.amount_cents for p in payments}


async def test_a_rolled_back_transaction_leaves_no_gap(db: Db) -> None:
    tenant_id = await _demo_id(db)
    [first, second] = await _pending_payments(db, tenant_id, 2)
    before = await _last(db, tenant_id)

    class Boom(Exception):
        pass

    with pytest.raises(Boom):
        async with db.store.write(tenant_id) as txn:
            row = await txn.session.scalar(select(Payment).where(Payment.id == first.id))
            row.status = "succeeded"
            invoice_id = await invoicing.settle(txn, row)
            assert invoice_id is not None
            raise Boom  # after the number was taken: the rollback gives it back
    assert await _last(db, tenant_id) == before
    for payment in (second, first):
        async with db.store.write(tenant_id) as txn:
            row = await txn.session.scalar(select(Payment).where(Payment.id == payment.id))
            row.status = "succeeded"
            await invoicing.settle(txn, row)
            await invoicing.settle(txn, row)  # twice in one transaction: still one
    numbers = {
        i.payment_id: i.number
        for i in await _rows(db, Invoice, Invoice.payment_id.in_([first.id, second.id]))
    }
    assert numbers == {
        second.id: format_number("INV", before + 1),
        first.id: format_number("INV", before + 2),
    }


async def test_the_counter_row_lock_alone_keeps_numbers_unique(db: Db) -> None:
    """Without the engine's per-school lock (sessions of their own, PostgreSQL): transactions
    taking numbers at once wait on the counter row; those rolled back give theirs back."""
    if db.dialect != "postgresql":
        pytest.skip("SQLite has one writer at a time: nothing runs concurrently")
    tenant_id = await _demo_id(db)
    before = await _last(db, tenant_id)
    gate = asyncio.Event()

    async def take(i: int) -> str | None:
        async with db.sessions() as session:
            bind_tenant(session, tenant_id)
            async with session.begin() as tx:
                txn = WriteTxn(session, tenant_id, 0)
                await gate.wait()
                number = await invoicing._next_number(txn, "invoice")
                await asyncio.sleep(0.01)  # hold the row lock a moment: others queue
                if i % 3 == 0:
                    await tx.rollback()
                    return None
                return number

    tasks = [asyncio.create_task(take(i)) for i in range(12)]
    await asyncio.sleep(0.05)
    gate.set()
    kept = [n for n in await asyncio.gather(*tasks) if n is not None]
    assert len(kept) == 8
    assert sorted(_seq(n) for n in kept) == list(range(before + 1, before + 9))


async def test_the_database_refuses_a_second_invoice_or_credit_note(db: Db) -> None:
    """The floor under the issuing code's own checks: one invoice per payment and one credit
    note per refund (partial index: the credit notes share their invoice's payment)."""
    from sqlalchemy.exc import IntegrityError

    tenant_id = await _demo_id(db)
    [invoice, *_] = await _rows(db, Invoice, Invoice.tenant_id == tenant_id)

    def copy(**over: Any) -> Invoice:
        fields = {c.key: getattr(invoice, c.key) for c in Invoice.__table__.columns}
        return Invoice(**{**fields, "id": str(uuid.uuid4()), **over})

    refund_id = str(uuid.uuid4())
    note = {
        "kind": "credit_note",
        "credits_invoice_id": invoice.id,
        "subtotal_cents": -100,
        "total_cents": -100,
        "status": "issued",
    }
    attempts = [
        ({"number": "INV-999998"}, False),  # the same payment again
        ({"number": "CN-999997", "refund_id": refund_id, **note}, True),  # its first credit
        ({"number": "CN-999998", "refund_id": refund_id, **note}, False),  # that refund again
        ({"number": invoice.number, "payment_id": str(uuid.uuid4())}, False),  # number reused
    ]
    for over, allowed in attempts:
        async with db.sessions() as s:
            bind_tenant(s, tenant_id)
            try:
                async with s.begin():
                    s.add(copy(**over))
                stored = True
            except IntegrityError:
                stored = False
        assert stored is allowed, over
