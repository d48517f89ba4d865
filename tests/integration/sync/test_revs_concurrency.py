"""Gap-free per-tenant revs under real concurrency.

32 writers commit into one tenant with random delays before COMMIT while a reader pulls
page after page; at the end every change must have been seen (0 missed) and the revs must be
contiguous. The same harness pointed at a naive cursor (revs from a SEQUENCE, no counter
lock) does miss changes — shown on PostgreSQL, where writers truly run concurrently — so
the zero above means something.

DRIVESYNC_REV_CHANGES sets the number of changes (default 100,000).
"""

from __future__ import annotations

import asyncio
import os
import random
import uuid
from collections.abc import Awaitable, Callable

import pytest
from sqlalchemy import insert, select, text

from schemas import SyncRecord, TheoryQuestion
from sync.core.principal import Principal
from sync.pull import PullService
from sync.service import SCHEMA_VERSIONS
from sync.tenancy import bind_tenant
from tests.conftest import TEST_SECRET, Db

CHANGES = int(os.environ.get("DRIVESYNC_REV_CHANGES", "100000"))
WRITERS = 32
BATCH = 100


async def _tenant(db: Db) -> tuple[str, str]:
    async with db.sessions() as s:
        row = (
            await s.execute(
                text(
                    "SELECT t.id, u.id FROM tenants t JOIN users u ON u.tenant_id = t.id "
                    "WHERE t.slug = 'demo' AND u.email = 'admin@demo.test'"
                )
            )
        ).one()
    return str(row[0]), str(row[1])


def _question(tenant_id: str, rid: str, rev: int) -> dict[str, object]:
    return {
        "tenant_id": tenant_id,
        "id": rid,
        "rev": rev,
        "deleted": False,
        "field_hlc": {},
        "topic": "load",
        "question": f"q {rid}",
        "options": ["a", "b"],
        "correct_option": 0,
        "explanation": "",
        "key": None,
    }


async def _writers(count: int, write_batch: Callable[[int], Awaitable[list[str]]]) -> set[str]:
    written: set[str] = set()
    batches = count // BATCH
    queue: asyncio.Queue[int] = asyncio.Queue()
    for b in range(batches):
        queue.put_nowait(b)

    async def worker() -> None:
        while not queue.empty():
            b = queue.get_nowait()
            written.update(await write_batch(b))

    await asyncio.gather(*(worker() for _ in range(WRITERS)))
    return written


async def _harness(
    write_batch: Callable[[int], Awaitable[list[str]]],
    read_page: Callable[[], Awaitable[tuple[list[str], bool]]],
    count: int,
) -> tuple[set[str], set[str]]:
    seen: set[str] = set()
    done = asyncio.Event()

    async def reader() -> None:
        while not done.is_set():
            ids, _more = await read_page()
            seen.update(ids)
            await asyncio.sleep(0)
        while True:  # drain after the writers stop
            ids, more = await read_page()
            seen.update(ids)
            if not more:
                return

    task = asyncio.create_task(reader())
    written = await _writers(count, write_batch)
    done.set()
    await task
    return written, seen


async def test_no_change_missed_and_revs_contiguous(db: Db) -> None:
    tenant_id, admin_id = await _tenant(db)
    rng = random.Random(7)
    start_rev = await _head(db, tenant_id)

    async def write_batch(_b: int) -> list[str]:
        ids = [str(uuid.uuid4()) for _ in range(BATCH)]
        async with db.store.write(tenant_id) as txn:
            rows = []
            for rid in ids:
                rev = txn.next_rev()
                rows.append(_question(tenant_id, rid, rev))
                txn.index("theory_question", rid, rev)
            await txn.session.execute(insert(TheoryQuestion), rows)
            await asyncio.sleep(rng.uniform(0, 0.004))  # hold the commit back a little
        return ids

    pull = PullService(db.store, TEST_SECRET, SCHEMA_VERSIONS)
    who = Principal(tenant_id, admin_id, "admin")
    cursor: list[str | None] = [None]

    async def read_page() -> tuple[list[str], bool]:
        page = await pull.pull(who, cursor[0], 5000, frozenset({"theory_question"}), 1)
        cursor[0] = page.cursor.to_string(TEST_SECRET)
        return [c["id"] for c in page.changes if c["record"]["topic"] == "load"], page.has_more

    written, seen = await _harness(write_batch, read_page, CHANGES)
    assert len(written) == CHANGES
    assert written - seen == set(), f"{len(written - seen)} changes missed"
    async with db.sessions() as s:
        bind_tenant(s, tenant_id)
        revs = sorted(await s.scalars(select(SyncRecord.rev).where(SyncRecord.rev > start_rev)))
    assert revs == list(range(start_rev + 1, start_rev + CHANGES + 1)), "revs are not contiguous"


async def _head(db: Db, tenant_id: str) -> int:
    async with db.sessions() as s:
        value = await s.scalar(
            text("SELECT rev FROM tenant_revs WHERE tenant_id = :t"), {"t": tenant_id}
        )
    return int(value or 0)


async def test_naive_sequence_cursor_does_miss_changes(db: Db) -> None:
    if db.kind != "pg":
        pytest.skip("SQLite serialises writers, so a naive counter cannot misorder commits there")
    tenant_id, _ = await _tenant(db)
    rng = random.Random(7)
    async with db.engine.begin() as conn:
        await conn.execute(text("CREATE SEQUENCE naive_rev START 10000000"))

    async def write_batch(_b: int) -> list[str]:
        ids = [str(uuid.uuid4()) for _ in range(BATCH)]
        # The anti-pattern: revs from a sequence, no per-tenant lock held to COMMIT.
        async with db.sessions() as s, s.begin():
            bind_tenant(s, tenant_id)
            revs = (
                (
                    await s.execute(
                        text("SELECT nextval('naive_rev') FROM generate_series(1, :n)"),
                        {"n": BATCH},
                    )
                )
                .scalars()
                .all()
            )
            await s.execute(
                insert(TheoryQuestion),
                [_question(tenant_id, r, v) for r, v in zip(ids, revs, strict=True)],
            )
            await s.execute(
                insert(SyncRecord),
                [
                    {
                        "tenant_id": tenant_id,
                        "entity": "theory_question",
                        "id": r,
                        "rev": v,
                        "deleted": False,
                        "private": False,
                    }
                    for r, v in zip(ids, revs, strict=True)
                ],
            )
            await asyncio.sleep(rng.uniform(0, 0.004))
        return ids

    cursor = [10_000_000]

    async def read_page() -> tuple[list[str], bool]:
        async with db.sessions() as s:
            bind_tenant(s, tenant_id)
            rows = (
                await s.execute(
                    select(SyncRecord.id, SyncRecord.rev)
                    .where(SyncRecord.rev > cursor[0])
                    .order_by(SyncRecord.rev)
                    .limit(5001)
                )
            ).all()
        if rows:
            cursor[0] = rows[:5000][-1].rev
        return [r.id for r in rows[:5000]], len(rows) > 5000

    written, seen = await _harness(write_batch, read_page, min(CHANGES, 20_000))
    missed = written - seen
    print(f"naive sequence cursor missed {len(missed)} of {len(written)} changes")
    assert missed, "the harness failed to catch the naive cursor's misses"
