"""Cancellation and moves: the school's cancellation policy (cut-off hours, late fee), a
booking's cancellation facts (cancelled_at, cancelled_by, late_fee_cents), and two synced
entities, `booking_move` (move requests) and `booking_history` (one row per change).

Plain added columns (SQLite adds them in place) and two new tables with the columns of
every synced record; secondary indexes end with tenant_id (migration 0003). Existing
bookings get no history rows: their history starts with this revision.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-02 02:40:00
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from alembic import op

import schemas.base

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _rev_int() -> Any:
    return sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def _json() -> Any:
    from sqlalchemy.dialects.postgresql import JSONB

    return sa.JSON().with_variant(JSONB(), "postgresql")


def _synced(table: str) -> list[Any]:
    """The columns and keys every synced table has, named as the models name them."""
    utc = schemas.base.UtcDateTime(timezone=True)
    return [
        sa.Column("rev", _rev_int(), nullable=False),
        sa.Column("deleted", sa.Boolean(), nullable=False),
        sa.Column("deleted_hlc", sa.String(length=120), nullable=True),
        sa.Column("field_hlc", _json(), nullable=False),
        sa.Column("created_by", sa.String(length=36), nullable=True),
        sa.Column("created_at", utc, nullable=False),
        sa.Column("updated_at", utc, nullable=False),
        sa.ForeignKeyConstraint(
            ["tenant_id"], ["tenants.id"], name=op.f(f"fk_{table}_tenant_id_tenants")
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id", "booking_id"],
            ["bookings.tenant_id", "bookings.id"],
            name=op.f(f"fk_{table}_tenant_id_booking_id_bookings"),
        ),
        sa.PrimaryKeyConstraint("tenant_id", "id", name=op.f(f"pk_{table}")),
    ]


def _keys() -> list[Any]:
    return [
        sa.Column("tenant_id", sa.String(length=36), nullable=False),
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("booking_id", sa.String(length=36), nullable=False),
        sa.Column("student_id", sa.String(length=36), nullable=False),
        sa.Column("instructor_id", sa.String(length=36), nullable=False),
    ]


def upgrade() -> None:
    utc = schemas.base.UtcDateTime(timezone=True)
    op.add_column(
        "tenants",
        sa.Column("cancel_cutoff_hours", sa.Integer(), server_default="24", nullable=False),
    )
    op.add_column(
        "tenants", sa.Column("late_fee_cents", sa.Integer(), server_default="0", nullable=False)
    )
    op.add_column("bookings", sa.Column("cancelled_at", utc, nullable=True))
    op.add_column("bookings", sa.Column("cancelled_by", sa.String(length=16), nullable=True))
    op.add_column("bookings", sa.Column("late_fee_cents", sa.Integer(), nullable=True))
    # No CHECK on the two settings: adding one to tenants copies the table on SQLite (a
    # batch), which every other table's foreign key names; the admin API checks the ranges.
    op.create_table(
        "booking_moves",
        *_keys(),
        sa.Column("start", utc, nullable=False),
        sa.Column("end", utc, nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("note", sa.Text(), nullable=True),
        sa.Column("requested_by", sa.String(length=16), nullable=False),
        sa.Column("decided_by", sa.String(length=16), nullable=True),
        sa.Column("decided_at", utc, nullable=True),
        *_synced("booking_moves"),
        sa.CheckConstraint(
            "status IN ('requested', 'accepted', 'declined', 'withdrawn')",
            name=op.f("ck_booking_moves_status"),
        ),
        sa.CheckConstraint('start < "end"', name=op.f("ck_booking_moves_ordered")),
    )
    op.create_index(
        "ix_booking_moves_booking", "booking_moves", ["booking_id", "tenant_id"], unique=False
    )
    op.create_table(
        "booking_history",
        *_keys(),
        sa.Column("at", utc, nullable=False),
        sa.Column("user_id", sa.String(length=36), nullable=True),
        sa.Column("role", sa.String(length=16), nullable=False),
        sa.Column("change", sa.String(length=16), nullable=False),
        sa.Column("field", sa.String(length=32), nullable=True),
        sa.Column("from_value", sa.Text(), nullable=True),
        sa.Column("to_value", sa.Text(), nullable=True),
        *_synced("booking_history"),
    )
    op.create_index(
        "ix_booking_history_booking", "booking_history", ["booking_id", "tenant_id"], unique=False
    )


def downgrade() -> None:
    conn = op.get_bind()
    conn.execute(
        sa.text("DELETE FROM sync_records WHERE entity IN ('booking_move', 'booking_history')")
    )
    op.drop_index("ix_booking_history_booking", table_name="booking_history")
    op.drop_table("booking_history")
    op.drop_index("ix_booking_moves_booking", table_name="booking_moves")
    op.drop_table("booking_moves")
    for column in ("late_fee_cents", "cancelled_by", "cancelled_at"):
        op.drop_column("bookings", column)
    for column in ("late_fee_cents", "cancel_cutoff_hours"):
        op.drop_column("tenants", column)
