"""invoices: gap-free invoices and credit notes, synced read-only to the student

`invoices` holds both kinds (a credit note has negative amounts and names the invoice it
credits), with the columns of every synced record; one invoice per payment (a partial unique
index: credit notes share their invoice's payment) and one credit note per refund.
`invoice_counters` keeps the last number of each series per school ('INV', 'CN'), read FOR
UPDATE and incremented in the transaction that issues. Indexes end with the school (0003).

Revision ID: 0019
Revises: 0018
Create Date: 2026-12-02 10:30:00
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from alembic import op

import schemas.base

revision: str = "0019"
down_revision: str | None = "0018"
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
        "invoices",
        sa.Column("tenant_id", sa.String(length=36), nullable=False),
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("number", sa.String(length=20), nullable=False),
        sa.Column("kind", sa.String(length=12), nullable=False),
        sa.Column("student_id", sa.String(length=36), nullable=False),
        sa.Column("payer_user_id", sa.String(length=36), nullable=True),
        sa.Column("payment_id", sa.String(length=36), nullable=False),
        sa.Column("refund_id", sa.String(length=36), nullable=True),
        sa.Column("credits_invoice_id", sa.String(length=36), nullable=True),
        sa.Column("issued_at", utc, nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("lines", _json(), nullable=False),
        sa.Column("subtotal_cents", sa.Integer(), nullable=False),
        sa.Column("tax_cents", sa.Integer(), nullable=False),
        sa.Column("total_cents", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(length=12), nullable=False),
        sa.Column("school_name", sa.String(length=200), nullable=False),
        sa.Column("school_address", sa.Text(), nullable=True),
        sa.Column("bill_to_name", sa.String(length=200), nullable=False),
        sa.Column("payer_name", sa.String(length=200), nullable=True),
        sa.Column("payment_reference", sa.String(length=200), nullable=False),
        sa.Column("rev", _rev_int(), nullable=False),
        sa.Column("deleted", sa.Boolean(), nullable=False),
        sa.Column("deleted_hlc", sa.String(length=120), nullable=True),
        sa.Column("field_hlc", _json(), nullable=False),
        sa.Column("created_by", sa.String(length=36), nullable=True),
        sa.Column("created_at", utc, nullable=False),
        sa.Column("updated_at", utc, nullable=False),
        sa.CheckConstraint("kind IN ('invoice', 'credit_note')", name=op.f("ck_invoices_kind")),
        sa.CheckConstraint(
            "status IN ('issued', 'paid', 'void', 'credited')", name=op.f("ck_invoices_status")
        ),
        sa.CheckConstraint(
            "subtotal_cents + tax_cents = total_cents", name=op.f("ck_invoices_adds_up")
        ),
        sa.CheckConstraint(
            "(kind = 'invoice' AND total_cents >= 0 AND refund_id IS NULL)"
            " OR (kind = 'credit_note' AND total_cents <= 0 AND refund_id IS NOT NULL"
            " AND credits_invoice_id IS NOT NULL)",
            name=op.f("ck_invoices_sign"),
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id"], ["tenants.id"], name=op.f("fk_invoices_tenant_id_tenants")
        ),
        sa.PrimaryKeyConstraint("tenant_id", "id", name=op.f("pk_invoices")),
        sa.UniqueConstraint("number", "tenant_id", name=op.f("uq_invoices_number_tenant_id")),
    )
    op.create_index(
        "ux_invoices_payment",
        "invoices",
        ["payment_id", "tenant_id"],
        unique=True,
        sqlite_where=sa.text("kind = 'invoice'"),
        postgresql_where=sa.text("kind = 'invoice'"),
    )
    op.create_index("ux_invoices_refund", "invoices", ["refund_id", "tenant_id"], unique=True)
    op.create_index("ix_invoices_student", "invoices", ["student_id", "tenant_id"], unique=False)
    op.create_table(
        "invoice_counters",
        sa.Column("tenant_id", sa.String(length=36), nullable=False),
        sa.Column("series", sa.String(length=8), nullable=False),
        sa.Column("last_number", sa.Integer(), nullable=False),
        sa.CheckConstraint("last_number >= 0", name=op.f("ck_invoice_counters_non_negative")),
        sa.ForeignKeyConstraint(
            ["tenant_id"], ["tenants.id"], name=op.f("fk_invoice_counters_tenant_id_tenants")
        ),
        sa.PrimaryKeyConstraint("tenant_id", "series", name=op.f("pk_invoice_counters")),
    )


def downgrade() -> None:
    op.drop_table("invoice_counters")
    op.drop_index("ix_invoices_student", table_name="invoices")
    op.drop_index("ux_invoices_refund", table_name="invoices")
    op.drop_index("ux_invoices_payment", table_name="invoices")
    op.drop_table("invoices")
