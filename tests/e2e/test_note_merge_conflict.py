"""Offline edits to one lesson note from two devices — the instructor's phone and the
admin's desktop — merge when they touch different words; edits of the same words become a
conflict that the admin sees in the journal and resolves there, and both devices converge."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tests.e2e.conftest import DESKTOP, PHONE, LiveServer
from tests.e2e.pages import go, offline, online, page_of, shot, sign_in, wait_pending, wait_synced


def _note(server: LiveServer) -> tuple[str, str, str]:
    """A public seeded note of one of instructor1's students: (note id, lesson id, body)."""
    row = server.sql(
        "SELECT n.id, n.lesson_id, n.body FROM lesson_notes n JOIN lessons l ON l.id = n.lesson_id "
        "JOIN instructors i ON i.id = l.instructor_id WHERE i.email = 'instructor1@demo.test' "
        "AND n.private = 0 ORDER BY n.id LIMIT 1"
    )
    return row[0][0], row[0][1], row[0][2]


def _edit(page: Any, note_id: str, text: str) -> None:
    area = page.locator(f"textarea[data-note-id='{note_id}']")
    area.fill(text)
    area.blur()
    wait_pending(page, 1)


def _shows(page: Any, note_id: str, text: str) -> None:
    page.wait_for_function(
        "([id, text]) => document.querySelector(`textarea[data-note-id='${id}']`)?.value === text",
        arg=[note_id, text],
        timeout=10_000,
    )


def test_offline_note_edits_merge_and_conflict_is_resolved(
    server: LiveServer, launch: Any, shots: Path
) -> None:
    note_id, lesson_id, body = _note(server)
    phone_ctx = launch("instructor", viewport=PHONE)
    desk_ctx = launch("admin", viewport=DESKTOP)
    phone, desk = page_of(phone_ctx), page_of(desk_ctx)
    sign_in(phone, server.url, "instructor1@demo.test")
    sign_in(desk, server.url, "admin@demo.test")
    for page in (phone, desk):
        go(page, f"lesson/{lesson_id}")
        _shows(page, note_id, body)

    # 1. Different words, both offline: merged.
    offline(phone_ctx, server)
    offline(desk_ctx, server)
    mine = "Well done today. " + body
    theirs = body + " Next lesson: roundabouts."
    _edit(phone, note_id, mine)
    _edit(desk, note_id, theirs)
    online(phone_ctx, server)
    wait_synced(phone)
    online(desk_ctx, server)
    wait_synced(desk)
    merged = "Well done today. " + body + " Next lesson: roundabouts."
    assert server.sql("SELECT body FROM lesson_notes WHERE id = ?", note_id) == [(merged,)]
    _shows(desk, note_id, merged)  # from the push result (status merged)
    _shows(phone, note_id, merged)  # from the poke and pull

    # 2. The same words, both offline: a conflict.
    offline(phone_ctx, server)
    offline(desk_ctx, server)
    phone_text = merged.replace("roundabouts", "dual carriageways")
    desk_text = merged.replace("roundabouts", "bay parking")
    _edit(phone, note_id, phone_text)
    _edit(desk, note_id, desk_text)
    online(phone_ctx, server)
    wait_synced(phone)
    online(desk_ctx, server)
    wait_synced(desk)
    assert server.sql("SELECT body FROM lesson_notes WHERE id = ?", note_id) == [(phone_text,)]
    _shows(desk, note_id, phone_text)  # the device shows what the server kept…
    desk.click("[data-testid=problems]")  # …and tells the user, with both versions
    dialog = desk.locator("dialog.problems")
    assert phone_text in dialog.locator("[data-testid=kept]").inner_text()
    assert desk_text in dialog.inner_text()
    shot(desk, shots, "admin-sync-problem-conflict-desktop")
    dialog.locator("text=Dismiss all").click()

    go(desk, "journal")
    entry = desk.locator("[data-testid=journal-entry][data-kind=conflict]")
    entry.wait_for()
    assert desk_text in entry.locator("[data-testid=entry-theirs]").inner_text()
    shot(desk, shots, "admin-journal-conflict-desktop")
    entry.locator("[data-testid=keep-client]").click()
    desk.wait_for_selector("[data-testid=journal] >> text=Nothing here.")
    assert server.sql(
        "SELECT status FROM conflicts WHERE record_id = ? AND kind = 'conflict'", note_id
    ) == [("resolved",)]
    assert server.sql("SELECT body FROM lesson_notes WHERE id = ?", note_id) == [(desk_text,)]
    _shows(phone, note_id, desk_text)  # the resolution reaches the phone by poke
    go(desk, f"lesson/{lesson_id}")
    _shows(desk, note_id, desk_text)
