"""The notification centre in the PWA (issue 13): a student asks for a lesson, and the
instructor's open app shows the notification in its Inbox at once (the dispatcher keeps it,
the live channel pokes, the pull brings it); reading it on the laptop clears the unread
count on the instructor's phone too. Screenshots at 390 px and on a desktop; axe on the
filled inbox."""

from __future__ import annotations

import datetime as dt
import time
import uuid
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from tests.e2e.axe import FAILING, audit, report
from tests.e2e.conftest import DESKTOP, LiveServer
from tests.e2e.pages import go, page_of, shot, sign_in, wait_synced

PHONE_390 = {"width": 390, "height": 844}
LONDON = ZoneInfo("Europe/London")


def _request_a_lesson(server: LiveServer) -> None:
    """student1 asks instructor1 for an hour at 10:00 on a weekday three weeks on."""
    ((service,),) = server.sql(
        "SELECT s.id FROM services s JOIN tenants t ON t.id = s.tenant_id"
        " WHERE t.slug = 'demo' AND s.duration_min = 60 LIMIT 1"
    )
    ((instructor,),) = server.sql(
        "SELECT id FROM instructors WHERE email = ?", "instructor1@demo.test"
    )
    day = dt.datetime.now(LONDON).date() + dt.timedelta(days=21)
    while day.weekday() >= 5:
        day += dt.timedelta(days=1)
    start = dt.datetime.combine(day, dt.time(10), LONDON).astimezone(dt.UTC)
    client = str(uuid.uuid4())
    body = server.api(
        "POST",
        "/v1/sync/push",
        {
            "client_id": client,
            "mutations": [
                {
                    "seq": 1,
                    "entity": "booking",
                    "id": str(uuid.uuid4()),
                    "op": "put",
                    "hlc": f"{int(time.time() * 1000):013d}-0000-{client}",
                    "data": {
                        "instructor_id": instructor,
                        "service_id": service,
                        "start": start.isoformat().replace("+00:00", "Z"),
                        "pickup_location": "Station car park",
                    },
                }
            ],
        },
        token=server.token("student1@demo.test"),
    )
    assert body["results"][0]["status"] == "applied", body


@pytest.mark.dispatcher
def test_the_inbox_fills_live_and_reads_across_devices(
    server: LiveServer, launch: Any, shots: Path
) -> None:
    laptop_ctx = launch("inbox-laptop", viewport=DESKTOP)
    laptop = page_of(laptop_ctx)
    sign_in(laptop, server.url, "instructor1@demo.test")
    phone = page_of(launch("inbox-phone", viewport=PHONE_390))
    sign_in(phone, server.url, "instructor1@demo.test")
    assert laptop.locator("#inbox-count").is_hidden()

    _request_a_lesson(server)
    # No reload, no tap: the open apps hear of it.
    for page in (laptop, phone):
        page.wait_for_selector("#inbox-count:visible", timeout=15_000)
        assert page.inner_text("#inbox-count").split()[0] == "1"

    laptop.click("#inbox-link")
    laptop.wait_for_selector("#main[data-view=inbox] [data-testid=inbox] li.unread")
    item = laptop.locator("[data-testid=inbox] li").first
    assert "Amelia Clarke" in item.inner_text(), (
        item.inner_text()
    )  # who asks, from the push wording
    assert item.locator("a", has_text="Open").get_attribute("href") == "#/week"
    shot(laptop, shots, "inbox-desktop")
    found = audit(laptop, laptop_ctx.new_cdp_session(laptop), "inbox with an unread item")
    assert not [v for v in found if v["impact"] in FAILING], report(found)

    laptop.click("[data-testid=inbox] button:text-is('Mark read')")
    laptop.wait_for_selector("[data-testid=inbox] li:not(.unread)")
    assert laptop.locator("#inbox-count").is_hidden()
    wait_synced(laptop)
    # The phone hears of the read (a poke, then a pull) and its count goes too.
    phone.wait_for_selector("#inbox-count", state="hidden", timeout=15_000)
    go(phone, "inbox")
    phone.wait_for_selector("[data-testid=inbox] li:not(.unread)")
    assert server.sql("SELECT count(*) FROM inbox_items WHERE read_at IS NOT NULL")[0][0] == 1
    shot(phone, shots, "inbox-390")
