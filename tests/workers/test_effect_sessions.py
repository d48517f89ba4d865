"""The effects' data access lives in workers/ (the handlers only call it): what the HTTP
tests do not already cover, at the functions' own seam and through the API."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import select

from schemas import Tenant, TenantRev
from sync.core.principal import Principal
from sync.errors import Conflict, NotFound
from sync.tenancy import ALL_TENANTS, bind_tenant
from tests.conftest import Db, bearer, login
from workers import outbox
from workers.notifications import delivery_log, subscriptions


async def _revs(db: Db) -> dict[str, int]:
    async with db.sessions() as s:
        bind_tenant(s, ALL_TENANTS)
        return {r.tenant_id: r.rev for r in await s.scalars(select(TenantRev))}


async def test_preferences_and_subscriptions_through_the_api(client: Any, db: Db) -> None:
    student = bearer(await login(client, "student1@demo.test"))
    before = await _revs(db)
    body = {"quiet_hours": {"start": "22:00", "end": "07:00"}, "opted_out": True}
    put = await client.put("/v1/me/notification-preferences", json=body, headers=student)
    assert put.status == 200
    got = await (await client.get("/v1/me/notification-preferences", headers=student)).json()
    assert got == await put.json()
    assert got["quiet_hours"] == body["quiet_hours"] and got["opted_out"] is True
    # Preferences are not synced rows: saving them moves no tenant's rev.
    assert await _revs(db) == before
    gone = await client.delete(
        "/v1/push/subscriptions?endpoint=https://push.example/none", headers=student
    )
    assert gone.status == 404 and (await gone.json())["error"]["code"] == "not_found"


async def _schools(db: Db) -> dict[str, str]:
    async with db.sessions() as s:
        return {t.slug: t.id for t in await s.scalars(select(Tenant))}


async def test_the_workers_functions_stay_in_the_callers_school(db: Db) -> None:
    schools = await _schools(db)
    demo, rival = schools["demo"], schools["rival"]
    async with db.sessions() as s, s.begin():
        bind_tenant(s, demo)
        event = outbox.new_event(demo, "booking_confirmed", {}, None)
        event.status = "dead"
        s.add(event)
    assert (await delivery_log.admin_view(db.store, rival, "dead"))["dead_events"] == []
    [dead] = (await delivery_log.admin_view(db.store, demo, "dead"))["dead_events"]
    assert dead["outbox_id"] == event.id
    with pytest.raises(NotFound):
        await outbox.retry(db.store, rival, event.id)
    assert await outbox.retry(db.store, demo, event.id) == event.id
    with pytest.raises(Conflict):
        await outbox.retry(db.store, demo, event.id)  # pending now, not dead
    stranger = Principal(tenant_id=rival, user_id="nobody", role="student")
    assert await subscriptions.remove(db.store, stranger, "https://push.example/x") is False
