"""Refresh-token rotation is atomic (issue 9): of eight parallel refreshes with one token
exactly one wins, the others are told the token was reused, and reuse revokes the family,
the winner's new tokens included. On both databases."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from server.app import create_app
from tests.conftest import Db, bearer, login, make_settings

PARALLEL = 8


@pytest.fixture
async def app_client(db: Db, tmp_path: Any, aiohttp_client: Any, monkeypatch: Any) -> Any:
    # Check the access token's standing on every request, so "revoked" shows at once.
    monkeypatch.setenv("DRIVESYNC_ACCESS_CHECK_S", "0")
    return await aiohttp_client(create_app(make_settings(db, tmp_path)))


async def _refresh(client: Any, token: str) -> tuple[int, dict[str, Any]]:
    resp = await client.post("/v1/auth/refresh", json={"refresh_token": token})
    return resp.status, await resp.json()


async def test_parallel_refreshes_have_one_winner_and_revoke_the_family(
    app_client: Any,
) -> None:
    tokens = await login(app_client, "instructor1@demo.test")
    results = await asyncio.gather(
        *(_refresh(app_client, tokens["refresh_token"]) for _ in range(PARALLEL))
    )
    winners = [body for status, body in results if status == 200]
    losers = [body for status, body in results if status != 200]
    assert len(winners) == 1, results
    assert {status for status, _ in results} == {200, 401}
    for body in losers:
        assert body["error"]["code"] == "unauthenticated"
        assert body["error"]["details"]["reason"] == "token_reused"
    (winner,) = winners
    # Reuse detection: the family is gone, the winner's new pair with it.
    status, body = await _refresh(app_client, winner["refresh_token"])
    assert status == 401 and body["error"]["details"]["reason"] == "token_revoked"
    for pair in (winner, tokens):
        resp = await app_client.get("/v1/sync/pull", headers=bearer(pair))
        assert resp.status == 401
        assert (await resp.json())["error"]["details"]["reason"] == "token_revoked"
    # The user can sign in again, and that new family works.
    again = await login(app_client, "instructor1@demo.test")
    status, _ = await _refresh(app_client, again["refresh_token"])
    assert status == 200


async def test_sequential_rotation_still_works(app_client: Any) -> None:
    tokens = await login(app_client, "student1@demo.test")
    for _ in range(3):
        status, tokens = await _refresh(app_client, tokens["refresh_token"])
        assert status == 200
        resp = await app_client.get("/v1/sync/pull", headers=bearer(tokens))
        assert resp.status == 200
