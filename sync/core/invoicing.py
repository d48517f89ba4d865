"""Invoice arithmetic: numbers, lines and totals, credit notes, and how far an invoice's status
may move. Pure (the issuing with its counters and rows is workers/payments/invoicing.py).

Amounts are integer minor units. An invoice's lines add up to its subtotal; tax is 0 (no
school has a tax rate yet) so the total is the subtotal. A credit note is the same shape with
negative amounts, and the credit notes of an invoice never add up to more than it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

# The series of each kind: separate counters, so both run gap-free on their own.
SERIES = {"invoice": "INV", "credit_note": "CN"}
DIGITS = 6

# Statuses only move forward: issued → paid → credited, or issued → void.
NEXT = {
    "issued": {"paid", "void", "credited"},
    "paid": {"credited"},
    "void": set(),
    "credited": set(),
}


def format_number(series: str, n: int) -> str:
    """`("INV", 1)` → "INV-000001" (wider once a school passes 999,999: never truncated)."""
    if n < 1:
        raise ValueError("invoice numbers start at 1")
    return f"{series}-{n:0{DIGITS}d}"


def may_move(current: str, target: str) -> bool:
    """Whether an invoice's status may go from `current` to `target` (staying is no move)."""
    return target in NEXT.get(current, set())


@dataclass(frozen=True)
class Line:
    description: str
    quantity: int
    unit_cents: int

    @property
    def amount_cents(self) -> int:
        return self.quantity * self.unit_cents

    def as_dict(self) -> dict[str, Any]:
        return {
            "description": self.description,
            "quantity": self.quantity,
            "unit_cents": self.unit_cents,
            "amount_cents": self.amount_cents,
        }


@dataclass(frozen=True)
class Totals:
    subtotal_cents: int
    tax_cents: int
    total_cents: int


def totals(lines: list[Line], tax_cents: int = 0) -> Totals:
    subtotal = sum(line.amount_cents for line in lines)
    return Totals(subtotal, tax_cents, subtotal + tax_cents)


def lesson_description(start: str, service: str, instructor: str) -> str:
    """The line for a paid lesson: "Driving lesson, Tue 24 Nov 2026, 10:00, 1 hour lesson,
    Tom Baker" (parts that are unknown are left out)."""
    return ", ".join(part for part in ("Driving lesson", start, service, instructor) if part)


def credit_lines(
    invoice_number: str, invoice_lines: list[dict[str, Any]], amount: int
) -> list[Line]:
    """A credit note's lines for `amount` (> 0) given back on an invoice: the invoice's own
    lines negated when the whole of it is credited at once, else one line for the part."""
    if amount <= 0:
        raise ValueError("a credit note credits a positive amount")
    whole = sum(int(line["amount_cents"]) for line in invoice_lines)
    if amount == whole:
        return [
            Line(f"Refund: {line['description']}", int(line["quantity"]), -int(line["unit_cents"]))
            for line in invoice_lines
        ]
    return [Line(f"Partial refund of invoice {invoice_number}", 1, -amount)]


def creditable(invoice_total: int, credited_so_far: int, refund: int) -> int:
    """How much of a refund a new credit note may credit: never more than is left on the
    invoice (a refund made in Stripe's dashboard could exceed what the invoice says)."""
    return max(0, min(refund, invoice_total - credited_so_far))
