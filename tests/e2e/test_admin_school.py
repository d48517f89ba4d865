"""An admin changes the school's mock-test pass mark in the dashboard; a bad value is refused
with the field named and focused, and nothing is changed by it."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tests.e2e.conftest import DESKTOP, LiveServer
from tests.e2e.pages import go, page_of, shot, sign_in


def test_admin_sets_the_pass_mark(server: LiveServer, launch: Any, shots: Path) -> None:
    ctx = launch("admin-school", viewport=DESKTOP)
    page = page_of(ctx)
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    sign_in(page, server.url, "admin@demo.test")
    go(page, "school")
    assert page.input_value("#school-pass_mark") == "43"
    assert page.input_value("#school-pass_total") == "50"

    page.fill("#school-pass_mark", "55")  # more than the 50 questions
    page.click("[data-testid=school-save]")
    page.wait_for_selector("[data-testid=school-status]:has-text('Not saved')")
    assert "cannot exceed" in page.inner_text("[data-testid=school-status]")
    assert page.evaluate("document.activeElement.id") == "school-pass_mark"
    assert server.sql("SELECT pass_mark FROM tenants WHERE slug = 'demo'") == [(43,)]

    page.fill("#school-pass_mark", "45")
    page.click("[data-testid=school-save]")
    page.wait_for_selector("[data-testid=school-status]:has-text('Saved')")
    assert "Pass mark 45 of 50" in page.inner_text("[data-testid=school-status]")
    assert server.sql("SELECT pass_mark, pass_total FROM tenants WHERE slug = 'demo'") == [(45, 50)]
    assert server.sql("SELECT pass_mark FROM tenants WHERE slug = 'rival'") == [(43,)]
    # Only what was changed was sent: the untouched colour picker did not set a colour.
    assert server.sql("SELECT brand_color FROM tenants WHERE slug = 'demo'") == [(None,)]
    shot(page, shots, "admin-school-saved-desktop")
    assert errors == []
