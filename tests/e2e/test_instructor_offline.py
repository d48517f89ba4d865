"""An instructor runs a whole lesson offline — notes, an assessment, a GPS trip — reloads
with no network (shell from the service worker cache, data from IndexedDB), comes back
online, and the admin dashboard open on a desktop shows it within seconds, by poke."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

from sync.core.track import to_points
from tests.e2e.conftest import DESKTOP, PHONE, LiveServer
from tests.e2e.pages import (
    go,
    offline,
    online,
    outbox_count,
    page_of,
    shot,
    sign_in,
    wait_pending,
    wait_synced,
)

NOTE = "Offline lesson: mirror checks before every signal, smooth clutch on the hill start."
# A short drive north-east through Bristol (simulated GPS fixes).
ROUTE = [(51.4545 + i * 0.0004, -2.5879 + i * 0.0006) for i in range(8)]


def _next_lesson(server: LiveServer) -> str:
    rows = server.sql(
        "SELECT l.id FROM lessons l JOIN instructors i ON i.id = l.instructor_id "
        "WHERE i.email = 'instructor1@demo.test' AND l.status = 'scheduled' "
        "ORDER BY l.scheduled_start LIMIT 1"
    )
    return str(rows[0][0])


def test_instructor_records_lesson_offline_and_admin_sees_it(
    server: LiveServer, launch: Any, shots: Path
) -> None:
    admin = page_of(launch("admin", viewport=DESKTOP))
    sign_in(admin, server.url, "admin@demo.test")
    marker = admin.evaluate("() => (window.__noReload = Math.random())")

    phone = launch(
        "instructor",
        viewport=PHONE,
        permissions=["geolocation"],
        geolocation={"latitude": ROUTE[0][0], "longitude": ROUTE[0][1], "accuracy": 5},
    )
    page = page_of(phone)
    sign_in(page, server.url, "instructor1@demo.test")
    lesson_id = _next_lesson(server)
    go(page, f"lesson/{lesson_id}")

    offline(phone, server)
    page.wait_for_selector("[data-testid=net]:has-text('Offline')")
    page.click("text=Start lesson")
    page.wait_for_selector("text=Finish lesson")
    page.click("[data-testid=add-note]")
    area = page.locator("textarea[data-note-id]").first
    area.fill(NOTE)
    area.blur()
    page.wait_for_selector("[data-testid=note-state]:has-text('Saved on this device')")

    page.select_option("select[data-code='cockpit-drill']", "4")
    page.select_option("select[data-code='controls-and-instruments']", "3")
    page.click("text=Save assessment")
    page.wait_for_selector("[data-testid=assessed] li >> nth=1")

    page.click("text=Record route")
    page.wait_for_selector("text=Stop recording")
    for lat, lon in ROUTE[1:]:
        phone.set_geolocation({"latitude": lat, "longitude": lon, "accuracy": 5})
        time.sleep(0.25)
    page.wait_for_function(
        "Number(document.querySelector('[data-testid=trip-points]')?.textContent) >= 6"
    )
    assert page.inner_text("[data-testid=trip-distance]") != "0.00 km"
    shot(page, shots, "instructor-lesson-recording-phone")
    page.click("text=Stop recording")
    page.wait_for_selector("[data-testid=trip]")
    page.click("text=Finish lesson")
    page.wait_for_selector("h1 >> text=Completed")
    queued = outbox_count(page)
    assert queued >= 6  # lesson, note put + body, 2 assessments, trip, segment, trip end…

    # Reload with the network off: the shell comes from the service worker's cache and the
    # data (including the unsynced changes) from IndexedDB.
    response = page.reload()
    assert response is not None and response.from_service_worker
    page.wait_for_selector("textarea[data-note-id]")
    assert page.locator("textarea[data-note-id]").first.input_value() == NOTE
    wait_pending(page, queued)
    page.wait_for_selector("h1 >> text=Completed")
    shot(page, shots, "instructor-lesson-offline-reloaded-phone")

    # Back online: the outbox drains and the admin's dashboard updates by itself.
    started = time.monotonic()
    online(phone, server)
    wait_synced(page, timeout=10_000)
    admin.wait_for_selector(f"[data-testid=latest-notes] >> text={NOTE[:40]}", timeout=10_000)
    elapsed = time.monotonic() - started
    assert elapsed < 10
    assert admin.evaluate("() => window.__noReload") == marker  # no reload happened
    shot(admin, shots, "admin-dashboard-after-poke-desktop")

    lesson = server.sql(
        "SELECT status, attended, started_at IS NOT NULL, ended_at IS NOT NULL "
        "FROM lessons WHERE id = ?",
        lesson_id,
    )[0]
    assert lesson == ("completed", 1, 1, 1)
    assert server.sql("SELECT body FROM lesson_notes WHERE lesson_id = ?", lesson_id) == [(NOTE,)]
    levels = server.sql(
        "SELECT s.code, a.level FROM skill_assessments a JOIN skills s "
        "ON s.id = a.skill_id WHERE a.lesson_id = ? ORDER BY s.code",
        lesson_id,
    )
    assert levels == [("cockpit-drill", 4), ("controls-and-instruments", 3)]
    trip = server.sql(
        "SELECT id, distance_m, ended_at IS NOT NULL FROM trips WHERE lesson_id = ?", lesson_id
    )
    assert len(trip) == 1 and trip[0][1] > 300 and trip[0][2] == 1
    points = server.sql("SELECT points FROM trip_segments WHERE trip_id = ?", trip[0][0])
    assert len(points) == 1
    # Every mutation reached the server exactly once.
    seqs = [seq for seq, dup, _ in server.pushed_seqs("instructor1@demo.test")]
    assert len(seqs) == len(set(seqs)) and not any(
        dup for _, dup, _ in server.pushed_seqs("instructor1@demo.test")
    )
    assert all(status == "applied" for _, _, status in server.pushed_seqs("instructor1@demo.test"))


def test_route_recording_survives_a_reload(server: LiveServer, launch: Any) -> None:
    phone = launch(
        "instructor",
        viewport=PHONE,
        permissions=["geolocation"],
        geolocation={"latitude": ROUTE[0][0], "longitude": ROUTE[0][1], "accuracy": 5},
    )
    page = page_of(phone)
    sign_in(page, server.url, "instructor1@demo.test")
    lesson_id = _next_lesson(server)
    go(page, f"lesson/{lesson_id}")
    offline(phone, server)
    page.click("text=Record route")
    for lat, lon in ROUTE[1:4]:
        phone.set_geolocation({"latitude": lat, "longitude": lon, "accuracy": 5})
        time.sleep(0.25)
    page.wait_for_function(
        "Number(document.querySelector('[data-testid=trip-points]')?.textContent) >= 3"
    )
    before = int(page.inner_text("[data-testid=trip-points]"))
    page.reload()  # the app restarts mid-lesson: the recording carries on
    page.wait_for_selector("text=Stop recording")
    page.wait_for_function(
        f"Number(document.querySelector('[data-testid=trip-points]')?.textContent) >= {before}"
    )
    for lat, lon in ROUTE[4:]:
        phone.set_geolocation({"latitude": lat, "longitude": lon, "accuracy": 5})
        time.sleep(0.25)
    page.wait_for_function(
        f"Number(document.querySelector('[data-testid=trip-points]')?.textContent) >= {before + 3}"
    )
    page.click("text=Stop recording")
    page.wait_for_selector("[data-testid=trip]")
    online(phone, server)
    wait_synced(page)
    trip = server.sql("SELECT id, distance_m FROM trips WHERE lesson_id = ?", lesson_id)
    assert len(trip) == 1 and trip[0][1] > 300
    points = [
        json.loads(p)
        for (p,) in server.sql("SELECT points FROM trip_segments WHERE trip_id = ?", trip[0][0])
    ]
    # Stored as the PWA sent them: the compact form (schema_version 2).
    stamps = [pt[0] for seg in points for pt in to_points(seg)]
    assert len(stamps) >= before + 3 and stamps == sorted(set(stamps))  # none lost or repeated
