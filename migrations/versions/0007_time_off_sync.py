"""Time off is synced: `availability_exceptions` becomes the entity `availability_exception`

The table gets the columns of every synced record (rev, tombstone, field clocks, creator,
update time) and `all_day`; `starts_at` / `ends_at` are renamed `start` / `end`, the wire
fields' names, because the engine maps record fields to columns by name (bookings already
use `start` and `end`). An index on (instructor_id, start, tenant_id) serves the booking
check and the clash look-up, tenant_id last as migration 0003 has it. The table is rebuilt
as 0005 rebuilt assignments (one path for both databases; SQLite renames and adds
constraints only by copying anyway). Existing rows get the next revs of their school and a
row in the change index, so replicas pull them like blocks made after the upgrade.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-02 02:40:00
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from alembic import op

import schemas.base

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TABLE = "availability_exceptions"
INDEX = "ix_availability_exceptions_instructor_start"


def _rev_int() -> Any:
    return sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def _json() -> Any:
    from sqlalchemy.dialects.postgresql import JSONB

    return sa.JSON().with_variant(JSONB(), "postgresql")


def _utc() -> Any:
    return schemas.base.UtcDateTime(timezone=True)


def _rows(conn: Any, columns: Sequence[str]) -> list[dict[str, Any]]:
    types = {c: _utc() for c in ("starts_at", "ends_at", "start", "end", "created_at")}
    types["details"] = _json()
    table = sa.table(TABLE, *(sa.column(c, types.get(c)) for c in columns))
    return [dict(r) for r in conn.execute(sa.select(*table.c)).mappings()]


def _common(start: str, end: str) -> list[Any]:
    """Columns and constraints both versions share, with the times under these names."""
    return [
        sa.Column("tenant_id", sa.String(length=36), nullable=False),
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("instructor_id", sa.String(length=36), nullable=False),
        sa.Column(start, _utc(), nullable=False),
        sa.Column(end, _utc(), nullable=False),
        sa.Column("reason", sa.String(length=200), nullable=True),
        sa.Column("details", _json(), nullable=False),
        sa.CheckConstraint(f'{start} < "{end}"', name=op.f(f"ck_{TABLE}_ordered")),
        sa.ForeignKeyConstraint(
            ["tenant_id", "instructor_id"],
            ["instructors.tenant_id", "instructors.id"],
            name=op.f(f"fk_{TABLE}_tenant_id_instructor_id_instructors"),
        ),
        sa.ForeignKeyConstraint(["tenant_id"], ["tenants.id"], name=op.f(f"fk_{TABLE}_tenant_id_tenants")),
        sa.PrimaryKeyConstraint("tenant_id", "id", name=op.f(f"pk_{TABLE}")),
    ]


def upgrade() -> None:
    conn = op.get_bind()
    old = _rows(
        conn,
        ("tenant_id", "id", "instructor_id", "starts_at", "ends_at", "reason", "details", "created_at"),
    )
    op.drop_table(TABLE)
    table = op.create_table(
        TABLE,
        *_common("start", "end"),
        sa.Column("all_day", sa.Boolean(), server_default=sa.false(), nullable=False),
        sa.Column("rev", _rev_int(), nullable=False),
        sa.Column("deleted", sa.Boolean(), nullable=False),
        sa.Column("deleted_hlc", sa.String(length=120), nullable=True),
        sa.Column("field_hlc", _json(), nullable=False),
        sa.Column("created_by", sa.String(length=36), nullable=True),
        sa.Column("created_at", _utc(), nullable=False),
        sa.Column("updated_at", _utc(), nullable=False),
    )
    with op.batch_alter_table(TABLE, schema=None) as batch_op:
        batch_op.create_index(INDEX, ["instructor_id", "start", "tenant_id"], unique=False)
    if not old:
        return
    # Each school's blocks take its next revs and join the change index.
    revs = sa.table("tenant_revs", sa.column("tenant_id"), sa.column("rev"))
    index = sa.table(
        "sync_records",
        *(
            sa.column(c, _utc() if c == "updated_at" else None)
            for c in (
                "tenant_id",
                "entity",
                "id",
                "rev",
                "deleted",
                "student_id",
                "instructor_id",
                "private",
                "updated_at",
                "origin",
            )
        ),
    )
    heads = dict(conn.execute(sa.select(revs.c.tenant_id, revs.c.rev)).all())
    now = dt.datetime.now(dt.UTC)
    new_rows, index_rows = [], []
    for row in sorted(old, key=lambda r: (r["tenant_id"], r["starts_at"], r["id"])):
        tenant = row["tenant_id"]
        heads[tenant] = rev = (heads.get(tenant) or 0) + 1
        start, end = row.pop("starts_at"), row.pop("ends_at")
        new_rows.append(
            {
                **row,
                "start": start,
                "end": end,
                "all_day": False,
                "rev": rev,
                "deleted": False,
                "field_hlc": {},
                "updated_at": now,
            }
        )
        index_rows.append(
            {
                "tenant_id": tenant,
                "entity": "availability_exception",
                "id": row["id"],
                "rev": rev,
                "deleted": False,
                "student_id": None,
                "instructor_id": row["instructor_id"],
                "private": False,
                "updated_at": now,
                "origin": None,
            }
        )
    op.bulk_insert(table, new_rows)
    conn.execute(sa.insert(index), index_rows)
    for tenant, rev in heads.items():
        conn.execute(sa.update(revs).where(revs.c.tenant_id == tenant).values(rev=rev))


def downgrade() -> None:
    conn = op.get_bind()
    # Tombstones go with the sync columns: the old table had no way to say "deleted".
    live = [
        r
        for r in _rows(
            conn,
            ("tenant_id", "id", "instructor_id", "start", "end", "reason", "details", "created_at", "deleted"),
        )
        if not r.pop("deleted")
    ]
    conn.execute(sa.text("DELETE FROM sync_records WHERE entity = 'availability_exception'"))
    with op.batch_alter_table(TABLE, schema=None) as batch_op:
        batch_op.drop_index(INDEX)
    op.drop_table(TABLE)
    table = op.create_table(
        TABLE,
        *_common("starts_at", "ends_at"),
        sa.Column("created_at", _utc(), nullable=False),
    )
    if live:
        op.bulk_insert(
            table,
            [{**r, "starts_at": r.pop("start"), "ends_at": r.pop("end")} for r in live],
        )
