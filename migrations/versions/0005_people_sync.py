"""People are synced and written by admins: `active` on students and instructors, and
assignments (`student_instructors`) become the synced entity `student_instructor`

An assignment gets the columns of every synced record (its own id as the primary key, rev,
tombstone and field clocks; the pair student/instructor stays unique, tenant_id last as
migration 0003 has it). The table is rebuilt rather than altered: its primary key changes,
which SQLite can only do by copying the table anyway, and one path keeps both databases
alike. Existing assignments get an id, the next revs of their school and a row in the change
index, so replicas pull them like any record made after the upgrade.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-02 00:00:00
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from alembic import op

import schemas.base

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_OLD_COLUMNS = ("tenant_id", "student_id", "instructor_id", "is_primary", "assigned_at")


def _rev_int() -> Any:
    return sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def _json() -> Any:
    from sqlalchemy.dialects.postgresql import JSONB

    return sa.JSON().with_variant(JSONB(), "postgresql")


def _old_rows(conn: Any) -> list[dict[str, Any]]:
    types = {"is_primary": sa.Boolean(), "assigned_at": schemas.base.UtcDateTime(timezone=True)}
    table = sa.table("student_instructors", *(sa.column(c, types.get(c)) for c in _OLD_COLUMNS))
    return [dict(r) for r in conn.execute(sa.select(*table.c)).mappings()]


def _drop() -> None:
    with op.batch_alter_table("student_instructors", schema=None) as batch_op:
        batch_op.drop_index("ix_student_instructors_instructor")
    op.drop_table("student_instructors")


def upgrade() -> None:
    # Not batches: SQLite adds (and drops, 3.35+) a plain column in place, where a batch
    # would copy the table, which other tables' foreign keys refer to.
    for table in ("students", "instructors"):
        op.add_column(
            table, sa.Column("active", sa.Boolean(), server_default=sa.true(), nullable=False)
        )
    conn = op.get_bind()
    rows = _old_rows(conn)
    _drop()
    utc = schemas.base.UtcDateTime(timezone=True)
    assignments = op.create_table(
        "student_instructors",
        sa.Column("tenant_id", sa.String(length=36), nullable=False),
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("student_id", sa.String(length=36), nullable=False),
        sa.Column("instructor_id", sa.String(length=36), nullable=False),
        sa.Column("is_primary", sa.Boolean(), nullable=False),
        sa.Column("assigned_at", utc, nullable=False),
        sa.Column("rev", _rev_int(), nullable=False),
        sa.Column("deleted", sa.Boolean(), nullable=False),
        sa.Column("deleted_hlc", sa.String(length=120), nullable=True),
        sa.Column("field_hlc", _json(), nullable=False),
        sa.Column("created_by", sa.String(length=36), nullable=True),
        sa.Column("created_at", utc, nullable=False),
        sa.Column("updated_at", utc, nullable=False),
        sa.ForeignKeyConstraint(
            ["tenant_id"], ["tenants.id"], name=op.f("fk_student_instructors_tenant_id_tenants")
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id", "instructor_id"],
            ["instructors.tenant_id", "instructors.id"],
            name=op.f("fk_student_instructors_tenant_id_instructor_id_instructors"),
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id", "student_id"],
            ["students.tenant_id", "students.id"],
            name=op.f("fk_student_instructors_tenant_id_student_id_students"),
        ),
        sa.PrimaryKeyConstraint("tenant_id", "id", name=op.f("pk_student_instructors")),
        sa.UniqueConstraint(
            "student_id",
            "instructor_id",
            "tenant_id",
            name=op.f("uq_student_instructors_student_id_instructor_id_tenant_id"),
        ),
    )
    with op.batch_alter_table("student_instructors", schema=None) as batch_op:
        batch_op.create_index(
            "ix_student_instructors_instructor", ["instructor_id", "tenant_id"], unique=False
        )
    if not rows:
        return
    # Each school's assignments take its next revs and join the change index.
    revs = sa.table("tenant_revs", sa.column("tenant_id"), sa.column("rev"))
    index = sa.table(
        "sync_records",
        *(
            sa.column(c, utc if c == "updated_at" else None)
            for c in (
                "tenant_id",
                "entity",
                "id",
                "rev",
                "deleted",
                "student_id",
                "instructor_id",
                "private",
                "updated_at",
                "origin",
            )
        ),
    )
    heads = dict(conn.execute(sa.select(revs.c.tenant_id, revs.c.rev)).all())
    now = dt.datetime.now(dt.UTC)
    new_rows, index_rows = [], []
    for row in sorted(rows, key=lambda r: (r["tenant_id"], r["student_id"], r["instructor_id"])):
        tenant = row["tenant_id"]
        heads[tenant] = rev = (heads.get(tenant) or 0) + 1
        rid = str(uuid.uuid4())
        new_rows.append(
            {
                **row,
                "id": rid,
                "rev": rev,
                "deleted": False,
                "field_hlc": {},
                "created_at": row["assigned_at"],
                "updated_at": now,
            }
        )
        index_rows.append(
            {
                "tenant_id": tenant,
                "entity": "student_instructor",
                "id": rid,
                "rev": rev,
                "deleted": False,
                "student_id": row["student_id"],
                "instructor_id": row["instructor_id"],
                "private": False,
                "updated_at": now,
                "origin": None,
            }
        )
    op.bulk_insert(assignments, new_rows)
    conn.execute(sa.insert(index), index_rows)
    for tenant, rev in heads.items():
        conn.execute(sa.update(revs).where(revs.c.tenant_id == tenant).values(rev=rev))


def downgrade() -> None:
    conn = op.get_bind()
    rows = _old_rows(conn)
    conn.execute(sa.text("DELETE FROM sync_records WHERE entity = 'student_instructor'"))
    _drop()
    old = op.create_table(
        "student_instructors",
        sa.Column("tenant_id", sa.String(length=36), nullable=False),
        sa.Column("student_id", sa.String(length=36), nullable=False),
        sa.Column("instructor_id", sa.String(length=36), nullable=False),
        sa.Column("is_primary", sa.Boolean(), nullable=False),
        sa.Column("assigned_at", schemas.base.UtcDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["tenant_id", "instructor_id"],
            ["instructors.tenant_id", "instructors.id"],
            name=op.f("fk_student_instructors_tenant_id_instructor_id_instructors"),
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id", "student_id"],
            ["students.tenant_id", "students.id"],
            name=op.f("fk_student_instructors_tenant_id_student_id_students"),
        ),
        sa.PrimaryKeyConstraint(
            "tenant_id", "student_id", "instructor_id", name=op.f("pk_student_instructors")
        ),
    )
    with op.batch_alter_table("student_instructors", schema=None) as batch_op:
        batch_op.create_index(
            "ix_student_instructors_instructor", ["instructor_id", "tenant_id"], unique=False
        )
    if rows:
        op.bulk_insert(old, rows)
    for table in ("instructors", "students"):
        op.drop_column(table, "active")
