"""Keyboard use of the instructor's lesson: focus never falls to <body> — not after Start
lesson, Record and Stop route, Save assessment or Finish, and not when a sync re-renders the
view (the focused control comes back, or the view's heading when the control is gone); a
focused control never hides under the sticky header when tabbing backwards."""

from __future__ import annotations

import time
import uuid
from typing import Any

from tests.e2e.conftest import DESKTOP, LiveServer
from tests.e2e.pages import go, page_of, sign_in, wait_synced

PHONE_390 = {"width": 390, "height": 844}
WHERE = """() => { const a = document.activeElement;
  return {tag: a.tagName, text: (a.textContent || '').trim(), focus: a.dataset.focus || null,
          href: a.getAttribute('href'), id: a.id || null}; }"""


def _todays_lesson(server: LiveServer) -> str:
    return str(
        server.sql(
            "SELECT l.id FROM lessons l JOIN instructors i ON i.id = l.instructor_id "
            "WHERE i.email = 'instructor1@demo.test' AND l.status = 'scheduled' "
            "AND date(l.scheduled_start) = date('now') ORDER BY l.scheduled_start LIMIT 1"
        )[0][0]
    )


def _settle(page: Any) -> None:
    """The change is pushed and pulled, and the view re-rendered after it."""
    wait_synced(page)
    page.wait_for_timeout(400)  # the render a sync schedules (80 ms) and its data


def _press(page: Any, selector: str) -> None:
    page.focus(selector)
    page.keyboard.press("Enter")


def _focused(page: Any) -> dict[str, Any]:
    where = page.evaluate(WHERE)
    assert where["tag"] != "BODY", "the focus fell to <body>"
    return dict(where)


def test_focus_stays_on_the_lesson_controls_through_actions_and_syncs(
    server: LiveServer, launch: Any
) -> None:
    ctx = launch(
        "instructor",
        viewport=DESKTOP,
        permissions=["geolocation"],
        geolocation={"latitude": 52.2053, "longitude": 0.1218, "accuracy": 5},
    )
    page = page_of(ctx)
    sign_in(page, server.url, "instructor1@demo.test")
    go(page, f"lesson/{_todays_lesson(server)}")

    _press(page, "#main button:text-is('Start lesson')")
    _settle(page)
    assert _focused(page)["text"] == "Finish lesson"

    _press(page, "#main button:text-is('Record route')")
    try:  # a loaded machine can take a while to start the recorder (IndexedDB, geolocation)
        page.wait_for_selector("#main button:text-is('Stop recording')", timeout=20_000)
    except Exception as exc:
        recorder = page.evaluate(
            "() => import('/app/js/ui/trip.js').then((m) =>"
            " JSON.stringify({state: m.recorder.state, error: m.recorder.error}))"
        )
        raise AssertionError(
            f"no Stop recording; focus on {page.evaluate(WHERE)}, recorder {recorder}"
        ) from exc
    page.wait_for_timeout(300)
    assert _focused(page)["text"] == "Stop recording"
    page.evaluate("() => __drivesync.syncNow()")  # a sync while recording re-renders
    _settle(page)
    assert _focused(page)["text"] == "Stop recording"
    page.keyboard.press("Enter")  # the focus really is there: the key stops the recording
    page.wait_for_selector("#main button:text-is('Record route')")
    _settle(page)
    assert _focused(page)["text"] == "Record route"

    page.select_option("#main select[data-skill] >> nth=0", "3")
    _press(page, "form.assess button[type=submit]")  # Save assessment
    page.wait_for_selector("[data-testid=assessed]")
    _settle(page)
    assert _focused(page)["text"] == "Save assessment"

    _press(page, "#main button:text-is('Finish lesson')")  # the button goes away
    page.wait_for_selector("#main h1 .badge.completed")
    _settle(page)
    assert _focused(page)["tag"] == "H1"
    page.evaluate("() => __drivesync.syncNow()")
    _settle(page)
    assert _focused(page)["tag"] == "H1"


def test_a_sync_rerender_keeps_the_focused_link_and_the_next_key(
    server: LiveServer, launch: Any
) -> None:
    page = page_of(launch("instructor", viewport=DESKTOP))
    sign_in(page, server.url, "instructor1@demo.test")
    go(page, "today")
    link = page.locator("[data-testid=today-lessons] a").nth(1)
    href = link.get_attribute("href")
    link.focus()
    # Someone else changes a lesson of this instructor: the poke, the pull, a re-render.
    lesson = _todays_lesson(server)
    token = server.token("admin@demo.test")
    rev = server.sql("SELECT rev FROM lessons WHERE id = ?", lesson)[0][0]
    page.evaluate(
        "() => { window.__rendered = 0; new MutationObserver(() => { window.__rendered += 1; })"
        ".observe(document.getElementById('main'), {childList: true}); }"
    )
    client = str(uuid.uuid4())
    server.api(
        "POST",
        "/v1/sync/push",
        {
            "client_id": client,
            "mutations": [
                {
                    "seq": 1,
                    "entity": "lesson",
                    "id": lesson,
                    "op": "patch",
                    "base_rev": rev,
                    "hlc": f"{int(time.time() * 1000):013d}-0000-{client}",
                    "data": {"scheduled_end": "2099-01-01T10:00:00Z"},
                }
            ],
        },
        token=token,
    )
    page.wait_for_function("() => window.__rendered > 0", timeout=10_000)
    page.wait_for_timeout(200)
    where = _focused(page)
    assert where["href"] == href, where
    page.keyboard.press("Enter")  # the keypress lands on the link
    page.wait_for_selector("#main[data-view=lesson]")
    assert page.evaluate("location.hash") == href


def test_tabbing_backwards_never_hides_the_focus_under_the_sticky_header(
    server: LiveServer, launch: Any
) -> None:
    page = page_of(launch("instructor", viewport=PHONE_390))
    sign_in(page, server.url, "instructor1@demo.test")
    go(page, f"lesson/{_todays_lesson(server)}")
    page.evaluate(
        "() => { const all = [...document.querySelectorAll('#main a, #main button, #main select,"
        " #main input, #main textarea, #main summary')]; all[all.length - 1].focus(); }"
    )
    checked = 0
    for _ in range(30):
        page.keyboard.press("Shift+Tab")
        state = page.evaluate(
            """() => { const a = document.activeElement;
            if (!document.getElementById('main').contains(a)) return null;
            const header = document.querySelector('header.top').getBoundingClientRect();
            const r = a.getBoundingClientRect();
            return {top: r.top, header: header.bottom, text: (a.textContent || a.id).trim()}; }"""
        )
        if state is None:
            break  # left the view (the nav, the header): nothing under the header then
        checked += 1
        assert state["top"] >= state["header"] - 1, state
    assert checked >= 10  # it really walked up the lesson
