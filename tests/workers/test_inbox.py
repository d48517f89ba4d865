"""The notification centre (issue 13), on both databases: every notification a user is
sent is kept as their own `inbox_item`, pulled by them alone (not by an admin, not by the
other party), marked read by its owner only, the first read kept across devices; an event
tried again keeps no second copy."""

from __future__ import annotations

import asyncio
import datetime as dt
import time
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from schemas import OutboxEvent
from server.app import create_app
from server.keys import SYNC
from sync.tenancy import ALL_TENANTS, bind_tenant
from tests.conftest import Db, make_settings
from tests.helpers import Device, uid
from tests.workers.conftest import book_and_confirm
from workers.notifications import inbox


@pytest.fixture
async def app_client(db: Db, tmp_path: Path, aiohttp_client: Any) -> Any:
    settings = make_settings(db, tmp_path, run_dispatcher=True, worker_scheduler_interval_s=0)
    return await aiohttp_client(create_app(settings))


async def _inbox_of(device: Device, kind: str, within: float = 15.0) -> dict[str, Any]:
    """The device's inbox item of an event kind, once the dispatcher has kept it."""
    deadline = time.monotonic() + within
    while True:
        await device.pull()
        found = [r for r in device.of("inbox_item").values() if r["kind"] == kind]
        if found:
            assert len(found) == 1, found
            return found[0]
        if time.monotonic() > deadline:
            raise AssertionError(f"no {kind} inbox item for {device.email} after {within}s")
        await asyncio.sleep(0.05)


def _iso(value: dt.datetime) -> str:
    return value.isoformat().replace("+00:00", "Z")


async def test_each_notification_lands_in_its_recipients_inbox_alone(
    app_client: Any, db: Db
) -> None:
    # (Confirmed only once the request was told: an answered request is no longer news.)
    st, inst, bid = await book_and_confirm(app_client, days=12, hour=11, confirm=False)
    asked = await _inbox_of(inst, "booking_requested")
    assert (await inst.one("booking", bid, "patch", {"status": "confirmed"}))["status"] == "applied"
    told = await _inbox_of(st, "booking_confirmed")
    assert told["user_id"] == st.user["id"] and told["read_at"] is None
    assert told["title"] and told["body"] and told["link"].startswith("#/")
    assert asked["user_id"] == inst.user["id"]
    # Nobody else's: the other party and an admin (who reads everything of the school) hold
    # only their own items.
    assert all(r["user_id"] == st.user["id"] for r in st.of("inbox_item").values())
    assert all(r["user_id"] == inst.user["id"] for r in inst.of("inbox_item").values())
    admin = await Device(app_client, "admin@demo.test").login()
    await admin.pull()
    assert told["id"] not in admin.of("inbox_item") and asked["id"] not in admin.of("inbox_item")

    # Read on one device: the owner's other device hears it; a later read elsewhere keeps
    # the first, an unread (null) changes nothing.
    first = dt.datetime.now(dt.UTC).replace(microsecond=0) - dt.timedelta(minutes=5)
    r = await st.one("inbox_item", told["id"], "patch", {"read_at": _iso(first)})
    assert r["status"] == "applied", r
    phone = await Device(app_client, "student1@demo.test").login()
    await phone.pull()
    assert phone.of("inbox_item")[told["id"]]["read_at"] == _iso(first)
    later = await phone.one(
        "inbox_item", told["id"], "patch", {"read_at": _iso(first + dt.timedelta(minutes=1))}
    )
    assert later["status"] == "merged" and later["record"]["read_at"] == _iso(first), later
    unread = await phone.one("inbox_item", told["id"], "patch", {"read_at": None})
    assert unread["status"] == "merged", unread

    # Only its owner writes it, and nobody creates or deletes one.
    for device in (inst, admin):
        refused = await device.one("inbox_item", told["id"], "patch", {"read_at": _iso(first)})
        assert refused["status"] == "rejected" and refused["error"]["code"] == "not_found"
    made = await st.one("inbox_item", uid(), "put", {"read_at": _iso(first)})
    assert made["status"] == "rejected" and made["error"]["code"] == "server_only", made
    gone = await st.one("inbox_item", told["id"], "delete")
    assert gone["status"] == "rejected" and gone["error"]["code"] == "server_only", gone

    # The same event kept again (a retried delivery) adds nothing.
    async with db.sessions() as session:
        bind_tenant(session, ALL_TENANTS)
        event = (
            await session.scalars(
                select(OutboxEvent).where(OutboxEvent.event_type == "booking_confirmed")
            )
        ).one()
    assert inbox.item_id(event.id, st.user["id"]) == told["id"]
    again = [inbox.Item(st.user["id"], "again", "again", None)]
    store = app_client.server.app[SYNC].store
    assert await inbox.keep(store, event.tenant_id, event.id, event.event_type, again) == 0
