"""credit ledger: packages, credit_entries, student_balances; bookings paid with credit

Issue 12's ledger slice: `packages` (catalogue), `credit_entries` (a student's append-only
ledger, server-written) and `student_balances` (its sums, id = student_id), all synced
records with tenant-scoped keys (the school last in indexes, as 0003 has it). A booking's
`payment_status` may now be `credit` (paid from the student's credit).

Revision ID: 0017
Revises: 0016
Create Date: 2026-12-02 10:40:00
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from alembic import op

import schemas.base

revision: str = "0017"
down_revision: str | None = "0016"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_PAYMENT_STATUSES = "'unpaid', 'pending', 'paid', 'refunded', 'failed'"


def _rev_int() -> Any:
    return sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def _json() -> Any:
    from sqlalchemy.dialects.postgresql import JSONB

    return sa.JSON().with_variant(JSONB(), "postgresql")


def _utc() -> Any:
    return schemas.base.UtcDateTime(timezone=True)


def _keys() -> list[Any]:
    return [
        sa.Column("tenant_id", sa.String(length=36), nullable=False),
        sa.Column("id", sa.String(length=36), nullable=False),
    ]


def _synced(table: str) -> list[Any]:
    return [
        sa.Column("rev", _rev_int(), nullable=False),
        sa.Column("deleted", sa.Boolean(), nullable=False),
        sa.Column("deleted_hlc", sa.String(length=120), nullable=True),
        sa.Column("field_hlc", _json(), nullable=False),
        sa.Column("created_by", sa.String(length=36), nullable=True),
        sa.Column("created_at", _utc(), nullable=False),
        sa.Column("updated_at", _utc(), nullable=False),
        sa.ForeignKeyConstraint(
            ["tenant_id"], ["tenants.id"], name=op.f(f"fk_{table}_tenant_id_tenants")
        ),
        sa.PrimaryKeyConstraint("tenant_id", "id", name=op.f(f"pk_{table}")),
    ]


def _student_fk(table: str) -> Any:
    return sa.ForeignKeyConstraint(
        ["tenant_id", "student_id"],
        ["students.tenant_id", "students.id"],
        name=op.f(f"fk_{table}_tenant_id_student_id_students"),
    )


def upgrade() -> None:
    op.create_table(
        "packages",
        *_keys(),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("lessons", sa.Integer(), nullable=True),
        sa.Column("minutes", sa.Integer(), nullable=True),
        sa.Column("price_cents", sa.Integer(), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("valid_days", sa.Integer(), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        *_synced("packages"),
        sa.CheckConstraint(
            "(lessons > 0 AND minutes IS NULL) OR (minutes > 0 AND lessons IS NULL)",
            name=op.f("ck_packages_one_unit"),
        ),
        sa.CheckConstraint("price_cents >= 0", name=op.f("ck_packages_price")),
        sa.CheckConstraint("valid_days >= 1", name=op.f("ck_packages_valid_days")),
        sa.CheckConstraint("length(currency) = 3", name=op.f("ck_packages_currency_iso")),
    )
    op.create_table(
        "credit_entries",
        *_keys(),
        sa.Column("student_id", sa.String(length=36), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("lessons", sa.Integer(), nullable=False),
        sa.Column("minutes", sa.Integer(), nullable=False),
        sa.Column("amount_cents", sa.Integer(), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("booking_id", sa.String(length=36), nullable=True),
        sa.Column("payment_id", sa.String(length=36), nullable=True),
        sa.Column("package_id", sa.String(length=36), nullable=True),
        sa.Column("refund_id", sa.String(length=36), nullable=True),
        sa.Column("source_id", sa.String(length=36), nullable=True),
        sa.Column("expires_at", _utc(), nullable=True),
        sa.Column("note", sa.Text(), nullable=True),
        *_synced("credit_entries"),
        _student_fk("credit_entries"),
        sa.CheckConstraint(
            "kind IN ('purchase', 'booking', 'refund', 'expiry', 'adjustment', 'fee', 'payment')",
            name=op.f("ck_credit_entries_kind"),
        ),
    )
    op.create_index(
        "ix_credit_entries_student", "credit_entries", ["student_id", "tenant_id"], unique=False
    )
    op.create_index(
        "ix_credit_entries_booking", "credit_entries", ["booking_id", "tenant_id"], unique=False
    )
    op.create_index(
        "ix_credit_entries_expiry", "credit_entries", ["expires_at", "tenant_id"], unique=False
    )
    op.create_table(
        "student_balances",
        *_keys(),
        sa.Column("student_id", sa.String(length=36), nullable=False),
        sa.Column("lessons_left", sa.Integer(), nullable=False),
        sa.Column("minutes_left", sa.Integer(), nullable=False),
        sa.Column("owed_cents", sa.Integer(), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("next_expiry", _utc(), nullable=True),
        *_synced("student_balances"),
        _student_fk("student_balances"),
        sa.CheckConstraint(
            "lessons_left >= 0 AND minutes_left >= 0",
            name=op.f("ck_student_balances_never_negative"),
        ),
    )
    _payment_statuses(f"{_PAYMENT_STATUSES}, 'credit'")


def downgrade() -> None:
    op.execute("UPDATE bookings SET payment_status = 'unpaid' WHERE payment_status = 'credit'")
    _payment_statuses(_PAYMENT_STATUSES)
    op.drop_table("student_balances")
    op.drop_index("ix_credit_entries_expiry", table_name="credit_entries")
    op.drop_index("ix_credit_entries_booking", table_name="credit_entries")
    op.drop_index("ix_credit_entries_student", table_name="credit_entries")
    op.drop_table("credit_entries")
    op.drop_table("packages")


def _payment_statuses(values: str) -> None:
    """Replace the CHECK on bookings.payment_status (SQLite: by copying the table)."""
    with op.batch_alter_table("bookings", schema=None) as batch_op:
        batch_op.drop_constraint(op.f("ck_bookings_payment_status"), type_="check")
        batch_op.create_check_constraint(
            op.f("ck_bookings_payment_status"), f"payment_status IN ({values})"
        )
