"""The catalogue in the PWA (issue 11): an admin, offline, adds a service and a rate card
for an instructor; back online they sync; a student's booking screen shows the card's
price (computed from the replica), the student books that instructor and the booking's
snapshotted price is the card's. Screenshots of the Catalogue on a 390 px phone and a
desktop."""

from __future__ import annotations

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


def _day_with_times(page: Any) -> str:
    """Pick the first day from tomorrow on that offers a start time (weekends may not)."""
    for days in range(1, 15):
        day: str = page.evaluate(
            "d => { const t = new Date(Date.now() + d * 86400e3);"
            " return `${t.getFullYear()}-${String(t.getMonth() + 1).padStart(2, '0')}-"
            "${String(t.getDate()).padStart(2, '0')}`; }",
            days,
        )
        page.fill("#book-day", day)
        page.dispatch_event("#book-day", "change")
        if page.eval_on_selector("#book-time", "s => s.value"):
            return day
    raise AssertionError("no day with free times in the next two weeks")


def test_admin_prices_offline_and_the_booking_takes_the_card(
    server: LiveServer, launch: Any, shots: Path
) -> None:
    ctx = launch("admin-catalogue", viewport=DESKTOP)
    page = page_of(ctx)
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    sign_in(page, server.url, "admin@demo.test")
    ((iid, iname),) = server.sql(
        "SELECT id, name FROM instructors WHERE email = 'instructor1@demo.test'"
    )
    go(page, "catalogue")
    page.wait_for_selector("[data-testid=catalogue-services] tbody tr")

    offline(ctx, server)
    page.wait_for_selector("[data-testid=net]:has-text('Offline')")
    page.click("[data-testid=add-service]")
    page.wait_for_selector("[data-testid=catalogue-form]")
    page.fill("#cat-name", "Evening lesson")
    page.fill("#cat-duration_min", "60")
    page.fill("#cat-price", "40")
    page.click("[data-testid=catalogue-save]")
    page.wait_for_selector("[data-testid=catalogue-services] tr:has-text('Evening lesson')")
    # The new service is at once in the replica, so the rate card form offers it.
    page.click("[data-testid=add-rate_card]")
    page.wait_for_selector("[data-testid=catalogue-form]")
    page.select_option("#cat-service", label="Evening lesson")
    page.select_option("[data-testid=card-instructor]", iid)
    page.fill("#cat-price", "55.50")
    page.fill("#cat-valid_from", "2026-01-01")
    page.click("[data-testid=catalogue-save]")
    card_row = page.locator("[data-testid=catalogue-rate-cards] tr", has_text="Evening lesson")
    card_row.wait_for()
    assert iname in card_row.inner_text() and "not synced" in card_row.inner_text()
    wait_pending(page, 2)
    assert server.sql("SELECT count(*) FROM services WHERE name = 'Evening lesson'") == [(0,)]
    shot(page, shots, "catalogue-offline-desktop")

    online(ctx, server)
    wait_synced(page, timeout=15_000)
    ((service_id, price),) = server.sql(
        "SELECT id, price_cents FROM services WHERE name = 'Evening lesson'"
    )
    assert price == 4000
    assert server.sql(
        "SELECT instructor_id, price_cents, currency FROM rate_cards WHERE service_id = ?",
        service_id,
    ) == [(iid, 5550, "GBP")]
    page.wait_for_function(
        "() => !document.querySelector('[data-testid=catalogue-rate-cards]')"
        ".innerText.includes('not synced')"
    )
    shot(page, shots, "catalogue-desktop")
    assert errors == []

    # The student books that instructor: the screen shows the card's price, and the
    # server snapshots the same.
    student = page_of(launch("student-catalogue", viewport=PHONE_390))
    sign_in(student, server.url, "student1@demo.test")
    go(student, "bookings")
    student.select_option("#book-instructor", iid)
    student.dispatch_event("#book-instructor", "change")
    student.select_option("#book-service", service_id)
    student.dispatch_event("#book-service", "change")
    _day_with_times(student)
    price_text = student.inner_text("[data-testid=book-price]")
    assert "55.50" in price_text and "instructor" in price_text, price_text
    shot(student, shots, "catalogue-student-price-390")
    student.click("text=Request lesson")
    booking = eventually(
        lambda: server.sql(
            "SELECT price_cents, currency, instructor_id FROM bookings WHERE service_id = ?",
            service_id,
        ),
        message="the booking request did not reach the server",
    )
    assert booking == [(5550, "GBP", iid)]


def test_catalogue_on_a_phone(server: LiveServer, launch: Any, shots: Path) -> None:
    ctx = launch("admin-catalogue-phone", viewport=PHONE_390)
    page = page_of(ctx)
    sign_in(page, server.url, "admin@demo.test")
    go(page, "catalogue")
    page.wait_for_selector("[data-testid=catalogue-questions] tbody tr", state="attached")
    # The page itself never scrolls sideways: wide tables scroll inside their own box.
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
    shot(page, shots, "catalogue-390")
    page.click("[data-testid=add-theory_question]")
    page.wait_for_selector("[data-testid=catalogue-form]")
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
    shot(page, shots, "catalogue-new-question-390")
    # Retiring a question keeps it listed, marked retired.
    go(page, "catalogue")
    first = page.locator("[data-testid=catalogue-questions] tbody tr").first
    qid = first.get_attribute("data-id")
    go(page, f"catalogue/theory_question/{qid}")
    page.click("[data-testid=catalogue-retire]")
    # Still listed (retired questions stay readable), marked, and counted on its topic.
    row = page.locator(f"[data-testid=catalogue-questions] tr[data-id='{qid}']")
    topic = page.locator("details", has=row)
    topic.locator("summary").click()
    assert "retired" in row.inner_text()
    assert "1 retired" in topic.locator("summary").inner_text()
    shot(page, shots, "catalogue-retired-question-390")
    go(page, "catalogue/rate_card/new")
    page.wait_for_selector("[data-testid=card-instructor]")
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
    shot(page, shots, "catalogue-new-rate-card-390")
