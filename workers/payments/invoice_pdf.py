"""An invoice or credit note as an A4 PDF (fpdf2): data in, bytes out, nothing else.

Rendered when asked for (the download, the email attachment) from the stored invoice row, so
there is no file to keep in step. Deterministic: the document's creation date is the
invoice's `issued_at`, so two renders of one invoice are the same bytes.

Fonts: the PDF core font Helvetica, which holds Latin-1 only ("£" is in it); text outside
Latin-1 is spelled with its nearest Latin-1 letters ("€" as "EUR ", "Ł" as "L"). An embedded
Unicode TTF (DejaVu Sans) was tried and left out: no font is reliably installed where the
server runs, and subsetting it cost about 260 ms a render against 13 ms for the core font,
on the request path of a download and in the dispatcher.
"""

from __future__ import annotations

import datetime as dt
import unicodedata
from dataclasses import dataclass
from typing import Any
from zoneinfo import ZoneInfo

from fpdf import FPDF
from fpdf.enums import XPos, YPos

from workers.money import format_money

# Text outside Latin-1 the core fonts cannot show, spelled with Latin-1 (by code point, so
# the source holds no look-alike quote characters).
_LATIN1_SPELLING = {
    "\u20ac": "EUR ",  # euro sign
    "\u2013": "-",  # en dash
    "\u2014": "-",  # em dash
    "\u2018": "'",
    "\u2019": "'",
    "\u201c": '"',
    "\u201d": '"',
    "\u2026": "...",
    "\u2022": "-",  # bullet
    "\u0141": "L",  # L with stroke (no decomposition)
    "\u0142": "l",
    "\u0110": "D",  # D with stroke (no decomposition either)
    "\u0111": "d",
}


@dataclass(frozen=True)
class InvoiceDoc:
    """What the PDF shows (all formatted but the amounts, which are minor units)."""

    number: str
    kind: str  # 'invoice' | 'credit_note'
    issued_at: dt.datetime
    issued_on: str  # the date as the school reads it
    status: str
    school_name: str
    school_address: str | None
    bill_to_name: str
    payer_name: str | None
    currency: str
    lines: tuple[dict[str, Any], ...]
    subtotal_cents: int
    tax_cents: int
    total_cents: int
    payment_reference: str
    credits_number: str | None = None  # a credit note's invoice

    @property
    def filename(self) -> str:
        return f"{self.number}.pdf"


def doc_of(row: Any, tz: ZoneInfo, credits_number: str | None = None) -> InvoiceDoc:
    """The document of an `invoices` row (or anything with its fields)."""
    return InvoiceDoc(
        number=row.number,
        kind=row.kind,
        issued_at=row.issued_at,
        issued_on=row.issued_at.astimezone(tz).strftime("%d %B %Y"),
        status=row.status,
        school_name=row.school_name,
        school_address=row.school_address,
        bill_to_name=row.bill_to_name,
        payer_name=row.payer_name,
        currency=row.currency,
        lines=tuple(row.lines),
        subtotal_cents=row.subtotal_cents,
        tax_cents=row.tax_cents,
        total_cents=row.total_cents,
        payment_reference=row.payment_reference,
        credits_number=credits_number,
    )


def latin1(text: str) -> str:
    """Text the core fonts can show: Latin-1 as is, the rest spelled out or stripped to its
    base letter ("Zoë" stays, "ź" becomes "z"), "?" when there is none."""
    out = []
    for ch in text:
        if ord(ch) < 256:
            out.append(ch)
        elif ch in _LATIN1_SPELLING:
            out.append(_LATIN1_SPELLING[ch])
        else:
            base = unicodedata.normalize("NFKD", ch).encode("latin-1", "ignore").decode("latin-1")
            out.append(base or "?")
    return "".join(out)


class _Pdf(FPDF):
    def t(self, text: str) -> str:
        return latin1(text)

    def use(self, size: float, bold: bool = False) -> None:
        self.set_font("Helvetica", "B" if bold else "", size)


def render(doc: InvoiceDoc) -> bytes:
    """The PDF of `doc` (A4, core fonts; see the module docstring)."""
    pdf = _Pdf(orientation="P", unit="mm", format="A4")
    credit = doc.kind == "credit_note"
    title = "Credit note" if credit else "Invoice"
    pdf.set_creation_date(doc.issued_at.astimezone(dt.UTC))
    pdf.set_title(pdf.t(f"{title} {doc.number} - {doc.school_name}"))
    pdf.set_author(pdf.t(doc.school_name))
    pdf.set_creator("DriveSync")
    pdf.set_margins(18, 18, 18)
    pdf.set_auto_page_break(True, margin=20)
    pdf.add_page()
    width = pdf.epw

    def money(cents: int) -> str:
        return pdf.t(format_money(cents, doc.currency))

    # Heading: the school on the left, the document's kind and number on the right.
    top = pdf.get_y()
    pdf.use(16, bold=True)
    pdf.multi_cell(width * 0.6, 8, pdf.t(doc.school_name), new_x=XPos.LMARGIN, new_y=YPos.NEXT)
    pdf.use(9)
    if doc.school_address:
        pdf.multi_cell(
            width * 0.6, 4.5, pdf.t(doc.school_address), new_x=XPos.LMARGIN, new_y=YPos.NEXT
        )
    left_end = pdf.get_y()
    pdf.set_xy(pdf.l_margin + width * 0.6, top)
    pdf.use(20, bold=True)
    pdf.cell(width * 0.4, 9, title.upper(), align="R", new_x=XPos.LEFT, new_y=YPos.NEXT)
    pdf.use(10)
    facts = [("Number", doc.number), ("Date", doc.issued_on)]
    if doc.credits_number:
        facts.append(("Credits invoice", doc.credits_number))
    facts.append(("Status", doc.status.capitalize()))
    for label, value in facts:
        pdf.set_x(pdf.l_margin + width * 0.6)
        pdf.cell(
            width * 0.4,
            5.5,
            pdf.t(f"{label}: {value}"),
            align="R",
            new_x=XPos.LEFT,
            new_y=YPos.NEXT,
        )
    pdf.set_y(max(left_end, pdf.get_y()) + 8)

    # Bill to.
    pdf.use(8, bold=True)
    pdf.set_text_color(100)
    pdf.cell(0, 5, "BILL TO", new_x=XPos.LMARGIN, new_y=YPos.NEXT)
    pdf.set_text_color(0)
    pdf.use(11)
    pdf.cell(0, 6, pdf.t(doc.bill_to_name), new_x=XPos.LMARGIN, new_y=YPos.NEXT)
    if doc.payer_name:
        pdf.use(9)
        pdf.cell(0, 5, pdf.t(f"Paid by {doc.payer_name}"), new_x=XPos.LMARGIN, new_y=YPos.NEXT)
    pdf.ln(6)

    # The lines.
    cols = (width * 0.58, width * 0.1, width * 0.16, width * 0.16)
    pdf.use(9, bold=True)
    pdf.set_fill_color(235, 238, 242)
    for text, w, align in zip(
        ("Description", "Qty", "Unit price", "Amount"), cols, "LRRR", strict=True
    ):
        pdf.cell(w, 8, text, align=align, fill=True)
    pdf.ln(8)
    pdf.use(9)
    for line in doc.lines:
        text, y = pdf.t(str(line["description"])), pdf.get_y()
        wrapped = pdf.multi_cell(cols[0], 6, text, dry_run=True, output="LINES")
        height = 6 * (len(wrapped) if isinstance(wrapped, list) else 1)
        pdf.multi_cell(cols[0], 6, text, new_x=XPos.RIGHT, new_y=YPos.TOP)
        pdf.cell(cols[1], 6, str(line["quantity"]), align="R")
        pdf.cell(cols[2], 6, money(int(line["unit_cents"])), align="R")
        pdf.cell(cols[3], 6, money(int(line["amount_cents"])), align="R")
        pdf.set_y(y + height + 1)
        pdf.set_draw_color(220)
        pdf.line(pdf.l_margin, pdf.get_y(), pdf.l_margin + width, pdf.get_y())
        pdf.ln(2)
    pdf.ln(3)

    # Totals, right-aligned under the amounts.
    label_w, value_w = width * 0.3, width * 0.16
    x = pdf.l_margin + width - label_w - value_w
    sums = [("Subtotal", doc.subtotal_cents, False), ("Tax", doc.tax_cents, False)]
    sums.append(("Total credited" if credit else "Total", doc.total_cents, True))
    for label, cents, strong in sums:
        pdf.set_x(x)
        pdf.use(11 if strong else 9, bold=strong)
        pdf.cell(label_w, 7, label, align="R")
        pdf.cell(value_w, 7, money(cents), align="R", new_x=XPos.LMARGIN, new_y=YPos.NEXT)
    pdf.ln(8)

    pdf.use(9)
    reference = "Refund reference" if credit else "Payment reference"
    pdf.cell(
        0, 5, pdf.t(f"{reference}: {doc.payment_reference}"), new_x=XPos.LMARGIN, new_y=YPos.NEXT
    )
    pdf.set_text_color(100)
    note = (
        f"This credit note reduces invoice {doc.credits_number}; the amount was refunded "
        "to the card it was paid with."
        if credit
        else "Paid in full. Thank you for learning to drive with us."
    )
    pdf.multi_cell(0, 5, pdf.t(note), new_x=XPos.LMARGIN, new_y=YPos.NEXT)
    return bytes(pdf.output())
