"""Guardians and driving tests in the PWA (issue 13, "Done means"): a guardian signs in and
sees two learners' progress, lessons and tests but never a private note (not on the page,
not in the device's replica); an instructor, offline, records a practical test booking on
a student's page, which syncs when back online and shows on the student's progress page.
(The reminder the evening before is tests/workers/test_test_reminders.py: the clock and
the mail server are the server's.) Screenshots of the guardian's home on a phone."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from tests.e2e.conftest import DESKTOP, PHONE, LiveServer
from tests.e2e.pages import go, offline, online, page_of, shot, sign_in, wait_pending, wait_synced

LONDON = ZoneInfo("Europe/London")
PRIVATE = "Instructor only"  # the seeded private notes begin so


def test_guardian_sees_two_learners_but_no_private_note(
    server: LiveServer, launch: Any, shots: Path
) -> None:
    errors: list[str] = []
    ctx = launch("guardian", viewport=PHONE)
    page = page_of(ctx)
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    sign_in(page, server.url, "guardian1@demo.test")
    page.wait_for_selector("#main[data-view='home'] [data-testid=learner]")
    learners = page.locator("[data-testid=learner]")
    assert learners.count() == 2
    names = [learners.nth(i).locator("[data-testid=learner-name]").inner_text() for i in range(2)]
    assert names == ["Amelia Clarke", "Oliver Bennett"]
    for i in range(2):
        card = learners.nth(i)
        assert "Test readiness:" in card.inner_text()
        assert card.locator("[data-testid=readiness-parts]").count() == 1
        assert card.locator("[data-testid=learner-lessons] li").count() > 0
        assert card.locator("[data-testid=test-records] li").count() == 1  # the seeded theory
    # Public notes show; no private one anywhere, nor in the device's replica.
    text = page.inner_text("#main")
    assert page.locator("#main blockquote").count() > 0
    assert PRIVATE not in text
    notes = page.evaluate(
        "() => __drivesync.all('lesson_note').then(ns => ns.map(n => [n.private, n.body]))"
    )
    assert notes and not any(private or PRIVATE in body for private, body in notes)
    # Read-only: no form to write anything, and the navigation is the guardian's.
    assert page.locator("#main form").count() == 0
    nav = page.inner_text("#nav")
    assert "Learners" in nav and "Mock test" not in nav
    shot(page, shots, "guardian-home-phone")
    assert errors == []


def test_instructor_records_a_practical_test_booking_offline(
    server: LiveServer, launch: Any, shots: Path
) -> None:
    errors: list[str] = []
    (sid,) = server.sql("SELECT id FROM students WHERE email = ?", "student1@demo.test")[0]
    day = dt.datetime.now(LONDON).date() + dt.timedelta(days=45)
    ctx = launch("instructor", viewport=DESKTOP)
    inst = page_of(ctx)
    inst.on("pageerror", lambda exc: errors.append(str(exc)))
    sign_in(inst, server.url, "instructor1@demo.test")
    go(inst, f"student/{sid}")
    # The student's theory practice is on the instructor's page (read scope only).
    inst.wait_for_selector("[data-testid=theory-practice]")
    assert inst.locator("[data-testid=test-records] li").count() == 1  # the seeded theory
    offline(ctx, server)
    inst.click("[data-testid=record-test]")
    form = inst.locator("details.record-test [data-testid=test-form]")
    form.locator("#test-kind").select_option("practical")
    form.locator("#test-date").fill(day.isoformat())
    form.locator("#test-time").fill("10:14")
    form.locator("#test-centre").fill("Exampleton Driving Test Centre")
    assert form.locator("#test-mark").is_hidden()  # no faults before the test is taken
    form.locator("[data-testid=test-save]").click()
    wait_pending(inst, 1)
    inst.wait_for_selector("[data-testid=test-records] li:has-text('Practical test')")
    online(ctx, server)
    wait_synced(inst, timeout=20_000)
    rows = server.sql(
        "SELECT kind, date, time, centre, result, faults FROM test_records WHERE student_id = ?"
        " AND kind = 'practical'",
        sid,
    )
    assert rows == [
        ("practical", day.isoformat(), "10:14", "Exampleton Driving Test Centre", "booked", None)
    ]
    shot(inst, shots, "instructor-records-test-desktop")
    # The student sees it among their driving tests.
    sctx = launch("student", viewport=PHONE)
    student = page_of(sctx)
    student.on("pageerror", lambda exc: errors.append(str(exc)))
    sign_in(student, server.url, "student1@demo.test")
    student.wait_for_selector("[data-testid=test-records] li:has-text('Practical test')")
    assert "Exampleton Driving Test Centre" in student.inner_text("[data-testid=test-records]")
    assert errors == []
