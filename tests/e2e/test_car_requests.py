"""The PWA's small requests on a poor link (issue 10): an access token about to expire is
refreshed before a push instead of being found out by a 401 after the body went up, and
a poll that finds nothing new stays under 1 KB each way with the browser's own headers."""

from __future__ import annotations

import time
from typing import Any

import jwt

from sync.core.entities import ENTITIES
from tests.conftest import TEST_SECRET
from tests.e2e.conftest import PHONE, LiveServer
from tests.e2e.pages import go, offline, online, outbox_count, page_of, sign_in, wait_synced

# Every entity but trip_segment (clients/pwa/js/transport.js PULLED_ENTITIES).
PULLED = sorted(set(ENTITIES) - {"trip_segment"})
SESSION = "() => import('/app/js/session.js').then((m) => m.getSession())"
SET_TOKEN = """(token) => import('/app/js/session.js').then(async (m) => {
  const s = await m.getSession();
  await m.setSession({ ...s, access_token: token });
})"""


def _lesson(server: LiveServer) -> str:
    rows = server.sql(
        "SELECT l.id FROM lessons l JOIN instructors i ON i.id = l.instructor_id "
        "WHERE i.email = 'instructor1@demo.test' AND l.status = 'scheduled' "
        "ORDER BY l.scheduled_start LIMIT 1"
    )
    return str(rows[0][0])


def test_token_near_expiry_is_refreshed_before_the_push(server: LiveServer, launch: Any) -> None:
    phone = launch("instructor", viewport=PHONE)
    page = page_of(phone)
    sign_in(page, server.url, "instructor1@demo.test")
    lesson_id = _lesson(server)
    go(page, f"lesson/{lesson_id}")
    offline(phone, server)
    page.click("text=Start lesson")
    page.wait_for_selector("text=Finish lesson")
    assert outbox_count(page) == 1

    # The device's access token, re-signed to expire in 30 s: still valid, but inside the
    # 60 s margin in which the PWA refreshes before pushing.
    session = page.evaluate(SESSION)
    claims = jwt.decode(
        session["access_token"], TEST_SECRET, algorithms=["HS256"], options={"verify_iss": False}
    )
    now = int(time.time())
    short = jwt.encode({**claims, "iat": now, "exp": now + 30}, TEST_SECRET, algorithm="HS256")
    page.evaluate(SET_TOKEN, short)

    server.link.log.clear()
    online(phone, server)
    wait_synced(page, timeout=15_000)

    log = [(s.method, s.path, s.status) for s in server.link.log]
    print("requests after reconnecting:", log)
    assert ("POST", "/v1/sync/push", 200) in log
    first_push = log.index(("POST", "/v1/sync/push", 200))
    assert ("POST", "/v1/auth/refresh", 200) in log[:first_push], log
    assert not [r for r in log if r[2] == 401], "a request was refused before the refresh"
    pushes = server.link.pushes()
    assert len(pushes) == 1 and pushes[0].status == 200  # the body went up once
    assert page.evaluate(SESSION)["access_token"] != short
    assert server.sql("SELECT status FROM lessons WHERE id = ?", lesson_id) == [("in_progress",)]


def test_no_change_poll_is_under_a_kilobyte_each_way(server: LiveServer, launch: Any) -> None:
    phone = launch("instructor", viewport=PHONE)
    page = page_of(phone)
    sign_in(page, server.url, "instructor1@demo.test")
    wait_synced(page)
    first = next(s for s in server.link.log if s.path == "/v1/sync/pull")
    asked = dict(part.split("=", 1) for part in first.query.split("&"))
    assert "cursor" not in asked and "skip_own" not in asked  # from scratch: everything
    assert set(asked["entities"].split(",")) == set(PULLED)  # routes come when viewed

    sizes: list[dict[str, int]] = []
    page.on(
        "requestfinished",
        lambda r: "/v1/sync/pull" in r.url and sizes.append({"url": len(r.url), **r.sizes()}),
    )
    server.link.log.clear()
    changed = page.evaluate("() => __drivesync.engine.pull()")  # what a poll does
    assert changed is False
    polls = [s for s in server.link.log if s.path == "/v1/sync/pull"]
    assert len(polls) == 1 and polls[0].status == 200
    poll = polls[0]
    print(f"no-change poll: request line and headers {poll.head_bytes} B, query {poll.query!r}")
    assert poll.head_bytes < 1024
    # The shell's Permissions-Policy turns off User-Agent client hints; no Referer either.
    assert not [h for h in poll.header_names if h.startswith("sec-ch-ua") or h == "referer"]
    query = dict(part.split("=", 1) for part in poll.query.split("&"))
    assert query["skip_own"] == "true" and query["cursor"]  # our own writes stay home
    # The cursor stands for the filter, the schema version and the page size.
    assert not {"entities", "schema_version", "limit"} & set(query)

    page.wait_for_timeout(200)  # requestfinished reaches Python a moment later
    assert sizes, "the browser reported no pull"
    seen = sizes[-1]
    print("browser's view of the poll:", seen)
    assert seen["requestHeadersSize"] < 1024
    assert seen["responseHeadersSize"] + seen["responseBodySize"] < 1024


def test_a_cursor_of_another_stream_starts_again_from_scratch(
    server: LiveServer, launch: Any
) -> None:
    """A device whose cursor was made before the entity filter (or for another schema
    version) would follow it for ever, since polls leave both to the cursor: it pulls
    from scratch once instead, with the filter, and its replica is whole again."""
    phone = launch("instructor", viewport=PHONE)
    page = page_of(phone)
    sign_in(page, server.url, "instructor1@demo.test")
    wait_synced(page)
    count = "() => __drivesync.all('lesson').then((l) => l.length)"
    lessons = page.evaluate(count)
    assert lessons > 0
    page.evaluate(
        "() => import('/app/js/replica.js').then((r) => r.metaSet(__drivesync.db, "
        "'cursor_stream', '1:every-entity'))"
    )
    server.link.log.clear()
    assert page.evaluate("() => __drivesync.engine.pull()") is True
    pulls = [s.query for s in server.link.log if s.path == "/v1/sync/pull"]
    assert pulls and "cursor=" not in pulls[0] and "entities=" in pulls[0], pulls
    assert page.evaluate(count) == lessons
    server.link.log.clear()
    assert page.evaluate("() => __drivesync.engine.pull()") is False  # and then polls again
    pulls = [s.query for s in server.link.log if s.path == "/v1/sync/pull"]
    assert len(pulls) == 1 and "cursor=" in pulls[0] and "entities=" not in pulls[0]
