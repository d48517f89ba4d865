"""axe-core over every screen of every role — the sign-in page (and, where the app has them,
forgot password and an account link's form), each view of the admin, the instructor and the
student (a guardian signs in to the student's views; the demo school has
no guardian login) and the running mock test and its result — at a 390 px phone and at
desktop size: no serious or critical violation. Everything axe finds is printed (moderate
and minor too), so a run's output lists what is left to improve.

axe comes from a pinned PyPI package and is injected through the DevTools protocol
(tests/e2e/axe.py), never fetched and never through the app's Content-Security-Policy."""

from __future__ import annotations

import time
import uuid
from typing import Any

import pytest

from tests.e2e.axe import audit, failing, report
from tests.e2e.conftest import DESKTOP, LiveServer
from tests.e2e.pages import go, page_of, sign_in

PHONE_390 = {"width": 390, "height": 844}
SIZES = (("phone", PHONE_390), ("desktop", DESKTOP))


def _ids(server: LiveServer) -> tuple[str, str]:
    lesson, student = server.sql(
        "SELECT l.id, l.student_id FROM lessons l JOIN trips t ON t.lesson_id = l.id "
        "JOIN instructors i ON i.id = l.instructor_id WHERE i.email = 'instructor1@demo.test' "
        "ORDER BY l.scheduled_start DESC LIMIT 1"
    )[0]
    return lesson, student


def _journal_entry(server: LiveServer, lesson: str) -> None:
    """An instructor's device sends an assessment of a skill that does not exist: rejected,
    so the admin's journal has an entry to show (with its lesson and student) and the
    device a problem."""
    token = server.token("instructor1@demo.test")
    client = str(uuid.uuid4())
    server.api(
        "POST",
        "/v1/sync/push",
        {
            "client_id": client,
            "mutations": [
                {
                    "seq": 1,
                    "entity": "skill_assessment",
                    "id": str(uuid.uuid4()),
                    "op": "put",
                    "hlc": f"{int(time.time() * 1000):013d}-0000-{client}",
                    "data": {
                        "lesson_id": lesson,
                        "skill_id": str(uuid.uuid4()),
                        "level": 3,
                        "assessed_at": "2026-01-01T10:00:00Z",
                    },
                }
            ],
            "device": {"app_version": "0.1.0", "pending": 0, "platform": "pwa/Android"},
        },
        token=token,
    )


def _time_off(server: LiveServer) -> None:
    """instructor1 takes the next six days off, over their seeded confirmed lessons: the
    Availability screens list it (with its clashes) and the admin dashboard shows the
    lessons under it."""
    token = server.token("instructor1@demo.test")
    client = str(uuid.uuid4())
    today = time.strftime("%Y-%m-%d", time.gmtime())
    start = f"{today}T00:00:00Z"
    end = time.strftime("%Y-%m-%dT00:00:00Z", time.gmtime(time.time() + 7 * 86400))
    body = server.api(
        "POST",
        "/v1/sync/push",
        {
            "client_id": client,
            "mutations": [
                {
                    "seq": 1,
                    "entity": "availability_exception",
                    "id": str(uuid.uuid4()),
                    "op": "put",
                    "hlc": f"{int(time.time() * 1000):013d}-0000-{client}",
                    "data": {"start": start, "end": end, "all_day": True, "reason": "Holiday"},
                }
            ],
        },
        token=token,
    )
    assert body["results"][0]["status"] == "applied", body


def _thread(server: LiveServer) -> str:
    """student1 writes to instructor1 (issue 13): the Messages screens have a conversation
    to list and to open, for the student, the instructor and the admin alike."""
    token = server.token("student1@demo.test")
    ((instructor,),) = server.sql(
        "SELECT id FROM instructors WHERE email = 'instructor1@demo.test'"
    )
    client, thread = str(uuid.uuid4()), str(uuid.uuid4())
    now = int(time.time() * 1000)
    body = server.api(
        "POST",
        "/v1/sync/push",
        {
            "client_id": client,
            "mutations": [
                {
                    "seq": 1,
                    "entity": "thread",
                    "id": thread,
                    "op": "put",
                    "hlc": f"{now:013d}-0000-{client}",
                    "data": {"subject": "Thursday", "instructor_id": instructor},
                },
                {
                    "seq": 2,
                    "entity": "message",
                    "id": str(uuid.uuid4()),
                    "op": "put",
                    "hlc": f"{now:013d}-0001-{client}",
                    "data": {"thread_id": thread, "body": "Can we start at 9?"},
                },
            ],
        },
        token=token,
    )
    assert [r["status"] for r in body["results"]] == ["applied", "applied"], body
    return thread


# The Catalogue's forms (issue 11); its lists are a tab, walked with the others.
CATALOGUE_FORMS = ("service", "rate_card", "skill", "theory_question")


def _routes(
    page: Any,
    role: str,
    lesson: str,
    student: str,
    bookings: tuple[str, ...] = (),
    thread: str | None = None,
) -> list[str]:
    """Every tab the app shows this role (read from its own navigation, so a new screen is
    walked without touching this test), then the screens reached from them."""
    tabs = page.evaluate(
        "() => [...document.querySelectorAll('#nav a')].map((a) => a.hash.replace('#/', ''))"
    )
    assert tabs, "no navigation"
    details = {
        "instructor": [f"student/{student}", f"lesson/{lesson}"],
        "student": ["practice/hazard-awareness"],
        "guardian": [],  # issue 13: one home of the learners, read-only
        "admin": [f"lesson/{lesson}", f"student/{student}"]
        + (
            [f"person/student/{student}", "person/instructor/new", "person/guardian/new"]
            if "people" in tabs
            else []
        )
        + ([f"catalogue/{entity}/new" for entity in CATALOGUE_FORMS] if "catalogue" in tabs else [])
        + ([f"booking/{b}" for b in bookings] if "bookings" in tabs else []),
    }[role]
    # Settings → Notifications (from Account, every role; issue 13) and the admin's
    # template editor under Notifications.
    if "account" in tabs:
        details.append("settings/notifications")
    if "notifications" in tabs:
        details += ["notifications/templates", "notifications/templates/booking_confirmed"]
    # The calendar's other views (its tab opens the week).
    if "calendar" in tabs:
        details += ["calendar/month/2026-12-01", "calendar/day/2026-12-02"]
    if "messages" in tabs:  # a conversation, and a new one (issue 13)
        details += ["messages/new"] + ([f"messages/{thread}"] if thread else [])
        if role != "student":  # staff start a lesson's conversation from the lesson
            details.append(f"messages/new/lesson/{lesson}")
    return [*tabs, "inbox", *details]  # the inbox opens from the header, for every role


def _both_sizes(page: Any, cdp: Any, where: str) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = []
    for label, size in SIZES:
        page.set_viewport_size(size)
        page.wait_for_timeout(50)  # layout settles (media queries)
        found += audit(page, cdp, f"{where} @ {label}")
    return found


@pytest.mark.parametrize(
    "role,email",
    [
        ("instructor", "instructor1@demo.test"),
        ("student", "student1@demo.test"),
        ("admin", "admin@demo.test"),
        ("guardian", "guardian1@demo.test"),
    ],
)
def test_every_screen_has_no_serious_or_critical_axe_violation(
    server: LiveServer, launch: Any, role: str, email: str
) -> None:
    lesson, student = _ids(server)
    _time_off(server)
    thread = _thread(server)
    if role == "admin":
        _journal_entry(server, lesson)
    ctx = launch(f"axe-{role}", viewport=DESKTOP)
    page = page_of(ctx)
    cdp = ctx.new_cdp_session(page)
    found: list[dict[str, Any]] = []

    page.goto(server.url)
    page.wait_for_selector("form.login")
    found += _both_sizes(page, cdp, "sign-in")
    if role == "instructor":  # the signed-out screens, once
        if page.locator("[data-testid=forgot-link]").count():
            page.click("[data-testid=forgot-link]")
            page.wait_for_selector("[data-testid=forgot-form]")
            found += _both_sizes(page, cdp, "forgot password")
        page.goto(server.url + "#/accept?token=not-a-real-token")
        page.reload()
        page.wait_for_selector("form.login")
        found += _both_sizes(page, cdp, "account link")
    page.set_viewport_size(DESKTOP)
    sign_in(page, server.url, email)
    # A booking's page: a past one (with its lesson's trip) and a live one (move form).
    bookings = server.sql(
        "SELECT booking_id FROM lessons WHERE id = ? UNION ALL "
        "SELECT * FROM (SELECT id FROM bookings WHERE status = 'confirmed' "
        "AND start > datetime('now') ORDER BY start LIMIT 1)",
        lesson,
    )
    booked = tuple(b for (b,) in bookings if b)
    for route in _routes(page, role, lesson, student, booked, thread):
        go(page, route)
        page.wait_for_timeout(200)  # live cards (journal, devices, notifications) settle
        found += _both_sizes(page, cdp, f"{role} #{route}")
    if role == "admin":  # an edit form of the Catalogue, with its retire button
        ((skill,),) = server.sql(
            "SELECT s.id FROM skills s JOIN tenants t ON t.id = s.tenant_id"
            " WHERE t.slug = 'demo' LIMIT 1"
        )
        go(page, f"catalogue/skill/{skill}")
        page.wait_for_selector("[data-testid=catalogue-retire]")
        found += _both_sizes(page, cdp, "admin #catalogue skill edit")
        go(page, "journal")
        page.wait_for_selector("[data-testid=journal-entry]")
        found += _both_sizes(page, cdp, "admin #journal with an entry")
    if role == "student":  # the running mock test and its result are screens of their own
        go(page, "mock")
        page.click("[data-testid=start-mock]")
        page.wait_for_selector("[data-testid=timer]")
        page.check("#mock-opt-0")
        found += _both_sizes(page, cdp, "student mock test running")
        page.once("dialog", lambda d: d.accept())
        page.click("[data-testid=finish]")
        page.wait_for_selector("#main[data-view=result]")
        found += _both_sizes(page, cdp, "student #result")

    print(f"\naxe on {role}'s screens:\n{report(found) or 'no violations'}")
    bad = failing(found)
    assert not bad, f"serious or critical axe violations:\n{report(bad)}"
