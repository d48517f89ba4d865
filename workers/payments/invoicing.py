"""Issuing invoices and credit notes, inside the write transaction that changes a payment.

`settle(txn, payment)` brings a payment's documents up to date and is safe to call any number
of times, in any order of events: a payment that has succeeded (whatever it became since)
has exactly one invoice; each of its refunds that succeeded has exactly one credit note; an
invoice whose credit notes add up to all of it is `credited`. The webhook handler calls it on
every forward move of a payment and after every refund update; the demo seed calls it for
the payments taken at the desk. A redelivered or reordered webhook finds the documents there
and issues nothing (unique indexes on the payment and the refund are the floor under that).

Numbers come from the school's `invoice_counters` row of the series, locked and incremented
in this same transaction: a rollback takes the number back, so the numbers of a
series run 1, 2, 3 … with no gap and no repeat (the engine's per-school write lock already
serializes the school's writes; the row lock holds even without it).
"""

from __future__ import annotations

import uuid
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import select, update

import schemas
from schemas import (
    Booking,
    Branch,
    Guardian,
    Instructor,
    Invoice,
    InvoiceCounter,
    OutboxEvent,
    Payment,
    Refund,
    Service,
    Student,
    Tenant,
)
from sync.core import invoicing as core
from sync.database import insert_for
from sync.store import WriteTxn
from workers.outbox import new_event

# A payment in one of these has succeeded at some point (refunds come after a success).
PAID = frozenset({"succeeded", "partially_refunded", "refunded"})
CREDIT_NOTE_EVENT = "credit_note_issued"


async def settle(txn: WriteTxn, payment: Payment) -> str | None:
    """Issue what the payment is owed (see the module docstring); the invoice's id, or None
    while the payment has not succeeded."""
    if payment.status not in PAID:
        return None
    s = txn.session
    invoice = await s.scalar(
        select(Invoice).where(Invoice.payment_id == payment.id, Invoice.kind == "invoice")
    )
    if invoice is None:
        invoice = await _issue_invoice(txn, payment)
    refunds = await s.scalars(
        select(Refund)
        .where(Refund.payment_id == payment.id, Refund.status == "succeeded")
        .order_by(Refund.created_at, Refund.id)
    )
    for refund in refunds.all():
        await _credit(txn, invoice, refund)
    return invoice.id


async def _next_number(txn: WriteTxn, kind: str) -> str:
    """The series' next number. The counter row is made once (a concurrent maker's insert
    is a no-op) and then moved by one UPDATE … RETURNING, which holds the row's lock to
    COMMIT just as a SELECT … FOR UPDATE would: a second transaction waits, then reads the
    committed number (or the old one again, if the first rolled back)."""
    series = core.SERIES[kind]
    s = txn.session
    await s.execute(
        insert_for(s)(InvoiceCounter)
        .values(tenant_id=txn.tenant_id, series=series, last_number=0)
        .on_conflict_do_nothing()
    )
    n = await s.scalar(
        update(InvoiceCounter)
        .where(InvoiceCounter.tenant_id == txn.tenant_id, InvoiceCounter.series == series)
        .values(last_number=InvoiceCounter.last_number + 1)
        .returning(InvoiceCounter.last_number)
    )
    assert n is not None  # the row exists: made above or before
    return core.format_number(series, int(n))


async def _school(txn: WriteTxn) -> tuple[str, str | None, ZoneInfo]:
    s = txn.session
    tenant = await s.scalar(select(Tenant).where(Tenant.id == txn.tenant_id))
    assert tenant is not None  # a write transaction of a school that exists
    address = await s.scalar(
        select(Branch.address)
        .where(Branch.address.is_not(None))
        .order_by(Branch.created_at, Branch.id)
        .limit(1)
    )
    return tenant.name, address, ZoneInfo(tenant.timezone)


async def _lines(txn: WriteTxn, payment: Payment, tz: ZoneInfo) -> list[core.Line]:
    """One line for what was paid. A lesson names its time, service and instructor; a
    package or an outstanding balance (payments.purpose, added by the checkout slice, read
    defensively so this works with or without that column) says so."""
    s = txn.session
    purpose = getattr(payment, "purpose", None) or "booking"
    amount = payment.amount_cents
    if purpose == "package":
        name = None
        package_table = getattr(schemas, "Package", None)  # the ledger slice's catalogue
        package_id = getattr(payment, "package_id", None)
        if package_table is not None and package_id:
            name = await s.scalar(select(package_table.name).where(package_table.id == package_id))
        return [core.Line(f"Lesson package{': ' + name if name else ''}", 1, amount)]
    if purpose == "balance":
        return [core.Line("Payment of outstanding balance", 1, amount)]
    booking = await s.scalar(select(Booking).where(Booking.id == payment.booking_id))
    if booking is None:
        return [core.Line("Driving lesson", 1, amount)]
    service = await s.scalar(select(Service.name).where(Service.id == booking.service_id))
    instructor = await s.scalar(
        select(Instructor.name).where(Instructor.id == booking.instructor_id)
    )
    start = booking.start.astimezone(tz).strftime("%a %d %b %Y, %H:%M")
    return [core.Line(core.lesson_description(start, service or "", instructor or ""), 1, amount)]


async def _issue_invoice(txn: WriteTxn, payment: Payment) -> Invoice:
    s = txn.session
    school, address, tz = await _school(txn)
    student = await s.scalar(select(Student.name).where(Student.id == payment.student_id))
    payer_user_id = getattr(payment, "payer_user_id", None)
    payer_name = None
    if payer_user_id:  # a guardian who paid for their learner is named on the invoice
        payer_name = await s.scalar(
            select(Guardian.name).where(
                Guardian.user_id == payer_user_id, Guardian.deleted.is_(False)
            )
        )
    lines = await _lines(txn, payment, tz)
    sums = core.totals(lines)
    invoice = Invoice(
        tenant_id=txn.tenant_id,
        id=str(uuid.uuid4()),
        number=await _next_number(txn, "invoice"),
        kind="invoice",
        student_id=payment.student_id,
        payer_user_id=payer_user_id,
        payment_id=payment.id,
        refund_id=None,
        credits_invoice_id=None,
        issued_at=txn.now,
        currency=payment.currency,
        lines=[line.as_dict() for line in lines],
        subtotal_cents=sums.subtotal_cents,
        tax_cents=sums.tax_cents,
        total_cents=sums.total_cents,
        status="paid",  # issued for money already taken
        school_name=school,
        school_address=address,
        bill_to_name=student or "",
        payer_name=payer_name,
        payment_reference=payment.provider_ref or payment.id,
        field_hlc={},
        deleted=False,
    )
    txn.stamp("invoice", invoice)
    await s.flush()
    return invoice


async def _credit(txn: WriteTxn, invoice: Invoice, refund: Refund) -> None:
    """The credit note of one succeeded refund (once), and the invoice `credited` when its
    credit notes add up to all of it."""
    s = txn.session
    notes = list(
        (
            await s.scalars(
                select(Invoice).where(
                    Invoice.credits_invoice_id == invoice.id, Invoice.kind == "credit_note"
                )
            )
        ).all()
    )
    if any(n.refund_id == refund.id for n in notes):
        return
    credited = -sum(n.total_cents for n in notes)
    amount = core.creditable(invoice.total_cents, credited, refund.amount_cents)
    if amount == 0:
        return  # nothing left on the invoice to credit
    lines = core.credit_lines(invoice.number, invoice.lines, amount)
    sums = core.totals(lines)
    note = Invoice(
        tenant_id=txn.tenant_id,
        id=str(uuid.uuid4()),
        number=await _next_number(txn, "credit_note"),
        kind="credit_note",
        student_id=invoice.student_id,
        payer_user_id=invoice.payer_user_id,
        payment_id=invoice.payment_id,
        refund_id=refund.id,
        credits_invoice_id=invoice.id,
        issued_at=txn.now,
        currency=invoice.currency,
        lines=[line.as_dict() for line in lines],
        subtotal_cents=sums.subtotal_cents,
        tax_cents=sums.tax_cents,
        total_cents=sums.total_cents,
        status="issued",
        school_name=invoice.school_name,
        school_address=invoice.school_address,
        bill_to_name=invoice.bill_to_name,
        payer_name=invoice.payer_name,
        payment_reference=refund.provider_ref or refund.id,
        field_hlc={},
        deleted=False,
    )
    txn.stamp("invoice", note)
    if credited + amount >= invoice.total_cents and core.may_move(invoice.status, "credited"):
        invoice.status = "credited"
        txn.stamp("invoice", invoice)
    await s.flush()
    await _emit(txn, note)


async def _emit(txn: WriteTxn, note: Invoice) -> None:
    """The credit note's own email (workers/notifications/invoice_mail.py), once."""
    dedupe = f"{CREDIT_NOTE_EVENT}:{note.id}"
    exists = await txn.session.scalar(
        select(OutboxEvent.id).where(OutboxEvent.dedupe_key == dedupe)
    )
    if exists is None:
        payload: dict[str, Any] = {
            "invoice_id": note.id,
            "student_id": note.student_id,
            "payment_id": note.payment_id,
        }
        txn.session.add(new_event(txn.tenant_id, CREDIT_NOTE_EVENT, payload, dedupe))
