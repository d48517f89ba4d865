"""Migration 0007 on both databases with data in the table: blocks made before time off was
synced keep their times, get the next revs of their school and a row in the change index
(so replicas pull them), and stepping back restores them (tombstones dropped)."""

from __future__ import annotations

import asyncio
import datetime as dt
from typing import Any

import sqlalchemy as sa

import schemas
from server.migrate import downgrade, upgrade
from tests.conftest import Db

TENANT, INSTRUCTOR, BLOCK = "t-1", "i-1", "x-1"
START = dt.datetime(2027, 7, 5, 8, 0, tzinfo=dt.UTC)
END = dt.datetime(2027, 7, 5, 12, 0, tzinfo=dt.UTC)


async def _run(db: Db, fn: Any) -> Any:
    async with db.engine.begin() as conn:
        return await conn.run_sync(fn)


def _seed_at_0005(conn: Any) -> None:
    """A school with one instructor and one block in the pre-0007 table."""
    # The tenants table as it was at 0005 (later migrations add columns the model has).
    tenants = sa.table(
        "tenants",
        *(sa.column(c) for c in ("id", "slug", "name", "timezone", "currency", "locale")),
        *(sa.column(c) for c in ("pass_mark", "pass_total", "platform_fee_bps")),
        sa.column("created_at", schemas.base.UtcDateTime(timezone=True)),
    )
    conn.execute(
        sa.insert(tenants).values(
            id=TENANT,
            slug="s",
            name="School",
            timezone="Europe/London",
            currency="GBP",
            locale="en-GB",
            pass_mark=43,
            pass_total=50,
            platform_fee_bps=1500,
            created_at=START,
        )
    )
    conn.execute(sa.insert(schemas.TenantRev.__table__).values(tenant_id=TENANT, rev=7))
    utc = schemas.base.UtcDateTime(timezone=True)
    # The instructors table as it was at 0005 (later migrations add columns to it).
    instructors = sa.table(
        "instructors",
        *(sa.column(c) for c in ("tenant_id", "id", "name", "active", "rev", "deleted")),
        *(sa.column(c, schemas.base.JsonDoc) for c in ("specialties", "field_hlc")),
        *(sa.column(c, utc) for c in ("created_at", "updated_at")),
    )
    conn.execute(
        sa.insert(instructors).values(
            tenant_id=TENANT,
            id=INSTRUCTOR,
            name="Priya",
            specialties=[],
            active=True,
            rev=3,
            deleted=False,
            field_hlc={},
            created_at=START,
            updated_at=START,
        )
    )
    old = sa.table(
        "availability_exceptions",
        *(sa.column(c) for c in ("tenant_id", "id", "instructor_id", "reason")),
        sa.column("details", schemas.base.JsonDoc),
        *(sa.column(c, utc) for c in ("starts_at", "ends_at", "created_at")),
    )
    conn.execute(
        sa.insert(old).values(
            tenant_id=TENANT,
            id=BLOCK,
            instructor_id=INSTRUCTOR,
            starts_at=START,
            ends_at=END,
            reason="Course",
            details={},
            created_at=START,
        )
    )


def _after_0007(conn: Any) -> tuple[Any, Any, int]:
    x = schemas.AvailabilityException.__table__
    row = conn.execute(sa.select(x).where(x.c.id == BLOCK)).mappings().one()
    idx = schemas.SyncRecord.__table__
    index = conn.execute(sa.select(idx).where(idx.c.id == BLOCK)).mappings().one()
    head = conn.execute(sa.select(schemas.TenantRev.__table__.c.rev)).scalar_one()
    return dict(row), dict(index), head


def _after_downgrade(conn: Any) -> list[Any]:
    rows = conn.execute(
        sa.text("SELECT id, starts_at, reason FROM availability_exceptions ORDER BY id")
    )
    return [tuple(r) for r in rows]


async def test_existing_blocks_are_carried_into_the_synced_table_and_back(empty_db: Db) -> None:
    db = empty_db
    await db.engine.dispose()
    await asyncio.to_thread(downgrade, db.url, "0005")
    await _run(db, _seed_at_0005)
    await db.engine.dispose()
    await asyncio.to_thread(upgrade, db.url)
    row, index, head = await _run(db, _after_0007)
    assert (row["start"], row["end"], row["reason"], row["all_day"]) == (
        START,
        END,
        "Course",
        False,
    )
    assert (row["rev"], row["deleted"], row["field_hlc"]) == (8, False, {})
    assert head == 8  # the school's next rev, taken by the block
    assert (index["entity"], index["rev"], index["instructor_id"], index["student_id"]) == (
        "availability_exception",
        8,
        INSTRUCTOR,
        None,
    )
    # A tombstone does not survive going back (the old table cannot say "deleted").
    await _run(
        db,
        lambda c: c.execute(
            sa.insert(schemas.AvailabilityException.__table__).values(
                tenant_id=TENANT,
                id="x-2",
                instructor_id=INSTRUCTOR,
                start=START,
                end=END,
                all_day=False,
                details={},
                rev=9,
                deleted=True,
                field_hlc={},
                created_at=START,
                updated_at=START,
            )
        ),
    )
    await db.engine.dispose()
    await asyncio.to_thread(downgrade, db.url, "0005")
    back = await _run(db, _after_downgrade)
    assert [(r[0], r[2]) for r in back] == [(BLOCK, "Course")]
    await db.engine.dispose()
    await asyncio.to_thread(upgrade, db.url)
