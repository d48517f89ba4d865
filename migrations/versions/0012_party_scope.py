"""sync_records.user_id: the party key, for records addressed to one user

Messages, their threads and a user's own inbox are read by the people they are addressed to,
not by everyone who follows a student or an instructor (sync.core.scope, Visibility.PARTY).
The change index keeps that user's id beside the student and instructor keys, so a pull
filters by it without joins, with an index led by the school like the other two.

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-02 06:40:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0012"
down_revision: str | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("sync_records") as batch:
        batch.add_column(sa.Column("user_id", sa.String(36), nullable=True))
    op.create_index(
        "ix_sync_records_user", "sync_records", ["tenant_id", "user_id", "rev"], unique=False
    )


def downgrade() -> None:
    op.drop_index("ix_sync_records_user", table_name="sync_records")
    with op.batch_alter_table("sync_records") as batch:
        batch.drop_column("user_id")
