"""The admins' money views (`GET /v1/admin/money/{kind}`) on both databases: payments,
refunds and payouts with the names joined in, filters, totals over every matching row,
paging by cursor, the CSV export (the same rows, formula cells neutralised), and clean
refusals."""

from __future__ import annotations

import csv
import datetime as dt
import io
import uuid
from typing import Any

from sqlalchemy import select

from schemas import Booking, Invoice, Payment, Payout, Refund, Student, StudentBalance, Tenant
from sync.tenancy import ALL_TENANTS, bind_tenant
from tests.conftest import Db, bearer, login


async def _money(client: Any, headers: dict[str, str], kind: str, **params: Any) -> Any:
    resp = await client.get(f"/v1/admin/money/{kind}", params=params, headers=headers)
    assert resp.status == 200, await resp.text()
    return await resp.json()


async def _demo(db: Db) -> tuple[str, list[Payment]]:
    async with db.sessions() as s:
        bind_tenant(s, ALL_TENANTS)
        tenant = await s.scalar(select(Tenant.id).where(Tenant.slug == "demo"))
        assert tenant is not None
        payments = list(
            await s.scalars(select(Payment).where(Payment.tenant_id == tenant, ~Payment.deleted))
        )
    return str(tenant), payments


async def _refund_and_payout(db: Db, tenant: str, payment: Payment) -> tuple[str, str]:
    """A refund of half the payment and the instructor's payout of it, written as the
    webhook path would leave them."""
    refund_id, payout_id = str(uuid.uuid4()), str(uuid.uuid4())
    async with db.sessions() as s, s.begin():
        bind_tenant(s, tenant)
        booking = await s.scalar(
            select(Booking).where(Booking.tenant_id == tenant, Booking.id == payment.booking_id)
        )
        assert booking is not None
        s.add(
            Refund(
                tenant_id=tenant,
                id=refund_id,
                payment_id=payment.id,
                amount_cents=payment.amount_cents // 2,
                currency=payment.currency,
                status="succeeded",
                provider_ref="re_test_1",
            )
        )
        s.add(
            Payout(
                tenant_id=tenant,
                id=payout_id,
                instructor_id=booking.instructor_id,
                booking_id=booking.id,
                payment_id=payment.id,
                gross_cents=payment.amount_cents,
                fee_cents=payment.amount_cents - payment.amount_cents * 85 // 100,
                net_cents=payment.amount_cents * 85 // 100,
                currency=payment.currency,
                status="pending",
            )
        )
    return refund_id, payout_id


async def test_payments_with_names_totals_and_filters(client: Any, db: Db) -> None:
    tenant, payments = await _demo(db)
    assert len(payments) >= 2, "the demo seeds paid past lessons with their payments"
    admin = bearer(await login(client, "admin@demo.test"))
    page = await _money(client, admin, "payments")
    assert page["kind"] == "payments" and page["count"] == len(payments)
    assert page["totals"] == {"amount_cents": sum(p.amount_cents for p in payments)}
    assert {r["id"] for r in page["rows"]} == {p.id for p in payments}
    ats = [r["at"] for r in page["rows"]]
    assert ats == sorted(ats, reverse=True)
    async with db.sessions() as s:
        bind_tenant(s, tenant)
        names = {r.id: r.name for r in await s.execute(select(Student.id, Student.name))}
    for row in page["rows"]:
        assert set(row) == set(page["columns"])
        assert row["student_name"] == names[row["student_id"]]
        if row["purpose"] == "booking":  # a lesson: who taught it and when
            assert row["instructor_name"] and row["lesson_start"] and not row["package_name"]
        else:  # the demo's package bought at the desk
            assert row["purpose"] == "package" and row["package_name"]
            assert row["instructor_name"] is None and row["lesson_start"] is None
    assert {r["purpose"] for r in page["rows"]} == {"booking", "package"}
    # By student: only theirs, and the totals follow the filter.
    one = payments[0].student_id
    theirs = [p for p in payments if p.student_id == one]
    mine = await _money(client, admin, "payments", student_id=one)
    assert {r["id"] for r in mine["rows"]} == {p.id for p in theirs}
    assert mine["totals"]["amount_cents"] == sum(p.amount_cents for p in theirs)
    # By status and by days (school days, both ends included).
    assert (await _money(client, admin, "payments", status="failed"))["count"] == 0
    future = (dt.date.today() + dt.timedelta(days=3)).isoformat()
    assert (await _money(client, admin, "payments", since=future))["rows"] == []
    past = (dt.date.today() - dt.timedelta(days=400)).isoformat()
    assert (await _money(client, admin, "payments", since=past))["count"] == len(payments)


async def test_pages_cut_by_cursor_cover_every_row_once(client: Any, db: Db) -> None:
    _, payments = await _demo(db)
    admin = bearer(await login(client, "admin@demo.test"))
    seen: list[str] = []
    page = await _money(client, admin, "payments", limit=1)
    while True:
        assert len(page["rows"]) <= 1
        seen += [r["id"] for r in page["rows"]]
        if page["next"] is None:
            break
        page = await _money(client, admin, "payments", limit=1, before=page["next"])
    assert sorted(seen) == sorted(p.id for p in payments)


async def test_refunds_and_payouts(client: Any, db: Db) -> None:
    tenant, payments = await _demo(db)
    paid = next(p for p in payments if p.booking_id)
    refund_id, payout_id = await _refund_and_payout(db, tenant, paid)
    admin = bearer(await login(client, "admin@demo.test"))
    refunds = await _money(client, admin, "refunds")
    assert [r["id"] for r in refunds["rows"]] == [refund_id]
    row = refunds["rows"][0]
    assert row["payment_id"] == paid.id and row["student_id"] == paid.student_id
    assert refunds["totals"] == {"amount_cents": paid.amount_cents // 2}
    payouts = await _money(client, admin, "payouts")
    assert [r["id"] for r in payouts["rows"]] == [payout_id]
    totals = payouts["totals"]
    assert totals["gross_cents"] == totals["fee_cents"] + totals["net_cents"] == paid.amount_cents
    other = str(uuid.uuid4())
    assert (await _money(client, admin, "payouts", instructor_id=other))["count"] == 0
    inst = payouts["rows"][0]["instructor_id"]
    assert (await _money(client, admin, "payouts", instructor_id=inst))["count"] == 1


async def test_csv_export_is_the_same_rows_and_safe_in_a_spreadsheet(client: Any, db: Db) -> None:
    tenant, payments = await _demo(db)
    async with db.sessions() as s, s.begin():
        bind_tenant(s, tenant)
        student = await s.scalar(
            select(Student).where(Student.tenant_id == tenant, Student.id == payments[0].student_id)
        )
        assert student is not None
        student.name = '=HYPERLINK("http://x.test","Pat")'
    admin = bearer(await login(client, "admin@demo.test"))
    resp = await client.get("/v1/admin/money/payments", params={"format": "csv"}, headers=admin)
    assert resp.status == 200
    assert resp.content_type == "text/csv"
    assert resp.headers["Content-Disposition"].startswith('attachment; filename="payments-')
    rows = list(csv.reader(io.StringIO(await resp.text())))
    page = await _money(client, admin, "payments")
    assert rows[0] == page["columns"]
    assert [r[1] for r in rows[1:]] == [r["id"] for r in page["rows"]]
    amount = rows[0].index("amount_cents")
    assert sum(int(r[amount]) for r in rows[1:]) == page["totals"]["amount_cents"]
    names = {r[rows[0].index("student_name")] for r in rows[1:]}
    assert "'" + student.name in names and student.name not in names


async def test_only_admins_and_bad_parameters_are_refused(client: Any, db: Db) -> None:
    admin = bearer(await login(client, "admin@demo.test"))
    inst = bearer(await login(client, "instructor1@demo.test"))
    student = bearer(await login(client, "student1@demo.test"))
    for who in (inst, student):
        resp = await client.get("/v1/admin/money/payments", headers=who)
        assert resp.status == 403
        assert (await resp.json())["error"]["code"] == "forbidden"
    bad = [
        ("/v1/admin/money/wages", {}),
        ("/v1/admin/money/payments", {"status": "paid_out"}),  # a payout status
        ("/v1/admin/money/payments", {"since": "2026-13-01"}),
        ("/v1/admin/money/payments", {"since": "2026-02-02", "until": "2026-02-01"}),
        ("/v1/admin/money/payments", {"student_id": "nope"}),
        ("/v1/admin/money/payments", {"before": "not-a-cursor"}),
        ("/v1/admin/money/payments", {"format": "xlsx"}),
        ("/v1/admin/money/payments", {"limit": "0"}),
    ]
    for path, params in bad:
        resp = await client.get(path, params=params, headers=admin)
        assert resp.status == 422, (path, params, await resp.text())
        assert (await resp.json())["error"]["code"] == "invalid"


async def test_another_schools_money_is_not_seen(client: Any, db: Db) -> None:
    _, payments = await _demo(db)
    # The rival school's admin sees none of the demo school's payments.
    rival = bearer(await login(client, "admin@rival.test", tenant="rival"))
    page = await _money(client, rival, "payments")
    assert not {r["id"] for r in page["rows"]} & {p.id for p in payments}
    # Its count and totals are of its own rows too (a sum over a subquery escapes the
    # session's tenant binding unless the report filters by school itself).
    assert page["count"] == len(page["rows"])
    assert page["totals"]["amount_cents"] == sum(r["amount_cents"] for r in page["rows"])


async def test_invoices_and_balances(client: Any, db: Db) -> None:
    tenant, _ = await _demo(db)
    async with db.sessions() as s:
        bind_tenant(s, tenant)
        invoices = list(await s.scalars(select(Invoice)))
        balances = list(await s.scalars(select(StudentBalance)))
    assert invoices and balances, "the demo's desk payments are invoiced; student2 holds credit"
    admin = bearer(await login(client, "admin@demo.test"))
    page = await _money(client, admin, "invoices")
    assert sorted(r["number"] for r in page["rows"]) == sorted(i.number for i in invoices)
    assert page["totals"] == {"total_cents": sum(i.total_cents for i in invoices)}
    assert all(r["student_name"] for r in page["rows"])
    one = invoices[0].student_id
    theirs = await _money(client, admin, "invoices", student_id=one)
    assert {r["id"] for r in theirs["rows"]} == {i.id for i in invoices if i.student_id == one}
    # Balances: credit left and money owed per student; none of the demo's owes anything yet.
    page = await _money(client, admin, "balances")
    assert {r["student_id"] for r in page["rows"]} == {b.student_id for b in balances}
    assert page["totals"]["lessons_left"] == sum(b.lessons_left for b in balances)
    assert {r["status"] for r in page["rows"]} == {"settled"}
    resp = await client.post(
        f"/v1/admin/students/{balances[0].student_id}/credit-adjustments",
        json={"amount_cents": 1500, "note": "fee by phone"},
        headers=admin,
    )
    assert resp.status == 201, await resp.text()
    owing = await _money(client, admin, "balances", status="owing")
    assert [r["student_id"] for r in owing["rows"]] == [balances[0].student_id]
    assert owing["totals"]["owed_cents"] == 1500
    # An invoice or a balance names no instructor: the filter is refused, not ignored.
    for kind in ("invoices", "balances"):
        resp = await client.get(
            f"/v1/admin/money/{kind}", params={"instructor_id": str(uuid.uuid4())}, headers=admin
        )
        assert resp.status == 422 and (await resp.json())["error"]["details"]["field"] == (
            "instructor_id"
        )
