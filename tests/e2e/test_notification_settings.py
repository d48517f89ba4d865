"""Settings → Notifications and the admin's template editor in the browser.

A student opens Settings → Notifications from the Account page (the route the emails'
footer links to) on a 390 px phone, turns email off for one kind of event and sets quiet
hours; offline, the screen says it needs the network and still shows the values last
loaded. An admin opens the school's notification wording under the Notifications tab,
edits a kind with a live preview, sees a broken template refused with its line, saves, and
sends a test to themselves. axe finds nothing serious on either screen."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from tests.e2e.axe import audit, failing, report
from tests.e2e.conftest import DESKTOP, LiveServer
from tests.e2e.pages import go, offline, online, page_of, shot, sign_in

PHONE_390 = {"width": 390, "height": 844}


def _axe(ctx: Any, page: Any, where: str) -> None:
    found = audit(page, ctx.new_cdp_session(page), where)
    print(report(found))
    assert not failing(found), report(failing(found))


def test_a_student_sets_channels_and_quiet_hours_and_reads_them_offline(
    server: LiveServer, launch: Any, shots: Path
) -> None:
    phone = launch("student", viewport=PHONE_390)
    page = page_of(phone)
    sign_in(page, server.url, "student1@demo.test")
    go(page, "account")
    page.click("[data-testid=open-settings]")
    page.wait_for_selector("#main[data-view='settings'] [data-testid=prefs-form]")
    assert page.evaluate("location.hash") == "#/settings/notifications"
    box = "#pref-booking_confirmed-email"
    assert page.is_checked(box)
    page.uncheck(box)
    page.check("#quiet-on")
    page.fill("#quiet-start", "21:30")
    page.fill("#quiet-end", "07:15")
    page.click("[data-testid=save-prefs]")
    page.wait_for_selector("[data-testid=prefs-status]:has-text('saved')")
    _axe(phone, page, "student settings/notifications @ phone")
    shot(page, shots, "settings-notifications-390")

    token = server.token("student1@demo.test")
    prefs = server.api("GET", "/v1/me/notification-preferences", token=token)
    assert "email" not in prefs["events"]["booking_confirmed"]["channels"]
    assert prefs["quiet_hours"] == {"start": "21:30", "end": "07:15"}
    assert prefs["events"]["booking_reminder"]["default"] is True  # untouched kinds stay

    offline(phone, server)
    go(page, "account")
    go(page, "settings/notifications")
    page.wait_for_selector("[data-testid=prefs-offline]")
    assert page.is_disabled("[data-testid=save-prefs]")
    assert not page.is_checked(box)
    assert page.input_value("#quiet-start") == "21:30"
    shot(page, shots, "settings-notifications-offline-390")
    online(phone, server)


def test_an_admin_edits_previews_saves_and_tests_a_template(
    server: LiveServer, launch: Any, shots: Path
) -> None:
    ctx = launch("admin", viewport=DESKTOP)
    page = page_of(ctx)
    sign_in(page, server.url, "admin@demo.test")
    go(page, "notifications")
    page.click("[data-testid=open-templates]")
    page.wait_for_selector("[data-testid=template-kinds]")
    page.click("text=Your lesson was confirmed")
    page.wait_for_selector("[data-testid=template-form]")
    page.wait_for_selector("[data-testid=preview-subject]:has-text('Tue 08 Dec 2026')")
    assert page.get_attribute("nav a[aria-current=page]", "href") == "#/notifications"
    page.fill("#template-subject", "See you {{ booking.start }}, {{ recipient.name }}")
    page.wait_for_selector("[data-testid=preview-subject]:has-text('See you Tue 08 Dec 2026')")
    page.fill("#template-text", "Hello\n{{ booking.start ")
    page.wait_for_selector("[data-testid=template-error]:has-text('line 2')")
    page.click("[data-testid=template-save]")
    page.wait_for_selector("[data-testid=template-error]:has-text('Not saved')")
    page.fill("#template-text", "Hello {{ recipient.name }}, booked for {{ booking.start }}.")
    page.wait_for_selector("[data-testid=preview-text]:has-text('booked for Tue 08 Dec 2026')")
    page.click("[data-testid=template-save]")
    page.wait_for_selector("[data-testid=template-status]:has-text('Saved')")
    _axe(ctx, page, "admin notifications/templates editor @ desktop")
    shot(page, shots, "admin-template-editor-desktop")
    page.click("[data-testid=template-test]")
    page.wait_for_selector("[data-testid=template-status]:has-text('admin@demo.test')")
    row = server.sql(
        "SELECT subject, body_text FROM notification_templates "
        "WHERE event_type = 'booking_confirmed' AND channel = 'email'"
    )
    assert row == [
        (
            "See you {{ booking.start }}, {{ recipient.name }}",
            "Hello {{ recipient.name }}, booked for {{ booking.start }}.",
        )
    ]
    queued = server.sql("SELECT payload FROM outbox WHERE event_type = 'template_test'")
    assert [json.loads(p)["kind"] for (p,) in queued] == ["booking_confirmed"]
    # The dispatcher (not run by this server) sends it: tests/workers/test_template_admin.py.
