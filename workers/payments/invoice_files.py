"""An invoice's PDF for `GET /v1/invoices/{invoice_id}.pdf`: read and scope-checked as a pull
is (its student, their guardians, the school's admins), rendered from the row. An invoice the
caller may not read is not found, exactly like one that does not exist, so ids cannot be
probed."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from zoneinfo import ZoneInfo

from sqlalchemy import select

from schemas import Invoice, Tenant
from sync.access import load_scope
from sync.core.entities import ENTITIES
from sync.core.principal import Principal
from sync.errors import NotFound
from sync.store import Store
from workers.payments import invoice_pdf


@dataclass(frozen=True)
class InvoiceFile:
    filename: str
    data: bytes


async def invoice_file(store: Store, who: Principal, invoice_id: str) -> InvoiceFile:
    missing = NotFound("no such invoice", {"field": "invoice_id"})
    async with store.read(who.tenant_id) as session:
        row = await session.scalar(select(Invoice).where(Invoice.id == invoice_id))
        if row is None or row.deleted:
            raise missing
        scope = await load_scope(session, who)
        if not scope.sees("invoice", *ENTITIES["invoice"].keys.of(row)):
            raise missing
        credited = None
        if row.credits_invoice_id:
            credited = await session.scalar(
                select(Invoice.number).where(Invoice.id == row.credits_invoice_id)
            )
        timezone = await session.scalar(select(Tenant.timezone).where(Tenant.id == who.tenant_id))
        doc = invoice_pdf.doc_of(row, ZoneInfo(timezone or "UTC"), credited)
    # About 13 ms of pure Python: off the event loop, like any render.
    data = await asyncio.to_thread(invoice_pdf.render, doc)
    return InvoiceFile(doc.filename, data)
