"""`GET /v1/invoices/{invoice_id}.pdf` on the demo's seeded invoices (the desk payments of
past lessons get theirs through the same issuing code): the invoice's student, their guardian
and admins download it; another student, an instructor, a guardian of other learners and
another school's admin get 404 not_found, the same as an id that does not exist."""

from __future__ import annotations

import io
import uuid
from typing import Any

from pypdf import PdfReader
from sqlalchemy import select

from schemas import Guardian, Invoice, Payment, Student, StudentGuardian, Tenant
from sync.tenancy import ALL_TENANTS, bind_tenant
from tests.conftest import Db, bearer, login


async def _seeded(db: Db) -> tuple[list[Invoice], dict[str, str], set[str]]:
    """The demo's invoices, the students' emails by id, and guardian1's learners."""
    async with db.sessions() as s:
        bind_tenant(s, ALL_TENANTS)
        demo = await s.scalar(select(Tenant.id).where(Tenant.slug == "demo"))
        invoices = list((await s.scalars(select(Invoice).where(Invoice.tenant_id == demo))).all())
        rows = await s.execute(select(Student.id, Student.email).where(Student.tenant_id == demo))
        emails = {sid: email for sid, email in rows.all()}
        wards = set(
            (
                await s.scalars(
                    select(StudentGuardian.student_id)
                    .join(Guardian, Guardian.id == StudentGuardian.guardian_id)
                    .where(Guardian.email == "guardian1@demo.test")
                )
            ).all()
        )
    return invoices, {k: v for k, v in emails.items() if v}, wards


async def _get(client: Any, invoice_id: str, who: dict[str, str] | None) -> Any:
    return await client.get(f"/v1/invoices/{invoice_id}.pdf", headers=who or {})


async def test_the_seeded_desk_payments_have_paid_invoices(db: Db) -> None:
    invoices, _emails, _wards = await _seeded(db)
    async with db.sessions() as s:
        bind_tenant(s, ALL_TENANTS)
        desk = list((await s.scalars(select(Payment).where(Payment.provider == "desk"))).all())
    demo_desk = {p.id for p in desk if p.tenant_id == invoices[0].tenant_id}
    assert {i.payment_id for i in invoices} == demo_desk and len(invoices) == len(demo_desk)
    assert sorted(int(i.number.split("-")[1]) for i in invoices) == list(
        range(1, len(invoices) + 1)
    )
    assert {i.status for i in invoices} == {"paid"} and {i.kind for i in invoices} == {"invoice"}


async def test_download_for_the_student_guardian_and_admin_only(client: Any, db: Db) -> None:
    invoices, emails, wards = await _seeded(db)
    [ward_invoice, *_] = sorted(
        (i for i in invoices if i.student_id in wards and i.student_id in emails),
        key=lambda i: i.number,
    )
    [other_invoice, *_] = [i for i in invoices if i.student_id not in wards]
    student = bearer(await login(client, emails[ward_invoice.student_id]))
    resp = await _get(client, ward_invoice.id, student)
    assert resp.status == 200, await resp.text()
    assert resp.content_type == "application/pdf"
    assert resp.headers["Content-Disposition"] == (
        f'attachment; filename="{ward_invoice.number}.pdf"'
    )
    assert "private" in resp.headers["Cache-Control"]
    body = await resp.read()
    assert body.startswith(b"%PDF-")
    text = PdfReader(io.BytesIO(body)).pages[0].extract_text()
    assert ward_invoice.number in text and "£" in text
    assert ward_invoice.lines[0]["description"][:40] in text.replace("\n", " ")

    guardian = bearer(await login(client, "guardian1@demo.test"))
    admin = bearer(await login(client, "admin@demo.test"))
    for who in (guardian, admin):
        again = await _get(client, ward_invoice.id, who)
        assert again.status == 200 and await again.read() == body  # the same bytes

    instructor = bearer(await login(client, "instructor1@demo.test"))
    rival = bearer(await login(client, "admin@rival.test", tenant="rival"))
    another_student = next(
        e for sid, e in emails.items() if sid != ward_invoice.student_id and sid in wards
    )
    not_theirs = [
        (ward_invoice.id, bearer(await login(client, another_student))),
        (ward_invoice.id, instructor),
        (ward_invoice.id, rival),
        (other_invoice.id, guardian),  # a guardian of other learners
        (other_invoice.id, student),
        (str(uuid.uuid4()), admin),  # no such invoice
        ("not-an-id", admin),
    ]
    for invoice_id, who in not_theirs:
        resp = await _get(client, invoice_id, who)
        assert resp.status == 404, (invoice_id, await resp.text())
        assert (await resp.json())["error"]["code"] == "not_found"
    assert (await _get(client, ward_invoice.id, None)).status == 401
