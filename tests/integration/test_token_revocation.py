"""Access tokens stop working soon after the user is disabled, leaves the school or logs out
(issue 9), on both databases.

The bound is DRIVESYNC_ACCESS_CHECK_S (30 s by default): how long a process trusts its last
look at the user's standing. The tests make it 0.3 s and wait a little longer than that, so
what they show is "void within the bound", not "void at once" (a logout on the same process
is the exception: it drops its cache entry immediately)."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from sqlalchemy import update

from schemas import User
from server.app import create_app
from sync.tenancy import ALL_TENANTS, bind_tenant
from tests.conftest import Db, bearer, login, make_settings

BOUND_S = 0.3


@pytest.fixture
async def app_client(db: Db, tmp_path: Any, aiohttp_client: Any, monkeypatch: Any) -> Any:
    monkeypatch.setenv("DRIVESYNC_ACCESS_CHECK_S", str(BOUND_S))
    return await aiohttp_client(create_app(make_settings(db, tmp_path)))


async def _pull_status(client: Any, tokens: dict[str, Any]) -> tuple[int, dict[str, Any]]:
    resp = await client.get("/v1/sync/pull", headers=bearer(tokens))
    body = await resp.json()
    return resp.status, body


async def _assert_revoked(client: Any, tokens: dict[str, Any]) -> None:
    status, body = await _pull_status(client, tokens)
    assert status == 401, body
    assert body["error"]["code"] == "unauthenticated"
    assert body["error"]["details"]["reason"] == "token_revoked"


async def test_disabled_user_loses_access_within_the_bound(app_client: Any, db: Db) -> None:
    tokens = await login(app_client, "student1@demo.test")
    assert (await _pull_status(app_client, tokens))[0] == 200
    async with db.sessions() as s, s.begin():
        bind_tenant(s, ALL_TENANTS)
        await s.execute(
            update(User).where(User.email == "student1@demo.test").values(is_active=False)
        )
    await asyncio.sleep(BOUND_S + 0.1)
    await _assert_revoked(app_client, tokens)
    resp = await app_client.post(
        "/v1/auth/refresh", json={"refresh_token": tokens["refresh_token"]}
    )
    assert resp.status == 401
    # Another user of the school is untouched.
    other = await login(app_client, "student2@demo.test")
    assert (await _pull_status(app_client, other))[0] == 200


async def test_student_who_leaves_loses_access_within_the_bound(app_client: Any) -> None:
    student = await login(app_client, "student1@demo.test")
    admin = await login(app_client, "admin@demo.test")
    assert (await _pull_status(app_client, student))[0] == 200
    resp = await app_client.post(
        f"/v1/admin/students/{student['user']['student_id']}/leave", headers=bearer(admin)
    )
    assert resp.status == 200, await resp.text()
    await asyncio.sleep(BOUND_S + 0.1)
    await _assert_revoked(app_client, student)
    resp = await app_client.post(
        "/v1/auth/refresh", json={"refresh_token": student["refresh_token"]}
    )
    assert resp.status == 401
    resp = await app_client.post(
        "/v1/auth/login",
        json={"tenant": "demo", "email": "student1@demo.test", "password": "drive-demo-1"},
    )
    assert resp.status == 401
    assert (await _pull_status(app_client, admin))[0] == 200


async def test_logout_voids_that_devices_tokens_only(
    app_client: Any, db: Db, tmp_path: Any, aiohttp_client: Any
) -> None:
    phone = await login(app_client, "instructor1@demo.test")
    laptop = await login(app_client, "instructor1@demo.test")
    # A second process on the same database: it learns of the logout within the bound.
    other = await aiohttp_client(create_app(make_settings(db, tmp_path)))
    assert (await _pull_status(other, phone))[0] == 200
    resp = await app_client.post("/v1/auth/logout", json={"refresh_token": phone["refresh_token"]})
    assert resp.status == 204
    await _assert_revoked(app_client, phone)  # this process: at once
    resp = await app_client.post("/v1/auth/refresh", json={"refresh_token": phone["refresh_token"]})
    assert resp.status == 401
    await asyncio.sleep(BOUND_S + 0.1)
    await _assert_revoked(other, phone)
    for client in (app_client, other):
        assert (await _pull_status(client, laptop))[0] == 200


async def test_live_connection_refuses_a_void_token(app_client: Any, db: Db) -> None:
    """The live WebSocket and the SSE stream check a token's holder as other routes do."""
    tokens = await login(app_client, "student1@demo.test")
    ws = await app_client.ws_connect("/v1/sync/live", headers=bearer(tokens))
    assert (await ws.receive_json(timeout=5))["type"] == "ready"
    await ws.close()
    async with db.sessions() as s, s.begin():
        bind_tenant(s, ALL_TENANTS)
        await s.execute(
            update(User).where(User.email == "student1@demo.test").values(is_active=False)
        )
    await asyncio.sleep(BOUND_S + 0.1)
    ws = await app_client.ws_connect("/v1/sync/live", headers=bearer(tokens))
    msg = await ws.receive_json(timeout=5)
    assert msg["type"] == "error" and msg["error"]["code"] == "unauthenticated"
    await ws.receive(timeout=5)
    assert ws.close_code == 4401
    resp = await app_client.get("/v1/sync/events", headers=bearer(tokens))
    assert resp.status == 401
