"""The outbox survives a browser restart while offline (persistent profile) and nothing is
sent twice when both the page's `online` handler and the service worker's Background Sync
flush it; Background Sync also delivers with the page closed."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from tests.e2e.conftest import PHONE, LiveServer
from tests.e2e.pages import (
    eventually,
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

NOTE = "Written offline before the browser was closed; sent once when back online."


def _lesson(server: LiveServer, email: str = "instructor1@demo.test") -> str:
    return str(
        server.sql(
            "SELECT l.id FROM lessons l JOIN instructors i ON i.id = l.instructor_id "
            "WHERE i.email = ? AND l.status = 'scheduled' ORDER BY l.scheduled_start LIMIT 1",
            email,
        )[0][0]
    )


def _write_note(page: Any, text: str) -> None:
    page.click("[data-testid=add-note]")
    area = page.locator("textarea[data-note-id]").last
    area.fill(text)
    area.blur()
    page.wait_for_selector("[data-testid=note-state]:has-text('Saved on this device')")


def test_outbox_survives_browser_restart_and_is_sent_once(
    server: LiveServer, launch: Any, shots: Path
) -> None:
    lesson_id = _lesson(server)
    ctx = launch("instructor", viewport=PHONE)
    page = page_of(ctx)
    sign_in(page, server.url, "instructor1@demo.test")
    go(page, f"lesson/{lesson_id}")
    offline(ctx, server)
    page.click("text=Start lesson")
    page.wait_for_selector("text=Finish lesson")
    _write_note(page, NOTE)
    queued = outbox_count(page)
    assert queued == 2  # the lesson's start and the note
    ctx.close()  # the browser quits with the changes still queued

    ctx = launch("instructor", viewport=PHONE, offline=True)  # same profile, still offline
    page = page_of(ctx)
    response = page.goto(f"{server.url}#/lesson/{lesson_id}")
    assert response is not None and response.from_service_worker
    page.wait_for_selector("textarea[data-note-id]")
    assert page.locator("textarea[data-note-id]").last.input_value() == NOTE
    wait_pending(page, queued)
    assert server.pushed_seqs("instructor1@demo.test") == []
    shot(page, shots, "instructor-after-restart-offline-phone")

    online(ctx, server)  # the page's `online` handler and Background Sync both fire
    wait_synced(page, timeout=15_000)
    time.sleep(1.0)  # let a second flusher, if any, reach the server
    results = server.pushed_seqs("instructor1@demo.test")
    assert sorted(seq for seq, _, _ in results) == list(range(1, queued + 1))  # each seq once
    assert not any(dup for _, dup, _ in results)
    assert server.sql("SELECT status FROM lessons WHERE id = ?", lesson_id) == [("in_progress",)]
    assert server.sql("SELECT body FROM lesson_notes WHERE lesson_id = ?", lesson_id) == [(NOTE,)]


def test_background_sync_delivers_with_the_page_closed(server: LiveServer, launch: Any) -> None:
    lesson_id = _lesson(server, "instructor2@demo.test")
    ctx = launch("instructor2", viewport=PHONE)
    page = page_of(ctx)
    sign_in(page, server.url, "instructor2@demo.test")
    go(page, f"lesson/{lesson_id}")
    ctx.set_offline(True)  # emulation only: here the service worker is meant to send it
    _write_note(page, NOTE)
    wait_pending(page, 1)
    page.close()  # no page left: only the service worker can send it
    ctx.set_offline(False)
    eventually(
        lambda: server.sql(
            "SELECT body FROM lesson_notes WHERE lesson_id = ? AND body = ?", lesson_id, NOTE
        ),
        message="Background Sync did not push the note",
    )
    # The push's answer is recorded just after its commit: wait for it too.
    eventually(lambda: server.pushed_seqs("instructor2@demo.test"), message="no push recorded")
    assert [seq for seq, _, _ in server.pushed_seqs("instructor2@demo.test")] == [1]
