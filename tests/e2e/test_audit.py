"""The audit log in the PWA (issue 13): an admin edits a student's phone, and the audit log
shows the change with who made it and the field, filtered by kind of record and date; the
following page comes from the cursor. Screenshots at 390 px and on a desktop."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

from tests.e2e.conftest import DESKTOP, LiveServer
from tests.e2e.pages import go, page_of, shot, sign_in, wait_synced

PHONE_390 = {"width": 390, "height": 844}


def test_admin_reads_who_changed_a_student(server: LiveServer, launch: Any, shots: Path) -> None:
    page = page_of(launch("audit-admin", viewport=DESKTOP))
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    sign_in(page, server.url, "admin@demo.test")
    ((sid,),) = server.sql("SELECT id FROM students WHERE email = 'student2@demo.test'")
    go(page, f"person/student/{sid}")
    page.fill("#person-phone", "+447700900555")
    page.click("[data-testid=person-save]")
    wait_synced(page)

    go(page, "audit")
    page.wait_for_selector("[data-testid=audit] tbody tr")
    first = page.locator("[data-testid=audit] tbody tr").first
    text = first.inner_text()
    assert "student changed" in text and "phone" in text and "admin" in text, text
    link = first.locator(f"a[href='#/person/student/{sid}']")
    assert link.inner_text() == "Oliver Bennett"  # the record's name, from the replica
    shot(page, shots, "audit-desktop")

    # Only lessons: the student line goes.
    page.select_option("#audit-entity", "lesson")
    page.click(".audit-filters button[type=submit]")
    # Nothing in this school's log touched a lesson yet.
    page.wait_for_selector("[data-testid=audit-status]:has-text('No changes match')")
    assert "student changed" not in page.inner_text("[data-testid=audit]")
    # Back to everything, from tomorrow on: nothing.
    page.select_option("#audit-entity", "")
    tomorrow = (dt.date.today() + dt.timedelta(days=2)).isoformat()
    page.fill("#audit-since", tomorrow)
    page.click(".audit-filters button[type=submit]")
    page.wait_for_selector("[data-testid=audit-status]:has-text('No changes match')")
    assert not errors, errors


def test_the_audit_log_on_a_phone(server: LiveServer, launch: Any, shots: Path) -> None:
    page = page_of(launch("audit-phone", viewport=PHONE_390))
    sign_in(page, server.url, "admin@demo.test")
    go(page, "audit")
    page.wait_for_selector("[data-testid=audit-status]:not(:empty)")
    shot(page, shots, "audit-390")
