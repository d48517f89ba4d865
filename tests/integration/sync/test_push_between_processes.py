"""A push that waits for another process's writer of the same school reads what that writer
committed: the school's settings and the device's acked seq are read after the rev lock is
taken, never by the statement that waited for it (on PostgreSQL that statement would hand
them back as they were before the writer it waited for).

Two stores on two engines stand for two server processes: each has its own in-process
writer queue, so the second really waits on the database's lock."""

from __future__ import annotations

import asyncio
import time
from typing import Any

from sqlalchemy import select, update

from schemas import Tenant, TheoryQuestion, User
from sync.access import principal_for
from sync.database import make_engine, make_sessionmaker
from sync.push import PushService
from sync.service import SCHEMA_VERSIONS
from sync.store import Store
from sync.tenancy import ALL_TENANTS, bind_tenant
from tests.conftest import Db
from tests.helpers import uid


async def _student(db: Db) -> tuple[str, Any, list[TheoryQuestion]]:
    async with db.sessions() as s:
        bind_tenant(s, ALL_TENANTS)
        tenant_id = await s.scalar(select(Tenant.id).where(Tenant.slug == "demo"))
        user_id = await s.scalar(select(User.id).where(User.email == "student1@demo.test"))
        assert tenant_id and user_id
        bind_tenant(s, tenant_id)
        who = await principal_for(s, tenant_id, user_id)
        bank = list((await s.scalars(select(TheoryQuestion).limit(50))).all())
    return tenant_id, who, bank


async def test_a_push_waiting_for_a_settings_change_scores_with_the_new_pass_mark(
    db: Db,
) -> None:
    tenant_id, who, bank = await _student(db)
    assert len(bank) == 50
    other = make_engine(db.url)  # the second "process"
    try:
        other_store = Store(make_sessionmaker(other), other.dialect.name)
        push = PushService(other_store, frozenset(SCHEMA_VERSIONS), 300_000)
        answers = [
            {"question_id": q.id, "chosen_option": q.correct_option if i < 44 else None}
            for i, q in enumerate(bank)
        ]
        mutation = {
            "seq": 1,
            "entity": "mock_test",
            "op": "put",
            "id": uid(),
            "hlc": f"{int(time.time() * 1000):013d}-0000-{uid()}",
            "data": {
                "started_at": "2030-01-01T10:00:00Z",
                "finished_at": "2030-01-01T10:50:00Z",
                "answers": answers,
            },
        }
        async with db.store.write(tenant_id) as txn:  # the admin's change, holding the lock
            await txn.session.execute(
                update(Tenant).where(Tenant.id == tenant_id).values(pass_mark=45)
            )
            txn.next_rev()
            waiting = asyncio.create_task(push.push(who, "phone-1", 2, [mutation]))
            await asyncio.sleep(0.5)  # the push is now waiting for the school's lock
            assert not waiting.done()
        body = await asyncio.wait_for(waiting, 30)
    finally:
        await other.dispose()
    result = body["results"][0]
    assert result["status"] == "applied", result
    # 44 of 50 passes at the old mark (43) and fails at the new one (45).
    assert result["filled"]["score"] == 44 and result["filled"]["passed"] is False, result


async def test_a_push_waiting_for_the_same_device_in_another_process_applies_once(
    db: Db,
) -> None:
    _tenant_id, who, bank = await _student(db)
    other = make_engine(db.url)
    try:
        stores = [db.store, Store(make_sessionmaker(other), other.dialect.name)]
        pushes = [PushService(s, frozenset(SCHEMA_VERSIONS), 300_000) for s in stores]
        batch = [
            {
                "seq": i + 1,
                "entity": "theory_attempt",
                "op": "put",
                "id": uid(),
                "hlc": f"{int(time.time() * 1000):013d}-{i:04d}-{uid()}",
                "data": {
                    "question_id": q.id,
                    "chosen_option": q.correct_option,
                    "mode": "practice",
                    "answered_at": "2030-01-01T10:00:00Z",
                },
            }
            for i, q in enumerate(bank[:30])
        ]
        bodies = await asyncio.gather(
            *(p.push(who, "phone-2", 2, batch) for p in pushes for _ in range(2))
        )
    finally:
        await other.dispose()
    first = [r for body in bodies for r in body["results"] if not r.get("duplicate")]
    assert len(first) == 30 and all(r["status"] == "applied" for r in first), first[:2]
    assert len({r["rev"] for body in bodies for r in body["results"]}) == 30
