"""Recurring lessons in the PWA (issue 11, "Done means"): a student, offline, requests a
weekly series of 6 whose third date clashes with a lesson they already asked for; back
online they see 5 requested and 1 refused with its reason; the instructor confirms the
series once; the student cancels "this and following" from the fifth date. Screenshots at
390 px and on a desktop."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tests.e2e.conftest import DESKTOP, LiveServer
from tests.e2e.pages import eventually, go, offline, online, page_of, shot, sign_in, wait_synced

PHONE_390 = {"width": 390, "height": 844}


def _day(page: Any, days: int) -> str:
    return str(
        page.evaluate(
            "d => { const t = new Date(Date.now() + d * 86400e3);"
            " return `${t.getFullYear()}-${String(t.getMonth() + 1).padStart(2, '0')}-"
            "${String(t.getDate()).padStart(2, '0')}`; }",
            days,
        )
    )


def _pick(page: Any, day: str, label: str | None = None) -> str | None:
    """Set the form's day; choose the start time shown as `label` (or the third offered).
    Returns the label chosen, or None when the day offers none."""
    page.fill("#book-day", day)
    page.dispatch_event("#book-day", "change")
    options = page.eval_on_selector_all(
        "#book-time option", "os => os.filter(o => o.value).map(o => o.textContent)"
    )
    if not options:
        return None
    chosen = label if label is not None else options[min(2, len(options) - 1)]
    if chosen not in options:
        return None
    page.select_option("#book-time", label=chosen)
    return str(chosen)


def test_student_requests_a_weekly_series_offline_with_one_clash(
    server: LiveServer, launch: Any, shots: Path
) -> None:
    ctx = launch("series-student", viewport=PHONE_390)
    page = page_of(ctx)
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    sign_in(page, server.url, "student1@demo.test")
    go(page, "bookings")
    # A day two weeks on with free times, whose weekday repeats: the series' first date.
    first = label = None
    for days in range(14, 28):
        label = _pick(page, _day(page, days))
        if label and _pick(page, _day(page, days + 14), label):
            first = days
            break
    assert first is not None and label is not None, "no free weekday found"
    # The third week's date: asked for alone first (online), so the series clashes there.
    page.click("form.book button[type=submit]")
    wait_synced(page)
    assert eventually(
        lambda: server.sql(
            "SELECT count(*) FROM bookings WHERE series_id IS NULL AND status = 'requested'"
        )
    )

    offline(ctx, server)
    page.wait_for_selector("[data-testid=net]:has-text('Offline')")
    assert _pick(page, _day(page, first), label) == label
    page.select_option("#book-repeat", "week")
    page.fill("#book-count", "6")
    page.fill("#book-pickup", "12 High Street")
    page.click("form.book button[type=submit]")
    page.wait_for_selector("[data-testid=series] li:has-text('Not sent yet')")
    shot(page, shots, "series-offline-phone")

    online(ctx, server)
    wait_synced(page, timeout=15_000)
    page.wait_for_selector("[data-testid=series-counts]", timeout=15_000)
    assert page.inner_text("[data-testid=series-counts]") == "5 lessons requested, 1 date refused"
    refused = page.inner_text("[data-testid=series-refused]")
    assert "overlaps another booking" in refused
    shot(page, shots, "series-requested-phone")
    ((sid,),) = server.sql("SELECT id FROM booking_series")
    assert server.sql(
        "SELECT count(*) FROM bookings WHERE series_id = ? AND status = 'requested'", sid
    ) == [(5,)]

    # The instructor answers the series once.
    inst = page_of(launch("series-instructor", viewport=DESKTOP))
    sign_in(inst, server.url, "instructor1@demo.test")
    go(inst, "today")
    request = inst.locator(f"[data-testid=series-requests] [data-series-id='{sid}']")
    assert "5 lessons every week" in request.inner_text()
    assert "Pickup: 12 High Street" in request.inner_text()
    shot(inst, shots, "series-request-desktop")
    request.locator("button:has-text('Confirm all')").click()
    wait_synced(inst)
    eventually(
        lambda: (
            server.sql(
                "SELECT count(*) FROM bookings WHERE series_id = ? AND status = 'confirmed'", sid
            )
            == [(5,)]
        ),
        message="the series was not confirmed",
    )
    assert server.sql(
        "SELECT count(*) FROM lessons l JOIN bookings b ON b.id = l.booking_id "
        "WHERE b.series_id = ? AND l.status = 'scheduled'",
        sid,
    ) == [(5,)]

    # The student ends the series from its fifth date: the fifth and sixth are cancelled.
    page.evaluate("() => __drivesync.engine.pull()")
    go(page, "account")
    go(page, "bookings")
    page.wait_for_selector("[data-testid=series-counts]:has-text('booked')", timeout=15_000)
    rows = page.locator(
        "[data-testid=bookings] li.booking", has=page.locator("[data-testid=cancel-following]")
    )
    assert rows.count() == 5
    page.once("dialog", lambda d: d.accept())
    # Newest first: the second row is the fifth date.
    rows.nth(1).locator("[data-testid=cancel-following]").click()
    wait_synced(page)
    eventually(
        lambda: (
            server.sql(
                "SELECT count(*) FROM bookings WHERE series_id = ? AND status = 'cancelled'", sid
            )
            == [(2,)]
        ),
        message="this and following were not cancelled",
    )
    assert not errors, errors
