"""Invoices in the PWA (issue 12): the student sees their invoices (the demo's desk payments
have them) under Bookings, downloads one as a PDF (the browser's download event, bytes that
begin %PDF and hold the invoice's number), and offline the list still shows while the
download says it needs a connection. The guardian sees each learner's invoices. Screenshots
at 390 px and 1280 px wide (test-artifacts/screenshots/, copied to docs/screenshots/)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tests.e2e.conftest import DESKTOP, LiveServer
from tests.e2e.pages import go, offline, online, page_of, shot, sign_in

PHONE_390 = {"width": 390, "height": 844}


def _numbers(server: LiveServer, email: str) -> list[str]:
    rows = server.sql(
        "SELECT i.number FROM invoices i JOIN students s ON s.id = i.student_id"
        " AND s.tenant_id = i.tenant_id WHERE s.email = ? ORDER BY i.number",
        email,
    )
    return [number for (number,) in rows]


def test_student_lists_and_downloads_invoices_offline_list_still_shows(
    server: LiveServer, launch: Any, shots: Path, tmp_path: Path
) -> None:
    errors: list[str] = []
    numbers = _numbers(server, "student1@demo.test")
    assert numbers, "the demo's desk payments should have invoices"
    ctx = launch("student", viewport=PHONE_390, accept_downloads=True)
    page = page_of(ctx)
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    sign_in(page, server.url, "student1@demo.test")
    go(page, "bookings")
    items = page.locator("[data-testid=invoices] [data-testid=invoice]")
    items.first.wait_for()
    shown = sorted(items.nth(i).locator("strong").inner_text() for i in range(items.count()))
    assert shown == numbers
    first = items.first
    number = first.locator("strong").inner_text()
    with page.expect_download() as info:
        first.get_by_role("button", name=f"Download PDF of invoice {number}").click()
    download = info.value
    assert download.suggested_filename == f"{number}.pdf"
    saved = tmp_path / "invoice.pdf"
    download.save_as(saved)
    data = saved.read_bytes()
    assert data.startswith(b"%PDF")
    from pypdf import PdfReader  # the PDF's text: it is this invoice

    assert number in PdfReader(str(saved)).pages[0].extract_text()
    page.evaluate("window.scrollTo(0, 0)")  # the sticky bar stays at the top of the shot
    shot(page, shots, "invoices-student-390")
    page.set_viewport_size(DESKTOP)
    shot(page, shots, "invoices-student-desktop")

    offline(ctx, server)
    go(page, "home")
    go(page, "bookings")  # rendered again from the replica, offline
    items.first.wait_for()
    assert items.count() == len(numbers)
    items.first.get_by_role("button").click()
    status = items.first.locator("[data-testid=invoice-download-status]")
    assert status.inner_text() == "Download needs a connection"
    online(ctx, server)
    assert errors == []


def test_guardian_sees_each_learners_invoices(server: LiveServer, launch: Any, shots: Path) -> None:
    errors: list[str] = []
    ctx = launch("guardian", viewport=DESKTOP)
    page = page_of(ctx)
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    sign_in(page, server.url, "guardian1@demo.test")
    page.wait_for_selector("#main[data-view='home'] [data-testid=learner]")
    learners = page.locator("[data-testid=learner]")
    assert learners.count() == 2
    for i in range(2):
        card = learners.nth(i)
        (email,) = server.sql(
            "SELECT email FROM students WHERE id = ?", card.get_attribute("data-id")
        )[0]
        listed = card.locator("[data-testid=invoices] [data-testid=invoice] strong")
        listed.first.wait_for()
        assert sorted(listed.all_inner_texts()) == _numbers(server, email)
    shot(page, shots, "invoices-guardian-desktop")
    page.set_viewport_size(PHONE_390)
    shot(page, shots, "invoices-guardian-390")
    assert errors == []
