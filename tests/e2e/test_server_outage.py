"""The server goes away while the browser stays online: the app says the server is
unreachable (not "Offline", not "Online"), keeps the change in its outbox, retries with
backoff by itself, and empties the queue with no click once the server is started again on
the same port and database."""

from __future__ import annotations

import itertools
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import Templates
from tests.e2e.conftest import DESKTOP
from tests.e2e.pages import eventually, go, outbox_count, page_of, shot, sign_in
from tests.e2e.restartable import RestartableServer, restartable_server

EMAIL = "instructor1@demo.test"
NOTE = "Written while the school's server was down; sent by itself when it came back."
PHONE_390 = {"width": 390, "height": 844}
# The retry backoff is capped at 30 s and the live socket's reconnect too; with the short
# outage below the queue empties in a few seconds, this bound only stops a hung test.
RECOVERY_BOUND_S = 35


@pytest.fixture
def server(templates: Templates, tmp_path: Path) -> Iterator[RestartableServer]:
    with restartable_server(templates, tmp_path) as srv:
        yield srv


def _lesson(server: RestartableServer) -> str:
    return str(
        server.sql(
            "SELECT l.id FROM lessons l JOIN instructors i ON i.id = l.instructor_id "
            "WHERE i.email = ? AND l.status = 'scheduled' ORDER BY l.scheduled_start LIMIT 1",
            EMAIL,
        )[0][0]
    )


def _wait(page: Any, check: Any, timeout_s: float, message: str) -> None:
    """Poll `check()` with Playwright's clock (its events are only delivered meanwhile)."""
    deadline = time.monotonic() + timeout_s
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(message)
        page.wait_for_timeout(100)


def _net(page: Any) -> str:
    return str(page.get_attribute("[data-testid=net]", "data-state"))


def test_queue_empties_by_itself_after_a_server_restart(
    server: RestartableServer, launch: Any, shots: Path
) -> None:
    lesson_id = _lesson(server)
    ctx = launch("outage", viewport=PHONE_390)
    page = page_of(ctx)
    failed_pushes: list[float] = []
    page.on(
        "requestfailed",
        lambda r: r.url.endswith("/v1/sync/push") and failed_pushes.append(time.monotonic()),
    )
    sign_in(page, server.url, EMAIL)
    go(page, f"lesson/{lesson_id}")
    page.wait_for_selector("[data-testid=net][data-state=live]")

    server.stop()
    # The live socket drops; the app checks the server and says it cannot reach it, while
    # the browser itself is online.
    page.wait_for_selector("[data-testid=net][data-state=unreachable]")
    assert page.evaluate("navigator.onLine") is True
    assert "Server unreachable" in page.inner_text("[data-testid=net]")

    page.click("[data-testid=add-note]")
    area = page.locator("textarea[data-note-id]").last
    area.fill(NOTE)
    area.blur()
    page.wait_for_selector("[data-testid=note-state]:has-text('Saved on this device')")
    assert outbox_count(page) == 1
    # Retries while the server is down, with no click (backoff 1 s, 2 s, 4 s …).
    _wait(page, lambda: len(failed_pushes) >= 3, 15, "no retries while the server is down")
    assert _net(page) == "unreachable"
    # Spaced out, not hammering: by the third try the backoff is past its first step.
    gaps = [round(b - a, 2) for a, b in itertools.pairwise(failed_pushes)]
    assert gaps[-1] >= 1.0, f"retries are not backing off: {gaps}"
    assert server.sql("SELECT 1 FROM lesson_notes WHERE body = ?", NOTE) == []
    shot(page, shots, "server-unreachable-390")
    page.set_viewport_size(DESKTOP)
    shot(page, shots, "server-unreachable-1280")
    page.set_viewport_size(PHONE_390)

    server.start()  # same port, same database; nobody touches the page
    started = time.monotonic()
    page.wait_for_selector("[data-testid=pending][data-count='0']", timeout=RECOVERY_BOUND_S * 1000)
    recovered_s = time.monotonic() - started
    print(f"queue empty {recovered_s:.1f} s after the restart; failed pushes {len(failed_pushes)}")
    assert server.sql("SELECT body FROM lesson_notes WHERE lesson_id = ?", lesson_id) == [(NOTE,)]
    eventually(lambda: server.pushed_seqs(EMAIL), message="no push recorded")
    assert server.pushed_seqs(EMAIL) == [(1, False, "applied")]  # sent once, applied
    page.wait_for_selector("[data-testid=net][data-state=live]", timeout=RECOVERY_BOUND_S * 1000)
    # The device's copy is the server's now (the editor keeps its label while it has focus).
    record = page.evaluate(
        "id => __drivesync.get('lesson_note', id)", area.get_attribute("data-note-id")
    )
    assert record["body"] == NOTE and not record.get("_pending"), record


def test_503_with_retry_after_is_honoured_then_the_queue_empties(
    server: RestartableServer, launch: Any
) -> None:
    """The server answers the push 503 + Retry-After (its database is down, say): the app
    says the server is unavailable, waits at least that long before every try (its own
    backoff would try sooner), and sends the change by itself once pushes succeed."""
    lesson_id = _lesson(server)
    ctx = launch("busy", viewport=PHONE_390)
    page = page_of(ctx)
    sign_in(page, server.url, EMAIL)
    go(page, f"lesson/{lesson_id}")
    refused: list[float] = []
    busy = {"on": True}

    def push(route: Any) -> None:
        if not busy["on"]:
            route.continue_()
            return
        refused.append(time.monotonic())
        route.fulfill(
            status=503,
            headers={"Retry-After": "2"},
            json={"error": {"code": "database_unavailable", "message": "Try again", "details": {}}},
        )

    page.route("**/v1/sync/push", push)
    page.click("[data-testid=add-note]")
    area = page.locator("textarea[data-note-id]").last
    area.fill(NOTE)  # a second change right after the first: it waits for Retry-After too
    area.blur()
    page.wait_for_selector("[data-testid=net][data-state=unavailable]")
    assert "Server unavailable" in page.inner_text("[data-testid=net]")
    _wait(page, lambda: len(refused) >= 3, 15, "no retries after a 503")
    gaps = [round(b - a, 2) for a, b in itertools.pairwise(refused)]
    assert min(gaps) >= 1.9, f"a try came before Retry-After: {gaps}"
    assert outbox_count(page) == 1

    busy["on"] = False
    page.wait_for_selector("[data-testid=pending][data-count='0']", timeout=RECOVERY_BOUND_S * 1000)
    assert server.sql("SELECT body FROM lesson_notes WHERE lesson_id = ?", lesson_id) == [(NOTE,)]
    page.wait_for_selector("[data-testid=net][data-state=live]")
