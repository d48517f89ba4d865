"""The admins' money views in the PWA (issue 12): the demo school's payments with their
total, a student filter, payouts, and the CSV download of the rows shown. Screenshots at
390 px and on a desktop."""

from __future__ import annotations

import csv
import io
from pathlib import Path
from typing import Any

from tests.e2e.conftest import DESKTOP, LiveServer
from tests.e2e.pages import go, page_of, shot, sign_in

PHONE_390 = {"width": 390, "height": 844}


def test_admin_reads_and_downloads_the_schools_payments(
    server: LiveServer, launch: Any, shots: Path
) -> None:
    page = page_of(launch("money-admin", viewport=DESKTOP))
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    sign_in(page, server.url, "admin@demo.test")
    paid = server.sql(
        "SELECT p.id, p.amount_cents, s.name FROM payments p JOIN students s"
        " ON s.id = p.student_id AND s.tenant_id = p.tenant_id JOIN tenants t"
        " ON t.id = p.tenant_id WHERE t.slug = 'demo'"
    )
    assert len(paid) >= 2, "the demo seeds paid past lessons with their payments"
    go(page, "money")
    page.wait_for_selector("[data-testid=money] tbody tr")
    rows = page.locator("[data-testid=money] tbody tr")
    assert rows.count() == len(paid)
    status = page.inner_text("[data-testid=money-status]")
    total = sum(a for _, a, _ in paid)
    assert f"{len(paid)} payments" in status and f"£{total / 100:,.2f}" in status, status
    shot(page, shots, "money-desktop")

    # One student's payments only.
    name = paid[0][2]
    page.select_option("#money-student", label=name)
    page.click(".money-filters button[type=submit]")
    theirs = [p for p in paid if p[2] == name]
    page.wait_for_function(
        "n => document.querySelectorAll('[data-testid=money] tbody tr').length === n",
        arg=len(theirs),
    )
    assert all(name in r for r in rows.all_inner_texts())

    # The CSV holds the rows the screen shows.
    with page.expect_download() as got:
        page.click("[data-testid=money-csv]")
    download = got.value
    assert download.suggested_filename.startswith("payments-")
    text = Path(download.path()).read_text(encoding="utf-8")
    table = list(csv.reader(io.StringIO(text)))
    header, lines = table[0], table[1:]
    assert {line[header.index("id")] for line in lines} == {p[0] for p in theirs}
    assert {line[header.index("student_name")] for line in lines} == {name}

    # Invoices: the desk payments' (and the desk-sold package's), newest first.
    page.select_option("#money-student", "")
    page.select_option("#money-kind", "invoices")
    assert page.locator("#money-instructor").is_disabled()  # an invoice names no instructor
    page.click(".money-filters button[type=submit]")
    numbers = server.sql(
        "SELECT i.number FROM invoices i JOIN tenants t ON t.id = i.tenant_id WHERE t.slug = 'demo'"
    )
    page.wait_for_function(
        "n => document.querySelectorAll('[data-testid=money] tbody tr').length === n",
        arg=len(numbers),
    )
    assert all(n in page.inner_text("[data-testid=money]") for (n,) in numbers)

    # Payouts: none yet in the demo, said plainly.
    page.select_option("#money-student", "")
    page.select_option("#money-kind", "payouts")
    page.click(".money-filters button[type=submit]")
    page.wait_for_selector("[data-testid=money-status]:has-text('payouts')")
    assert not errors, errors


def test_the_money_views_on_a_phone(server: LiveServer, launch: Any, shots: Path) -> None:
    page = page_of(launch("money-phone", viewport=PHONE_390))
    sign_in(page, server.url, "admin@demo.test")
    go(page, "money")
    page.wait_for_selector("[data-testid=money] tbody tr")
    shot(page, shots, "money-390")
