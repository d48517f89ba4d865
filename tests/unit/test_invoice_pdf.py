"""The invoice PDF (workers/payments/invoice_pdf.py), read back with pypdf: the number,
lines and totals are in it, a credit note says so, two renders are the same bytes, and text
outside Latin-1 is spelled out rather than failing."""

from __future__ import annotations

import datetime as dt
import io
from zoneinfo import ZoneInfo

from pypdf import PdfReader

from workers.payments.invoice_pdf import InvoiceDoc, doc_of, latin1, render


def _doc(**over: object) -> InvoiceDoc:
    base: dict[str, object] = {
        "number": "INV-000123",
        "kind": "invoice",
        "issued_at": dt.datetime(2026, 12, 2, 9, 30, tzinfo=dt.UTC),
        "issued_on": "02 December 2026",
        "status": "paid",
        "school_name": "Exampleton Driving School",
        "school_address": "1 High Street\nExampleton",
        "bill_to_name": "Amelia Clarke",
        "payer_name": "Grace Clarke",
        "currency": "GBP",
        "lines": (
            {
                "description": "Driving lesson, Tue 24 Nov 2026, 10:00, Standard lesson, Tom",
                "quantity": 1,
                "unit_cents": 4200,
                "amount_cents": 4200,
            },
            {
                "description": "Motorway lesson",
                "quantity": 2,
                "unit_cents": 5000,
                "amount_cents": 10000,
            },
        ),
        "subtotal_cents": 14200,
        "tax_cents": 0,
        "total_cents": 14200,
        "payment_reference": "pi_3Nabc",
    }
    return InvoiceDoc(**{**base, **over})  # type: ignore[arg-type]


def _text(pdf: bytes) -> str:
    reader = PdfReader(io.BytesIO(pdf))
    return "\n".join(page.extract_text() for page in reader.pages)


def test_invoice_shows_number_lines_totals_and_payer() -> None:
    pdf = render(_doc())
    assert pdf.startswith(b"%PDF-")
    text = _text(pdf)
    for expected in (
        "INVOICE",
        "INV-000123",
        "02 December 2026",
        "Exampleton Driving School",
        "Amelia Clarke",
        "Paid by Grace Clarke",
        "Motorway lesson",
        "£42.00",
        "£100.00",
        "£142.00",
        "pi_3Nabc",
    ):
        assert expected in text, expected
    assert "Credit note" not in text and "CREDIT NOTE" not in text


def test_credit_note_has_its_heading_negative_total_and_the_invoice() -> None:
    doc = _doc(
        number="CN-000004",
        kind="credit_note",
        status="issued",
        lines=(
            {
                "description": "Partial refund",
                "quantity": 1,
                "unit_cents": -1000,
                "amount_cents": -1000,
            },
        ),
        subtotal_cents=-1000,
        total_cents=-1000,
        credits_number="INV-000123",
        payer_name=None,
    )
    text = _text(render(doc))
    assert "CREDIT NOTE" in text and "CN-000004" in text and "-£10.00" in text
    assert "Credits invoice: INV-000123" in text and "Paid by" not in text


def test_two_renders_are_the_same_bytes_and_dated_when_issued() -> None:
    doc = _doc()
    first, second = render(doc), render(doc)
    assert first == second
    created = PdfReader(io.BytesIO(first)).metadata.creation_date
    assert created is not None and created.astimezone(dt.UTC) == doc.issued_at
    later = render(_doc(issued_at=doc.issued_at + dt.timedelta(days=1)))
    assert later != first  # the date is the document's own, not the clock's


def test_text_outside_latin1_is_spelled_out() -> None:
    dashed = "Zoë £5 \u2013 \u201cok\u201d \u20ac3 Łódź Đ"  # en dash, curly quotes, euro
    assert latin1(dashed) == 'Zoë £5 - "ok" EUR 3 Lódz D'
    assert latin1("日本") == "??"
    text = _text(render(_doc(currency="EUR", bill_to_name="Łukasz Żak")))
    assert "Lukasz Zak" in text and "EUR 142.00" in text


def test_doc_of_reads_a_row_in_the_schools_timezone() -> None:
    class Row:
        number, kind, status = "INV-000001", "invoice", "paid"
        issued_at = dt.datetime(2026, 12, 31, 23, 30, tzinfo=dt.UTC)
        school_name, school_address = "S", None
        bill_to_name, payer_name, currency = "A", None, "GBP"
        lines = [{"description": "x", "quantity": 1, "unit_cents": 1, "amount_cents": 1}]
        subtotal_cents, tax_cents, total_cents = 1, 0, 1
        payment_reference = "ref"

    doc = doc_of(Row(), ZoneInfo("Pacific/Auckland"))
    assert doc.issued_on == "01 January 2027" and doc.filename == "INV-000001.pdf"
