"""How the PWA's sync client handles the protocol's harder answers, in a real browser:
`410 reset_required` (re-pull from scratch, unpushed changes kept), `409 seq_gap`
(renumber from `details.expected`), `426 upgrade_required` (stop, keep the outbox), a
rejected mutation (dropped, reason and the server's record shown) — and a booking made by
a student and confirmed by the instructor on another device."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from tests.e2e.conftest import PHONE, LiveServer
from tests.e2e.pages import (
    eventually,
    go,
    page_of,
    pending,
    shot,
    sign_in,
    wait_pending,
    wait_synced,
)


def _public_note(server: LiveServer) -> tuple[str, str, str]:
    row = server.sql(
        "SELECT n.id, n.lesson_id, n.body FROM lesson_notes n JOIN lessons l ON l.id = n.lesson_id "
        "JOIN instructors i ON i.id = l.instructor_id WHERE i.email = 'instructor1@demo.test' "
        "AND n.private = 0 ORDER BY n.id LIMIT 1"
    )[0]
    return row[0], row[1], row[2]


def _instructor(server: LiveServer, launch: Any) -> Any:
    page = page_of(launch("instructor", viewport=PHONE))
    sign_in(page, server.url, "instructor1@demo.test")
    return page


def _record_count(page: Any) -> int:
    return int(
        page.evaluate("""async () => {
      const {tx, req} = await import('/app/js/db.js');
      return tx(__drivesync.db, 'records', 'readonly', (s) => req(s.records.count()));
    }""")
    )


def test_reset_required_repulls_and_keeps_unpushed_changes(server: LiveServer, launch: Any) -> None:
    note_id, lesson_id, body = _public_note(server)
    page = _instructor(server, launch)
    before = _record_count(page)
    go(page, f"lesson/{lesson_id}")
    busy = json.dumps({"error": {"code": "overloaded", "message": "busy", "details": {}}})
    page.route(
        "**/v1/sync/push",
        lambda r: r.fulfill(
            status=503, body=busy, headers={"Retry-After": "60", "Content-Type": "application/json"}
        ),
    )
    edited = body + " Edited before the reset."
    area = page.locator(f"textarea[data-note-id='{note_id}']")
    area.fill(edited)
    area.blur()
    wait_pending(page, 1)
    # A cursor the server cannot accept (as after the tombstone horizon): 410 reset_required.
    page.evaluate(
        "() => import('/app/js/replica.js')"
        ".then(r => r.metaSet(__drivesync.db, 'cursor', 'tampered'))"
    )
    pulls: list[str] = []
    page.on("request", lambda r: "/v1/sync/pull" in r.url and pulls.append(r.url))
    page.evaluate("() => { globalThis.__drivesyncPullLimit = 100; }")  # several pages
    assert page.evaluate("() => __drivesync.engine.pull()") is True
    assert len(pulls) >= 1 + before // 100  # the 410, then page after page
    assert _record_count(page) == before  # the whole replica again, from scratch
    assert pending(page) == 1
    page.evaluate("() => __drivesync.refresh()")
    assert area.input_value() == edited  # the unpushed edit still shows over the new replica
    page.unroute("**/v1/sync/push")
    page.evaluate("() => __drivesync.syncNow()")
    wait_synced(page)
    assert server.sql("SELECT body FROM lesson_notes WHERE id = ?", note_id) == [(edited,)]


def test_seq_gap_renumbers_from_expected(server: LiveServer, launch: Any) -> None:
    note_id, lesson_id, body = _public_note(server)
    page = _instructor(server, launch)
    go(page, f"lesson/{lesson_id}")
    # Seqs 1..9 were reserved but never stored (a crash between reserve and write): the
    # next change gets seq 10, the server expects 1 and answers 409 seq_gap.
    page.evaluate("() => import('/app/js/session.js').then(s => s.raiseSeq(__drivesync.user, 9))")
    area = page.locator(f"textarea[data-note-id='{note_id}']")
    area.fill(body + " After a gap.")
    area.blur()
    eventually(lambda: server.pushed_seqs("instructor1@demo.test"), message="nothing pushed")
    assert server.pushed_seqs("instructor1@demo.test") == [(1, False, "applied")]
    assert server.sql("SELECT body FROM lesson_notes WHERE id = ?", note_id) == [
        (body + " After a gap.",)
    ]


def test_upgrade_required_stops_sync_and_keeps_the_outbox(server: LiveServer, launch: Any) -> None:
    note_id, lesson_id, body = _public_note(server)
    page = _instructor(server, launch)
    go(page, f"lesson/{lesson_id}")
    gone = json.dumps({"error": {"code": "upgrade_required", "message": "upgrade", "details": {}}})
    page.route(
        "**/v1/sync/push",
        lambda r: r.fulfill(status=426, body=gone, headers={"Content-Type": "application/json"}),
    )
    area = page.locator(f"textarea[data-note-id='{note_id}']")
    area.fill(body + " Kept for the new version.")
    area.blur()
    page.wait_for_selector("#sync-status >> text=Update required")
    assert pending(page) == 1
    assert server.pushed_seqs("instructor1@demo.test") == []


def test_rejected_change_is_dropped_and_explained(
    server: LiveServer, launch: Any, shots: Path
) -> None:
    lesson_id = server.sql(
        "SELECT l.id FROM lessons l JOIN instructors i ON i.id = l.instructor_id "
        "WHERE i.email = 'instructor1@demo.test' AND l.status = 'completed' "
        "LIMIT 1"
    )[0][0]
    page = _instructor(server, launch)
    go(page, f"lesson/{lesson_id}")
    # A stale device tries to restart a finished lesson: the state machine refuses it.
    page.evaluate(
        "id => __drivesync.mutate('lesson', 'patch', id, {status: 'in_progress'})", lesson_id
    )
    page.wait_for_selector("[data-testid=problems]")
    wait_pending(page, 0)
    page.click("[data-testid=problems]")
    dialog = page.locator("dialog.problems")
    assert "invalid_transition" in dialog.inner_text()
    assert "completed" in dialog.locator("[data-testid=kept]").inner_text()
    shot(page, shots, "instructor-sync-problem-rejected-phone")
    dialog.locator("text=Close").click()
    page.wait_for_selector("h1 >> text=Completed")  # the server's record is what shows
    assert server.sql("SELECT status FROM lessons WHERE id = ?", lesson_id) == [("completed",)]


def test_student_requests_and_instructor_confirms_booking(server: LiveServer, launch: Any) -> None:
    student = page_of(launch("student", viewport=PHONE))
    sign_in(student, server.url, "student1@demo.test")
    instructor = _instructor(server, launch)
    go(student, "bookings")
    before = server.sql("SELECT COUNT(*) FROM bookings")[0][0]
    student.select_option("#book-service", label="60-minute lesson · £42.00")
    times = student.locator("#book-time option")
    assert times.count() > 1 and times.first.get_attribute("value")
    student.select_option("#book-time", index=times.count() - 1)
    student.click("text=Request lesson")
    eventually(
        lambda: server.sql("SELECT COUNT(*) FROM bookings")[0][0] == before + 1,
        message="the booking request did not reach the server",
    )
    booking_id, status, price = server.sql(
        "SELECT id, status, price_cents FROM bookings ORDER BY created_at DESC LIMIT 1"
    )[0]
    assert server.sql("SELECT COUNT(*) FROM bookings")[0][0] == before + 1
    assert (status, price) == ("requested", 4200)
    go(instructor, "today")
    request = instructor.locator(f".request[data-booking-id='{booking_id}']")
    request.wait_for()  # it came by poke
    assert "Amelia Clarke" in request.inner_text()
    request.locator("text=Confirm").click()
    eventually(
        lambda: (
            server.sql("SELECT status FROM bookings WHERE id = ?", booking_id) == [("confirmed",)]
        ),
        message="not confirmed",
    )
    assert server.sql("SELECT status FROM bookings WHERE id = ?", booking_id) == [("confirmed",)]
    assert server.sql("SELECT status FROM lessons WHERE booking_id = ?", booking_id) == [
        ("scheduled",)
    ]
    student.wait_for_selector("[data-testid=bookings] .badge.confirmed >> nth=0")
