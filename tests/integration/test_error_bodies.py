"""Error answers that echo what the client sent stay valid JSON in the project's shape, even
when that text is a lone surrogate (JSON can carry one as an escape; orjson refuses to
write it, which used to turn a 422 into a 500)."""

from __future__ import annotations

import json
from typing import Any

from tests.helpers import Device


async def test_error_echoing_a_lone_surrogate_is_a_4xx(client: Any) -> None:
    student = await Device(client, "student1@demo.test").login()
    body = json.dumps({"events": {"\udc80": None}})  # ensure_ascii: sent as "\\udc80"
    resp = await client.put(
        "/v1/me/notification-preferences",
        data=body,
        headers={**student.headers, "Content-Type": "application/json"},
    )
    assert 400 <= resp.status < 500, await resp.text()
    error = json.loads(await resp.text())["error"]
    assert isinstance(error["code"], str) and error["code"]
    assert set(error) == {"code", "message", "details"}


async def test_token_with_a_lone_surrogate_is_401(client: Any) -> None:
    resp = await client.get(
        "/v1/sync/pull",
        headers={
            "Authorization": "Bearer abc\udc80def".encode("utf-8", "surrogatepass").decode(
                "latin-1"
            )
        },
    )
    assert resp.status == 401


async def test_live_auth_message_that_is_not_json_is_unauthenticated(client: Any) -> None:
    for text in ("not json", "[" * 5000, '{"type": "auth", "token": "abc\\udc80"}'):
        ws = await client.ws_connect("/v1/sync/live")
        await ws.send_str(text)
        msg = await ws.receive_json(timeout=5)
        assert msg["type"] == "error" and msg["error"]["code"] == "unauthenticated", text
        await ws.receive(timeout=5)
        assert ws.close_code == 4401
