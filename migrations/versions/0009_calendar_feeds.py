"""calendar_feeds: each user's private iCalendar feed (a revocable secret URL)

Only the SHA-256 of the secret is stored. `ix_calendar_feeds_user` ends with tenant_id (the
rule of 0003) and serves "this user's live feed".

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-02 00:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import schemas.base

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    utc = schemas.base.UtcDateTime(timezone=True)
    op.create_table(
        "calendar_feeds",
        sa.Column("tenant_id", sa.String(length=36), nullable=False),
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("user_id", sa.String(length=36), nullable=False),
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("created_at", utc, nullable=False),
        sa.Column("revoked_at", utc, nullable=True),
        sa.Column("fetched_at", utc, nullable=True),
        sa.ForeignKeyConstraint(
            ["tenant_id", "user_id"],
            ["users.tenant_id", "users.id"],
            name=op.f("fk_calendar_feeds_tenant_id_user_id_users"),
        ),
        sa.PrimaryKeyConstraint("tenant_id", "id", name=op.f("pk_calendar_feeds")),
        sa.UniqueConstraint("token_hash", name=op.f("uq_calendar_feeds_token_hash")),
    )
    with op.batch_alter_table("calendar_feeds", schema=None) as batch_op:
        batch_op.create_index("ix_calendar_feeds_user", ["user_id", "tenant_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("calendar_feeds", schema=None) as batch_op:
        batch_op.drop_index("ix_calendar_feeds_user")
    op.drop_table("calendar_feeds")
