"""Booking with credit in the PWA (issue 12): the demo's student2 holds 4 lessons of a
5-lesson package; on a phone, offline, they request a lesson paid with credit; back online
the server draws it and their balance drops to 3; the office sees the balance on the
student's page and the packages in the catalogue, their guardian on the learner's card.
Screenshots at 390 px and 1280 px."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

from tests.e2e.conftest import DESKTOP, LiveServer
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

PHONE_390 = {"width": 390, "height": 844}


def snap(page: Any, shots: Path, name: str) -> None:
    page.evaluate("window.scrollTo(0, 0)")
    page.wait_for_timeout(50)
    shot(page, shots, name)


def weekday_ahead(days: int) -> str:
    day = dt.date.today() + dt.timedelta(days=days)
    while day.weekday() >= 5:
        day += dt.timedelta(days=1)
    return day.isoformat()


def lessons_left(server: LiveServer) -> list[tuple[Any, ...]]:
    return server.sql(
        "SELECT b.lessons_left FROM student_balances b JOIN students s ON s.id = b.student_id "
        "WHERE s.email = 'student2@demo.test'"
    )


def test_student_books_with_credit_offline_and_sees_the_balance_drop(
    server: LiveServer, launch: Any, shots: Path
) -> None:
    assert lessons_left(server) == [(4,)]
    ctx = launch("student-credit", viewport=PHONE_390)
    page = page_of(ctx)
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    sign_in(page, server.url, "student2@demo.test")
    go(page, "home")
    page.wait_for_selector("[data-testid=credit-lessons]:has-text('4')")
    assert page.locator("[data-testid=credit-expiry]").is_visible()
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
    snap(page, shots, "credit-student-home-390")

    go(page, "bookings")
    credit = page.locator("[data-testid=book-credit]")
    credit.wait_for()
    assert "Pay with credit (4 lessons left)" in page.locator("label[for=book-credit]").inner_text()
    page.fill("#book-day", weekday_ahead(12))
    page.dispatch_event("#book-day", "change")
    page.wait_for_function("document.querySelector('#book-time').value !== ''")
    snap(page, shots, "credit-booking-form-390")

    offline(ctx, server)
    page.wait_for_selector("[data-testid=net]:has-text('Offline')")
    assert credit.is_checked()
    page.click("form.book button[type=submit]")
    wait_pending(page, 1)
    assert lessons_left(server) == [(4,)]  # nothing reached the server

    online(ctx, server)
    wait_synced(page, timeout=15_000)
    assert eventually(lambda: lessons_left(server) == [(3,)])
    go(page, "home")
    page.wait_for_selector("[data-testid=credit-lessons]:has-text('3')", timeout=10_000)
    page.locator(".credit-history summary").click()
    page.wait_for_selector("[data-testid=credit-history] li[data-kind=booking]")
    snap(page, shots, "credit-student-home-after-390")
    page.set_viewport_size(DESKTOP)
    snap(page, shots, "credit-student-home-desktop")
    go(page, "bookings")
    page.wait_for_selector("li.booking .badge:has-text('paid with credit')")

    # The office reads the balance on the student's page and sells the packages.
    actx = launch("admin-credit", viewport=DESKTOP)
    admin = page_of(actx)
    admin.on("pageerror", lambda exc: errors.append(str(exc)))
    sign_in(admin, server.url, "admin@demo.test")
    ((sid,),) = server.sql("SELECT id FROM students WHERE email = 'student2@demo.test'")
    go(admin, f"student/{sid}")
    admin.wait_for_selector("[data-testid=credit-lessons]:has-text('3')")
    snap(admin, shots, "credit-admin-student-desktop")
    go(admin, "catalogue")
    rows = admin.locator("[data-testid=catalogue-packages] tbody tr")
    rows.first.wait_for()
    assert rows.count() == 3
    snap(admin, shots, "catalogue-packages-desktop")
    admin.set_viewport_size(PHONE_390)
    admin.wait_for_timeout(100)
    assert admin.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
    snap(admin, shots, "catalogue-packages-390")

    # The guardian following student2 sees the same balance on their learner's card.
    gctx = launch("guardian-credit", viewport=PHONE_390)
    guardian = page_of(gctx)
    guardian.on("pageerror", lambda exc: errors.append(str(exc)))
    sign_in(guardian, server.url, "guardian1@demo.test")
    card = guardian.locator(f"[data-testid=learner][data-id='{sid}']")
    card.locator("[data-testid=credit-lessons]:has-text('3')").wait_for()
    assert guardian.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
    snap(guardian, shots, "credit-guardian-390")
    guardian.set_viewport_size(DESKTOP)
    snap(guardian, shots, "credit-guardian-desktop")
    assert errors == []
