"""Invoices by email: any event whose payload names an `invoice_id` (the receipt,
`payment_succeeded`; a credit note's own `credit_note_issued`) carries that invoice's PDF,
rendered when the event is delivered from the invoice row (workers/payments/invoice_pdf.py).
The facts `invoice` (number, kind, total) are there for the wording.

`credit_note_issued` (queued by workers/payments/invoicing.py when a refund's credit note is
issued) goes to the student, and their guardians' copies like every payment mail.
"""

from __future__ import annotations

import asyncio
from typing import Any

from schemas import Invoice
from workers.money import format_money
from workers.notifications.attachments import Attachment
from workers.notifications.recipients import Expansion, Facts
from workers.payments import invoice_pdf


async def _load(f: Facts, invoice_id: Any) -> tuple[Invoice | None, Invoice | None]:
    """The invoice and, for a credit note, the invoice it credits."""
    row: Invoice | None = await f._get(Invoice, invoice_id if isinstance(invoice_id, str) else None)
    if row is None or row.deleted:
        return None, None
    credited: Invoice | None = await f._get(Invoice, row.credits_invoice_id)
    return row, credited


def _facts(row: Invoice, credited: Invoice | None) -> dict[str, Any]:
    return {
        "id": row.id,
        "number": row.number,
        "kind": row.kind,
        "total": format_money(row.total_cents, row.currency),
        "amount": format_money(abs(row.total_cents), row.currency),
        "credits_number": credited.number if credited else "",
    }


async def attach(f: Facts, payload: dict[str, Any], expansion: Expansion) -> None:
    """Add the PDF (and the `invoice` facts) of the payload's invoice, when it names one."""
    if expansion.stale or not payload.get("invoice_id"):
        return
    row, credited = await _load(f, payload["invoice_id"])
    if row is None:
        return
    doc = invoice_pdf.doc_of(row, f.tz, credited.number if credited else None)
    data = await asyncio.to_thread(invoice_pdf.render, doc)  # ~13 ms: off the event loop
    expansion.attachments.append(Attachment(doc.filename, "application/pdf", data))
    expansion.context.setdefault("invoice", _facts(row, credited))


async def _credit_note(f: Facts, p: dict[str, Any]) -> Expansion:
    row, credited = await _load(f, p.get("invoice_id"))
    if row is None:
        return Expansion(stale="credit note not found")
    student = await f.student(row.student_id)
    if student is None:
        return Expansion(stale="student not found")
    return Expansion([student], {"invoice": _facts(row, credited)})


EXPANDERS = {"credit_note_issued": _credit_note}
