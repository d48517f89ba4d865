"""Invoices by email through the local SMTP server, on both databases: the receipt of a card
payment carries the invoice's PDF, and a refund's credit note goes as its own mail with its
PDF; the student's guardian gets the same copies (payment kinds are theirs by default)."""

from __future__ import annotations

import io
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest
from pypdf import PdfReader
from sqlalchemy import select

from schemas import Invoice, Payment
from server.app import create_app
from server.routes.effects import WORKER_CONFIG
from sync.tenancy import ALL_TENANTS, bind_tenant
from tests.conftest import Db, bearer, login, make_settings
from tests.workers.conftest import (
    STRIPE_KEY,
    STRIPE_WHSEC,
    book_and_confirm,
    dispatcher,
    worker_config,
)
from tests.workers.peers import SmtpPeer, StripePeer, stripe_event, stripe_signature


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


def _of(smtp: SmtpPeer, address: str, event: str) -> list[EmailMessage]:
    return [m for m in smtp.to(address) if m["X-DriveSync-Event"] == event]


def _pdfs(mail: EmailMessage) -> list[tuple[str, str]]:
    """(filename, text) of each PDF attached."""
    out = []
    for part in mail.iter_attachments():
        assert isinstance(part, EmailMessage)
        if part.get_content_type() == "application/pdf":
            data = part.get_payload(decode=True)
            assert isinstance(data, bytes) and data.startswith(b"%PDF-")
            text = PdfReader(io.BytesIO(data)).pages[0].extract_text()
            out.append((str(part.get_filename()), text))
    return out


async def test_receipt_and_credit_note_mails_carry_the_pdfs(
    pay: Any,
    stripe_api: StripePeer,
    db: Db,
    tmp_path: Path,
    smtp: SmtpPeer,
    closing: list[Any],
) -> None:
    st, _inst, bid = await book_and_confirm(pay)
    resp = await pay.post("/v1/payments/intents", json={"booking_id": bid}, headers=st.headers)
    pi = stripe_api.intents[(await resp.json())["payment_intent_id"]]
    body = stripe_event("payment_intent.succeeded", {**pi, "status": "succeeded"})
    hook = await pay.post(
        "/v1/webhooks/stripe/demo",
        data=body,
        headers={"Stripe-Signature": stripe_signature(body, STRIPE_WHSEC)},
    )
    assert hook.status == 200
    async with db.sessions() as s:
        bind_tenant(s, ALL_TENANTS)
        payment = (await s.scalars(select(Payment).where(Payment.provider_ref == pi["id"]))).one()
        invoice = (await s.scalars(select(Invoice).where(Invoice.payment_id == payment.id))).one()

    d = dispatcher(db, worker_config(db, tmp_path, smtp_url=smtp.url))
    closing.append(d)
    await d.run(once=True)
    for address in ("student1@demo.test", "guardian1@demo.test"):
        [receipt] = _of(smtp, address, "payment_succeeded")
        assert receipt.get_content_type() == "multipart/mixed"
        [(filename, text)] = _pdfs(receipt)
        assert filename == f"{invoice.number}.pdf"
        assert invoice.number in text and "£42.00" in text and "INVOICE" in text
        plain = receipt.get_body(preferencelist=("plain",))
        assert plain is not None and f"invoice {invoice.number} is attached" in plain.get_content()

    admin = bearer(await login(pay, "admin@demo.test"))
    refund = await pay.post(
        f"/v1/admin/payments/{payment.id}/refund", json={"amount_cents": 1500}, headers=admin
    )
    assert refund.status == 201
    async with db.sessions() as s:
        bind_tenant(s, ALL_TENANTS)
        note = (
            await s.scalars(select(Invoice).where(Invoice.credits_invoice_id == invoice.id))
        ).one()
    await d.run(once=True)
    for address in ("student1@demo.test", "guardian1@demo.test"):
        [mail] = _of(smtp, address, "credit_note_issued")
        assert note.number in str(mail["Subject"]) and "£15.00" in str(mail["Subject"])
        [(filename, text)] = _pdfs(mail)
        assert filename == f"{note.number}.pdf"
        assert "CREDIT NOTE" in text and note.number in text and invoice.number in text
        assert "-£15.00" in text
        # The refund's own mail says what was refunded and carries no PDF of its own.
        [refunded] = _of(smtp, address, "payment_refunded")
        assert not _pdfs(refunded)
    assert len(_of(smtp, "student1@demo.test", "payment_succeeded")) == 1  # sent once
