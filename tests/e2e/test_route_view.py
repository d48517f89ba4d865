"""Routes fetched when viewed: the PWA's pulls leave trip segments out, so a lesson's route
recorded elsewhere (here the demo school's seeded trips) is fetched from
GET /v1/trips/{id}/route when its lesson is opened, kept in IndexedDB so it still shows
offline, and a route never fetched says so offline while the trip's totals still show."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tests.e2e.conftest import DESKTOP, LiveServer
from tests.e2e.pages import go, offline, online, page_of, shot, sign_in

PHONE_390 = {"width": 390, "height": 844}


def _lessons_with_trips(server: LiveServer) -> list[tuple[str, str, float]]:
    rows = server.sql(
        "SELECT l.id, t.id, t.distance_m FROM lessons l JOIN trips t ON t.lesson_id = l.id "
        "JOIN instructors i ON i.id = l.instructor_id "
        "WHERE i.email = 'instructor1@demo.test' AND t.deleted = 0 "
        "ORDER BY l.scheduled_start LIMIT 2"
    )
    return [(str(a), str(b), float(c)) for a, b, c in rows]


def test_route_fetched_on_view_cached_for_offline(
    server: LiveServer, launch: Any, shots: Path
) -> None:
    (lesson1, trip1, dist1), (lesson2, _trip2, dist2) = _lessons_with_trips(server)
    ctx = launch("instructor", viewport=PHONE_390)
    page = page_of(ctx)
    sign_in(page, server.url, "instructor1@demo.test")
    # The first sync brought trips (totals) but no segments.
    assert page.evaluate("() => __drivesync.all('trip').then(x => x.length)") >= 2
    assert page.evaluate("() => __drivesync.all('trip_segment').then(x => x.length)") == 0

    go(page, f"lesson/{lesson1}")
    page.wait_for_selector("[data-testid=route][data-route=fetched] svg.route polyline")
    label = page.get_attribute("[data-testid=route] svg.route", "aria-label") or ""
    assert "120 points" in label, label
    assert page.inner_text("[data-testid=route]").strip() == ""  # the drawing alone
    totals = page.inner_text("[data-testid=trip-totals]")
    assert f"{dist1 / 1000:.2f} km" in totals, (totals, dist1)
    shot(page, shots, "route-view-fetched-390")
    cached = page.evaluate(
        """id => new Promise((ok, fail) => {
             const t = __drivesync.db.transaction('routes').objectStore('routes').get(id);
             t.onsuccess = () => ok(t.result); t.onerror = () => fail(t.error); })""",
        trip1,
    )
    assert cached["trip_id"] == trip1 and len(cached["segments"]) == 1
    assert cached["segments"][0]["points"]["v"] == 1  # kept in the compact form

    # Offline, after a reload: the route seen once comes from IndexedDB.
    offline(ctx, server)
    response = page.reload()
    assert response is not None and response.from_service_worker
    go(page, f"lesson/{lesson1}")
    page.wait_for_selector("[data-testid=route][data-route=cached] svg.route polyline")

    # A route never fetched: said so, with the trip's totals from its record.
    go(page, f"lesson/{lesson2}")
    page.wait_for_selector("[data-testid=route][data-route=missing]")
    assert (
        page.inner_text("[data-testid=route]").strip()
        == "Route not downloaded yet — shown when online"
    )
    assert f"{dist2 / 1000:.2f} km" in page.inner_text("[data-testid=trip-totals]")
    shot(page, shots, "route-view-offline-not-downloaded-390")

    # Back online: shown without the user doing anything.
    online(ctx, server)
    page.wait_for_selector("[data-testid=route][data-route=fetched] svg.route polyline")


def test_route_view_on_a_desktop(server: LiveServer, launch: Any, shots: Path) -> None:
    (lesson1, _trip1, _dist1), _ = _lessons_with_trips(server)
    page = page_of(launch("instructor-desktop", viewport=DESKTOP))
    sign_in(page, server.url, "instructor1@demo.test")
    go(page, f"lesson/{lesson1}")
    page.wait_for_selector("[data-testid=route][data-route=fetched] svg.route polyline")
    box = page.locator("[data-testid=route] svg.route").bounding_box()
    assert box is not None and box["width"] >= 300  # drawn, not collapsed
    shot(page, shots, "route-view-fetched-1280")
