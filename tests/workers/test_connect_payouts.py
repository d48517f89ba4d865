"""Stripe Connect for instructors, through the real SDK against the local stand-in: Express
onboarding (once per instructor, whatever happens), `account.updated` from the hosted page,
a payout's transfer only after the lesson, exactly once even when the worker dies between
Stripe's answer and our commit, reversals on refunds, bank payouts, and who reads payouts."""

from __future__ import annotations

import datetime as dt
import json
import time
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from sqlalchemy import select, update

from schemas import Instructor, OutboxEvent, Payment, Payout, Tenant
from server.app import create_app
from server.routes.effects import WORKER_CONFIG
from sync.tenancy import ALL_TENANTS, bind_tenant
from tests.conftest import Db, make_settings
from tests.helpers import Device
from tests.workers.conftest import (
    STRIPE_KEY,
    STRIPE_WHSEC,
    book_and_confirm,
    dispatcher,
    worker_config,
)
from tests.workers.peers import StripePeer, stripe_event, stripe_signature
from workers.notifications import scheduler
from workers.payments.transfers import Transfers


@pytest.fixture
async def pay(db: Db, tmp_path: Path, aiohttp_client: Any, stripe_api: StripePeer) -> Any:
    app = create_app(make_settings(db, tmp_path))
    app[WORKER_CONFIG] = _config(db, tmp_path, stripe_api)
    client = await aiohttp_client(app)
    stripe_api.webhook_url = str(client.make_url("/v1/webhooks/stripe/demo"))
    stripe_api.webhook_secret = STRIPE_WHSEC
    return client


def _config(db: Db, tmp_path: Path, stripe_api: StripePeer) -> Any:
    return worker_config(
        db,
        tmp_path,
        stripe_secret_key=STRIPE_KEY,
        stripe_webhook_secret=STRIPE_WHSEC,
        stripe_api_base=stripe_api.base,
    )


async def _rows(db: Db, table: Any, *where: Any) -> list[Any]:
    async with db.sessions() as s:
        bind_tenant(s, ALL_TENANTS)
        return list((await s.scalars(select(table).where(*where))).all())


async def _tenant_id(db: Db) -> str:
    [tenant] = await _rows(db, Tenant, Tenant.slug == "demo")
    return str(tenant.id)


async def _hook(
    client: Any, kind: str, obj: dict[str, Any], created: int | None = None
) -> dict[str, Any]:
    body = stripe_event(kind, obj)
    if created is not None:  # an event Stripe made at another moment
        body = json.dumps({**json.loads(body), "created": created}).encode()
    headers = {
        "Content-Type": "application/json",
        "Stripe-Signature": stripe_signature(body, STRIPE_WHSEC),
    }
    resp = await client.post("/v1/webhooks/stripe/demo", data=body, headers=headers)
    assert resp.status == 200, await resp.text()
    answer: dict[str, Any] = await resp.json()
    return answer


async def _onboard(pay: Any, stripe_api: StripePeer, inst: Device) -> str:
    """The instructor sets up payouts and finishes Stripe's hosted page; the account id."""
    resp = await pay.post("/v1/me/payouts/onboarding", headers=inst.headers)
    assert resp.status == 201, await resp.text()
    link = await resp.json()
    async with aiohttp.ClientSession() as http:
        async with http.get(link["url"]) as page:
            assert page.status == 200 and "Finish" in await page.text()
        async with http.post(link["url"], allow_redirects=False) as done:
            assert done.status == 303
            assert done.headers["Location"].endswith("/#/earnings/done")
    assert stripe_api.sent_events[-1]["answer"]["status"] == 200
    return str(link["account_id"])


async def _paid_completed_booking(
    pay: Any, stripe_api: StripePeer, complete: bool = True
) -> tuple[Device, Device, str, str]:
    """A booking of student1 with instructor1, paid by card (the webhook), and completed."""
    st, inst, bid = await book_and_confirm(pay)
    resp = await pay.post("/v1/payments/intents", json={"booking_id": bid}, headers=st.headers)
    assert resp.status == 201, await resp.text()
    intent = await resp.json()
    pi = stripe_api.intents[intent["payment_intent_id"]]
    await _hook(pay, "payment_intent.succeeded", {**pi, "status": "succeeded"})
    if complete:
        done = await inst.one("booking", bid, "patch", {"status": "completed"})
        assert done["status"] == "applied", done
    return st, inst, bid, str(intent["payment"]["id"])


async def _tick(db: Db, tmp_path: Path) -> None:
    """The scheduler's tick, which queues the transfers of payouts now due."""
    await scheduler.tick(db.sessions, worker_config(db, tmp_path), dt.datetime.now(dt.UTC))


async def _jobs(db: Db, bid_payout: str) -> list[OutboxEvent]:
    rows = await _rows(db, OutboxEvent, OutboxEvent.event_type.like("payout_%"))
    return [r for r in rows if r.payload.get("payout_id") == bid_payout]


async def test_onboarding_makes_one_account_and_the_hosted_page_enables_payouts(
    pay: Any, stripe_api: StripePeer, db: Db
) -> None:
    inst = await Device(pay, "instructor1@demo.test").login()
    tenant_id, instructor_id = await _tenant_id(db), inst.user["instructor_id"]
    first = await (await pay.post("/v1/me/payouts/onboarding", headers=inst.headers)).json()
    again = await (await pay.post("/v1/me/payouts/onboarding", headers=inst.headers)).json()
    assert first["account_id"] == again["account_id"] and len(stripe_api.accounts) == 1
    account = stripe_api.accounts[first["account_id"]]
    assert account["type"] == "express" and account["country"] == "GB"
    assert account["metadata"] == {"tenant_id": tenant_id, "instructor_id": instructor_id}
    assert account["email"] == "instructor1@demo.test"
    [(_, key)] = [r for r in stripe_api.connect_requests if r[0] == "accounts"]
    assert key == f"drivesync-acct-{tenant_id}-{instructor_id}"
    links = stripe_api.account_links
    assert len(links) == 2 and {x["type"] for x in links} == {"account_onboarding"}
    assert links[0]["refresh_url"].endswith("/#/earnings/refresh")
    # A crash after Stripe made the account but before we stored it: the next request asks
    # with the same idempotency key and gets the same account, never a second one.
    async with db.sessions() as s, s.begin():
        bind_tenant(s, tenant_id)
        await s.execute(
            update(Instructor)
            .where(Instructor.id == instructor_id)
            .values(stripe_account_id=None, connect_status="none")
        )
    third = await (await pay.post("/v1/me/payouts/onboarding", headers=inst.headers)).json()
    assert third["account_id"] == first["account_id"] and len(stripe_api.accounts) == 1

    await inst.pull()
    mine = inst.of("instructor")[instructor_id]
    assert (mine["payouts_enabled"], mine["connect_status"]) == (False, "pending")
    st = await Device(pay, "student1@demo.test").login()
    admin = await Device(pay, "admin@demo.test").login()
    for who in (st, admin):
        resp = await pay.post("/v1/me/payouts/onboarding", headers=who.headers)
        assert resp.status == 403 and (await resp.json())["error"]["code"] == "forbidden"

    acct = await _onboard(pay, stripe_api, inst)
    assert acct == first["account_id"]
    assert stripe_api.sent_events[-1]["answer"]["body"]["outcome"] == "account enabled"
    await inst.pull()
    mine = inst.of("instructor")[instructor_id]
    assert (mine["payouts_enabled"], mine["connect_status"]) == (True, "enabled")
    # Students read their instructor's profile, not their payout state (staff only).
    await st.pull()
    theirs = st.of("instructor")[instructor_id]
    assert "payouts_enabled" not in theirs and "connect_status" not in theirs
    await admin.pull()
    assert admin.of("instructor")[instructor_id]["connect_status"] == "enabled"
    # Stripe's events come in any order: an older state arriving late changes nothing.
    older = {**account, "payouts_enabled": False, "details_submitted": False}
    late = await _hook(pay, "account.updated", older, created=int(time.time()) - 3600)
    assert late["outcome"] == "ignored: an older account state"
    [row] = await _rows(db, Instructor, Instructor.id == instructor_id)
    assert (row.payouts_enabled, row.connect_status) == (True, "enabled")
    # A newer one applies: Stripe restricted the account.
    restricted = {**older, "details_submitted": True}
    restricted["requirements"] = {"disabled_reason": "requirements.past_due"}
    newer = await _hook(pay, "account.updated", restricted, created=int(time.time()) + 60)
    assert newer["outcome"] == "account restricted"
    await inst.pull()
    mine = inst.of("instructor")[instructor_id]
    assert (mine["payouts_enabled"], mine["connect_status"]) == (False, "restricted")


async def test_a_payout_is_transferred_once_and_only_after_the_lesson(
    pay: Any, stripe_api: StripePeer, db: Db, tmp_path: Path, closing: list[Any]
) -> None:
    inst = await Device(pay, "instructor1@demo.test").login()
    acct = await _onboard(pay, stripe_api, inst)
    _st, inst, bid, payment_id = await _paid_completed_booking(pay, stripe_api, complete=False)
    [payout] = await _rows(db, Payout, Payout.booking_id == bid)
    assert (payout.gross_cents, payout.fee_cents, payout.net_cents) == (4200, 630, 3570)
    assert payout.payment_id == payment_id and payout.transfer_status is None
    d = dispatcher(db, _config(db, tmp_path, stripe_api))
    closing.append(d)
    await _tick(db, tmp_path)
    await d.run(once=True)
    assert stripe_api.transfers == {} and await _jobs(db, payout.id) == []  # not taught yet

    done = await inst.one("booking", bid, "patch", {"status": "completed"})
    assert done["status"] == "applied", done
    await _tick(db, tmp_path)
    await _tick(db, tmp_path)  # ticks repeat: still one job
    assert len(await _jobs(db, payout.id)) == 1
    await d.run(once=True)
    [transfer] = stripe_api.transfers.values()
    tenant_id = await _tenant_id(db)
    assert (transfer["amount"], transfer["currency"], transfer["destination"]) == (
        3570,
        "gbp",
        acct,
    )  # the net share: the platform fee stays with the school
    assert transfer["transfer_group"] == bid
    assert transfer["metadata"] == {"payout_id": payout.id, "tenant_id": tenant_id}
    assert dict(stripe_api.transfers_by_key) == {
        f"drivesync-tr-{tenant_id}-{payout.id}": {transfer["id"]}
    }
    [payout] = await _rows(db, Payout, Payout.booking_id == bid)
    assert (payout.transfer_status, payout.transfer_ref) == ("sent", transfer["id"])
    # Later ticks and runs send nothing more.
    await _tick(db, tmp_path)
    await d.run(once=True)
    assert len(stripe_api.transfers) == 1
    # The instructor's devices hear of it.
    await inst.pull()
    [synced] = [p for p in inst.of("payout").values() if p["booking_id"] == bid]
    assert synced["transfer_status"] == "sent" and synced["net_cents"] == 3570
    assert synced["transfer_ref"] == transfer["id"]


async def test_a_worker_dying_between_stripe_and_the_commit_transfers_once(
    pay: Any,
    stripe_api: StripePeer,
    db: Db,
    tmp_path: Path,
    closing: list[Any],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    inst = await Device(pay, "instructor1@demo.test").login()
    await _onboard(pay, stripe_api, inst)
    _st, inst, bid, _pid = await _paid_completed_booking(pay, stripe_api)
    [payout] = await _rows(db, Payout, Payout.booking_id == bid)

    async def dies(self: Transfers, tenant_id: str, payout_id: str, transfer_id: str) -> None:
        raise ConnectionError("worker killed after Stripe answered")

    monkeypatch.setattr(Transfers, "store_transfer", dies)
    d = dispatcher(db, _config(db, tmp_path, stripe_api))
    closing.append(d)
    await _tick(db, tmp_path)
    await d.run(once=True)  # every try dies after Stripe's answer, then a dead letter
    [job] = await _jobs(db, payout.id)
    assert job.status == "dead" and job.attempts == 4
    asked = [k for n, k in stripe_api.connect_requests if n == "transfers"]
    assert len(asked) == 4 and len(set(asked)) == 1  # four asks, one key
    assert len(stripe_api.transfers) == 1  # ... and one transfer
    [payout] = await _rows(db, Payout, Payout.booking_id == bid)
    assert (payout.transfer_status, payout.transfer_ref) == ("sending", None)
    await _tick(db, tmp_path)  # a payout being sent is not due again
    assert [j.status for j in await _jobs(db, payout.id)] == ["dead"]

    monkeypatch.undo()
    admin = await Device(pay, "admin@demo.test").login()
    retried = await pay.post(f"/v1/admin/notifications/{job.id}/retry", headers=admin.headers)
    assert retried.status == 200, await retried.text()
    await d.run(once=True)
    [transfer] = stripe_api.transfers.values()
    [payout] = await _rows(db, Payout, Payout.booking_id == bid)
    assert (payout.transfer_status, payout.transfer_ref) == ("sent", transfer["id"])
    assert [len(ids) for ids in stripe_api.transfers_by_key.values()] == [1]


async def test_refund_after_transfer_reverses_it_and_webhooks_move_forward_only(
    pay: Any, stripe_api: StripePeer, db: Db, tmp_path: Path, closing: list[Any]
) -> None:
    inst = await Device(pay, "instructor1@demo.test").login()
    acct = await _onboard(pay, stripe_api, inst)
    _st, inst, bid, payment_id = await _paid_completed_booking(pay, stripe_api)
    d = dispatcher(db, _config(db, tmp_path, stripe_api))
    closing.append(d)
    await _tick(db, tmp_path)
    await d.run(once=True)
    [payout] = await _rows(db, Payout, Payout.booking_id == bid)
    transfer = stripe_api.transfers[str(payout.transfer_ref)]

    # Stripe's own transfer.created comes after we stored it: nothing changes.
    outcome = await _hook(pay, "transfer.created", transfer)
    assert outcome["outcome"] == "transfer sent"
    # A part refund (1000 of 4200): the instructor gives back their share of it (850).
    admin = await Device(pay, "admin@demo.test").login()
    url = f"/v1/admin/payments/{payment_id}/refund"
    part = await pay.post(url, json={"amount_cents": 1000}, headers=admin.headers)
    assert part.status == 201, await part.text()
    await d.run(once=True)
    assert [r["amount"] for r in stripe_api.reversals] == [850]
    [payout] = await _rows(db, Payout, Payout.booking_id == bid)
    assert (payout.reversed_cents, payout.transfer_status) == (850, "sent")
    # The rest: the whole share is back, once, even if Stripe repeats its refund event.
    rest = await pay.post(url, json={}, headers=admin.headers)
    assert rest.status == 201, await rest.text()
    [payment] = await _rows(db, Payment, Payment.id == payment_id)
    charge = {
        "id": "ch_1",
        "object": "charge",
        "payment_intent": payment.provider_ref,
        "amount": 4200,
        "amount_refunded": 4200,
    }
    assert (await _hook(pay, "charge.refunded", charge))["outcome"] == "kept refunded"
    await d.run(once=True)
    assert [r["amount"] for r in stripe_api.reversals] == [850, 2720]
    assert transfer["reversed"] is True and transfer["amount_reversed"] == 3570
    [payout] = await _rows(db, Payout, Payout.booking_id == bid)
    assert (payout.reversed_cents, payout.transfer_status) == (3570, "reversed")
    reversed_event = await _hook(pay, "transfer.reversed", transfer)
    assert reversed_event["outcome"] == "transfer reversed"
    # A late transfer.updated of the transfer as it was does not bring it back.
    await _hook(pay, "transfer.updated", {**transfer, "reversed": False, "amount_reversed": 0})
    [payout] = await _rows(db, Payout, Payout.booking_id == bid)
    assert (payout.reversed_cents, payout.transfer_status) == (3570, "reversed")
    await d.run(once=True)
    assert len(stripe_api.reversals) == 2
    assert {r["transfer"] for r in stripe_api.reversals} == {transfer["id"]}
    assert transfer["destination"] == acct


async def test_bank_payout_marks_the_instructors_sent_payouts_paid_out(
    pay: Any, stripe_api: StripePeer, db: Db, tmp_path: Path, closing: list[Any]
) -> None:
    inst = await Device(pay, "instructor1@demo.test").login()
    acct = await _onboard(pay, stripe_api, inst)
    _st, inst, bid, _pid = await _paid_completed_booking(pay, stripe_api)
    d = dispatcher(db, _config(db, tmp_path, stripe_api))
    closing.append(d)
    await _tick(db, tmp_path)
    await d.run(once=True)
    arrival = int(time.time()) + 2 * 86400
    bank = {"id": "po_1", "object": "payout", "amount": 3570, "arrival_date": arrival}
    failed = await stripe_api.send_event("payout.failed", {**bank, "status": "failed"}, acct)
    assert failed["body"]["outcome"] == "payout_failed: 1 payouts"
    paid = await stripe_api.send_event("payout.paid", {**bank, "id": "po_2"}, acct)
    assert paid["body"]["outcome"] == "paid_out: 1 payouts"
    [payout] = await _rows(db, Payout, Payout.booking_id == bid)
    assert payout.transfer_status == "paid_out"
    assert payout.paid_out_at == dt.datetime.fromtimestamp(arrival, dt.UTC)
    # Another account's payout, or a late failure, changes nothing here.
    other = await stripe_api.send_event("payout.paid", {**bank, "id": "po_3"}, "acct_unknown")
    assert other["body"]["outcome"] == "ignored: unknown account"
    await stripe_api.send_event("payout.failed", {**bank, "id": "po_4"}, acct)
    [payout] = await _rows(db, Payout, Payout.booking_id == bid)
    assert payout.transfer_status == "paid_out"
    await inst.pull()
    [synced] = [p for p in inst.of("payout").values() if p["booking_id"] == bid]
    assert synced["transfer_status"] == "paid_out" and synced["paid_out_at"]


async def test_only_its_instructor_and_admins_read_a_payout_and_earnings(
    pay: Any, stripe_api: StripePeer, db: Db
) -> None:
    st, inst, bid, _pid = await _paid_completed_booking(pay, stripe_api)
    [payout] = await _rows(db, Payout, Payout.booking_id == bid)
    other = await Device(pay, "instructor2@demo.test").login()
    admin = await Device(pay, "admin@demo.test").login()
    guardian = await Device(pay, "guardian1@demo.test").login()
    for device in (st, inst, other, admin, guardian):
        await device.pull()
    assert payout.id in inst.of("payout") and payout.id in admin.of("payout")
    assert st.of("payout") == {} and guardian.of("payout") == {}
    assert payout.id not in other.of("payout")
    # Asking for payouts alone changes nothing for a student.
    fresh = await Device(pay, "student1@demo.test").login()
    await fresh.pull(entities="payout")
    assert fresh.of("payout") == {}

    mine = await pay.get("/v1/me/earnings?period=month", headers=inst.headers)
    assert mine.status == 200, await mine.text()
    body = await mine.json()
    lesson_month = payout.lesson_start.astimezone(dt.UTC)
    groups = [g for g in body["groups"] if g["start"][:7] == f"{lesson_month:%Y-%m}"]
    assert groups and all(g["instructor_id"] == inst.user["instructor_id"] for g in body["groups"])
    assert groups[0]["net_cents"] >= 3570 and groups[0]["fee_cents"] >= 630
    # Another instructor's own earnings never include it; a student has none to read.
    theirs = await (await pay.get("/v1/me/earnings", headers=other.headers)).json()
    assert all(g["instructor_id"] == other.user["instructor_id"] for g in theirs["groups"])
    denied = await pay.get("/v1/me/earnings", headers=st.headers)
    assert denied.status == 403 and (await denied.json())["error"]["code"] == "forbidden"
    assert (await pay.get("/v1/admin/earnings", headers=inst.headers)).status == 403
    assert (await pay.get("/v1/me/earnings", headers=admin.headers)).status == 403  # none
    bad = await pay.get("/v1/me/earnings?period=year", headers=inst.headers)
    assert bad.status == 422 and (await bad.json())["error"]["code"] == "invalid"
    url = f"/v1/admin/earnings?period=week&instructor_id={inst.user['instructor_id']}"
    office = await (await pay.get(url, headers=admin.headers)).json()
    assert office["period"] == "week" and office["timezone"] == "Europe/London"
    assert {g["instructor_id"] for g in office["groups"]} == {inst.user["instructor_id"]}
    assert list(office["instructors"]) == [inst.user["instructor_id"]]
    assert sum(g["lessons"] for g in office["groups"]) == len(
        [p for p in admin.of("payout").values() if p["instructor_id"] == inst.user["instructor_id"]]
    )
    bad_id = await pay.get("/v1/admin/earnings?instructor_id=nope", headers=admin.headers)
    assert bad_id.status == 422


async def test_payouts_waiting_for_set_up_are_sent_once_the_account_is_enabled(
    pay: Any, stripe_api: StripePeer, db: Db, tmp_path: Path, closing: list[Any]
) -> None:
    _st, inst, bid, _pid = await _paid_completed_booking(pay, stripe_api)
    [payout] = await _rows(db, Payout, Payout.booking_id == bid)
    await _tick(db, tmp_path)
    assert await _jobs(db, payout.id) == []  # completed and paid, but nowhere to send it
    await _onboard(pay, stripe_api, inst)  # account.updated queues it at once, no tick
    [job] = await _jobs(db, payout.id)
    assert job.status == "pending" and job.event_type == "payout_transfer"
    d = dispatcher(db, _config(db, tmp_path, stripe_api))
    closing.append(d)
    await d.run(once=True)
    [transfer] = stripe_api.transfers.values()
    assert transfer["amount"] == payout.net_cents
    # Stripe repeating account.updated queues nothing more, and nothing is sent again.
    acct = transfer["destination"]
    await stripe_api.send_event("account.updated", stripe_api.accounts[acct], account=acct)
    await _tick(db, tmp_path)
    await d.run(once=True)
    assert [j.status for j in await _jobs(db, payout.id)] == ["done"]
    assert len(stripe_api.transfers) == 1


async def test_a_refund_before_the_lesson_cancels_the_payout_and_paying_again_restores_it(
    pay: Any, stripe_api: StripePeer, db: Db
) -> None:
    st, inst, bid, first_payment = await _paid_completed_booking(pay, stripe_api, complete=False)
    admin = await Device(pay, "admin@demo.test").login()
    url = f"/v1/admin/payments/{first_payment}/refund"
    assert (await pay.post(url, json={}, headers=admin.headers)).status == 201
    [payout] = await _rows(db, Payout, Payout.booking_id == bid)
    assert (payout.status, payout.transfer_status) == ("cancelled", None)
    await inst.pull()
    assert inst.of("payout")[payout.id]["status"] == "cancelled"
    # The student pays again: the booking's one payout is the new payment's.
    resp = await pay.post("/v1/payments/intents", json={"booking_id": bid}, headers=st.headers)
    assert resp.status == 201, await resp.text()
    intent = await resp.json()
    pi = stripe_api.intents[intent["payment_intent_id"]]
    await _hook(pay, "payment_intent.succeeded", {**pi, "status": "succeeded"})
    [again] = await _rows(db, Payout, Payout.booking_id == bid)
    assert again.id == payout.id and again.payment_id == intent["payment"]["id"]
    assert (again.status, again.net_cents) == ("pending", 3570)
    await inst.pull()
    assert inst.of("payout")[payout.id]["status"] == "pending"
