"""Tombstones are kept for the horizon, then compacted; older cursors must reset."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import update

from schemas import SyncRecord
from sync.compaction import compact_all
from sync.tenancy import ALL_TENANTS, bind_tenant
from tests.conftest import Db
from tests.helpers import Device, uid


async def test_compaction_moves_horizon_and_old_cursors_reset(client: Any, db: Db) -> None:
    inst = await Device(client, "instructor1@demo.test").login()
    await inst.pull()
    old_cursor = inst.cursor
    lesson = next(iter(inst.of("lesson").values()))
    nid = uid()
    await inst.one("lesson_note", nid, "put", {"lesson_id": lesson["id"], "body": "to delete"})
    deleted = await inst.one("lesson_note", nid, "delete")
    fresh = await Device(client, "instructor1@demo.test").login()
    await fresh.pull()
    # Inside the horizon nothing is removed and the old cursor still works.
    done = await compact_all(db.store, dt.timedelta(days=30))
    assert all(c.tombstones == 0 for c in done)
    inst.cursor = old_cursor
    changes = await inst.pull()
    assert {"entity": "lesson_note", "id": nid, "rev": deleted["rev"], "op": "delete"} in changes
    # Age the tombstone past the horizon, compact, and the pre-delete cursor must reset.
    async with db.sessions() as s, s.begin():
        bind_tenant(s, ALL_TENANTS)
        await s.execute(
            update(SyncRecord)
            .where(SyncRecord.id == nid)
            .values(updated_at=dt.datetime.now(dt.UTC) - dt.timedelta(days=31))
        )
    done = await compact_all(db.store, dt.timedelta(days=30))
    demo = next(c for c in done if c.tombstones)
    assert demo.tombstones == 1 and demo.horizon_rev == deleted["rev"]
    resp = await client.get("/v1/sync/pull", params={"cursor": old_cursor}, headers=inst.headers)
    assert resp.status == 410 and (await resp.json())["error"]["code"] == "reset_required"
    # A cursor taken after the delete is still good.
    resp = await client.get("/v1/sync/pull", params={"cursor": fresh.cursor}, headers=fresh.headers)
    assert resp.status == 200
