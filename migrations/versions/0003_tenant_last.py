"""Look-ups by id always take the primary key: secondary indexes put tenant_id last, and
tenant_id keeps no planner statistics (PostgreSQL)

Every tenant-owned table is keyed `(tenant_id, id)`, and its secondary indexes led with
`tenant_id` too. When PostgreSQL estimates a school's share of a table at one row — a school
that was small or absent at the last ANALYZE, a table never analyzed yet, or a plan cached
while the table was small (prepared statements, and the foreign-key checks PostgreSQL runs
itself) — every index starting with `tenant_id` costs the same to it, and it took
`(tenant_id, lesson_id)` to find a note by id, filtering every note of the school. In a
school that grew to 5,000 notes since, each push of 25 new notes spent about 30 ms in its
own look-up and in the foreign-key checks of the note history (bench.peers), growing with
the school. New schools, and schools syncing their first term, grow faster than autovacuum
analyzes.

1. Secondary indexes and unique constraints now lead with their own key and end with
   `tenant_id`: the primary key is the only index a condition on `tenant_id` alone can
   use, so a look-up by id can only take it. (The change index keeps `(tenant_id, rev)`:
   pulls read a school's range of revs.)
2. `tenant_id` keeps no statistics (PostgreSQL): the planner assumes each school holds an
   average share of a table, never one row, as it grows. Re-declaring the column's type
   (unchanged: nothing is rewritten) drops the statistics already gathered, which ANALYZE
   would otherwise keep forever for a column it no longer samples. SQLite keeps none
   unless asked.

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-01 23:50:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


# (table, index, columns before, columns after)
INDEXES: list[tuple[str, str, list[str], list[str]]] = [
    (
        "bookings",
        "ix_bookings_instructor_start",
        ["tenant_id", "instructor_id", "start"],
        ["instructor_id", "tenant_id", "start"],
    ),
    (
        "bookings",
        "ix_bookings_student_start",
        ["tenant_id", "student_id", "start"],
        ["student_id", "tenant_id", "start"],
    ),
    ("lessons", "ix_lessons_student", ["tenant_id", "student_id"], ["student_id", "tenant_id"]),
    (
        "lessons",
        "ix_lessons_instructor_start",
        ["tenant_id", "instructor_id", "scheduled_start"],
        ["instructor_id", "tenant_id", "scheduled_start"],
    ),
    ("lessons", "ix_lessons_booking", ["tenant_id", "booking_id"], ["booking_id", "tenant_id"]),
    (
        "lesson_notes",
        "ix_lesson_notes_lesson",
        ["tenant_id", "lesson_id"],
        ["lesson_id", "tenant_id"],
    ),
    (
        "skill_assessments",
        "ix_skill_assessments_student",
        ["tenant_id", "student_id"],
        ["student_id", "tenant_id"],
    ),
    ("trips", "ix_trips_lesson", ["tenant_id", "lesson_id"], ["lesson_id", "tenant_id"]),
    (
        "theory_attempts",
        "ix_theory_attempts_student",
        ["tenant_id", "student_id"],
        ["student_id", "tenant_id"],
    ),
    (
        "mock_tests",
        "ix_mock_tests_student",
        ["tenant_id", "student_id"],
        ["student_id", "tenant_id"],
    ),
    (
        "push_subscriptions",
        "ix_push_subscriptions_user",
        ["tenant_id", "user_id"],
        ["user_id", "tenant_id"],
    ),
    (
        "notifications",
        "ix_notifications_key",
        ["tenant_id", "idempotency_key"],
        ["idempotency_key", "tenant_id"],
    ),
    ("payments", "ix_payments_booking", ["tenant_id", "booking_id"], ["booking_id", "tenant_id"]),
    ("students", "ix_students_user", ["tenant_id", "user_id"], ["user_id", "tenant_id"]),
    ("instructors", "ix_instructors_user", ["tenant_id", "user_id"], ["user_id", "tenant_id"]),
    (
        "student_instructors",
        "ix_student_instructors_instructor",
        ["tenant_id", "instructor_id"],
        ["instructor_id", "tenant_id"],
    ),
    (
        "availability",
        "ix_availability_instructor",
        ["tenant_id", "instructor_id"],
        ["instructor_id", "tenant_id"],
    ),
    (
        "conflicts",
        "ix_conflicts_open",
        ["tenant_id", "status", "received_at"],
        ["status", "tenant_id", "received_at"],
    ),
    (
        "audit_log",
        "ix_audit_log_record",
        ["tenant_id", "entity", "record_id"],
        ["record_id", "entity", "tenant_id"],
    ),
    (
        "refresh_tokens",
        "ix_refresh_tokens_family",
        ["tenant_id", "family_id"],
        ["family_id", "tenant_id"],
    ),
]

# (table, columns before, columns after): unique constraints, named by the convention
# uq_<table>_<columns in order>.
UNIQUES: list[tuple[str, list[str], list[str]]] = [
    ("skills", ["tenant_id", "code"], ["code", "tenant_id"]),
    ("student_progress", ["tenant_id", "student_id"], ["student_id", "tenant_id"]),
    ("trip_segments", ["tenant_id", "trip_id", "index"], ["trip_id", "index", "tenant_id"]),
    ("theory_questions", ["tenant_id", "key"], ["key", "tenant_id"]),
    ("devices", ["tenant_id", "user_id", "client_id"], ["user_id", "client_id", "tenant_id"]),
    ("outbox", ["tenant_id", "dedupe_key"], ["dedupe_key", "tenant_id"]),
    ("payments", ["tenant_id", "provider_ref"], ["provider_ref", "tenant_id"]),
    ("payouts", ["tenant_id", "payment_id"], ["payment_id", "tenant_id"]),
    ("users", ["tenant_id", "email"], ["email", "tenant_id"]),
]


def _uq(table: str, columns: list[str]) -> str:
    return f"uq_{table}_{'_'.join(columns)}"


def _reorder(forward: bool) -> None:
    for table, name, before, after in INDEXES:
        old, new = (before, after) if forward else (after, before)
        with op.batch_alter_table(table) as batch:
            batch.drop_index(name)
            batch.create_index(name, new, unique=False)
    for table, before, after in UNIQUES:
        old, new = (before, after) if forward else (after, before)
        with op.batch_alter_table(table) as batch:
            batch.drop_constraint(_uq(table, old), type_="unique")
            batch.create_unique_constraint(_uq(table, new), new)


def _tenant_tables() -> list[tuple[str, str]]:
    """(table, tenant_id's SQL type) of every table with a tenant_id column."""
    bind = op.get_bind()
    inspector = sa.inspect(bind)
    out = []
    for table in sorted(inspector.get_table_names()):
        for col in inspector.get_columns(table):
            if col["name"] == "tenant_id":
                out.append((table, col["type"].compile(dialect=bind.dialect)))
    return out


def upgrade() -> None:
    _reorder(forward=True)
    if op.get_bind().dialect.name != "postgresql":
        return
    for table, type_ in _tenant_tables():
        op.execute(
            f'ALTER TABLE "{table}" ALTER COLUMN tenant_id SET STATISTICS 0, '
            f"ALTER COLUMN tenant_id TYPE {type_}"
        )


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        for table, _type in _tenant_tables():
            op.execute(f'ALTER TABLE "{table}" ALTER COLUMN tenant_id SET STATISTICS -1')
    _reorder(forward=False)
