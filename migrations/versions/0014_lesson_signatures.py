"""Lesson sign-off and school-written notification templates (issue 13).

`lesson_signatures`: the synced entity `lesson_signature` (the student's signature on a
lesson, put once), with the columns of every synced record; at most one per lesson (unique
(lesson_id, tenant_id): secondary keys end with tenant_id, migration 0003).
`notification_templates` (since 0001, read by the renderer, written by nobody until now)
gains who changed a school's template and when: the admin editor shows both.

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-02 06:30:00
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from alembic import op

import schemas.base

revision: str = "0014"
down_revision: str | None = "0013"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _json() -> Any:
    from sqlalchemy.dialects.postgresql import JSONB

    return sa.JSON().with_variant(JSONB(), "postgresql")


def upgrade() -> None:
    utc = schemas.base.UtcDateTime(timezone=True)
    op.create_table(
        "lesson_signatures",
        sa.Column("tenant_id", sa.String(length=36), nullable=False),
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("lesson_id", sa.String(length=36), nullable=False),
        sa.Column("student_id", sa.String(length=36), nullable=False),
        sa.Column("signed_by", sa.String(length=200), nullable=False),
        sa.Column("captured_by", sa.String(length=36), nullable=True),
        sa.Column("signed_at", utc, nullable=False),
        sa.Column("strokes", _json(), nullable=False),
        sa.Column("rev", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("deleted", sa.Boolean(), nullable=False),
        sa.Column("deleted_hlc", sa.String(length=120), nullable=True),
        sa.Column("field_hlc", _json(), nullable=False),
        sa.Column("created_by", sa.String(length=36), nullable=True),
        sa.Column("created_at", utc, nullable=False),
        sa.Column("updated_at", utc, nullable=False),
        sa.ForeignKeyConstraint(
            ["tenant_id"], ["tenants.id"], name=op.f("fk_lesson_signatures_tenant_id_tenants")
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id", "lesson_id"],
            ["lessons.tenant_id", "lessons.id"],
            name=op.f("fk_lesson_signatures_tenant_id_lesson_id_lessons"),
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id", "student_id"],
            ["students.tenant_id", "students.id"],
            name=op.f("fk_lesson_signatures_tenant_id_student_id_students"),
        ),
        sa.PrimaryKeyConstraint("tenant_id", "id", name=op.f("pk_lesson_signatures")),
        sa.UniqueConstraint(
            "lesson_id", "tenant_id", name=op.f("uq_lesson_signatures_lesson_id_tenant_id")
        ),
    )
    op.create_index(
        "ix_lesson_signatures_student",
        "lesson_signatures",
        ["student_id", "tenant_id"],
        unique=False,
    )
    op.add_column("notification_templates", sa.Column("updated_at", utc, nullable=True))
    op.add_column(
        "notification_templates", sa.Column("updated_by", sa.String(length=36), nullable=True)
    )


def downgrade() -> None:
    conn = op.get_bind()
    conn.execute(sa.text("DELETE FROM sync_records WHERE entity = 'lesson_signature'"))
    with op.batch_alter_table("notification_templates") as batch:
        batch.drop_column("updated_by")
        batch.drop_column("updated_at")
    op.drop_index("ix_lesson_signatures_student", table_name="lesson_signatures")
    op.drop_table("lesson_signatures")
