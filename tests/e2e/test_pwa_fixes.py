"""Fixes from walking the app (issue 11): the pickup address a student typed reaches the
instructor (request, lesson, today list); the tab bar fits a 390 px phone or scrolls on its
own; "Sign out" is hidden on the sign-in page; the devices table shows what a device still
has to send after its last push, not what it had when the push began; the sync journal
names and links each entry's lesson and student and says in words how it was resolved; the
dashboard counts the open conflicts; counts read "1 conflict", not "1 conflicts"."""

from __future__ import annotations

import time
import uuid
from pathlib import Path
from typing import Any

from tests.e2e.conftest import DESKTOP, LiveServer
from tests.e2e.pages import eventually, go, page_of, shot, sign_in, wait_synced

PHONE_390 = {"width": 390, "height": 844}


def _weekday_with_times(page: Any) -> None:
    """Pick the first day from tomorrow on that offers a start time (weekends may not)."""
    for days in range(1, 15):
        day = page.evaluate(
            "d => { const t = new Date(Date.now() + d * 86400e3);"
            " return `${t.getFullYear()}-${String(t.getMonth() + 1).padStart(2, '0')}-"
            "${String(t.getDate()).padStart(2, '0')}`; }",
            days,
        )
        page.fill("#book-day", day)
        page.dispatch_event("#book-day", "change")
        if page.eval_on_selector("#book-time", "s => s.value"):
            return
    raise AssertionError("no day with free times in the next two weeks")


def test_the_pickup_address_a_student_typed_reaches_the_instructor(
    server: LiveServer, launch: Any, shots: Path
) -> None:
    typed = "Gate B, 4 Mill Lane (by the bakery)"
    student = page_of(launch("student", viewport=DESKTOP))
    sign_in(student, server.url, "student1@demo.test")
    go(student, "bookings")
    _weekday_with_times(student)
    student.fill("#book-pickup", typed)
    student.click("form.book button[type=submit]")
    wait_synced(student)
    booking = eventually(
        lambda: server.sql("SELECT id FROM bookings WHERE pickup_location = ?", typed),
        message="the request never reached the server",
    )[0][0]

    inst = page_of(launch("instructor", viewport=DESKTOP))
    sign_in(inst, server.url, "instructor1@demo.test")
    go(inst, "today")
    request = inst.locator(f"[data-booking-id='{booking}']")
    assert f"Pickup: {typed}" in request.inner_text()
    # Today's lessons (the demo school has one today for each student) show theirs.
    pickups = server.sql(
        "SELECT b.pickup_location FROM lessons l JOIN bookings b ON b.id = l.booking_id "
        "JOIN instructors i ON i.id = l.instructor_id WHERE i.email = 'instructor1@demo.test' "
        "AND b.pickup_location IS NOT NULL AND date(l.scheduled_start) = date('now')"
    )
    today_text = inst.inner_text("[data-testid=today-lessons]")
    assert pickups and all(f"Pickup: {p}" in today_text for (p,) in pickups), today_text
    shot(inst, shots, "instructor-today-pickup-desktop")
    inst.set_viewport_size(PHONE_390)
    shot(inst, shots, "instructor-today-pickup-390")
    inst.set_viewport_size(DESKTOP)

    request.locator("button", has_text="Confirm").click()
    wait_synced(inst)
    lesson = eventually(
        lambda: server.sql("SELECT id FROM lessons WHERE booking_id = ?", booking),
        message="confirming made no lesson",
    )[0][0]
    inst.evaluate("() => __drivesync.syncNow()")
    inst.wait_for_function(
        "id => __drivesync.get('lesson', id).then(Boolean)", arg=lesson, timeout=10_000
    )
    go(inst, f"lesson/{lesson}")
    assert inst.inner_text("[data-testid=pickup]") == f"Pickup: {typed}"
    inst.set_viewport_size(PHONE_390)
    shot(inst, shots, "instructor-lesson-pickup-390")


def test_sign_out_is_hidden_on_the_sign_in_page(server: LiveServer, launch: Any) -> None:
    page = page_of(launch("login", viewport=PHONE_390))
    page.goto(server.url)
    page.wait_for_selector("form.login")
    assert page.evaluate("document.getElementById('signout').hidden")
    assert not page.is_visible("#signout")  # a `display` rule must not show it anyway
    sign_in(page, server.url, "student1@demo.test")
    assert page.is_visible("#signout")
    page.click("#signout")
    page.wait_for_selector("form.login")
    assert not page.is_visible("#signout")


def test_the_tab_bar_fits_or_scrolls_on_a_390_px_phone(
    server: LiveServer, launch: Any, shots: Path
) -> None:
    page = page_of(launch("admin", viewport=PHONE_390))
    sign_in(page, server.url, "admin@demo.test")  # the admin has the most tabs (12)
    go(page, "dashboard")
    page.screenshot(path=str(shots / "tab-bar-390.png"))
    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE_390["width"]
    nav = page.evaluate(
        """() => { const n = document.getElementById('nav');
        const links = [...n.querySelectorAll('a')];
        return {scroll: n.scrollWidth, client: n.clientWidth,
          overflow: getComputedStyle(n).overflowX,
          clipped: links.filter((a) => a.scrollWidth > a.clientWidth + 1)
            .map((a) => a.textContent)}; }"""
    )
    assert not nav["clipped"], nav  # no tab is squeezed narrower than its label
    assert nav["scroll"] <= nav["client"] or nav["overflow"] in ("auto", "scroll"), nav
    # Reached by a link or the address (not by scrolling the bar), a view's tab is in
    # sight: the bar scrolls to it.
    for route in ("devices", "account", "calendar"):
        go(page, route)
        seen = page.evaluate(
            """() => { const n = document.getElementById('nav').getBoundingClientRect();
            const a = document.querySelector('#nav a[aria-current=page]').getBoundingClientRect();
            return a.left >= n.left - 1 && a.right <= n.right + 1; }"""
        )
        assert seen, f"the {route} tab is out of sight"
        assert page.evaluate("document.documentElement.scrollWidth") <= PHONE_390["width"]
        if route == "account":
            page.screenshot(path=str(shots / "tab-bar-390-account.png"))


def test_devices_show_what_is_still_pending_after_the_last_push(
    server: LiveServer, launch: Any
) -> None:
    ctx = launch("instructor", viewport=DESKTOP)
    page = page_of(ctx)
    sign_in(page, server.url, "instructor1@demo.test")
    note = server.sql(
        "SELECT n.id FROM lesson_notes n JOIN lessons l ON l.id = n.lesson_id "
        "JOIN instructors i ON i.id = l.instructor_id WHERE i.email = 'instructor1@demo.test' "
        "LIMIT 1"
    )[0][0]
    ctx.set_offline(True)
    for tag in ("a", "b", "c"):  # three changes waiting (tags are not folded into one)
        page.evaluate(
            "([id, t]) => __drivesync.mutate('lesson_note', 'patch', id, {tags: [t]})",
            [note, tag],
        )
        page.evaluate(
            "([id]) => __drivesync.mutate('lesson_note', 'patch', id, {private: false})", [note]
        )
    page.wait_for_selector("[data-testid=pending]:not([data-count='0'])")
    ctx.set_offline(False)
    wait_synced(page)
    client = page.evaluate("__drivesync.clientId")
    admin = server.token("admin@demo.test")
    devices = server.api("GET", "/v1/admin/devices", token=admin)["devices"]
    mine = [d for d in devices if d["client_id"] == client]
    assert mine and mine[0]["pending"] == 0, mine


def _conflict(server: LiveServer) -> tuple[str, str, str]:
    """Two devices edit the same words of a note from the same base: a conflict in the
    journal. Returns the note's lesson id, student id and student name."""
    lesson, student, name = server.sql(
        "SELECT l.id, l.student_id, s.name FROM lessons l JOIN students s ON s.id = l.student_id "
        "JOIN instructors i ON i.id = l.instructor_id WHERE i.email = 'instructor1@demo.test' "
        "ORDER BY l.scheduled_start LIMIT 1"
    )[0]
    token = server.token("instructor1@demo.test")
    note = str(uuid.uuid4())
    client = str(uuid.uuid4())

    def push(seq: int, op: str, data: dict[str, Any], base: int | None, who: str) -> Any:
        m: dict[str, Any] = {
            "seq": seq,
            "entity": "lesson_note",
            "id": note,
            "op": op,
            "hlc": f"{int(time.time() * 1000):013d}-0000-{who}",
            "data": data,
        }
        if base is not None:
            m["base_rev"] = base
        body = {"client_id": who, "mutations": [m]}
        return server.api("POST", "/v1/sync/push", body, token=token)["results"][0]

    text = "Mirror checks good on the ring road."
    base = push(1, "put", {"lesson_id": lesson, "body": text}, None, client)["rev"]
    push(2, "patch", {"body": text.replace("good", "poor")}, base, client)
    other = str(uuid.uuid4())
    result = push(1, "patch", {"body": text.replace("good", "excellent")}, base, other)
    assert result["status"] == "conflict", result
    return lesson, student, name


def test_the_journal_names_its_lesson_and_student_and_the_dashboard_counts_conflicts(
    server: LiveServer, launch: Any, shots: Path
) -> None:
    lesson, student, name = _conflict(server)
    page = page_of(launch("admin", viewport=DESKTOP))
    sign_in(page, server.url, "admin@demo.test")
    go(page, "dashboard")
    page.wait_for_selector("[data-testid=open-conflicts][data-count]")
    shot(page, shots, "admin-dashboard-conflicts-desktop")
    tile = page.locator("a.tile[href='#/journal']")
    assert " ".join(tile.inner_text().split()) == "1 Open conflict"
    tile.click()
    page.wait_for_selector("[data-testid=journal-entry][data-kind=conflict]")
    assert "Open: 1 conflict, 0 rejections, 0 overridden fields." in page.inner_text("#main")
    entry = page.locator("[data-testid=journal-entry][data-kind=conflict]")
    subject = entry.locator("[data-testid=entry-subject]")
    assert subject.locator(f"a[href='#/lesson/{lesson}']").count() == 1
    assert subject.locator(f"a[href='#/student/{student}']").inner_text() == name
    shot(page, shots, "admin-journal-subject-desktop")
    page.set_viewport_size(PHONE_390)
    shot(page, shots, "admin-journal-subject-390")
    page.set_viewport_size(DESKTOP)
    entry.locator("button", has_text="Keep the school's version").click()
    page.wait_for_selector("[data-testid=journal] >> text=Nothing here.")
    page.select_option("#j-status", "")
    page.wait_for_selector("[data-testid=entry-resolution]")
    resolution = page.inner_text("[data-testid=entry-resolution]")
    assert resolution.startswith("Resolved by ") and resolution.endswith(
        ": kept the school's version."
    ), resolution
    assert "{" not in resolution  # words, not JSON
    go(page, "dashboard")
    page.wait_for_selector("[data-testid=open-conflicts][data-count='0']")
    assert " ".join(page.locator("a.tile[href='#/journal']").inner_text().split()) == (
        "0 Open conflicts"
    )
