"""Time off in the PWA (issue 11, "Done means"): an instructor, offline, adds a week of
holiday; back online it syncs; the student's slot picker, offline, no longer offers those
days; and a booking the student sent into them from a device that had not heard of the
holiday yet is refused by the server (`unavailable`) and shown as a problem. Screenshots of
the Availability screen and the admin dashboard's clash card on a 390 px phone and a
desktop."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from tests.e2e.conftest import DESKTOP, LiveServer
from tests.e2e.pages import (
    eventually,
    go,
    offline,
    online,
    page_of,
    shot,
    sign_in,
    wait_pending,
    wait_synced,
)

PHONE_390 = {"width": 390, "height": 844}
LONDON = ZoneInfo("Europe/London")


def _holiday_monday() -> dt.date:
    """A Monday three to four weeks ahead (the form's first day)."""
    day = dt.datetime.now(LONDON).date() + dt.timedelta(days=21)
    while day.weekday() != 0:
        day += dt.timedelta(days=1)
    return day


def _pick_day(page: Any, day: dt.date) -> list[str]:
    """Choose `day` in the booking form; the start times it offers (values)."""
    page.fill("#book-day", day.isoformat())
    page.dispatch_event("#book-day", "change")
    options = page.eval_on_selector_all("#book-time option", "os => os.map(o => o.value)")
    return [v for v in options if v]


def test_instructor_adds_a_week_of_holiday_offline_and_students_cannot_book_it(
    server: LiveServer, launch: Any, shots: Path
) -> None:
    monday = _holiday_monday()
    friday, next_monday = monday + dt.timedelta(days=4), monday + dt.timedelta(days=7)
    errors: list[str] = []

    # The student's device syncs before the holiday exists, then goes offline.
    sctx = launch("student", viewport=DESKTOP)
    student = page_of(sctx)
    student.on("pageerror", lambda exc: errors.append(str(exc)))
    sign_in(student, server.url, "student1@demo.test")
    go(student, "bookings")
    assert _pick_day(student, monday + dt.timedelta(days=2)), "Wednesday offers times before"
    offline(sctx, server)
    # Offline, with a replica that does not know the holiday yet: a request into it.
    student.click("form.book button[type=submit]")
    wait_pending(student, 1)

    # The instructor, offline, adds the week (Monday to Sunday, whole days) with a reason.
    ictx = launch("instructor", viewport=DESKTOP)
    inst = page_of(ictx)
    inst.on("pageerror", lambda exc: errors.append(str(exc)))
    server.accept_connections()  # the student's context stays offline on its own
    sign_in(inst, server.url, "instructor1@demo.test")
    go(inst, "availability")
    inst.wait_for_selector("[data-testid=weekly-hours] .slot")
    offline(ictx, server)
    inst.wait_for_selector("[data-testid=net]:has-text('Offline')")
    assert inst.is_checked("#off-all-day")
    inst.fill("#off-from", monday.isoformat())
    inst.fill("#off-to", (monday + dt.timedelta(days=6)).isoformat())
    inst.fill("#off-reason", "Family holiday in Cornwall")
    inst.click("[data-testid=timeoff-save]")
    wait_pending(inst, 1)
    item = inst.locator("[data-testid=time-off] li").first
    assert "not synced" in item.inner_text() and "(all day)" in item.inner_text()
    assert server.sql("SELECT count(*) FROM availability_exceptions") == [(0,)]
    shot(inst, shots, "availability-offline-desktop")

    online(ictx, server)
    wait_synced(inst, timeout=15_000)
    ((start, end, all_day, reason),) = server.sql(
        'SELECT start, "end", all_day, reason FROM availability_exceptions'
    )
    first = dt.datetime.combine(monday, dt.time(0), LONDON).astimezone(dt.UTC)
    after = dt.datetime.combine(next_monday, dt.time(0), LONDON).astimezone(dt.UTC)
    assert dt.datetime.fromisoformat(start).replace(tzinfo=dt.UTC) == first
    assert dt.datetime.fromisoformat(end).replace(tzinfo=dt.UTC) == after
    assert (all_day, reason) == (1, "Family holiday in Cornwall")
    inst.wait_for_function(
        "() => !document.querySelector('[data-testid=time-off]').innerText.includes('not synced')"
    )
    shot(inst, shots, "availability-desktop")

    # The student comes back online: the request into the holiday is refused, unavailable.
    online(sctx, server)
    wait_synced(student, timeout=15_000)
    statuses = [status for _seq, _dup, status in server.pushed_seqs("student1@demo.test")]
    assert statuses == ["rejected"], statuses
    code = eventually(
        lambda: server.sql(
            "SELECT code FROM conflicts WHERE kind = 'rejected' AND entity = 'booking'"
        ),
        message="the refusal was not journaled",
    )
    assert code == [("unavailable",)]
    student.wait_for_selector("[data-testid=problems]")
    assert server.sql("SELECT count(*) FROM bookings WHERE start >= ?", first.isoformat()) == [(0,)]

    # Offline again, the picker offers nothing in the holiday week, and times after it.
    offline(sctx, server)
    go(student, "bookings")
    # The view drawn from a replica holding the holiday (the sync's own re-render may come
    # after the route's: its away list is the sign it has).
    student.wait_for_selector("[data-testid=instructor-away]")
    for day in (monday, monday + dt.timedelta(days=2), friday):
        assert _pick_day(student, day) == [], day
        assert "Your instructor is away that day" in student.inner_text("#book-time")
    assert _pick_day(student, next_monday), "the Monday after the holiday offers times"
    _pick_day(student, monday)
    shot(student, shots, "bookings-away-desktop")
    student.set_viewport_size(PHONE_390)
    assert student.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
    shot(student, shots, "bookings-away-390")
    away = student.inner_text("[data-testid=instructor-away]")
    assert "Priya Shah is not available" in away and "Cornwall" not in away
    # The student's device holds the holiday, but not why.
    held = student.evaluate("() => __drivesync.all('availability_exception')")
    assert len(held) == 1 and "reason" not in held[0] and held[0]["all_day"] is True
    assert errors == []


def test_time_off_screens_on_a_phone_and_the_admin_dashboard(
    server: LiveServer, launch: Any, shots: Path
) -> None:
    # A confirmed lesson under time off, set up through the API as the instructor would.
    monday = _holiday_monday()
    token = server.token("instructor1@demo.test")
    student_token = server.token("student1@demo.test")
    ((iid,),) = server.sql("SELECT id FROM instructors WHERE email = 'instructor1@demo.test'")
    ((service,),) = server.sql("SELECT id FROM services WHERE duration_min = 60 LIMIT 1")
    start = dt.datetime.combine(monday + dt.timedelta(days=1), dt.time(10), LONDON)
    iso = start.astimezone(dt.UTC).isoformat().replace("+00:00", "Z")
    hlc = f"{int(dt.datetime.now(dt.UTC).timestamp() * 1000):013d}-0000-"
    booking = "0193a000-0000-7000-8000-00000000b001"

    def push(tok: str, client: str, mutations: list[dict[str, Any]]) -> Any:
        for m in mutations:
            m["hlc"] = hlc + client
        body = {"client_id": client, "schema_version": 1, "mutations": mutations}
        return server.api("POST", "/v1/sync/push", body, token=tok)

    st_client = "5b0c7f3e-9a1d-4c55-8a0e-2f7d1c9b6a11"
    in_client = "5b0c7f3e-9a1d-4c55-8a0e-2f7d1c9b6a12"
    put = {"instructor_id": iid, "service_id": service, "start": iso}
    assert (
        push(
            student_token,
            st_client,
            [{"seq": 1, "entity": "booking", "id": booking, "op": "put", "data": put}],
        )["results"][0]["status"]
        == "applied"
    )
    confirm = {
        "seq": 1,
        "entity": "booking",
        "id": booking,
        "op": "patch",
        "data": {"status": "confirmed"},
    }
    assert push(token, in_client, [confirm])["results"][0]["status"] == "applied"
    block = {
        "start": dt.datetime.combine(monday, dt.time(0), LONDON).astimezone(dt.UTC).isoformat(),
        "end": dt.datetime.combine(monday + dt.timedelta(days=2), dt.time(0), LONDON)
        .astimezone(dt.UTC)
        .isoformat(),
        "all_day": True,
        "reason": "Sick",
    }
    x = {
        "seq": 2,
        "entity": "availability_exception",
        "id": "0193a000-0000-7000-8000-00000000e001",
        "op": "put",
        "data": block,
    }
    assert push(token, in_client, [x])["results"][0]["status"] == "applied"

    page = page_of(launch("instructor-phone", viewport=PHONE_390))
    sign_in(page, server.url, "instructor1@demo.test")
    go(page, "availability")
    page.wait_for_selector("[data-testid=timeoff-clash]")
    assert "1 confirmed lesson in this time" in page.inner_text("[data-testid=timeoff-clash]")
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
    shot(page, shots, "availability-390")
    page.uncheck("#off-all-day")
    page.wait_for_selector("#off-from-time", state="visible")
    shot(page, shots, "availability-hours-390")

    admin = page_of(launch("admin", viewport=DESKTOP))
    sign_in(admin, server.url, "admin@demo.test")
    go(admin, "dashboard")
    card = admin.wait_for_selector("[data-testid=timeoff-clashes]")
    text = card.inner_text()
    assert "Amelia Clarke" in text and "Priya Shah" in text and "Sick" in text
    shot(admin, shots, "dashboard-time-off-desktop")
    go(admin, f"availability/{iid}")
    admin.wait_for_selector("[data-testid=timeoff-clash]")
    shot(admin, shots, "availability-admin-desktop")
    phone = page_of(launch("admin-phone", viewport=PHONE_390))
    sign_in(phone, server.url, "admin@demo.test")
    go(phone, "dashboard")
    phone.wait_for_selector("[data-testid=timeoff-clashes]")
    assert phone.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
    shot(phone, shots, "dashboard-time-off-390")
