"""Look-ups by id stay on the primary key however fast a school grows (migration 0003).

With planner statistics on `tenant_id`, PostgreSQL estimated a school that was absent from
the last ANALYZE at one row and looked records up by id through a `(tenant_id, lesson_id)`
index, filtering every row of the school: a push's preload then cost time in proportion to
the school's size until autovacuum caught up. SQLite has no such statistics; the same check
runs there so both databases are held to it."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

from sqlalchemy import event, insert, select, text

from schemas import (
    Instructor,
    Lesson,
    LessonNote,
    Membership,
    Student,
    Tenant,
    TenantRev,
    User,
)
from sync.core.principal import Principal
from sync.pull import PullService
from sync.rules.batch import Context, preload
from sync.service import SCHEMA_VERSIONS
from sync.tenancy import ALL_TENANTS, bind_tenant
from tests.conftest import TEST_SECRET, Db

GROWN = 4000


async def _new_school(db: Db) -> tuple[str, str, str]:
    """A school with one instructor, student and lesson: (tenant, lesson, student)."""
    tenant_id, lesson_id = str(uuid.uuid4()), str(uuid.uuid4())
    instructor_id, student_id = str(uuid.uuid4()), str(uuid.uuid4())
    async with db.sessions() as session, session.begin():
        bind_tenant(session, ALL_TENANTS)
        session.add(Tenant(id=tenant_id, slug=f"grown-{tenant_id[:8]}", name="Grown"))
        await session.flush()
        session.add(TenantRev(tenant_id=tenant_id, rev=0, horizon_rev=0))
    start = dt.datetime(2026, 3, 2, 9, tzinfo=dt.UTC)
    async with db.store.write(tenant_id) as txn:
        txn.stamp("instructor", Instructor(id=instructor_id, name="I", email="i@grown.test"))
        txn.stamp("student", Student(id=student_id, name="S", email="s@grown.test"))
        await txn.session.flush()
        txn.stamp(
            "lesson",
            Lesson(
                id=lesson_id,
                instructor_id=instructor_id,
                student_id=student_id,
                scheduled_start=start,
                scheduled_end=start + dt.timedelta(hours=1),
                status="scheduled",
                field_hlc={},
                deleted=False,
            ),
        )
    return tenant_id, lesson_id, student_id


async def test_lookup_by_id_uses_the_primary_key_after_fast_growth(db: Db) -> None:
    tenant_id, lesson_id, student_id = await _new_school(db)
    if db.dialect == "postgresql":
        async with db.engine.connect() as conn:
            await conn.execute(text("ANALYZE"))  # the new school has no notes yet
            await conn.commit()
    now = dt.datetime.now(dt.UTC)
    rows: list[dict[str, Any]] = [
        {
            "tenant_id": tenant_id,
            "id": str(uuid.uuid4()),
            "lesson_id": lesson_id,
            "student_id": student_id,
            "body": "Mirrors before signalling.",
            "private": False,
            "tags": [],
            "rev": 0,
            "deleted": False,
            "field_hlc": {},
            "created_at": now,
            "updated_at": now,
        }
        for _ in range(GROWN)
    ]
    async with db.sessions() as session, session.begin():
        bind_tenant(session, ALL_TENANTS)
        await session.execute(insert(LessonNote), rows)
    async with db.sessions() as session:
        bind_tenant(session, tenant_id)
        count = len((await session.scalars(select(LessonNote.id))).all())
    assert count == GROWN

    # The look-up a push makes (its preload of targets), captured as sent, then explained.
    wanted = [r["id"] for r in rows[:20]] + [str(uuid.uuid4())]
    sent: list[tuple[str, Any]] = []

    def capture(_conn: Any, _cur: Any, statement: str, params: Any, *_a: Any) -> None:
        if "lesson_notes" in statement and statement.lstrip().upper().startswith("SELECT"):
            sent.append((statement, params))

    event.listen(db.engine.sync_engine, "before_cursor_execute", capture)
    try:
        async with db.store.write(tenant_id) as txn:
            ctx = Context(txn, Principal(tenant_id, "u", "admin"), None, "c", None)  # type: ignore[arg-type]
            await preload(ctx, [{"entity": "lesson_note", "id": rid, "data": {}} for rid in wanted])
            assert sum(1 for key, row in ctx.loaded.items() if row is not None) == 20
    finally:
        event.remove(db.engine.sync_engine, "before_cursor_execute", capture)
    assert len(sent) == 1, sent
    statement, params = sent[0]
    async with db.engine.connect() as conn:
        prefix = "EXPLAIN " if db.dialect == "postgresql" else "EXPLAIN QUERY PLAN "
        result = await conn.exec_driver_sql(prefix + statement, params)
        plan = "\n".join(" ".join(str(v) for v in row) for row in result)
    if db.dialect == "postgresql":
        lines = [line for line in plan.splitlines() if "Index Cond" in line]
        assert any("tenant_id" in line and "(id)" in line for line in lines), plan
        assert "pk_lesson_notes" in plan and "ix_lesson_notes_lesson" not in plan, plan
        async with db.engine.connect() as conn:
            kept = await conn.scalar(
                text(
                    "SELECT count(*) FROM pg_stats WHERE attname = 'tenant_id'"
                    " AND schemaname = current_schema()"
                )
            )
        assert kept == 0, "tenant_id still has planner statistics"
    else:
        assert "tenant_id=? AND id=?" in plan, plan  # the primary key, both columns


async def test_a_pull_page_fetches_records_by_the_primary_key_after_fast_growth(db: Db) -> None:
    """The records of a pull page are fetched the same way (a page of 1,000 ids in a school
    of 4,000 notes it was never analyzed with), and always inside the school."""
    tenant_id, lesson_id, student_id = await _new_school(db)
    if db.dialect == "postgresql":
        async with db.engine.connect() as conn:
            await conn.execute(text("ANALYZE"))
            await conn.commit()
    now = dt.datetime.now(dt.UTC)
    async with db.store.write(tenant_id) as txn:  # indexed, as the engine writes them
        for i in range(GROWN):
            txn.stamp(
                "lesson_note",
                LessonNote(
                    id=str(uuid.uuid4()),
                    lesson_id=lesson_id,
                    student_id=student_id,
                    body=f"note {i}",
                    private=False,
                    tags=[],
                    field_hlc={},
                    deleted=False,
                    created_at=now,
                ),
            )
    async with db.sessions() as session:
        bind_tenant(session, ALL_TENANTS)
        admin = await session.scalar(
            text("SELECT id FROM users WHERE tenant_id = :t LIMIT 1"), {"t": tenant_id}
        )
    if admin is None:  # the grown school has no user yet: give it an admin
        admin = str(uuid.uuid4())
        async with db.sessions() as session, session.begin():
            bind_tenant(session, ALL_TENANTS)
            session.add(
                User(
                    tenant_id=tenant_id, id=admin, email="a@grown.test", name="A", password_hash="!"
                )
            )
            await session.flush()
            session.add(Membership(tenant_id=tenant_id, user_id=admin, role="admin"))
    sent: list[tuple[str, Any]] = []

    def capture(_conn: Any, _cur: Any, statement: str, params: Any, *_a: Any) -> None:
        if "FROM lesson_notes" in statement or "lesson_notes." in statement:
            sent.append((statement, params))

    pulls = PullService(db.store, TEST_SECRET, SCHEMA_VERSIONS)
    who = Principal(tenant_id, admin, "admin")
    event.listen(db.engine.sync_engine, "before_cursor_execute", capture)
    try:
        page = await pulls.pull(who, None, 1000, frozenset({"lesson_note"}), 2)
    finally:
        event.remove(db.engine.sync_engine, "before_cursor_execute", capture)
    assert len(page.changes) == 1000 and page.has_more
    assert len(sent) == 1, [s for s, _ in sent]
    statement, params = sent[0]
    assert "tenant_id" in statement  # the session's own condition on the school
    async with db.engine.connect() as conn:
        prefix = "EXPLAIN " if db.dialect == "postgresql" else "EXPLAIN QUERY PLAN "
        result = await conn.exec_driver_sql(prefix + statement, params)
        plan = "\n".join(" ".join(str(v) for v in row) for row in result)
    if db.dialect == "postgresql":
        lines = [line for line in plan.splitlines() if "Index Cond" in line]
        assert any("tenant_id" in line and "(id)" in line for line in lines), plan
    else:
        assert "tenant_id=? AND id=?" in plan, plan
