"""Invoice arithmetic (sync/core/invoicing.py): numbers, totals, credit-note lines, how
much a refund may credit, and the statuses' forward-only moves."""

from __future__ import annotations

import pytest

from sync.core import invoicing as core


def test_numbers_are_zero_padded_per_series_and_never_truncated() -> None:
    assert core.format_number("INV", 1) == "INV-000001"
    assert core.format_number("CN", 42) == "CN-000042"
    assert core.format_number("INV", 1_234_567) == "INV-1234567"
    with pytest.raises(ValueError):
        core.format_number("INV", 0)


def test_totals_add_the_lines_and_tax() -> None:
    lines = [core.Line("Lesson", 2, 4200), core.Line("Fee", 1, 500)]
    assert [line.amount_cents for line in lines] == [8400, 500]
    assert core.totals(lines) == core.Totals(8900, 0, 8900)
    assert core.totals(lines, tax_cents=100) == core.Totals(8900, 100, 9000)
    assert lines[0].as_dict() == {
        "description": "Lesson",
        "quantity": 2,
        "unit_cents": 4200,
        "amount_cents": 8400,
    }


def test_lesson_description_leaves_out_what_is_unknown() -> None:
    assert (
        core.lesson_description("Tue 24 Nov 2026, 10:00", "Standard lesson", "Tom Baker")
        == "Driving lesson, Tue 24 Nov 2026, 10:00, Standard lesson, Tom Baker"
    )
    assert core.lesson_description("Tue 24 Nov 2026, 10:00", "", "") == (
        "Driving lesson, Tue 24 Nov 2026, 10:00"
    )


def test_a_whole_refund_negates_the_invoice_lines_a_part_is_one_line() -> None:
    lines = [core.Line("Driving lesson, Tue", 1, 4200).as_dict()]
    whole = core.credit_lines("INV-000003", lines, 4200)
    assert [(x.description, x.quantity, x.amount_cents) for x in whole] == [
        ("Refund: Driving lesson, Tue", 1, -4200)
    ]
    part = core.credit_lines("INV-000003", lines, 1000)
    assert [(x.description, x.amount_cents) for x in part] == [
        ("Partial refund of invoice INV-000003", -1000)
    ]
    assert core.totals(part).total_cents == -1000
    with pytest.raises(ValueError):
        core.credit_lines("INV-000003", lines, 0)


@pytest.mark.parametrize(
    ("total", "so_far", "refund", "credit"),
    [(4200, 0, 1000, 1000), (4200, 1000, 3200, 3200), (4200, 4000, 1000, 200), (4200, 4200, 5, 0)],
)
def test_credit_notes_never_exceed_the_invoice(
    total: int, so_far: int, refund: int, credit: int
) -> None:
    assert core.creditable(total, so_far, refund) == credit


def test_status_moves_only_forward() -> None:
    assert core.may_move("issued", "paid") and core.may_move("paid", "credited")
    assert core.may_move("issued", "void")
    assert not core.may_move("credited", "paid")
    assert not core.may_move("void", "paid")
    assert not core.may_move("paid", "paid")
