"""Messaging: three synced party records, `thread`, `thread_member` and `message`.

New tables with the columns of every synced record; secondary indexes end with tenant_id
(migration 0003), except `ix_messages_received`, which the notification scheduler reads
across schools (the unread-message email, workers/notifications/messages.py). Their scope
keys are the party columns (`party_user_id`, `instructor_id`), indexed in sync_records by
migration 0012.

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-02 06:45:00
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from alembic import op

import schemas.base

revision: str = "0015"
down_revision: str | None = "0014"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _rev_int() -> Any:
    return sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def _json() -> Any:
    from sqlalchemy.dialects.postgresql import JSONB

    return sa.JSON().with_variant(JSONB(), "postgresql")


def _id(name: str, nullable: bool = False) -> sa.Column[Any]:
    return sa.Column(name, sa.String(length=36), nullable=nullable)


def _synced(table: str, thread_fk: bool) -> list[Any]:
    """The columns and keys every synced table has, named as the models name them."""
    utc = schemas.base.UtcDateTime(timezone=True)
    out: list[Any] = [
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
        sa.PrimaryKeyConstraint("tenant_id", "id", name=op.f(f"pk_{table}")),
    ]
    if thread_fk:
        out.append(
            sa.ForeignKeyConstraint(
                ["tenant_id", "thread_id"],
                ["threads.tenant_id", "threads.id"],
                name=op.f(f"fk_{table}_tenant_id_thread_id_threads"),
            )
        )
    return out


def upgrade() -> None:
    utc = schemas.base.UtcDateTime(timezone=True)
    op.create_table(
        "threads",
        _id("tenant_id"),
        _id("id"),
        sa.Column("subject", sa.String(length=200), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        _id("lesson_id", True),
        _id("party_user_id", True),
        sa.Column("party_role", sa.String(length=16), nullable=True),
        _id("instructor_id", True),
        _id("student_id", True),
        *_synced("threads", False),
        sa.CheckConstraint("kind IN ('direct', 'lesson')", name=op.f("ck_threads_kind")),
    )
    op.create_index("ix_threads_lesson", "threads", ["lesson_id", "tenant_id"], unique=False)
    op.create_table(
        "thread_members",
        _id("tenant_id"),
        _id("id"),
        _id("thread_id"),
        _id("user_id"),
        sa.Column("last_read_at", utc, nullable=True),
        _id("party_user_id", True),
        _id("instructor_id", True),
        *_synced("thread_members", True),
    )
    op.create_index(
        "ix_thread_members_thread",
        "thread_members",
        ["thread_id", "user_id", "tenant_id"],
        unique=True,
    )
    op.create_table(
        "messages",
        _id("tenant_id"),
        _id("id"),
        _id("thread_id"),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("sent_at", utc, nullable=False),
        sa.Column("received_at", utc, nullable=False),
        _id("author_id"),
        sa.Column("author_role", sa.String(length=16), nullable=False),
        sa.Column("author_name", sa.String(length=200), nullable=False),
        _id("party_user_id", True),
        _id("instructor_id", True),
        *_synced("messages", True),
    )
    op.create_index("ix_messages_thread", "messages", ["thread_id", "tenant_id"], unique=False)
    op.create_index("ix_messages_received", "messages", ["received_at"], unique=False)


def downgrade() -> None:
    conn = op.get_bind()
    conn.execute(
        sa.text("DELETE FROM sync_records WHERE entity IN ('thread', 'thread_member', 'message')")
    )
    op.drop_index("ix_messages_received", table_name="messages")
    op.drop_index("ix_messages_thread", table_name="messages")
    op.drop_table("messages")
    op.drop_index("ix_thread_members_thread", table_name="thread_members")
    op.drop_table("thread_members")
    op.drop_index("ix_threads_lesson", table_name="threads")
    op.drop_table("threads")
