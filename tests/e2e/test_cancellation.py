"""A late cancellation in the PWA (issue 11): the school asks 30 days' notice and a £25
fee; a student, offline, cancels a confirmed lesson inside it (warned of the fee first);
back online the booking shows the fee; the admin's Bookings view filters to it and its
page shows the history row of the fee. Screenshots of the new screens at 390 px and at
desktop size."""

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


def snap(page: Any, shots: Path, name: str) -> None:
    """A full-page shot from the top (scrolled, the sticky header is captured mid-page)."""
    page.evaluate("window.scrollTo(0, 0)")
    page.wait_for_timeout(50)
    shot(page, shots, name)


def test_offline_late_cancellation_records_the_fee_and_the_admin_sees_its_history(
    server: LiveServer, launch: Any, shots: Path
) -> None:
    admin_token = server.token("admin@demo.test")
    server.api(
        "PATCH",
        "/v1/admin/school",
        {"cancel_cutoff_hours": 720, "late_fee_cents": 2500},
        token=admin_token,
    )
    ctx = launch("student-cancel", viewport=PHONE_390)
    page = page_of(ctx)
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    sign_in(page, server.url, "student1@demo.test")
    ((bid,),) = server.sql(
        "SELECT b.id FROM bookings b JOIN students s ON s.id = b.student_id "
        "WHERE s.email = 'student1@demo.test' AND b.status = 'confirmed' "
        "AND b.start > datetime('now', '+1 day') ORDER BY b.start LIMIT 1"
    )
    go(page, "bookings")
    row = page.locator(f"li.booking[data-booking-id='{bid}']")
    row.wait_for()

    offline(ctx, server)
    page.wait_for_selector("[data-testid=net]:has-text('Offline')")
    asked: list[str] = []

    def accept(dialog: Any) -> None:
        asked.append(dialog.message)
        dialog.accept()

    page.once("dialog", accept)
    row.locator("button", has_text="Cancel").click()
    wait_pending(page, 1)
    assert "late cancellation fee of £25.00" in asked[0], asked
    assert server.sql("SELECT status FROM bookings WHERE id = ?", bid) == [("confirmed",)]

    online(ctx, server)
    wait_synced(page, timeout=15_000)
    assert eventually(
        lambda: (
            server.sql(
                "SELECT status, late_fee_cents, cancelled_by FROM bookings WHERE id = ?", bid
            )
            == [("cancelled", 2500, "student")]
        )
    )
    fee = row.locator("[data-testid=late-fee]")
    fee.wait_for(timeout=10_000)
    assert "£25.00" in fee.inner_text()
    snap(page, shots, "cancellation-student-390")
    page.set_viewport_size(DESKTOP)
    snap(page, shots, "cancellation-student-desktop")

    # The office sees it, and the history row of the fee, from its own replica.
    actx = launch("admin-bookings", viewport=DESKTOP)
    admin = page_of(actx)
    admin.on("pageerror", lambda exc: errors.append(str(exc)))
    sign_in(admin, server.url, "admin@demo.test")
    go(admin, "bookings")
    admin.wait_for_selector("[data-testid=admin-bookings] li")
    snap(admin, shots, "bookings-admin-desktop")
    admin.select_option("#bf-status", "cancelled")
    link = admin.locator(f"[data-testid=admin-bookings] li[data-booking-id='{bid}'] a")
    link.wait_for()
    assert "£25.00" in link.inner_text()
    link.click()
    admin.wait_for_selector("#main[data-view='booking']")
    history = admin.locator("[data-testid=booking-history] li")
    history.filter(has_text="late fee").wait_for()
    texts = history.all_inner_texts()
    assert any("student: late fee" in t and "£25.00" in t for t in texts), texts
    assert any("student: status confirmed → cancelled" in t for t in texts), texts
    snap(admin, shots, "booking-history-admin-desktop")
    admin.set_viewport_size(PHONE_390)
    admin.wait_for_timeout(100)
    assert admin.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
    snap(admin, shots, "booking-history-admin-390")
    go(admin, "bookings")
    admin.wait_for_selector("[data-testid=admin-bookings] li")
    assert admin.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
    snap(admin, shots, "bookings-admin-390")
    assert errors == []


def test_student_asks_to_move_offline_and_the_instructor_accepts(
    server: LiveServer, launch: Any, shots: Path
) -> None:
    ctx = launch("student-move", viewport=PHONE_390)
    page = page_of(ctx)
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    sign_in(page, server.url, "student1@demo.test")
    ((bid, start),) = server.sql(
        "SELECT b.id, b.start FROM bookings b JOIN students s ON s.id = b.student_id "
        "WHERE s.email = 'student1@demo.test' AND b.status = 'confirmed' "
        "AND b.start > datetime('now', '+1 day') ORDER BY b.start LIMIT 1"
    )
    go(page, "bookings")
    row = page.locator(f"li.booking[data-booking-id='{bid}']")
    row.wait_for()

    offline(ctx, server)
    page.wait_for_selector("[data-testid=net]:has-text('Offline')")
    row.locator("summary", has_text="Ask to move").click()
    times = row.locator("[data-testid=move-time] option")
    # The offline slot picker offers the free times of the chosen day.
    day = page.evaluate(
        "() => { const d = new Date(Date.now() + 14 * 86400e3);"
        " while ([0, 6].includes(d.getDay())) d.setDate(d.getDate() + 1);"
        " return d.toISOString().slice(0, 10); }"
    )
    row.locator("[data-testid=move-day]").fill(day)
    row.locator("[data-testid=move-day]").dispatch_event("change")
    assert times.count() > 1, times.all_inner_texts()
    chosen = times.nth(2).get_attribute("value")
    row.locator("[data-testid=move-time]").select_option(chosen)
    row.locator("[data-testid=move-note]").fill("Work shift changed")
    snap(page, shots, "move-ask-390")
    row.locator("button", has_text="Ask to move").click()
    wait_pending(page, 1)
    row.locator("[data-testid=move-asked]").wait_for()

    online(ctx, server)
    wait_synced(page, timeout=15_000)
    assert eventually(
        lambda: (
            server.sql("SELECT status FROM booking_moves WHERE booking_id = ?", bid)
            == [("requested",)]
        )
    )

    ictx = launch("instructor-move", viewport=DESKTOP)
    inst = page_of(ictx)
    inst.on("pageerror", lambda exc: errors.append(str(exc)))
    sign_in(inst, server.url, "instructor1@demo.test")
    go(inst, "today")
    item = inst.locator("[data-testid=move-requests] li")
    item.wait_for()
    assert "Work shift changed" in item.inner_text()
    snap(inst, shots, "move-requests-instructor-desktop")
    inst.set_viewport_size(PHONE_390)
    snap(inst, shots, "move-requests-instructor-390")
    item.locator("button", has_text="Accept move").click()
    wait_synced(inst, timeout=15_000)
    moved = eventually(
        lambda: [
            r for r in server.sql("SELECT start FROM bookings WHERE id = ?", bid) if r[0] != start
        ]
    )
    assert moved and server.sql("SELECT status FROM booking_moves WHERE booking_id = ?", bid) == [
        ("accepted",)
    ]
    assert server.sql(
        "SELECT l.scheduled_start = b.start FROM lessons l JOIN bookings b ON b.id = l.booking_id "
        "WHERE b.id = ?",
        bid,
    ) == [(1,)]
    # The student's device follows: the move request is answered, the lesson is at its new time.
    page.wait_for_selector(
        f"li.booking[data-booking-id='{bid}']:not(:has([data-testid=move-asked]))"
    )
    assert errors == []


def test_admin_cancels_and_moves_bookings_offline(
    server: LiveServer, launch: Any, shots: Path
) -> None:
    ctx = launch("admin-cancel-move", viewport=DESKTOP)
    page = page_of(ctx)
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    sign_in(page, server.url, "admin@demo.test")
    # The school's policy, from its settings screen.
    go(page, "school")
    page.fill("#school-cancel_cutoff_hours", "720")
    page.fill("#school-late-fee", "25.00")
    page.click("[data-testid=school-save]")
    page.wait_for_selector("[data-testid=school-status]:has-text('Saved')")
    assert server.sql(
        "SELECT cancel_cutoff_hours, late_fee_cents FROM tenants WHERE slug = 'demo'"
    ) == [(720, 2500)]
    page.set_viewport_size(PHONE_390)
    snap(page, shots, "school-cancellation-390")
    page.set_viewport_size(DESKTOP)
    # Two confirmed weekday bookings of the coming days (inside the 30-day notice).
    (cancel_id,), (move_id,) = server.sql(
        "SELECT id FROM bookings WHERE status = 'confirmed' AND start > datetime('now', '+1 day') "
        "AND strftime('%w', start) BETWEEN '1' AND '5' "
        "AND tenant_id = (SELECT id FROM tenants WHERE slug = 'demo') ORDER BY start, id LIMIT 2"
    )
    ((day,),) = server.sql("SELECT substr(start, 1, 10) FROM bookings WHERE id = ?", move_id)

    offline(ctx, server)
    page.wait_for_selector("[data-testid=net]:has-text('Offline')")
    go(page, f"booking/{cancel_id}")
    page.once("dialog", lambda d: d.accept())
    page.click("[data-testid=admin-cancel]")
    wait_pending(page, 1)
    go(page, f"booking/{move_id}")
    page.wait_for_selector("[data-testid=admin-move]")
    page.fill("#move-day", day)
    page.fill("#move-time", "17:00")
    snap(page, shots, "booking-move-admin-desktop")
    page.click("[data-testid=admin-move] button[type=submit]")
    wait_pending(page, 2)

    online(ctx, server)
    wait_synced(page, timeout=15_000)
    assert eventually(
        lambda: (
            server.sql(
                "SELECT status, cancelled_by, late_fee_cents FROM bookings WHERE id = ?", cancel_id
            )
            == [("cancelled", "admin", None)]
        )
    )  # the office cancelling owes no fee
    ((start,),) = server.sql("SELECT start FROM bookings WHERE id = ?", move_id)
    assert start.startswith(f"{day} 17:00") or start.startswith(f"{day}T17:00"), start
    assert server.sql(
        "SELECT l.scheduled_start = b.start FROM lessons l JOIN bookings b ON b.id = l.booking_id "
        "WHERE b.id = ?",
        move_id,
    ) == [(1,)]
    history = page.locator("[data-testid=booking-history] li")
    history.filter(has_text="admin: moved").first.wait_for(timeout=10_000)
    page.set_viewport_size(PHONE_390)
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
    snap(page, shots, "booking-moved-admin-390")
    assert errors == []
