"""Fair writes (both databases): writers of one school queue in the process before they take
a pooled connection, so a busy school cannot hold every connection while its writers wait
for its rev lock — another school still writes. The per-school locks go away when idle.

Deterministic, not timed: one writer of school A holds A's transaction open while 20 more
queue; we check they hold no connection, and (PostgreSQL, pool of 2 + 2 overflow) that a
write of school B commits while A's transaction is still open. Without the queue the 20
would take the remaining connections and block on A's row lock, and B would wait for a
connection until the pool timed out. SQLite has one database-wide write lock (B would wait
for A's COMMIT whatever we do), so there only the queueing is checked.
"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from sqlalchemy import event, text

from schemas import TheoryQuestion
from sync.database import make_engine, make_sessionmaker
from sync.store import Store
from tests.conftest import Db
from tests.helpers import uid


async def _tenants(db: Db) -> tuple[str, str]:
    async with db.sessions() as s:
        rows = dict((await s.execute(text("SELECT slug, id FROM tenants"))).all())
    return str(rows["demo"]), str(rows["rival"])


async def _write(store: Store, tenant_id: str) -> int:
    async with store.write(tenant_id) as txn:
        txn.stamp(
            "theory_question",
            TheoryQuestion(
                id=uid(),
                topic="fairness",
                question="?",
                options=["a", "b"],
                correct_option=0,
                explanation="",
                field_hlc={},
            ),
        )
    return txn.rev


async def _until(condition: Any, what: str) -> None:
    for _ in range(500):
        if condition():
            return
        await asyncio.sleep(0.01)
    raise AssertionError(f"never: {what}")


@pytest.mark.timing  # latency: run alone, after the parallel part (Makefile)
async def test_a_busy_school_does_not_starve_another(db: Db) -> None:
    demo, rival = await _tenants(db)
    engine = make_engine(db.url, pool_size=2)
    store = Store(make_sessionmaker(engine), db.dialect)
    in_use = [0]

    @event.listens_for(engine.sync_engine, "checkout")
    def _out(*_a: Any) -> None:
        in_use[0] += 1

    @event.listens_for(engine.sync_engine, "checkin")
    def _in(*_a: Any) -> None:
        in_use[0] -= 1

    holding, release = asyncio.Event(), asyncio.Event()

    async def hold_a() -> None:
        async with store.write(demo) as txn:
            await txn.session.execute(text("SELECT 1"))
            holding.set()
            await release.wait()

    try:
        holder = asyncio.create_task(hold_a())
        await holding.wait()
        writers = [asyncio.create_task(_write(store, demo)) for _ in range(20)]
        await _until(
            lambda: store.locks.queued(demo) == 21 or in_use[0] == 4, "20 writers waiting on A"
        )
        await asyncio.sleep(0.05)
        assert in_use[0] == 1, "waiting writers of A hold pooled connections"
        if db.kind == "pg":
            # School B gets a connection and commits while A's transaction is still open.
            rev_b = await asyncio.wait_for(_write(store, rival), timeout=5)
            assert rev_b > 0 and not holder.done()
            assert all(not w.done() for w in writers)
        release.set()
        revs = await asyncio.gather(*writers)
        await holder
        assert sorted(revs) == list(range(min(revs), min(revs) + 20))  # gap-free, one by one
        assert len(store.locks) == 0, "idle schools keep their locks"
    finally:
        release.set()
        await engine.dispose()


async def test_locks_are_dropped_after_failed_writes(db: Db) -> None:
    demo, _ = await _tenants(db)
    store = Store(db.sessions, db.dialect)

    class Boom(Exception):
        pass

    async def failing() -> None:
        async with store.write(demo):
            raise Boom

    results = await asyncio.gather(*(failing() for _ in range(5)), return_exceptions=True)
    assert all(isinstance(r, Boom) for r in results)
    assert len(store.locks) == 0
    with pytest.raises(Boom):
        await failing()
    assert await _write(store, demo) > 0 and len(store.locks) == 0
