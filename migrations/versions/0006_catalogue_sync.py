"""The catalogue is written by admins: `rate_cards` becomes the synced entity `rate_card`,
skills and theory questions get `active` (retired ones stay readable)

Rate cards get the columns of every synced record (rev, tombstone, field clocks, who and
when), a foreign key to the instructor they price (null: the school's default) and an index
by service, tenant_id last as migration 0003 has it. The table is rebuilt rather than
altered, like student_instructors in 0005: SQLite adds a foreign key only by copying the
table, and one path keeps both databases alike (no other table refers to rate cards).
Existing cards take the next revs of their school and a row in the change index, so
replicas pull them like any card made after the upgrade.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-02 02:40:00
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from alembic import op

import schemas.base

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_OLD_COLUMNS = (
    "tenant_id",
    "id",
    "service_id",
    "instructor_id",
    "price_cents",
    "currency",
    "valid_from",
    "valid_until",
)


def _rev_int() -> Any:
    return sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def _json() -> Any:
    from sqlalchemy.dialects.postgresql import JSONB

    return sa.JSON().with_variant(JSONB(), "postgresql")


def _old_rows(conn: Any) -> list[dict[str, Any]]:
    types = {"valid_from": sa.Date(), "valid_until": sa.Date(), "price_cents": sa.Integer()}
    table = sa.table("rate_cards", *(sa.column(c, types.get(c)) for c in _OLD_COLUMNS))
    return [dict(r) for r in conn.execute(sa.select(*table.c)).mappings()]


def _old_columns() -> list[sa.Column[Any]]:
    return [
        sa.Column("tenant_id", sa.String(length=36), nullable=False),
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("service_id", sa.String(length=36), nullable=False),
        sa.Column("instructor_id", sa.String(length=36), nullable=True),
        sa.Column("price_cents", sa.Integer(), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("valid_from", sa.Date(), nullable=True),
        sa.Column("valid_until", sa.Date(), nullable=True),
    ]


def _old_constraints() -> list[Any]:
    return [
        sa.CheckConstraint("price_cents >= 0", name=op.f("ck_rate_cards_price")),
        sa.ForeignKeyConstraint(
            ["tenant_id", "service_id"],
            ["services.tenant_id", "services.id"],
            name=op.f("fk_rate_cards_tenant_id_service_id_services"),
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id"], ["tenants.id"], name=op.f("fk_rate_cards_tenant_id_tenants")
        ),
        sa.PrimaryKeyConstraint("tenant_id", "id", name=op.f("pk_rate_cards")),
    ]


def upgrade() -> None:
    # Plain columns, not batches: SQLite adds (and drops, 3.35+) one in place.
    for table in ("skills", "theory_questions"):
        op.add_column(
            table, sa.Column("active", sa.Boolean(), server_default=sa.true(), nullable=False)
        )
    conn = op.get_bind()
    rows = _old_rows(conn)
    op.drop_table("rate_cards")
    utc = schemas.base.UtcDateTime(timezone=True)
    cards = op.create_table(
        "rate_cards",
        *_old_columns(),
        sa.Column("rev", _rev_int(), nullable=False),
        sa.Column("deleted", sa.Boolean(), nullable=False),
        sa.Column("deleted_hlc", sa.String(length=120), nullable=True),
        sa.Column("field_hlc", _json(), nullable=False),
        sa.Column("created_by", sa.String(length=36), nullable=True),
        sa.Column("created_at", utc, nullable=False),
        sa.Column("updated_at", utc, nullable=False),
        *_old_constraints(),
        sa.CheckConstraint("length(currency) = 3", name=op.f("ck_rate_cards_currency_iso")),
        sa.ForeignKeyConstraint(
            ["tenant_id", "instructor_id"],
            ["instructors.tenant_id", "instructors.id"],
            name=op.f("fk_rate_cards_tenant_id_instructor_id_instructors"),
        ),
    )
    with op.batch_alter_table("rate_cards", schema=None) as batch_op:
        batch_op.create_index("ix_rate_cards_service", ["service_id", "tenant_id"], unique=False)
    if not rows:
        return
    # Each school's cards take its next revs and join the change index (catalogue records:
    # no student or instructor scope key).
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
    for row in sorted(rows, key=lambda r: (r["tenant_id"], r["id"])):
        tenant = row["tenant_id"]
        heads[tenant] = rev = (heads.get(tenant) or 0) + 1
        new_rows.append(
            {
                **row,
                "rev": rev,
                "deleted": False,
                "field_hlc": {},
                "created_at": now,
                "updated_at": now,
            }
        )
        index_rows.append(
            {
                "tenant_id": tenant,
                "entity": "rate_card",
                "id": row["id"],
                "rev": rev,
                "deleted": False,
                "student_id": None,
                "instructor_id": None,
                "private": False,
                "updated_at": now,
                "origin": None,
            }
        )
    op.bulk_insert(cards, new_rows)
    conn.execute(sa.insert(index), index_rows)
    for tenant, rev in heads.items():
        conn.execute(sa.update(revs).where(revs.c.tenant_id == tenant).values(rev=rev))


def downgrade() -> None:
    conn = op.get_bind()
    # Tombstoned cards were deleted: they do not go back into the old table.
    rows = _old_rows_live(conn)
    conn.execute(sa.text("DELETE FROM sync_records WHERE entity = 'rate_card'"))
    with op.batch_alter_table("rate_cards", schema=None) as batch_op:
        batch_op.drop_index("ix_rate_cards_service")
    op.drop_table("rate_cards")
    old = op.create_table("rate_cards", *_old_columns(), *_old_constraints())
    if rows:
        op.bulk_insert(old, rows)
    for table in ("theory_questions", "skills"):
        op.drop_column(table, "active")


def _old_rows_live(conn: Any) -> list[dict[str, Any]]:
    types = {"valid_from": sa.Date(), "valid_until": sa.Date(), "price_cents": sa.Integer()}
    table = sa.table(
        "rate_cards",
        *(sa.column(c, types.get(c)) for c in _OLD_COLUMNS),
        sa.column("deleted", sa.Boolean()),
    )
    query = sa.select(*(table.c[c] for c in _OLD_COLUMNS)).where(table.c.deleted.is_(False))
    return [dict(r) for r in conn.execute(query).mappings()]
