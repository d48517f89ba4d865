"""Invoices: `GET /v1/invoices/{invoice_id}.pdf`, an invoice or credit note as a PDF for its
student, their guardians and the school's admins (anyone else: 404 `not_found`). Thin: the
reading, scope check and rendering are workers/payments/invoice_files.py."""

from __future__ import annotations

import uuid

from aiohttp import web

from server.http import principal
from server.keys import SYNC
from sync.errors import NotFound
from workers.payments.invoice_files import invoice_file

routes = web.RouteTableDef()


@routes.get("/v1/invoices/{invoice_id}.pdf")
async def invoice_pdf(request: web.Request) -> web.Response:
    raw = request.match_info["invoice_id"]
    try:
        invoice_id = str(uuid.UUID(raw))
    except ValueError:
        # Not an id an invoice can have: the same answer as an unknown invoice.
        raise NotFound("no such invoice", {"field": "invoice_id"}) from None
    found = await invoice_file(request.app[SYNC].store, principal(request), invoice_id)
    headers = {
        "Content-Disposition": f'attachment; filename="{found.filename}"',
        # A personal document: no shared cache may keep it.
        "Cache-Control": "private, no-store",
    }
    return web.Response(body=found.data, content_type="application/pdf", headers=headers)
