"""Live pokes over WebSocket and SSE, in-process (both databases)."""

from __future__ import annotations

import asyncio
import json
from typing import Any

from tests.helpers import Device, uid


async def _lesson(dev: Device) -> dict[str, Any]:
    await dev.pull(entities="lesson")
    return next(iter(dev.of("lesson").values()))


async def test_websocket_auth_ready_and_pokes_in_scope_only(client: Any) -> None:
    i1 = await Device(client, "instructor1@demo.test").login()
    i2 = await Device(client, "instructor2@demo.test").login()
    ws1 = await client.ws_connect("/v1/sync/live")
    await ws1.send_json({"type": "auth", "token": i1.tokens["access_token"]})
    ready = await ws1.receive_json(timeout=5)
    assert ready["type"] == "ready" and isinstance(ready["rev"], int)
    ws2 = await client.ws_connect("/v1/sync/live", headers=i2.headers)
    assert (await ws2.receive_json(timeout=5))["type"] == "ready"
    lesson = await _lesson(i1)
    result = await i1.one(
        "lesson_note", uid(), "put", {"lesson_id": lesson["id"], "body": "poke me"}
    )
    poke = await ws1.receive_json(timeout=5)
    assert poke == {"type": "poke", "rev": result["rev"]} or poke["rev"] >= result["rev"]
    # instructor2's scope does not include that student: no poke.
    try:
        msg = await ws2.receive_json(timeout=0.5)
    except TimeoutError:
        msg = None
    assert msg is None
    await ws1.close()
    await ws2.close()


async def test_websocket_rejects_bad_token(client: Any) -> None:
    ws = await client.ws_connect("/v1/sync/live")
    await ws.send_json({"type": "auth", "token": "nope"})
    msg = await ws.receive_json(timeout=5)
    assert msg["type"] == "error" and msg["error"]["code"] == "unauthenticated"


async def test_sse_pokes(client: Any) -> None:
    admin = await Device(client, "admin@demo.test").login()
    resp = await client.get(
        "/v1/sync/events", params={"access_token": admin.tokens["access_token"]}
    )
    assert resp.status == 200 and resp.headers["Content-Type"].startswith("text/event-stream")

    async def next_event() -> dict[str, Any]:
        while True:
            line = (await resp.content.readline()).decode()
            if line.startswith("data: "):
                data: dict[str, Any] = json.loads(line[6:])
                return data

    assert (await asyncio.wait_for(next_event(), 5))["type"] == "ready"
    lesson = await _lesson(admin)
    r = await admin.one("lesson", lesson["id"], "patch", {"attended": not lesson["attended"]})
    poke = await asyncio.wait_for(next_event(), 5)
    assert poke["type"] == "poke" and poke["rev"] >= r["rev"]
    resp.close()


async def test_stuck_connection_never_blocks_a_push(client: Any) -> None:
    admin = await Device(client, "admin@demo.test").login()
    # A client that authenticates and then never reads.
    sockets = [await client.ws_connect("/v1/sync/live", headers=admin.headers) for _ in range(5)]
    lesson = await _lesson(admin)
    for i in range(60):
        r = await asyncio.wait_for(
            admin.one("lesson", lesson["id"], "patch", {"attended": i % 2 == 0}), 5
        )
        assert r["status"] == "applied"
    for ws in sockets:
        await ws.close()


async def test_reassignment_pokes_the_new_instructor(client: Any) -> None:
    admin = await Device(client, "admin@demo.test").login()
    i2 = await Device(client, "instructor2@demo.test").login()
    await admin.pull(entities="student")
    amelia = next(s for s in admin.of("student").values() if s["name"] == "Amelia Clarke")
    ws = await client.ws_connect("/v1/sync/live", headers=i2.headers)
    assert (await ws.receive_json(timeout=5))["type"] == "ready"
    resp = await client.put(
        f"/v1/admin/students/{amelia['id']}/instructors",
        json={"instructor_ids": [i2.user["instructor_id"]]},
        headers=admin.headers,
    )
    assert resp.status == 200
    assert (await ws.receive_json(timeout=5))["type"] == "poke"
    # And later changes to Amelia's records reach instructor2 too.
    inst2 = await Device(client, "instructor2@demo.test").login()
    await inst2.pull(entities="lesson")
    lesson = next(x for x in inst2.of("lesson").values() if x["student_id"] == amelia["id"])
    await admin.one("lesson", lesson["id"], "patch", {"attended": not lesson["attended"]})
    assert (await ws.receive_json(timeout=5))["type"] == "poke"
    await ws.close()


async def test_shutdown_ends_sse_streams_at_once(client: Any) -> None:
    admin = await Device(client, "admin@demo.test").login()
    resp = await client.get(
        "/v1/sync/events", params={"access_token": admin.tokens["access_token"]}
    )
    assert (await resp.content.readline()).startswith(b"event: ready")
    started = asyncio.get_running_loop().time()
    await client.app.shutdown()  # the on_shutdown signal, as when the server stops

    async def drain() -> None:
        while await resp.content.readline():
            pass

    await asyncio.wait_for(drain(), 5)  # the stream ends; the heartbeat would be 25 s away
    assert asyncio.get_running_loop().time() - started < 5
