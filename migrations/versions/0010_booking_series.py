"""booking_series: recurring lessons, synced; bookings name their series

A new synced table `booking_series` (the columns of every synced record, tenant_id last in
its indexes as 0003 has it). `bookings.recurrence_id`, never written, becomes `series_id`
with an index to find a series' occurrences; `bookings.recurrence_rule`, never written
either, goes: the rule lives on the series. Plain ALTER TABLE statements (SQLite 3.25+
renames and 3.35+ drops a column in place), not a batch, which would copy `bookings`.

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-02 00:00:00
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from alembic import op

import schemas.base

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _rev_int() -> Any:
    return sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def _json() -> Any:
    from sqlalchemy.dialects.postgresql import JSONB

    return sa.JSON().with_variant(JSONB(), "postgresql")


def upgrade() -> None:
    utc = schemas.base.UtcDateTime(timezone=True)
    op.create_table(
        "booking_series",
        sa.Column("tenant_id", sa.String(length=36), nullable=False),
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("student_id", sa.String(length=36), nullable=False),
        sa.Column("instructor_id", sa.String(length=36), nullable=False),
        sa.Column("service_id", sa.String(length=36), nullable=False),
        sa.Column("first_start", utc, nullable=False),
        sa.Column("every", sa.String(length=8), nullable=False),
        sa.Column("count", sa.Integer(), nullable=True),
        sa.Column("until", sa.Date(), nullable=True),
        sa.Column("pickup_location", sa.Text(), nullable=True),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("occurrences", _json(), nullable=False),
        sa.Column("rev", _rev_int(), nullable=False),
        sa.Column("deleted", sa.Boolean(), nullable=False),
        sa.Column("deleted_hlc", sa.String(length=120), nullable=True),
        sa.Column("field_hlc", _json(), nullable=False),
        sa.Column("created_by", sa.String(length=36), nullable=True),
        sa.Column("created_at", utc, nullable=False),
        sa.Column("updated_at", utc, nullable=False),
        sa.CheckConstraint(
            "count IS NULL OR (count >= 1 AND count <= 52)", name=op.f("ck_booking_series_count")
        ),
        sa.CheckConstraint("every IN ('week', '2weeks')", name=op.f("ck_booking_series_every")),
        sa.CheckConstraint(
            "status IN ('requested', 'confirmed', 'declined', 'cancelled')",
            name=op.f("ck_booking_series_status"),
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id"], ["tenants.id"], name=op.f("fk_booking_series_tenant_id_tenants")
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id", "instructor_id"],
            ["instructors.tenant_id", "instructors.id"],
            name=op.f("fk_booking_series_tenant_id_instructor_id_instructors"),
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id", "service_id"],
            ["services.tenant_id", "services.id"],
            name=op.f("fk_booking_series_tenant_id_service_id_services"),
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id", "student_id"],
            ["students.tenant_id", "students.id"],
            name=op.f("fk_booking_series_tenant_id_student_id_students"),
        ),
        sa.PrimaryKeyConstraint("tenant_id", "id", name=op.f("pk_booking_series")),
    )
    with op.batch_alter_table("booking_series", schema=None) as batch_op:
        batch_op.create_index(
            "ix_booking_series_instructor", ["instructor_id", "tenant_id"], unique=False
        )
        batch_op.create_index("ix_booking_series_student", ["student_id", "tenant_id"], unique=False)
    op.execute("ALTER TABLE bookings RENAME COLUMN recurrence_id TO series_id")
    op.execute("ALTER TABLE bookings DROP COLUMN recurrence_rule")
    op.create_index("ix_bookings_series", "bookings", ["series_id", "tenant_id"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_bookings_series", table_name="bookings")
    op.execute("ALTER TABLE bookings ADD COLUMN recurrence_rule VARCHAR(200)")
    op.execute("ALTER TABLE bookings RENAME COLUMN series_id TO recurrence_id")
    with op.batch_alter_table("booking_series", schema=None) as batch_op:
        batch_op.drop_index("ix_booking_series_student")
        batch_op.drop_index("ix_booking_series_instructor")
    op.drop_table("booking_series")
