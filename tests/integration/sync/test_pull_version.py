"""A pull with a schema version the server does not support answers 426 upgrade_required,
exactly as a push does (docs/protocol.md: every push and pull carries schema_version), and
never serves records in a version the client did not ask for."""

from __future__ import annotations

from typing import Any

import pytest

from server.auth.tokens import read_access_token
from server.keys import SECRET, SYNC
from sync.errors import ResetRequired
from tests.helpers import Device


async def test_pull_with_an_unknown_schema_version_is_426_like_push(client: Any) -> None:
    st = await Device(client, "student1@demo.test").login()
    supported = (await (await client.get("/v1/sync/info")).json())["schema_versions"]
    unknown = max(supported) + 1

    pushed = await st.push_raw([], schema_version=unknown)
    assert pushed.status == 426
    push_error = (await pushed.json())["error"]

    pulled = await client.get(f"/v1/sync/pull?schema_version={unknown}", headers=st.headers)
    assert pulled.status == 426
    body = await pulled.json()
    assert set(body) == {"error"}
    assert body["error"]["code"] == push_error["code"] == "upgrade_required"
    assert body["error"]["details"] == push_error["details"] == {"supported": supported}

    # With a cursor too: the version is refused before the cursor is looked at (a 410
    # would make the client drop its replica for nothing).
    page = await st.pull_page(limit=5)
    assert page["has_more"] is True
    again = await client.get(
        f"/v1/sync/pull?cursor={page['cursor']}&schema_version={unknown}", headers=st.headers
    )
    assert again.status == 426
    assert (await again.json())["error"]["code"] == "upgrade_required"

    # Every supported version, and none given, is served.
    for version in supported:
        ok = await client.get(f"/v1/sync/pull?schema_version={version}&limit=1", headers=st.headers)
        assert ok.status == 200 and len((await ok.json())["changes"]) == 1
    assert (await client.get("/v1/sync/pull?limit=1", headers=st.headers)).status == 200


async def test_a_cursor_of_another_supported_version_resets(client: Any) -> None:
    """The engine's rule behind the route's 426: when the server does speak the version, a
    cursor made for another one answers 410 reset_required (the replica was built in the
    other version's shape)."""
    st = await Device(client, "student1@demo.test").login()
    await st.pull()
    assert st.cursor
    app = client.server.app
    pull = app[SYNC].pull
    who = read_access_token(st.tokens["access_token"], app[SECRET])
    with pytest.raises(ResetRequired, match="another schema version"):
        await pull.pull(who, st.cursor, 10, None, 2)
    same = await pull.pull(who, st.cursor, 10, None, 1)
    assert same.changes == [] and not same.has_more
