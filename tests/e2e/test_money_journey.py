"""Issue 12's journey, in a real browser against the real server, its outbox dispatcher, the
local Stripe stand-in and a real SMTP server on 127.0.0.1: a student on a phone buys a
package in the app (Stripe's hosted page, the signed webhook), books three lessons on
credit while offline, cancels one inside the school's notice (the credit comes back, the
late fee lands on the balance), and receives the package's receipt with its invoice PDF by
email; the instructor completes the other two and sees their earnings for them."""

from __future__ import annotations

import datetime as dt
import time
import uuid
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.conftest import LiveServer
from tests.e2e.pages import (
    eventually,
    go,
    offline,
    online,
    page_of,
    shot,
    sign_in,
    wait_pending,
    wait_synced,
)
from workers.money import split_fee

PHONE_390 = {"width": 390, "height": 844}
STUDENT = "student3@demo.test"  # learns with instructor1; holds no credit in the demo


def weekdays_ahead(days: int, count: int) -> list[str]:
    """`count` different weekdays (Monday to Friday), the first `days` days from today."""
    out: list[str] = []
    day = dt.date.today() + dt.timedelta(days=days)
    while len(out) < count:
        if day.weekday() < 5:
            out.append(day.isoformat())
        day += dt.timedelta(days=1)
    return out


def balance(server: LiveServer) -> list[tuple[Any, ...]]:
    return server.sql(
        "SELECT b.lessons_left, b.owed_cents FROM student_balances b JOIN students s"
        " ON s.id = b.student_id AND s.tenant_id = b.tenant_id WHERE s.email = ?",
        STUDENT,
    )


def credit_bookings(server: LiveServer) -> list[tuple[Any, ...]]:
    return server.sql(
        "SELECT b.id, b.status FROM bookings b JOIN students s ON s.id = b.student_id"
        " AND s.tenant_id = b.tenant_id WHERE s.email = ? AND b.payment_status = 'credit'"
        " ORDER BY b.start",
        STUDENT,
    )


def staff_push(server: LiveServer, email: str, mutations: list[dict[str, Any]]) -> None:
    """What an instructor's app sends: booking status changes, through the sync API."""
    client_id = str(uuid.uuid4())
    ms = int(time.time() * 1000)
    body = {
        "client_id": client_id,
        "schema_version": 1,
        "mutations": [
            {**m, "seq": i + 1, "hlc": f"{ms:013d}-{i:04d}-{client_id}"}
            for i, m in enumerate(mutations)
        ],
    }
    answer = server.api("POST", "/v1/sync/push", body, token=server.token(email))
    assert [r["status"] for r in answer["results"]] == ["applied"] * len(mutations), answer


def patch_status(booking_id: str, status: str) -> dict[str, Any]:
    return {"entity": "booking", "id": booking_id, "op": "patch", "data": {"status": status}}


def pdf_attachments(message: EmailMessage) -> list[bytes]:
    return [
        part.get_payload(decode=True)
        for part in message.iter_attachments()
        if part.get_content_type() == "application/pdf"
    ]


@pytest.mark.stripe
@pytest.mark.dispatcher
@pytest.mark.smtp
def test_buy_a_package_book_on_credit_offline_cancel_late_and_the_instructor_earns(
    server: LiveServer, launch: Any, shots: Path
) -> None:
    assert server.stripe is not None and server.smtp is not None
    admin = server.token("admin@demo.test")
    # The school asks 30 days' notice, and £25 for a cancellation inside it.
    server.api(
        "PATCH", "/v1/admin/school", {"cancel_cutoff_hours": 720, "late_fee_cents": 2500}, admin
    )
    ((package_id, price, lessons),) = server.sql(
        "SELECT id, price_cents, lessons FROM packages WHERE name = '5 lessons'"
    )
    assert balance(server) == []

    ctx = launch("money-journey", viewport=PHONE_390)
    page = page_of(ctx)
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    sign_in(page, server.url, STUDENT)
    go(page, "bookings")

    # 1. Buy the package: Stripe's hosted page, Pay, and back into the app.
    buy = page.locator(f"[data-testid=buy-package][data-package-id='{package_id}']")
    buy.wait_for()
    assert buy.inner_text() == "Buy for £200.00"
    shot(page, shots, "journey-packages-390")
    buy.click()
    page.wait_for_url(f"{server.stripe.base}/pay/*")
    assert "£200.00" in page.inner_text("body")
    page.click("button:has-text('Pay')")
    page.wait_for_url("**/#/bookings/paid")
    page.wait_for_selector("[data-testid=pay-notice]")
    label = page.locator("label[for=book-credit]")
    label.wait_for(timeout=15_000)
    assert "5 lessons left" in label.inner_text()
    assert balance(server) == [(5, 0)]

    # 2. Three lessons on credit, booked offline.
    offline(ctx, server)
    page.wait_for_selector("[data-testid=net]:has-text('Offline')")
    for n, day in enumerate(weekdays_ahead(10, 3), start=1):
        page.fill("#book-day", day)
        page.dispatch_event("#book-day", "change")
        page.wait_for_function("document.querySelector('#book-time').value !== ''")
        credit = page.locator("[data-testid=book-credit]")
        if not credit.is_checked():
            credit.check()
        page.click("form.book button[type=submit]")
        wait_pending(page, n)
    assert credit_bookings(server) == []  # nothing reached the server yet
    online(ctx, server)
    wait_synced(page, timeout=15_000)
    assert eventually(lambda: len(credit_bookings(server)) == 3, 15.0, "3 credit bookings")
    assert eventually(lambda: balance(server) == [(2, 0)])

    # The instructor confirms them (their app's pushes).
    booked = [bid for bid, _status in credit_bookings(server)]
    staff_push(
        server,
        "instructor1@demo.test",
        [
            {"entity": "booking", "id": b, "op": "patch", "data": {"status": "confirmed"}}
            for b in booked
        ],
    )

    # 3. Cancel the first inside the notice: the credit comes back, the fee is owed.
    page.reload()
    page.wait_for_selector("[data-testid=net]")
    go(page, "bookings")
    row = page.locator(f"li.booking[data-booking-id='{booked[0]}']")
    row.locator("button", has_text="Cancel").wait_for(timeout=15_000)
    # The confirmation has reached the phone (a requested lesson owes no fee).
    row.locator(".badge", has_text="confirmed").wait_for(timeout=15_000)
    asked: list[str] = []

    def accept(dialog: Any) -> None:
        asked.append(dialog.message)
        dialog.accept()

    page.once("dialog", accept)
    row.locator("button", has_text="Cancel").click()
    assert "£25.00" in asked[0], asked
    assert eventually(lambda: balance(server) == [(3, 2500)], 15.0, "credit back, fee owed")
    owed = page.locator("[data-testid=pay-balance]")
    owed.wait_for(timeout=15_000)
    assert owed.inner_text() == "Pay £25.00 owed"
    shot(page, shots, "journey-fee-owed-390")

    # 4. The package's receipt, with its invoice as a PDF, at the SMTP server.
    def receipt() -> list[EmailMessage]:
        assert server.smtp is not None
        return [m for m in server.smtp.to(STUDENT) if str(m["Subject"]).startswith("Receipt")]

    assert eventually(lambda: len(receipt()) == 1, 20.0, "the receipt email")
    [mail] = receipt()
    assert "£200.00" in str(mail["Subject"]) and "5 lessons" in str(mail["Subject"])
    [pdf] = pdf_attachments(mail)
    assert pdf.startswith(b"%PDF")
    ((number,),) = server.sql(
        "SELECT i.number FROM invoices i JOIN payments p ON p.id = i.payment_id"
        " AND p.tenant_id = i.tenant_id WHERE p.package_id = ? AND p.provider = 'stripe'"
        " AND p.status = 'succeeded' AND i.kind = 'invoice'",
        package_id,
    )
    assert number in (mail.get_body(("plain",)) or mail).get_content()

    # 5. The two lessons left are played: the instructor sees what they earned for them.
    staff_push(
        server,
        "instructor1@demo.test",
        [
            {"entity": "booking", "id": b, "op": "patch", "data": {"status": "completed"}}
            for b in booked[1:]
        ],
    )
    ((bps,),) = server.sql("SELECT platform_fee_bps FROM tenants WHERE slug = 'demo'")
    _fee, net = split_fee(price // lessons, bps)
    earned = server.sql(
        "SELECT gross_cents, net_cents FROM payouts WHERE booking_id IN (?, ?)", *booked[1:]
    )
    assert sorted(earned) == [(price // lessons, net)] * 2
    ictx = launch("journey-instructor", viewport=PHONE_390)
    inst = page_of(ictx)
    inst.on("pageerror", lambda exc: errors.append(str(exc)))
    sign_in(inst, server.url, "instructor1@demo.test")
    go(inst, "earnings/month")
    total = f"£{2 * net / 100:,.2f}"
    inst.wait_for_selector(f"[data-testid=earnings-summary]:has-text('{total}')", timeout=15_000)
    assert "All 2 lessons" in inst.inner_text("[data-testid=earnings-summary]")
    shot(inst, shots, "journey-earnings-390")
    assert errors == [], errors
