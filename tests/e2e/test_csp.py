"""The PWA runs under the server's strict Content-Security-Policy (server/security.py, sent
by the server itself on every response): every main screen of each role (and the login
form) renders with no `securitypolicyviolation` event and no CSP error in the console — so
no inline script or handler, no style attribute, no eval, nothing from another origin, and
the live socket allowed by `connect-src 'self'`.

A control at the end injects an inline script and expects exactly that one violation: the
policy really applies and the listener really hears it.
"""

from __future__ import annotations

import urllib.error
import urllib.request
from typing import Any

import pytest

from server.security import API_POLICY
from server.security import CONTENT_SECURITY_POLICY as POLICY
from tests.e2e.conftest import DESKTOP, LiveServer
from tests.e2e.pages import go, page_of, sign_in

# Installed before any of the page's scripts, in every document the page loads.
LISTEN = """
window.__cspViolations = [];
document.addEventListener('securitypolicyviolation', (e) => {
  window.__cspViolations.push({directive: e.violatedDirective, blocked: e.blockedURI,
    sample: e.sample, source: e.sourceFile, line: e.lineNumber});
});
"""


def test_the_policy_is_strict() -> None:
    """What the tour below proves is only worth as much as the policy it runs under."""
    directives = {
        name: values
        for name, *values in (part.split() for part in POLICY.split(";") if part.strip())
    }
    for name in ("script-src", "style-src", "connect-src", "img-src", "font-src", "worker-src"):
        assert "'unsafe-inline'" not in directives[name] and "'unsafe-eval'" not in directives[name]
        assert not any(v.startswith(("http", "*")) for v in directives[name]), (name, directives)
    assert directives["script-src"] == ["'self'"] and directives["style-src"] == ["'self'"]
    assert directives["object-src"] == ["'none'"] and directives["frame-ancestors"] == ["'none'"]


def _routes(server: LiveServer, role: str) -> list[str]:
    lesson, student = server.sql(
        "SELECT l.id, l.student_id FROM lessons l JOIN trips t ON t.lesson_id = l.id "
        "JOIN instructors i ON i.id = l.instructor_id WHERE i.email = 'instructor1@demo.test' "
        "ORDER BY l.scheduled_start DESC LIMIT 1"
    )[0]
    return {
        "instructor": ["today", "week", "students", f"student/{student}", f"lesson/{lesson}"],
        "student": ["home", "theory", "practice/hazard-awareness", "mock", "bookings"],
        "admin": [
            "dashboard",
            "bookings",  # issue 11: the admin's bookings view
            "lessons",
            f"lesson/{lesson}",
            f"student/{student}",
            "journal",
            "notifications",
            "devices",
            "school",
        ],
    }[role] + ["account"]


@pytest.mark.parametrize(
    "role,email",
    [
        ("instructor", "instructor1@demo.test"),
        ("student", "student1@demo.test"),
        ("admin", "admin@demo.test"),
    ],
)
def test_every_screen_passes_the_content_security_policy(
    server: LiveServer, launch: Any, role: str, email: str
) -> None:
    for path, policy in (
        ("/", POLICY),
        ("/app/js/app.js", POLICY),
        ("/app/app.css", POLICY),
        ("/sw.js", POLICY),
        ("/v1/sync/pull", API_POLICY),  # JSON is never a page: the short policy
    ):
        try:
            headers = urllib.request.urlopen(server.url.rstrip("/") + path, timeout=10).headers
        except urllib.error.HTTPError as exc:  # the API answers 401 without a token
            headers = exc.headers
        assert headers.get("Content-Security-Policy") == policy, path

    ctx = launch(f"csp-{role}", viewport=DESKTOP)
    ctx.add_init_script(LISTEN)
    page = page_of(ctx)
    console: list[str] = []
    page.on("console", lambda m: console.append(f"{m.type}: {m.text}"))
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))

    sign_in(page, server.url, email)  # the login form, the first sync, the worker
    page.wait_for_selector("[data-testid=net][data-state=live]")  # the socket is allowed
    for route in _routes(server, role):
        go(page, route)
        page.wait_for_timeout(150)  # async cards (journal, devices, push) settle
    if role == "student":  # a running mock test and its result are screens of their own
        go(page, "mock")
        page.click("[data-testid=start-mock]")
        page.wait_for_selector("[data-testid=timer]")
        page.check("#mock-opt-0")
        page.once("dialog", lambda d: d.accept())  # "49 questions are unanswered…"
        page.click("[data-testid=finish]")
        page.wait_for_selector("#main[data-view=result]")
    page.reload()  # the shell as the service worker serves it, from its cache
    page.wait_for_selector("#main[data-view]")

    violations = page.evaluate("window.__cspViolations")
    refused = [m for m in console if "Content Security Policy" in m or "Refused to" in m]
    assert violations == [], violations
    assert refused == [], refused
    assert errors == [], errors

    # Control: an inline script is refused, and the listener hears it.
    page.evaluate(
        "() => { const s = document.createElement('script');"
        " s.textContent = 'window.__inlineRan = true'; document.head.append(s); }"
    )
    page.wait_for_function("window.__cspViolations.length > 0")
    assert page.evaluate("window.__inlineRan") is None
    assert [v["directive"] for v in page.evaluate("window.__cspViolations")] == ["script-src-elem"]
