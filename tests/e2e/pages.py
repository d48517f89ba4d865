"""Steps the browser tests share: sign in, wait for sync, go offline, read the status bar."""

from __future__ import annotations

from pathlib import Path
from typing import Any

PASSWORD = "drive-demo-1"


def page_of(ctx: Any) -> Any:
    page = ctx.pages[0] if ctx.pages else ctx.new_page()
    page.on("pageerror", lambda exc: print(f"[pageerror] {exc}"))
    page.on(
        "console",
        lambda m: m.type in ("error", "warning") and print(f"[console.{m.type}] {m.text}"),
    )
    return page


def sign_in(page: Any, url: str, email: str) -> None:
    """Sign in from the login form and wait until the first full sync has finished and the
    service worker controls the page (so the shell is cached for offline use)."""
    page.goto(url)
    page.fill("input[name=email]", email)
    page.fill("input[name=password]", PASSWORD)
    page.click("form.login button[type=submit]")
    wait_synced(page, timeout=20_000)
    try:
        page.wait_for_function("navigator.serviceWorker.controller !== null", timeout=15_000)
    except Exception:
        state = page.evaluate("""() => navigator.serviceWorker.getRegistration().then(r => r ? {
            installing: r.installing && r.installing.state, waiting: r.waiting && r.waiting.state,
            active: r.active && r.active.state} : null)""")
        raise AssertionError(f"the service worker never took control: {state}") from None


def wait_synced(page: Any, timeout: int = 10_000) -> None:
    """Until a sync has completed and nothing is waiting in the outbox."""
    page.wait_for_selector("[data-testid=synced]:not([data-at=''])", timeout=timeout)
    page.wait_for_selector("[data-testid=pending][data-count='0']", timeout=timeout)


def pending(page: Any) -> int:
    """The count the status bar shows."""
    return int(page.get_attribute("[data-testid=pending]", "data-count") or 0)


def outbox_count(page: Any) -> int:
    """Mutations in the device's outbox (IndexedDB), and the status bar showing as many."""
    count = int(page.evaluate("() => __drivesync.engine.status().then(s => s.pending)"))
    wait_pending(page, count)
    return count


def offline(ctx: Any, server: Any) -> None:
    """Take a device offline. The server also stops accepting connections: Chromium may run
    a service worker's Background Sync before the context's offline emulation reaches a
    (re)started worker, and a test must not see a push leave an "offline" device."""
    ctx.set_offline(True)
    server.refuse_connections()


def online(ctx: Any, server: Any) -> None:
    server.accept_connections()
    ctx.set_offline(False)


def wait_pending(page: Any, count: int, timeout: int = 5_000) -> None:
    page.wait_for_selector(f"[data-testid=pending][data-count='{count}']", timeout=timeout)


def go(page: Any, route: str) -> None:
    """Navigate inside the app (hash route) and wait for the view to render."""
    page.evaluate("r => { location.hash = r }", f"#/{route}")
    name = route.split("/")[0]
    page.wait_for_selector(f"#main[data-view='{name}']")


def shot(page: Any, folder: Path, name: str) -> None:
    page.screenshot(path=str(folder / f"{name}.png"), full_page=True)


def eventually(check: Any, timeout: float = 10.0, message: str = "condition not met") -> Any:
    """Poll `check()` (e.g. a query of the server's database) until it returns something
    truthy, for effects that reach the server asynchronously."""
    import time

    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(message)
        time.sleep(0.1)
