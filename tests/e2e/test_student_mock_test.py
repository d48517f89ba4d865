"""A student takes a 50-question mock test offline; once online, the score and the pass
shown are the server's (scored from the school's bank, never by the client). The school
has raised its pass mark to 46 of 50, and the app shows that mark even offline."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from tests.e2e.conftest import PHONE, LiveServer
from tests.e2e.pages import go, offline, online, outbox_count, page_of, shot, sign_in, wait_synced

WRONG = 5  # answered wrongly on purpose: 45 of 50 would pass at 43, not at this school's 46
PASS_MARK = 46


def test_mock_test_offline_then_scored_by_server(
    server: LiveServer, launch: Any, shots: Path
) -> None:
    correct = dict(server.sql("SELECT id, correct_option FROM theory_questions"))
    server.execute("UPDATE tenants SET pass_mark = ? WHERE slug = 'demo'", PASS_MARK)
    ctx = launch("student", viewport=PHONE)
    page = page_of(ctx)
    sign_in(page, server.url, "student1@demo.test")
    go(page, "mock")
    offline(ctx, server)
    page.reload()  # the shell from the cache, the school's mark from the stored session
    page.wait_for_selector(f"text=pass mark {PASS_MARK} of 50")
    page.click("[data-testid=start-mock]")
    page.wait_for_selector("[data-testid=timer]")
    shot(page, shots, "student-mock-test-running-phone")
    started = time.monotonic()
    for n in range(50):
        fieldset = page.locator("fieldset[data-question-id]")
        qid = fieldset.get_attribute("data-question-id")
        option = correct[qid]
        if n < WRONG:
            option = (option + 1) % page.locator("fieldset input[type=radio]").count()
        page.check(f"#mock-opt-{option}")
        page.wait_for_selector(f"[data-testid=answered]:has-text('{n + 1} of 50')")
        if n < 49:
            page.click("[data-testid=next]")
            page.wait_for_selector(f"text=Question {n + 2} of 50")
    assert time.monotonic() - started < 20
    page.click("[data-testid=finish]")
    page.wait_for_selector("#main[data-view=result]")
    status = page.locator("[data-testid=mock-status]")
    assert "waiting to be marked" in status.inner_text()
    assert outbox_count(page) == 51  # the test and its 50 attempts
    shot(page, shots, "student-mock-result-pending-phone")

    online(ctx, server)
    wait_synced(page, timeout=15_000)
    page.wait_for_selector("[data-testid=mock-status]:has-text('Score')")
    total, score, passed = server.sql("SELECT total, score, passed FROM mock_tests")[0]
    assert (total, score, passed) == (50, 50 - WRONG, 0)
    text = page.inner_text("[data-testid=mock-status]")
    assert f"Score {score} of {total}" in text and "Not passed" in text
    assert f"pass mark {PASS_MARK}" in text
    attempts = server.sql("SELECT COUNT(*), SUM(correct) FROM theory_attempts WHERE mode = 'mock'")[
        0
    ]
    assert attempts == (50, 50 - WRONG)
    shot(page, shots, "student-mock-result-scored-phone")
