"""Lesson sign-off in the browser: on a 390 px phone, offline, the instructor finishes a
lesson and the student signs on the pad (drawn with the mouse: pointer events, as a finger
or pen would); the signature is on the device at once, reaches the server when the phone
reconnects, and the admin sees it drawn on the lesson (the student on their home). The
screen has no serious axe violation, and the keyboard alternative (confirming with the
typed name) works too."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from sync.core.signature import check_strokes
from tests.e2e.axe import audit, failing, report
from tests.e2e.conftest import DESKTOP, LiveServer
from tests.e2e.pages import go, offline, online, page_of, shot, sign_in, wait_synced

PHONE_390 = {"width": 390, "height": 844}


def _lessons(server: LiveServer, status: str, limit: int = 2) -> list[str]:
    rows = server.sql(
        "SELECT l.id FROM lessons l JOIN instructors i ON i.id = l.instructor_id "
        "WHERE i.email = 'instructor1@demo.test' AND l.status = ? "
        "ORDER BY l.scheduled_start LIMIT ?",
        status,
        limit,
    )
    return [str(r[0]) for r in rows]


def _draw(page: Any) -> None:
    """Two strokes across the pad with the mouse: a wave and a line."""
    box = page.locator("[data-testid=signature-pad]").bounding_box()
    assert box is not None and box["width"] > 300  # the pad fills the phone's width
    x0, y0 = box["x"] + 20, box["y"] + box["height"] / 2
    page.mouse.move(x0, y0)
    page.mouse.down()
    for i in range(1, 25):
        page.mouse.move(x0 + i * 8, y0 + (15 if i % 2 else -15), steps=2)
    page.mouse.up()
    page.mouse.move(x0 + 40, y0 + 40)
    page.mouse.down()
    page.mouse.move(x0 + 200, y0 + 45, steps=10)
    page.mouse.up()


def test_a_lesson_signed_offline_on_the_phone_reaches_the_admin(
    server: LiveServer, launch: Any, shots: Path
) -> None:
    lesson_id = _lessons(server, "scheduled", 1)[0]
    phone = launch("instructor", viewport=PHONE_390)
    page = page_of(phone)
    sign_in(page, server.url, "instructor1@demo.test")
    go(page, f"lesson/{lesson_id}")

    offline(phone, server)
    page.wait_for_selector("[data-testid=net]:has-text('Offline')")
    page.click("text=Start lesson")
    page.click("text=Finish lesson")
    page.wait_for_selector("h1 >> text=Completed")
    page.wait_for_selector("[data-testid=signature-pad]")
    assert page.is_disabled("[data-testid=save-signature]")  # nothing drawn yet
    cdp = phone.new_cdp_session(page)
    found = audit(page, cdp, "instructor lesson sign-off pad @ phone")
    print(report(found))
    assert not failing(found), report(failing(found))
    _draw(page)
    page.click("[data-testid=save-signature]")
    page.wait_for_selector("[data-testid=signature-svg] polyline >> nth=1")
    assert page.locator("[data-testid=signature]").inner_text().count("not synced") == 1
    shot(page, shots, "instructor-lesson-signed-offline-phone")
    assert server.sql("SELECT id FROM lesson_signatures WHERE lesson_id = ?", lesson_id) == []

    online(phone, server)
    wait_synced(page)
    rows = server.sql(
        "SELECT signed_by, strokes, captured_by IS NOT NULL FROM lesson_signatures "
        "WHERE lesson_id = ?",
        lesson_id,
    )
    assert len(rows) == 1
    signed_by, strokes, captured = rows[0]
    strokes = json.loads(strokes) if isinstance(strokes, str) else strokes
    assert signed_by and captured and len(strokes) == 2
    assert check_strokes(strokes) is None

    admin = page_of(launch("admin", viewport=DESKTOP))
    sign_in(admin, server.url, "admin@demo.test")
    go(admin, f"lesson/{lesson_id}")
    admin.wait_for_selector("[data-testid=signature-svg] polyline >> nth=1")
    assert f"Signed by {signed_by}" in admin.inner_text("[data-testid=signature]")
    assert admin.locator("[data-testid=save-signature]").count() == 0
    shot(admin, shots, "admin-lesson-signature-desktop")
    # The student whose lesson it was sees it too (on their home: students have no lesson
    # page).
    ((email,),) = server.sql(
        "SELECT s.email FROM students s JOIN lessons l ON l.student_id = s.id WHERE l.id = ?",
        lesson_id,
    )
    student = page_of(launch("student", viewport=PHONE_390))
    sign_in(student, server.url, email)
    student.wait_for_selector("[data-testid=signed-lessons] [data-testid=signature-svg] polyline")


def test_the_keyboard_alternative_confirms_with_the_typed_name(
    server: LiveServer, launch: Any
) -> None:
    lesson_id = _lessons(server, "completed", 1)[0]
    phone = launch("instructor", viewport=PHONE_390)
    page = page_of(phone)
    sign_in(page, server.url, "instructor1@demo.test")
    go(page, f"lesson/{lesson_id}")
    page.focus("#signer-name")
    page.keyboard.press("Control+A")
    page.keyboard.type("Typed Student")
    page.focus("[data-testid=typed-signature]")
    page.keyboard.press("Enter")
    page.wait_for_selector("[data-testid=signature] >> text=confirmed by typed name")
    wait_synced(page)
    rows = server.sql(
        "SELECT signed_by, strokes FROM lesson_signatures WHERE lesson_id = ?", lesson_id
    )
    assert [(r[0], json.loads(r[1]) if isinstance(r[1], str) else r[1]) for r in rows] == [
        ("Typed Student", [])
    ]
