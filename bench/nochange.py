"""No-change pulls through the real app, in-process: a device whose cursor is at the
school's head pulls again (what every client does after a poke that was not for it, or on a
timer). Reports p50/p99 latency of 200 such pulls and the SQL statements each one ran, for an
admin and an instructor, with and without `client_id` (the throttled device-health note).

The app is `server.app.create_app` on a PostgreSQL bench database, driven by aiohttp's test
client over a local socket (so the figures include HTTP parsing, auth, JSON and gzip, but no
other process competes for the event loop).

    .venv/bin/python -m bench.nochange [--quick]
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections import Counter
from typing import Any

from sqlalchemy import event

from bench.common import SECRET, BenchDb, base_args, pct, print_machine, save_json, say

PULLS = 200


async def _measure(client: Any, count: Counter[str], email: str, client_id: bool) -> dict[str, Any]:
    resp = await client.post(
        "/v1/auth/login", json={"tenant": "demo", "email": email, "password": "drive-demo-1"}
    )
    tokens = await resp.json()
    headers = {"Authorization": f"Bearer {tokens['access_token']}"}
    params: dict[str, str] = {}
    if client_id:
        params["client_id"] = str(uuid.uuid4())
    body: dict[str, Any] = {"has_more": True}
    while body["has_more"]:
        async with client.get("/v1/sync/pull", params=params, headers=headers) as resp:
            body = await resp.json()
        params["cursor"] = body["cursor"]
    for _ in range(20):  # warm up (and let the first device-health note happen)
        async with client.get("/v1/sync/pull", params=params, headers=headers) as resp:
            await resp.read()
    times = []
    count.clear()
    for _ in range(PULLS):
        t0 = time.perf_counter()
        async with client.get("/v1/sync/pull", params=params, headers=headers) as resp:
            body = await resp.json()
        times.append(time.perf_counter() - t0)
        assert resp.status == 200 and body["changes"] == [] and not body["has_more"], body
    statements = sum(count.values()) / PULLS
    return {
        "p50_ms": pct(times, 50) * 1000,
        "p99_ms": pct(times, 99) * 1000,
        "statements_per_pull": statements,
        "kinds": dict(count),
    }


async def run(_args: Any) -> dict[str, Any]:
    from aiohttp.test_utils import TestClient, TestServer

    from server.app import create_app
    from server.config import Settings
    from server.keys import ENGINE

    say(f"\n### no-change pulls through the app, in-process ({PULLS} each)")
    db = await BenchDb("nochange").create(seed=True)
    out: dict[str, Any] = {}
    try:
        settings = Settings(database_url=db.url, secret_key=SECRET, var_dir=db.var_dir)
        client = TestClient(TestServer(create_app(settings)))
        await client.start_server()
        count: Counter[str] = Counter()

        @event.listens_for(client.app[ENGINE].sync_engine, "before_cursor_execute")
        def _count(_c: Any, _cur: Any, statement: str, *_a: Any) -> None:
            count[" ".join(statement.split()[:4])] += 1

        try:
            for email in ("admin@demo.test", "instructor1@demo.test"):
                for with_id in (False, True):
                    label = f"{email.split('@')[0]}{' +client_id' if with_id else ''}"
                    res = await _measure(client, count, email, with_id)
                    out[label] = res
                    say(
                        f"{label:24s} p50 {res['p50_ms']:.2f} ms  p99 {res['p99_ms']:.2f} ms  "
                        f"{res['statements_per_pull']:.2f} statements/pull {res['kinds']}"
                    )
        finally:
            await client.close()
    finally:
        await db.drop()
    return out


def main() -> None:
    args = base_args(__doc__.split("\n")[0]).parse_args()
    info = print_machine()
    out = asyncio.run(run(args))
    save_json(args.json, "nochange", {"machine": info, **out})


if __name__ == "__main__":
    main()
