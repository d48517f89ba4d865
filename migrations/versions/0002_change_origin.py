"""sync_records.origin: the device whose push wrote a record's latest version

A device that pulls with `skip_own=true` is not sent back what it wrote itself (it has it
already, from the push's answer): over a 64 kbit/s link the echo of an hour's lesson was
most of the pull after the upload.

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-01 20:30:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("sync_records", schema=None) as batch_op:
        batch_op.add_column(sa.Column("origin", sa.String(length=36), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("sync_records", schema=None) as batch_op:
        batch_op.drop_column("origin")
