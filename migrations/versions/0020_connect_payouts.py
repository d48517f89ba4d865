"""Stripe Connect payouts: instructors' payout state, and payouts become the synced entity
`payout`

Instructors get `payouts_enabled` and `connect_status` (from Stripe's `account.updated`).
A payout gets the columns of every synced record, where its money went (`transfer_status`,
`transfer_ref`, `reversed_cents`, `paid_out_at`), its lesson's start (`lesson_start`: the
earnings are grouped by it), a nullable `payment_id` (a lesson paid with package credit has
none) and one payout per booking. The table is rebuilt in a batch (a nullable column and new
constraints; nothing refers to it). Existing payouts take the next revs of their school and
a row in the change index, so their instructors pull them like any record made after.

Revision ID: 0020
Revises: 0019
Create Date: 2026-12-02 10:30:00
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from alembic import op

import schemas.base

revision: str = "0020"
down_revision: str | None = "0019"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_SYNCED = ("rev", "deleted", "deleted_hlc", "field_hlc", "created_by", "updated_at")
_CONNECT = ("lesson_start", "transfer_status", "transfer_ref", "reversed_cents", "paid_out_at")


def _rev_int() -> Any:
    return sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def _json() -> Any:
    from sqlalchemy.dialects.postgresql import JSONB

    return sa.JSON().with_variant(JSONB(), "postgresql")


def upgrade() -> None:
    utc = schemas.base.UtcDateTime(timezone=True)
    op.add_column(
        "instructors",
        sa.Column("payouts_enabled", sa.Boolean(), server_default=sa.false(), nullable=False),
    )
    op.add_column(
        "instructors",
        sa.Column("connect_status", sa.String(length=16), server_default="none", nullable=False),
    )
    with op.batch_alter_table("payouts", schema=None) as batch_op:
        batch_op.add_column(sa.Column("lesson_start", utc, nullable=True))
        batch_op.add_column(sa.Column("transfer_status", sa.String(length=16), nullable=True))
        batch_op.add_column(sa.Column("transfer_ref", sa.String(length=200), nullable=True))
        batch_op.add_column(
            sa.Column("reversed_cents", sa.Integer(), server_default="0", nullable=False)
        )
        batch_op.add_column(sa.Column("paid_out_at", utc, nullable=True))
        batch_op.add_column(sa.Column("rev", _rev_int(), server_default="0", nullable=False))
        batch_op.add_column(
            sa.Column("deleted", sa.Boolean(), server_default=sa.false(), nullable=False)
        )
        batch_op.add_column(sa.Column("deleted_hlc", sa.String(length=120), nullable=True))
        batch_op.add_column(sa.Column("field_hlc", _json(), nullable=True))
        batch_op.add_column(sa.Column("created_by", sa.String(length=36), nullable=True))
        batch_op.add_column(sa.Column("updated_at", utc, nullable=True))
        batch_op.alter_column("payment_id", existing_type=sa.String(length=36), nullable=True)
        batch_op.create_unique_constraint(
            "uq_payouts_booking_id_tenant_id", ["booking_id", "tenant_id"]
        )
        batch_op.create_index("ix_payouts_instructor", ["instructor_id", "tenant_id"])
    _backfill(utc)
    with op.batch_alter_table("payouts", schema=None) as batch_op:
        batch_op.alter_column("rev", existing_type=_rev_int(), server_default=None)
        batch_op.alter_column("deleted", existing_type=sa.Boolean(), server_default=None)
        batch_op.alter_column("field_hlc", existing_type=_json(), nullable=False)
        batch_op.alter_column("updated_at", existing_type=utc, nullable=False)


def _backfill(utc: Any) -> None:
    """Existing payouts: their lesson's start, and the next revs of their school with a row
    in the change index (keyed by the instructor, who reads them)."""
    conn = op.get_bind()
    payouts = sa.table(
        "payouts",
        sa.column("tenant_id"),
        sa.column("id"),
        sa.column("instructor_id"),
        sa.column("booking_id"),
        sa.column("created_at", utc),
        sa.column("lesson_start", utc),
        sa.column("rev"),
        sa.column("field_hlc", _json()),
        sa.column("updated_at", utc),
    )
    bookings = sa.table("bookings", sa.column("tenant_id"), sa.column("id"), sa.column("start", utc))
    revs = sa.table("tenant_revs", sa.column("tenant_id"), sa.column("rev"))
    index = sa.table(
        "sync_records",
        *(
            sa.column(c, utc if c == "updated_at" else None)
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
    rows = conn.execute(
        sa.select(
            payouts.c.tenant_id, payouts.c.id, payouts.c.instructor_id, bookings.c.start
        ).select_from(
            payouts.outerjoin(
                bookings,
                sa.and_(
                    bookings.c.tenant_id == payouts.c.tenant_id,
                    bookings.c.id == payouts.c.booking_id,
                ),
            )
        )
    ).all()
    if not rows:
        return
    heads = dict(conn.execute(sa.select(revs.c.tenant_id, revs.c.rev)).all())
    now = dt.datetime.now(dt.UTC)
    index_rows = []
    for tenant, pid, instructor, start in sorted(rows, key=lambda r: (r[0], r[1])):
        heads[tenant] = rev = (heads.get(tenant) or 0) + 1
        conn.execute(
            sa.update(payouts)
            .where(payouts.c.tenant_id == tenant, payouts.c.id == pid)
            .values(rev=rev, field_hlc={}, updated_at=now, lesson_start=start)
        )
        index_rows.append(
            {
                "tenant_id": tenant,
                "entity": "payout",
                "id": pid,
                "rev": rev,
                "deleted": False,
                "student_id": None,
                "instructor_id": instructor,
                "private": False,
                "updated_at": now,
                "origin": None,
            }
        )
    conn.execute(sa.insert(index), index_rows)
    for tenant, rev in heads.items():
        conn.execute(sa.update(revs).where(revs.c.tenant_id == tenant).values(rev=rev))


def downgrade() -> None:
    conn = op.get_bind()
    conn.execute(sa.text("DELETE FROM sync_records WHERE entity = 'payout'"))
    # Payouts of credit lessons have no payment: they cannot stay in the old table.
    conn.execute(sa.text("DELETE FROM payouts WHERE payment_id IS NULL"))
    with op.batch_alter_table("payouts", schema=None) as batch_op:
        batch_op.drop_index("ix_payouts_instructor")
        batch_op.drop_constraint("uq_payouts_booking_id_tenant_id", type_="unique")
        batch_op.alter_column("payment_id", existing_type=sa.String(length=36), nullable=False)
        for name in (*_SYNCED, *_CONNECT):
            batch_op.drop_column(name)
    op.drop_column("instructors", "connect_status")
    op.drop_column("instructors", "payouts_enabled")
