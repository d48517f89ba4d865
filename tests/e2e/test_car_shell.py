"""The app shell on a poor link (issue 10): a first visit gets its text files gzip-compressed
on the wire, and a second visit is answered by the service worker's cache with no shell
file crossing the network."""

from __future__ import annotations

from pathlib import Path
from typing import Any
from urllib.parse import urlparse

from tests.e2e.conftest import PHONE, LiveServer
from tests.e2e.pages import page_of

PWA = Path(__file__).resolve().parents[2] / "clients" / "pwa"
TEXT = (".js", ".css", ".html", ".webmanifest")


def test_shell_is_compressed_then_served_from_the_worker_cache(
    server: LiveServer, launch: Any
) -> None:
    ctx = launch("student", viewport=PHONE)
    page = page_of(ctx)
    seen: list[tuple[str, int, str | None, int]] = []  # path, status, encoding, body bytes

    def finished(request: Any) -> None:
        path = urlparse(request.url).path
        response = request.response()
        if path.startswith("/v1/") or response is None:
            return
        encoding = response.headers.get("content-encoding")
        seen.append((path, response.status, encoding, request.sizes()["responseBodySize"]))

    ctx.on("requestfinished", finished)
    page.goto(server.url)
    page.wait_for_selector("input[name=email]")
    page.wait_for_function("() => navigator.serviceWorker.controller !== null", timeout=15_000)

    def is_text(path: str) -> bool:
        return path == "/" or (path.startswith("/app/") and path.endswith(TEXT))

    # A revalidated file (304) or one from the browser's cache reports no body bytes.
    bodies = [(p, enc, size) for p, status, enc, size in seen if size > 0 and is_text(p)]
    assert bodies, seen
    plain = [p for p, enc, _ in bodies if enc != "gzip"]
    assert not plain, f"sent uncompressed: {plain}"
    paths = [p for p, _, _ in bodies]
    assert len(paths) == len(set(paths)), "a shell file crossed the wire twice"
    raw = sum(
        (PWA / ("index.html" if p == "/" else p.removeprefix("/app/"))).stat().st_size
        for p in paths
    )
    wire = sum(size for _, _, size in bodies)
    print(f"first visit: {len(seen)} requests, shell text {wire} B on the wire for {raw} B")
    assert wire < raw / 2

    # Second visit: a new page of the same profile. The worker answers the shell.
    server.link.log.clear()
    again = ctx.new_page()
    response = again.goto(server.url)
    assert response is not None and response.from_service_worker
    again.wait_for_selector("input[name=email]")
    again.wait_for_timeout(500)  # let any late request show
    fetched = [s.path for s in server.link.log if s.path == "/" or s.path.startswith("/app/")]
    print("second visit, requests:", [(s.method, s.path, s.status) for s in server.link.log])
    assert fetched == [], f"shell files fetched again: {fetched}"
