"""payments: what a payment is for, who paid, and its Checkout Session

Paying in the app (Stripe Checkout Sessions) pays for a booking, a package or an
outstanding balance: `payments` gains `purpose` ('booking' by default, so every existing
row stays a booking payment), `package_id`, `payer_user_id` (the student's or a guardian's
sign-in) and `checkout_ref` (the open session a second click reuses), and `booking_id`
becomes nullable (a package or balance payment has none; a CHECK keeps it set for
'booking'). On SQLite the table is rebuilt by a batch (nothing references `payments`).

Revision ID: 0018
Revises: 0017
Create Date: 2026-12-02 10:30:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0018"
down_revision: str | None = "0017"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("payments") as batch:
        batch.add_column(
            sa.Column("purpose", sa.String(length=16), server_default="booking", nullable=False)
        )
        batch.add_column(sa.Column("package_id", sa.String(length=36), nullable=True))
        batch.add_column(sa.Column("payer_user_id", sa.String(length=36), nullable=True))
        batch.add_column(sa.Column("checkout_ref", sa.String(length=200), nullable=True))
        batch.alter_column("booking_id", existing_type=sa.String(length=36), nullable=True)
        batch.create_check_constraint(
            op.f("ck_payments_purpose"), "purpose IN ('booking', 'package', 'balance')"
        )
        batch.create_check_constraint(
            op.f("ck_payments_booking_named"), "purpose <> 'booking' OR booking_id IS NOT NULL"
        )


def downgrade() -> None:
    # Package and balance payments have no booking: they cannot survive the old schema.
    op.execute("DELETE FROM payments WHERE booking_id IS NULL")
    with op.batch_alter_table("payments") as batch:
        batch.drop_constraint(op.f("ck_payments_booking_named"), type_="check")
        batch.drop_constraint(op.f("ck_payments_purpose"), type_="check")
        batch.alter_column("booking_id", existing_type=sa.String(length=36), nullable=False)
        batch.drop_column("checkout_ref")
        batch.drop_column("payer_user_id")
        batch.drop_column("package_id")
        batch.drop_column("purpose")
