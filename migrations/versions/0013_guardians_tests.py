"""Guardians and test records: `guardians` and `student_guardians` become the synced
entities `guardian` and `guardian_student` (written by admins), and `test_records` (the
synced entity `test_record`) is new

Both guardian tables get the columns of every synced record; `student_guardians` gets its
own id as the primary key (the pair student/guardian stays unique, tenant_id last as
migration 0003 has it). Both are rebuilt rather than altered, as 0005 rebuilt the
assignments: a primary key changes, which SQLite can only do by copying the table, and
one path keeps both databases alike. Existing rows get the next revs of their school and a
row in the change index, so replicas pull them like any record made after the upgrade.

Revision ID: 0013
Revises: 0012
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

revision: str = "0013"
down_revision: str | None = "0012"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_GUARDIAN_COLUMNS = ("tenant_id", "id", "user_id", "name", "email", "phone")
_LINK_COLUMNS = ("tenant_id", "student_id", "guardian_id")


def _rev_int() -> Any:
    return sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def _json() -> Any:
    from sqlalchemy.dialects.postgresql import JSONB

    return sa.JSON().with_variant(JSONB(), "postgresql")


def _utc() -> Any:
    return schemas.base.UtcDateTime(timezone=True)


def _synced_columns() -> list[sa.Column[Any]]:
    return [
        sa.Column("rev", _rev_int(), nullable=False),
        sa.Column("deleted", sa.Boolean(), nullable=False),
        sa.Column("deleted_hlc", sa.String(length=120), nullable=True),
        sa.Column("field_hlc", _json(), nullable=False),
        sa.Column("created_by", sa.String(length=36), nullable=True),
        sa.Column("created_at", _utc(), nullable=False),
        sa.Column("updated_at", _utc(), nullable=False),
    ]


def _rows(conn: Any, name: str, columns: Sequence[str]) -> list[dict[str, Any]]:
    table = sa.table(name, *(sa.column(c) for c in columns))
    return [dict(r) for r in conn.execute(sa.select(*table.c)).mappings()]


def _create_guardians() -> sa.Table:
    table = op.create_table(
        "guardians",
        sa.Column("tenant_id", sa.String(length=36), nullable=False),
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("user_id", sa.String(length=36), nullable=True),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("email", sa.String(length=320), nullable=True),
        sa.Column("phone", sa.String(length=32), nullable=True),
        *_synced_columns(),
        sa.ForeignKeyConstraint(
            ["tenant_id"], ["tenants.id"], name=op.f("fk_guardians_tenant_id_tenants")
        ),
        sa.PrimaryKeyConstraint("tenant_id", "id", name=op.f("pk_guardians")),
    )
    with op.batch_alter_table("guardians", schema=None) as batch_op:
        batch_op.create_index("ix_guardians_user", ["user_id", "tenant_id"], unique=False)
    return table


def _create_links() -> sa.Table:
    table = op.create_table(
        "student_guardians",
        sa.Column("tenant_id", sa.String(length=36), nullable=False),
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("student_id", sa.String(length=36), nullable=False),
        sa.Column("guardian_id", sa.String(length=36), nullable=False),
        *_synced_columns(),
        sa.ForeignKeyConstraint(
            ["tenant_id"], ["tenants.id"], name=op.f("fk_student_guardians_tenant_id_tenants")
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id", "guardian_id"],
            ["guardians.tenant_id", "guardians.id"],
            name=op.f("fk_student_guardians_tenant_id_guardian_id_guardians"),
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id", "student_id"],
            ["students.tenant_id", "students.id"],
            name=op.f("fk_student_guardians_tenant_id_student_id_students"),
        ),
        sa.PrimaryKeyConstraint("tenant_id", "id", name=op.f("pk_student_guardians")),
        sa.UniqueConstraint(
            "student_id",
            "guardian_id",
            "tenant_id",
            name=op.f("uq_student_guardians_student_id_guardian_id_tenant_id"),
        ),
    )
    with op.batch_alter_table("student_guardians", schema=None) as batch_op:
        batch_op.create_index(
            "ix_student_guardians_guardian", ["guardian_id", "tenant_id"], unique=False
        )
    return table


def _index(conn: Any, entries: list[dict[str, Any]]) -> None:
    """Give each (tenant, entity, id, student_id) its school's next rev and a row in the
    change index; returns nothing, sets `rev` on each entry."""
    if not entries:
        return
    revs = sa.table("tenant_revs", sa.column("tenant_id"), sa.column("rev"))
    columns = (
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
    index = sa.table(
        "sync_records", *(sa.column(c, _utc() if c == "updated_at" else None) for c in columns)
    )
    heads = dict(conn.execute(sa.select(revs.c.tenant_id, revs.c.rev)).all())
    now = dt.datetime.now(dt.UTC)
    rows = []
    for entry in entries:
        tenant = entry["tenant_id"]
        heads[tenant] = entry["rev"] = (heads.get(tenant) or 0) + 1
        rows.append(
            {
                "tenant_id": tenant,
                "entity": entry["entity"],
                "id": entry["id"],
                "rev": entry["rev"],
                "deleted": False,
                "student_id": entry.get("student_id"),
                "instructor_id": None,
                "private": False,
                "updated_at": now,
                "origin": None,
            }
        )
    conn.execute(sa.insert(index), rows)
    for tenant, rev in heads.items():
        conn.execute(sa.update(revs).where(revs.c.tenant_id == tenant).values(rev=rev))


def upgrade() -> None:
    conn = op.get_bind()
    guardians = _rows(conn, "guardians", _GUARDIAN_COLUMNS)
    links = _rows(conn, "student_guardians", _LINK_COLUMNS)
    op.drop_table("student_guardians")
    op.drop_table("guardians")
    guardian_table = _create_guardians()
    link_table = _create_links()
    now = dt.datetime.now(dt.UTC)
    synced = {"deleted": False, "field_hlc": {}, "created_at": now, "updated_at": now}
    g_entries = [{**g, "entity": "guardian"} for g in guardians]
    l_entries = [{**link, "entity": "guardian_student", "id": str(uuid.uuid4())} for link in links]
    _index(conn, g_entries + l_entries)
    if guardians:
        op.bulk_insert(
            guardian_table,
            [
                {**{c: e[c] for c in _GUARDIAN_COLUMNS}, "rev": e["rev"], **synced}
                for e in g_entries
            ],
        )
    if links:
        op.bulk_insert(
            link_table,
            [
                {**{c: e[c] for c in _LINK_COLUMNS}, "id": e["id"], "rev": e["rev"], **synced}
                for e in l_entries
            ],
        )
    op.create_table(
        "test_records",
        sa.Column("tenant_id", sa.String(length=36), nullable=False),
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("student_id", sa.String(length=36), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("date", sa.Date(), nullable=False),
        sa.Column("time", sa.String(length=5), nullable=True),
        sa.Column("centre", sa.String(length=200), nullable=True),
        sa.Column("result", sa.String(length=16), nullable=False),
        sa.Column("score", sa.Integer(), nullable=True),
        sa.Column("faults", sa.Integer(), nullable=True),
        sa.Column("notes", sa.Text(), nullable=True),
        *_synced_columns(),
        sa.CheckConstraint("kind IN ('theory', 'practical')", name=op.f("ck_test_records_kind")),
        sa.CheckConstraint(
            "result IN ('booked', 'passed', 'failed')", name=op.f("ck_test_records_result")
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id", "student_id"],
            ["students.tenant_id", "students.id"],
            name=op.f("fk_test_records_tenant_id_student_id_students"),
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id"], ["tenants.id"], name=op.f("fk_test_records_tenant_id_tenants")
        ),
        sa.PrimaryKeyConstraint("tenant_id", "id", name=op.f("pk_test_records")),
    )
    with op.batch_alter_table("test_records", schema=None) as batch_op:
        batch_op.create_index(
            "ix_test_records_student", ["student_id", "tenant_id"], unique=False
        )
        batch_op.create_index("ix_test_records_date", ["date", "tenant_id"], unique=False)


def downgrade() -> None:
    conn = op.get_bind()
    conn.execute(
        sa.text(
            "DELETE FROM sync_records WHERE entity IN "
            "('guardian', 'guardian_student', 'test_record')"
        )
    )
    with op.batch_alter_table("test_records", schema=None) as batch_op:
        batch_op.drop_index("ix_test_records_date")
        batch_op.drop_index("ix_test_records_student")
    op.drop_table("test_records")
    guardians = _rows(conn, "guardians", _GUARDIAN_COLUMNS)
    links = _rows(conn, "student_guardians", _LINK_COLUMNS)
    with op.batch_alter_table("student_guardians", schema=None) as batch_op:
        batch_op.drop_index("ix_student_guardians_guardian")
    op.drop_table("student_guardians")
    with op.batch_alter_table("guardians", schema=None) as batch_op:
        batch_op.drop_index("ix_guardians_user")
    op.drop_table("guardians")
    old_guardians = op.create_table(
        "guardians",
        sa.Column("tenant_id", sa.String(length=36), nullable=False),
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("user_id", sa.String(length=36), nullable=True),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("email", sa.String(length=320), nullable=True),
        sa.Column("phone", sa.String(length=32), nullable=True),
        sa.ForeignKeyConstraint(
            ["tenant_id"], ["tenants.id"], name=op.f("fk_guardians_tenant_id_tenants")
        ),
        sa.PrimaryKeyConstraint("tenant_id", "id", name=op.f("pk_guardians")),
    )
    old_links = op.create_table(
        "student_guardians",
        sa.Column("tenant_id", sa.String(length=36), nullable=False),
        sa.Column("student_id", sa.String(length=36), nullable=False),
        sa.Column("guardian_id", sa.String(length=36), nullable=False),
        sa.ForeignKeyConstraint(
            ["tenant_id", "guardian_id"],
            ["guardians.tenant_id", "guardians.id"],
            name=op.f("fk_student_guardians_tenant_id_guardian_id_guardians"),
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id", "student_id"],
            ["students.tenant_id", "students.id"],
            name=op.f("fk_student_guardians_tenant_id_student_id_students"),
        ),
        sa.PrimaryKeyConstraint(
            "tenant_id", "student_id", "guardian_id", name=op.f("pk_student_guardians")
        ),
    )
    if guardians:
        op.bulk_insert(old_guardians, guardians)
    if links:
        op.bulk_insert(old_links, links)
