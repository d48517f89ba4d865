"""How Debian's Chromium is launched here, by the browser tests and by bench/car.py alike
(../shared/design/BROWSER-TESTS.md): never a downloaded browser, no DNS look-ups, no
component downloads, no sandbox in containers."""

from __future__ import annotations

import os

CHROMIUM = os.environ.get("DRIVESYNC_CHROMIUM", "/usr/bin/chromium")
ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1",
]
