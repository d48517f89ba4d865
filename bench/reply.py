"""What answering through the response models costs on the pull path (server/http.py::reply).

In-process, on a temporary SQLite copy of the demo school plus 2,000 lesson notes pushed
through the API: the admin's pull page of 1,000 changes, read again and again from the
same cursor (no cursor: the initial sync's first page), timed
- in the handler's terms: `conform()` in full and envelope-only, against the orjson
  encoding every answer pays anyway, on the real page body;
- end to end (request in, body decoded by the test client), with DRIVESYNC_STRICT_RESPONSES
  off (envelope only, production) and on (full validation, the tests).

    .venv/bin/python -m bench.reply [--runs 30]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

from aiohttp.test_utils import TestClient, TestServer

PASSWORD = "drive-demo-1"


def _ms(samples: list[float]) -> str:
    return f"median {statistics.median(samples) * 1000:7.2f} ms  (min {min(samples) * 1000:.2f})"


async def _client(url: str, var: Path, strict: bool) -> TestClient[Any, Any]:
    from server.app import create_app
    from server.config import Settings

    settings = Settings(
        database_url=url, secret_key="bench-secret-" + "x" * 40, var_dir=var,
        strict_responses=strict, log_level="WARNING",
    )  # fmt: skip
    client: TestClient[Any, Any] = TestClient(TestServer(create_app(settings)))
    await client.start_server()
    return client


async def _token(client: TestClient[Any, Any], email: str) -> dict[str, str]:
    resp = await client.post(
        "/v1/auth/login", json={"tenant": "demo", "email": email, "password": PASSWORD}
    )
    body = await resp.json()
    return {"Authorization": f"Bearer {body['access_token']}"}


async def _fill(client: TestClient[Any, Any], notes: int) -> None:
    """Push `notes` lesson notes (batches of 500) as the demo admin, on its lessons."""
    headers = await _token(client, "admin@demo.test")
    page = await (await client.get("/v1/sync/pull", params={"limit": 5000}, headers=headers)).json()
    lessons = [c["id"] for c in page["changes"] if c["entity"] == "lesson"]
    client_id, seq = str(uuid.uuid4()), 0
    for start in range(0, notes, 500):
        batch = []
        for i in range(start, min(notes, start + 500)):
            seq += 1
            batch.append(
                {
                    "seq": seq,
                    "entity": "lesson_note",
                    "id": str(uuid.uuid4()),
                    "op": "put",
                    "hlc": f"{int(time.time() * 1000):013d}-0000-{client_id}",
                    "data": {
                        "lesson_id": lessons[i % len(lessons)],
                        "body": "Mirror checks before moving off; smoother clutch control. " * 3,
                        "tags": ["mirrors", "clutch"],
                    },
                }
            )
        body = {"client_id": client_id, "mutations": batch}
        resp = await client.post("/v1/sync/push", json=body, headers=headers)
        assert resp.status == 200, await resp.text()


async def main(runs: int) -> None:
    from schemas.response import PullResponse
    from server.http import conform, dumps
    from server.migrate import upgrade
    from server.seed import seed_demo
    from sync.database import make_engine, make_sessionmaker
    from sync.store import Store

    with tempfile.TemporaryDirectory() as tmp:
        url = f"sqlite+aiosqlite:///{tmp}/bench.sqlite3"
        await asyncio.to_thread(upgrade, url)
        engine = make_engine(url)
        sessions = make_sessionmaker(engine)
        await seed_demo(sessions, Store(sessions, engine.dialect.name))
        await engine.dispose()

        timings: dict[str, list[float]] = {}
        for strict in (False, True):
            client = await _client(url, Path(tmp) / "var", strict)
            try:
                if not strict:
                    await _fill(client, 2000)
                headers = await _token(client, "admin@demo.test")
                params = {"limit": 1000}
                body = await (
                    await client.get("/v1/sync/pull", params=params, headers=headers)
                ).json()
                samples = []
                for _ in range(runs):
                    t0 = time.perf_counter()
                    resp = await client.get("/v1/sync/pull", params=params, headers=headers)
                    await resp.read()
                    samples.append(time.perf_counter() - t0)
                timings["request, strict" if strict else "request, envelope only"] = samples
            finally:
                await client.close()

        print(f"page: {len(body['changes'])} changes, {len(dumps(body)):,} bytes of JSON")

        def clock(fn: Any) -> list[float]:
            out = []
            for _ in range(runs):
                t0 = time.perf_counter()
                fn()
                out.append(time.perf_counter() - t0)
            return out

        timings["orjson encoding (paid anyway)"] = clock(lambda: dumps(body))
        timings["conform, envelope only"] = clock(
            lambda: conform(PullResponse, body, strict=False, envelope_only=True)
        )
        timings["conform, full"] = clock(
            lambda: conform(PullResponse, body, strict=True, envelope_only=False)
        )
        timings["full + model_dump_json"] = clock(
            lambda: PullResponse.model_validate(body).model_dump_json(exclude_unset=True)
        )
        for name, samples in timings.items():
            print(f"{name:32} {_ms(samples)}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=30)
    asyncio.run(main(parser.parse_args().runs))
