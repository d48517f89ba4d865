"""axe-core in the browser tests: the engine comes from a pinned PyPI package
(axe-playwright-python ships axe.min.js; installed by `make install` through the dev extra),
never from the network. It is injected with the DevTools protocol's Runtime.evaluate, which
the page's Content-Security-Policy does not govern, so the app's policy stays as strict as it
is (a <script> tag would be refused, and rightly)."""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path
from typing import Any

# Impacts that fail a test; "moderate" and "minor" are printed, not failed.
FAILING = ("serious", "critical")


@cache
def axe_source() -> str:
    import axe_playwright_python

    return (Path(axe_playwright_python.__file__).parent / "axe.min.js").read_text()


def _evaluate(cdp: Any, expression: str) -> Any:
    answer = cdp.send(
        "Runtime.evaluate",
        {"expression": expression, "awaitPromise": True, "returnByValue": True},
    )
    if "exceptionDetails" in answer:
        raise AssertionError(f"axe failed in the page: {answer['exceptionDetails']}")
    return answer["result"].get("value")


RUN = """
axe.run(document, {resultTypes: ['violations']}).then((r) => JSON.stringify(
  r.violations.map((v) => ({
  id: v.id, impact: v.impact, help: v.help,
  nodes: v.nodes.map((n) => ({target: n.target, summary: n.failureSummary, impact: n.impact})),
}))))
"""


def audit(page: Any, cdp: Any, where: str) -> list[dict[str, Any]]:
    """axe's violations on the page as it is now, each tagged with `where`. axe is injected
    into the document once (hash routes keep the document; a reload needs it again)."""
    if not _evaluate(cdp, "typeof window.axe === 'object'"):
        _evaluate(cdp, axe_source())
    found = json.loads(_evaluate(cdp, RUN))
    for v in found:
        v["where"] = where
    return found


def report(violations: list[dict[str, Any]]) -> str:
    """One line per violation and node, for the test's output and its failure message."""
    lines = []
    for v in violations:
        for n in v["nodes"]:
            lines.append(f"{v['where']}: [{v['impact']}] {v['id']} ({v['help']}) at {n['target']}")
    return "\n".join(lines)


def failing(violations: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [v for v in violations if v["impact"] in FAILING]
