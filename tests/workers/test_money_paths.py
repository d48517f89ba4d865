"""The money slices together (issue 12), on both databases, through the real Stripe SDK and
the local stand-in: a package bought in the app becomes credit on the ledger (once, however
often Stripe redelivers), with its invoice and receipt; a guardian pays the balance a late
fee left; a lesson played on credit earns its instructor's payout when it is completed,
valued at the package's price per lesson. After each, the ledger's sum is the balance."""

from __future__ import annotations

from typing import Any

import aiohttp
from sqlalchemy import select

from schemas import CreditEntry, Invoice, OutboxEvent, Payment, Payout, StudentBalance
from sync.money import ledger
from sync.tenancy import ALL_TENANTS, bind_tenant
from tests.conftest import Db, bearer, login
from tests.helpers import Device, uid
from tests.workers.conftest import STRIPE_WHSEC, slot
from tests.workers.peers import StripePeer, stripe_event, stripe_signature


async def _rows(db: Db, table: Any, *where: Any) -> list[Any]:
    async with db.sessions() as s:
        bind_tenant(s, ALL_TENANTS)
        return list((await s.scalars(select(table).where(*where))).all())


async def _ledger_is_the_balance(db: Db, student_id: str) -> StudentBalance:
    entries = await _rows(db, CreditEntry, CreditEntry.student_id == student_id)
    [balance] = await _rows(db, StudentBalance, StudentBalance.student_id == student_id)
    assert (balance.lessons_left, balance.minutes_left, balance.owed_cents) == (
        sum(e.lessons for e in entries),
        sum(e.minutes for e in entries),
        sum(e.amount_cents for e in entries),
    )
    return balance


async def _pay_on_the_hosted_page(url: str) -> None:
    """What the payer's browser does on Stripe's page: press Pay (the stand-in then posts
    the signed webhooks to the server, before redirecting)."""
    async with aiohttp.ClientSession() as browser:
        async with browser.post(url, allow_redirects=False) as resp:
            assert resp.status == 303, await resp.text()


async def _package(client: Any, lessons: int, price_cents: int) -> str:
    dev = await Device(client, "admin@demo.test").login()
    pid = uid()
    data = {
        "name": f"{lessons} lessons",
        "lessons": lessons,
        "price_cents": price_cents,
        "valid_days": 90,
    }
    done = await dev.one("package", pid, "put", data)
    assert done["status"] == "applied", done
    return pid


async def test_a_package_bought_in_the_app_is_credit_once_with_its_invoice_and_receipt(
    pay: Any, stripe_api: StripePeer, db: Db
) -> None:
    pid = await _package(pay, 4, 15_000)
    st = await Device(pay, "student1@demo.test").login()
    sid = st.user["student_id"]
    resp = await pay.post(
        "/v1/payments/checkout", json={"package_id": pid, "student_id": sid}, headers=st.headers
    )
    assert resp.status == 201, await resp.text()
    made = await resp.json()
    assert made["payment"]["purpose"] == "package" and made["payment"]["package_id"] == pid
    assert stripe_api.sessions[made["session_id"]]["amount_total"] == 15_000
    await _pay_on_the_hosted_page(made["checkout_url"])

    await st.pull()
    [purchase] = [e for e in st.of("credit_entry").values() if e["kind"] == "purchase"]
    assert (purchase["lessons"], purchase["package_id"]) == (4, pid)
    assert purchase["payment_id"] == made["payment"]["id"]
    [balance] = [b for b in st.of("student_balance").values() if b["student_id"] == sid]
    assert balance["lessons_left"] == 4
    [invoice] = [i for i in st.of("invoice").values() if i["payment_id"] == made["payment"]["id"]]
    assert invoice["total_cents"] == 15_000 and "4 lessons" in invoice["lines"][0]["description"]
    receipts = await _rows(
        db, OutboxEvent, OutboxEvent.dedupe_key == f"payment_succeeded:{made['payment']['id']}"
    )
    assert len(receipts) == 1 and receipts[0].payload["invoice_id"] == invoice["id"]

    # Stripe redelivers everything (new event ids, same objects): no second credit, invoice
    # or receipt.
    session = stripe_api.sessions[made["session_id"]]
    for kind, obj in (
        ("checkout.session.completed", session),
        ("payment_intent.succeeded", stripe_api.intents[session["payment_intent"]]),
    ):
        body = stripe_event(kind, {k: v for k, v in obj.items() if not k.startswith("_")})
        hook = await pay.post(
            "/v1/webhooks/stripe/demo",
            data=body,
            headers={
                "Content-Type": "application/json",
                "Stripe-Signature": stripe_signature(body, STRIPE_WHSEC),
            },
        )
        assert hook.status == 200, await hook.text()
    purchases = await _rows(
        db, CreditEntry, CreditEntry.student_id == sid, CreditEntry.kind == "purchase"
    )
    assert [p.payment_id for p in purchases] == [made["payment"]["id"]]
    assert len(await _rows(db, Invoice, Invoice.payment_id == made["payment"]["id"])) == 1
    receipts = await _rows(db, OutboxEvent, OutboxEvent.event_type == "payment_succeeded")
    assert [r.payload["payment_id"] for r in receipts].count(made["payment"]["id"]) == 1
    assert (await _ledger_is_the_balance(db, sid)).lessons_left == 4


async def test_a_guardian_pays_the_balance_a_late_fee_left(
    pay: Any, stripe_api: StripePeer, db: Db
) -> None:
    st = await Device(pay, "student1@demo.test").login()
    sid = st.user["student_id"]
    admin = bearer(await login(pay, "admin@demo.test"))
    owed = await pay.post(
        f"/v1/admin/students/{sid}/credit-adjustments",
        json={"amount_cents": 2500, "note": "late cancellation fee, by phone"},
        headers=admin,
    )
    assert owed.status in (200, 201), await owed.text()
    assert (await _ledger_is_the_balance(db, sid)).owed_cents == 2500

    guardian = await Device(pay, "guardian1@demo.test").login()
    resp = await pay.post(
        "/v1/payments/checkout", json={"balance_student_id": sid}, headers=guardian.headers
    )
    assert resp.status == 201, await resp.text()
    made = await resp.json()
    assert made["payment"]["purpose"] == "balance" and made["payment"]["amount_cents"] == 2500
    assert made["payment"]["payer_user_id"] == guardian.user["id"]
    await _pay_on_the_hosted_page(made["checkout_url"])

    balance = await _ledger_is_the_balance(db, sid)
    assert balance.owed_cents == 0
    [paid] = await _rows(db, CreditEntry, CreditEntry.payment_id == made["payment"]["id"])
    assert (paid.kind, paid.amount_cents) == ("payment", -2500)
    # The guardian's device learns it by sync.
    await guardian.pull()
    [seen] = [b for b in guardian.of("student_balance").values() if b["student_id"] == sid]
    assert seen["owed_cents"] == 0
    # Nothing owed now: a second checkout is refused with a stable code.
    again = await pay.post(
        "/v1/payments/checkout", json={"balance_student_id": sid}, headers=guardian.headers
    )
    assert again.status == 409 and (await again.json())["error"]["code"] == "nothing_owed"


async def test_a_lesson_played_on_credit_earns_its_payout_when_completed(pay: Any, db: Db) -> None:
    pid = await _package(pay, 3, 10_000)  # 3,333 cents a lesson (floored)
    st = await Device(pay, "student1@demo.test").login()
    inst = await Device(pay, "instructor1@demo.test").login()
    sid = st.user["student_id"]
    async with db.sessions() as s:
        bind_tenant(s, ALL_TENANTS)
        tenant_id = await s.scalar(select(Payment.tenant_id).limit(1))
    async with db.store.write(str(tenant_id)) as txn:
        # Sold at the desk (no payment row): priced at the package's price.
        await ledger.grant_package(txn, student_id=sid, package_id=pid, payment_id=uid())
    await st.pull(entities="service")
    service = next(s for s in st.of("service").values() if s["duration_min"] == 60)
    st.cursor = None
    bid = uid()
    data = {
        "instructor_id": inst.user["instructor_id"],
        "service_id": service["id"],
        "start": slot(20, 10),
        "pay_with": "credit",
    }
    made = await st.one("booking", bid, "put", data)
    assert made["status"] == "applied", made
    assert (await inst.one("booking", bid, "patch", {"status": "confirmed"}))["status"] == "applied"
    assert await _rows(db, Payout, Payout.booking_id == bid) == []  # not played yet
    done = await inst.one("booking", bid, "patch", {"status": "completed"})
    assert done["status"] == "applied", done
    [payout] = await _rows(db, Payout, Payout.booking_id == bid)
    assert payout.payment_id is None and payout.gross_cents == 3_333
    assert payout.gross_cents == payout.fee_cents + payout.net_cents
    assert payout.instructor_id == inst.user["instructor_id"]
    # Its instructor reads it; the student never does.
    await inst.pull()
    assert inst.of("payout")[payout.id]["gross_cents"] == 3_333
    await st.pull()
    assert payout.id not in st.of("payout")
    # Completing it again changes nothing.
    await inst.one("booking", bid, "patch", {"status": "completed"})
    assert len(await _rows(db, Payout, Payout.booking_id == bid)) == 1
    await _ledger_is_the_balance(db, sid)


async def test_a_refunded_package_is_owed_again_until_the_office_takes_the_credit_back(
    pay: Any, stripe_api: StripePeer, db: Db
) -> None:
    pid = await _package(pay, 2, 8_000)
    st = await Device(pay, "student1@demo.test").login()
    sid = st.user["student_id"]
    made = await (
        await pay.post(
            "/v1/payments/checkout", json={"package_id": pid, "student_id": sid}, headers=st.headers
        )
    ).json()
    await _pay_on_the_hosted_page(made["checkout_url"])
    assert (await _ledger_is_the_balance(db, sid)).lessons_left == 2
    admin = bearer(await login(pay, "admin@demo.test"))
    refund = await pay.post(
        f"/v1/admin/payments/{made['payment']['id']}/refund", json={}, headers=admin
    )
    assert refund.status in (200, 201), await refund.text()
    # The money came back: it is owed again while the two lessons stay on the ledger; the
    # invoice has its credit note.
    balance = await _ledger_is_the_balance(db, sid)
    assert (balance.lessons_left, balance.owed_cents) == (2, 8_000)
    [entry] = await _rows(
        db, CreditEntry, CreditEntry.student_id == sid, CreditEntry.kind == "refund"
    )
    assert entry.payment_id == made["payment"]["id"] and entry.amount_cents == 8_000
    notes = await _rows(db, Invoice, Invoice.payment_id == made["payment"]["id"])
    assert sorted(i.kind for i in notes) == ["credit_note", "invoice"]
    # The device reads one refund entry (its id comes from the refund: never written twice).
    await st.pull()
    assert [e["kind"] for e in st.of("credit_entry").values()].count("refund") == 1
    # The office takes the credit back and cancels the debt in one adjustment.
    adjust = await pay.post(
        f"/v1/admin/students/{sid}/credit-adjustments",
        json={"lessons": -2, "amount_cents": -8_000, "note": "package refunded"},
        headers=admin,
    )
    assert adjust.status == 201, await adjust.text()
    balance = await _ledger_is_the_balance(db, sid)
    assert (balance.lessons_left, balance.owed_cents) == (0, 0)
