"""The dispatcher's scheduler tick also expires unused credit: the demo's student2 holds 4
lessons of a package valid 180 days; with the worker's clock past that, one tick writes one
`expiry` entry and the balance drops to zero; later ticks write nothing more."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

from sqlalchemy import select

from schemas import CreditEntry, StudentBalance
from server.seed import sid
from sync.tenancy import ALL_TENANTS, bind_tenant
from tests.conftest import Db
from tests.workers.conftest import dispatcher, worker_config

STUDENT2 = sid("demo", "student", "student2")


async def _ledger(db: Db) -> tuple[list[str], int | None]:
    async with db.sessions() as s:
        bind_tenant(s, ALL_TENANTS)
        kinds = await s.scalars(select(CreditEntry.kind).where(CreditEntry.student_id == STUDENT2))
        left = await s.scalar(
            select(StudentBalance.lessons_left).where(StudentBalance.id == STUDENT2)
        )
        return sorted(kinds), left


async def test_a_tick_past_the_validity_expires_the_credit_once(
    db: Db, tmp_path: Path, closing: list[Any]
) -> None:
    assert await _ledger(db) == (["booking", "payment", "purchase"], 4)
    later = dt.datetime.now(dt.UTC) + dt.timedelta(days=181)
    config = worker_config(db, tmp_path, scheduler_interval_s=0.01)
    d = dispatcher(db, config, clock=lambda: later)
    closing.append(d)
    await d.run(once=True)
    kinds, left = await _ledger(db)
    assert kinds.count("expiry") == 1 and left == 0
    d2 = dispatcher(db, config, worker_id="w2", clock=lambda: later)
    closing.append(d2)
    await d2.run(once=True)
    assert await _ledger(db) == (kinds, 0)
