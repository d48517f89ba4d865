"""Migration 0020 on both databases with a payout in the table: payouts made before they were
synced get the next revs of their school and a row in the change index keyed by their
instructor (so the instructor's devices pull them), instructors start with payouts off, and
stepping back keeps card payouts."""

from __future__ import annotations

import asyncio
import datetime as dt
from typing import Any

import sqlalchemy as sa

import schemas
from server.migrate import downgrade, upgrade
from tests.conftest import Db

TENANT, INSTRUCTOR, PAYOUT = "t-1", "i-1", "p-1"
AT = dt.datetime(2026, 11, 30, 10, 0, tzinfo=dt.UTC)
UTC = schemas.base.UtcDateTime(timezone=True)


async def _run(db: Db, fn: Any) -> Any:
    async with db.engine.begin() as conn:
        return await conn.run_sync(fn)


def _seed_at_0016(conn: Any) -> None:
    tenants = sa.table(
        "tenants",
        *(sa.column(c) for c in ("id", "slug", "name", "timezone", "currency", "locale")),
        *(sa.column(c) for c in ("pass_mark", "pass_total", "platform_fee_bps")),
        sa.column("created_at", UTC),
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
            created_at=AT,
        )
    )
    conn.execute(sa.insert(schemas.TenantRev.__table__).values(tenant_id=TENANT, rev=11))
    instructors = sa.table(
        "instructors",
        *(sa.column(c) for c in ("tenant_id", "id", "name", "rev", "deleted")),
        *(sa.column(c, schemas.base.JsonDoc) for c in ("specialties", "field_hlc")),
        *(sa.column(c, UTC) for c in ("created_at", "updated_at")),
    )
    conn.execute(
        sa.insert(instructors).values(
            tenant_id=TENANT,
            id=INSTRUCTOR,
            name="Priya",
            rev=3,
            deleted=False,
            specialties=[],
            field_hlc={},
            created_at=AT,
            updated_at=AT,
        )
    )
    payouts = sa.table(
        "payouts",
        *(
            sa.column(c)
            for c in (
                "tenant_id",
                "id",
                "instructor_id",
                "booking_id",
                "payment_id",
                "gross_cents",
                "fee_cents",
                "net_cents",
                "currency",
                "status",
            )
        ),
        sa.column("created_at", UTC),
    )
    conn.execute(
        sa.insert(payouts).values(
            tenant_id=TENANT,
            id=PAYOUT,
            instructor_id=INSTRUCTOR,
            booking_id="b-1",
            payment_id="pay-1",
            gross_cents=4200,
            fee_cents=630,
            net_cents=3570,
            currency="GBP",
            status="pending",
            created_at=AT,
        )
    )


def _after(conn: Any) -> tuple[dict[str, Any], dict[str, Any], int, tuple[Any, ...]]:
    p = schemas.Payout.__table__
    row = conn.execute(sa.select(p).where(p.c.id == PAYOUT)).mappings().one()
    idx = schemas.SyncRecord.__table__
    index = conn.execute(sa.select(idx).where(idx.c.id == PAYOUT)).mappings().one()
    head = conn.execute(sa.select(schemas.TenantRev.__table__.c.rev)).scalar_one()
    i = schemas.Instructor.__table__
    inst = conn.execute(sa.select(i.c.payouts_enabled, i.c.connect_status)).one()
    return dict(row), dict(index), head, tuple(inst)


async def test_existing_payouts_become_synced_records_of_their_instructor(empty_db: Db) -> None:
    db = empty_db
    await db.engine.dispose()
    await asyncio.to_thread(downgrade, db.url, "0016")
    await _run(db, _seed_at_0016)
    await db.engine.dispose()
    await asyncio.to_thread(upgrade, db.url)
    row, index, head, inst = await _run(db, _after)
    assert (row["gross_cents"], row["net_cents"], row["created_at"]) == (4200, 3570, AT)
    assert (row["rev"], row["deleted"], row["field_hlc"], row["reversed_cents"]) == (
        12,
        False,
        {},
        0,
    )
    assert row["transfer_status"] is None and row["lesson_start"] is None  # no such booking
    assert head == 12  # the school's next rev, taken by the payout
    assert (index["entity"], index["rev"], index["instructor_id"], index["student_id"]) == (
        "payout",
        12,
        INSTRUCTOR,
        None,
    )
    assert inst == (False, "none")
    await db.engine.dispose()
    await asyncio.to_thread(downgrade, db.url, "0016")
    back = await _run(db, lambda c: c.execute(sa.text("SELECT id, net_cents FROM payouts")).all())
    assert [tuple(r) for r in back] == [(PAYOUT, 3570)]
    await db.engine.dispose()
    await asyncio.to_thread(upgrade, db.url)
