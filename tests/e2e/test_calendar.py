"""Calendars in the PWA (issue 11): day, week and month views from the replica, offline;
the admin's instructor filter; the private iCalendar feed turned on from the Account page
and read as a calendar app reads it (parsed with the `icalendar` library). Screenshots of
the views on a 390 px phone and a desktop."""

from __future__ import annotations

import datetime as dt
import urllib.request
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import icalendar

from tests.e2e.conftest import DESKTOP, LiveServer
from tests.e2e.pages import go, offline, online, page_of, shot, sign_in

PHONE_390 = {"width": 390, "height": 844}


def _lessons(server: LiveServer, where: str = "1 = 1", *args: Any) -> dict[str, str]:
    """Live lessons of the demo school, id → scheduled_start (as stored)."""
    rows = server.sql(
        "SELECT l.id, l.scheduled_start FROM lessons l JOIN tenants t ON t.id = l.tenant_id "
        f"WHERE t.slug = 'demo' AND l.deleted = 0 AND {where}",
        *args,
    )
    return {r[0]: r[1] for r in rows}


def _local_day(page: Any, iso: str) -> str:
    """The browser's local date (yyyy-mm-dd) of a stored UTC time."""
    return str(
        page.evaluate(
            "s => { const d = new Date(s.replace(' ', 'T')"
            " + (/[zZ+]/.test(s.slice(10)) ? '' : 'Z'));"
            " return `${d.getFullYear()}-${String(d.getMonth() + 1).padStart(2, '0')}-"
            "${String(d.getDate()).padStart(2, '0')}` }",
            iso,
        )
    )


def _shown_ids(page: Any) -> set[str]:
    ids = page.eval_on_selector_all(
        "[data-kind=lesson]", "els => els.map(e => e.getAttribute('data-id'))"
    )
    return set(ids)


def test_instructor_calendar_views_work_offline_and_the_feed_lists_the_lessons(
    server: LiveServer, launch: Any, shots: Path
) -> None:
    ctx = launch("instructor-calendar", viewport=PHONE_390)
    page = page_of(ctx)
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    sign_in(page, server.url, "instructor1@demo.test")
    ((inst_id,),) = server.sql("SELECT id FROM instructors WHERE email = 'instructor1@demo.test'")
    mine = _lessons(server, "l.instructor_id = ?", inst_id)
    assert mine
    # A day with one of the instructor's lessons, as the browser's clock reads it.
    lesson_id, start = sorted(mine.items(), key=lambda kv: kv[1])[-1]
    day = _local_day(page, start)

    offline(ctx, server)
    page.wait_for_selector("[data-testid=net]:has-text('Offline')")
    go(page, f"calendar/day/{day}")
    assert lesson_id in _shown_ids(page)
    same_day = {i for i, s in mine.items() if _local_day(page, s) == day}
    assert _shown_ids(page) == same_day
    shot(page, shots, "calendar-day-phone")

    go(page, f"calendar/week/{day}")
    week_ids = _shown_ids(page)
    assert same_day <= week_ids <= set(mine)
    count = page.inner_text("[data-testid=cal-count]")
    assert count.startswith(f"{len(week_ids)} lesson")
    shot(page, shots, "calendar-week-phone")

    go(page, f"calendar/month/{day}")
    cell = page.locator(f"[data-testid=month] a[href='#/calendar/day/{day}']")
    assert f": {len(same_day)} lesson" in (cell.get_attribute("aria-label") or "")
    shot(page, shots, "calendar-month-phone")
    # The month's Next link moves a month, and the day link opens the day view.
    cell.click()
    page.wait_for_selector("#main[data-view='calendar'] [data-kind=lesson]")
    assert page.get_attribute("nav[aria-label='Calendar view'] a[aria-current=page]", "href") == (
        f"#/calendar/day/{day}"
    )

    # Back online: the Account page turns the feed on and shows its address once.
    online(ctx, server)
    go(page, "account")
    page.click("[data-testid=feed-card] button:has-text('Turn on calendar feed')")
    url = page.input_value("[data-testid=feed-url]", timeout=10_000)
    shot(page, shots, "calendar-feed-phone")
    path = urlsplit(url).path
    with urllib.request.urlopen(server.url.rstrip("/") + path, timeout=10) as resp:
        assert resp.headers["Content-Type"].startswith("text/calendar")
        cal = icalendar.Calendar.from_ical(resp.read())
    uids = {str(e["UID"]) for e in cal.walk("VEVENT")}
    # Every lesson the week view showed is in the feed (the feed's window is wider).
    assert {f"lesson-{i}@drivesync" for i in week_ids} <= uids
    assert {u for u in uids if u.startswith("lesson-")} == {f"lesson-{i}@drivesync" for i in mine}
    # Reloaded, the page no longer shows the address (the server keeps only its hash).
    go(page, "today")
    go(page, "account")
    page.wait_for_selector("[data-testid=feed-card] button:has-text('Get a new address')")
    assert page.locator("[data-testid=feed-url]").count() == 0
    assert not errors, errors


def test_admin_filters_the_calendar_by_instructor(
    server: LiveServer, launch: Any, shots: Path
) -> None:
    ctx = launch("admin-calendar", viewport=DESKTOP)
    page = page_of(ctx)
    sign_in(page, server.url, "admin@demo.test")
    ((inst_id,),) = server.sql("SELECT id FROM instructors WHERE email = 'instructor2@demo.test'")
    everyone = _lessons(server)
    theirs = _lessons(server, "l.instructor_id = ?", inst_id)
    today = dt.date.today().isoformat()
    go(page, f"calendar/month/{today}")
    page.wait_for_selector("[data-testid=month]")
    shot(page, shots, "calendar-month-desktop")
    go(page, f"calendar/week/{today}")
    all_week = _shown_ids(page)
    assert all_week and all_week <= set(everyone)
    shot(page, shots, "calendar-week-desktop")
    page.select_option("#cal-instructor", inst_id)
    page.wait_for_selector(f".calendar[data-filter='{inst_id}']")
    filtered = _shown_ids(page)
    assert filtered == {i for i in all_week if i in theirs}
    assert filtered != all_week  # the other instructor's lessons went away


def test_student_sees_only_their_lessons(server: LiveServer, launch: Any, shots: Path) -> None:
    ctx = launch("student-calendar", viewport=PHONE_390)
    page = page_of(ctx)
    sign_in(page, server.url, "student1@demo.test")
    ((student_id,),) = server.sql("SELECT id FROM students WHERE email = 'student1@demo.test'")
    own = _lessons(server, "l.student_id = ?", student_id)
    go(page, f"calendar/month/{dt.date.today().isoformat()}")
    go(page, f"calendar/week/{dt.date.today().isoformat()}")
    shown = _shown_ids(page)
    assert shown and shown <= set(own)
    assert page.locator("#nav a[href='#/calendar'][aria-current=page]").count() == 1
