"""Cheap no-change pulls (both databases): a pull whose cursor is at the school's head, by a
user whose scope is unchanged, is answered from memory — and the memory never hides a
commit: not this process's, not another process's (beyond its NOTIFY's delivery), not
while LISTEN is down, and not a change of scope.

"Another process" is a second Store + SyncService with its own engine and its own LISTEN
connection on the same PostgreSQL database (SQLite has no LISTEN: its pulls always read
the database, one statement for a no-change pull).
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any

import asyncpg
import pytest
from sqlalchemy import delete, event, select, text
from sqlalchemy.engine import make_url

from schemas import LessonNote, StudentInstructor
from sync.access import principal_for
from sync.core.principal import Principal
from sync.database import make_engine, make_sessionmaker
from sync.errors import ResetRequired
from sync.notifier import Subscriber
from sync.pull import PullPage, PullService
from sync.service import SCHEMA_VERSIONS, Limits, SyncService
from sync.store import CommitInfo, Store
from sync.tenancy import bind_tenant
from tests.conftest import TEST_SECRET, Db
from tests.helpers import uid


def _dsn(db: Db) -> str:
    return make_url(db.url).set(drivername="postgresql").render_as_string(hide_password=False)


@asynccontextmanager
async def _process(db: Db) -> AsyncIterator[SyncService]:
    """A server process's engine: its own pool, store, services and (PostgreSQL) LISTEN."""
    engine = make_engine(db.url)
    service = SyncService(Store(make_sessionmaker(engine), db.dialect), TEST_SECRET, Limits())
    if db.kind == "pg":
        await service.notifier.start_pg(_dsn(db))
    try:
        yield service
    finally:
        await service.notifier.close()
        await engine.dispose()


def _counting(service: SyncService) -> Counter[str]:
    count: Counter[str] = Counter()
    engine = service.store.sessions.kw["bind"]

    @event.listens_for(engine.sync_engine, "before_cursor_execute")
    def _count(_c: Any, _cur: Any, statement: str, *_a: Any) -> None:
        if not statement.startswith(("BEGIN", "COMMIT")):  # SQLite's, sent as statements
            count[" ".join(statement.split()[:4])] += 1

    return count


async def _who(db: Db, email: str) -> Principal:
    async with db.sessions() as s:
        tenant_id, user_id = (
            await s.execute(
                text(
                    "SELECT t.id, u.id FROM tenants t JOIN users u ON u.tenant_id = t.id "
                    "WHERE t.slug = 'demo' AND u.email = :email"
                ),
                {"email": email},
            )
        ).one()
        bind_tenant(s, str(tenant_id))
        return await principal_for(s, str(tenant_id), str(user_id))


async def _to_head(service: SyncService, who: Principal, entities: Any = None) -> PullPage:
    page = await service.pull.pull(who, None, 5000, entities, 1)
    while page.has_more:
        page = await service.pull.pull(who, _text(page), 5000, entities, 1)
    return page


def _text(page: PullPage) -> str:
    return page.cursor.to_string(TEST_SECRET)


async def _eventually(check: Callable[[], Awaitable[bool]], within_s: float = 5.0) -> float:
    """Seconds until `check` holds (fails past `within_s`: a NOTIFY is due in ms)."""
    started = time.monotonic()
    while not await check():
        assert time.monotonic() - started < within_s, "not seen in time"
        await asyncio.sleep(0.01)
    return time.monotonic() - started


async def _add_note(store: Store, who: Principal, lesson_student: str) -> int:
    """A note on one of the student's lessons, written straight through a store."""
    async with store.write(who.tenant_id) as txn:
        lesson_id = await txn.session.scalar(
            text("SELECT id FROM lessons WHERE student_id = :s LIMIT 1"), {"s": lesson_student}
        )
        note = LessonNote(
            id=uid(), lesson_id=str(lesson_id), student_id=lesson_student, body="from elsewhere"
        )
        note.field_hlc = {}
        txn.stamp("lesson_note", note)
    return txn.rev


async def _a_student_of(service: SyncService, who: Principal) -> str:
    async with service.store.read(who.tenant_id) as s:
        return str(
            await s.scalar(
                select(StudentInstructor.student_id).where(
                    StudentInstructor.instructor_id == who.instructor_id
                )
            )
        )


async def test_no_change_pull_is_answered_without_the_database(db: Db) -> None:
    inst = await _who(db, "instructor1@demo.test")
    admin = await _who(db, "admin@demo.test")
    async with _process(db) as service:
        count = _counting(service)
        for who in (inst, admin):
            page = await _to_head(service, who)
            count.clear()
            again = await service.pull.pull(who, _text(page), 1000, None, 1)
            # PostgreSQL: nothing; SQLite (no LISTEN): the counter row only.
            assert sum(count.values()) == (0 if db.kind == "pg" else 1), count
            # The very answer the database gives (a pull service that never trusts memory).
            plain = PullService(service.store, TEST_SECRET, SCHEMA_VERSIONS)
            reference = await plain.pull(who, _text(page), 1000, None, 1)
            assert again.changes == reference.changes == []
            assert _text(again) == _text(reference) == _text(page)
            assert again.has_more is reference.has_more is False
            assert again.rev == reference.rev == page.rev


async def test_own_commits_are_seen_at_once(db: Db) -> None:
    inst = await _who(db, "instructor1@demo.test")
    async with _process(db) as service:
        page = await _to_head(service, inst)
        rev = await _add_note(service.store, inst, await _a_student_of(service, inst))
        nxt = await service.pull.pull(inst, _text(page), 1000, None, 1)
        assert nxt.rev == rev and [c["rev"] for c in nxt.changes] == [rev]


async def test_reset_rules_still_apply_on_the_memory_path(db: Db) -> None:
    inst = await _who(db, "instructor1@demo.test")
    other = await _who(db, "instructor2@demo.test")
    async with _process(db) as service:
        page = await _to_head(service, inst, frozenset({"lesson"}))
        assert (await service.pull.pull(inst, _text(page), 10, frozenset({"lesson"}), 1)).rev
        for who, entities, version in (
            (other, frozenset({"lesson"}), 1),  # another user's cursor
            (inst, frozenset({"lesson", "booking"}), 1),  # another entity filter
            (inst, frozenset({"lesson"}), 2),  # another schema version
        ):
            with pytest.raises(ResetRequired):
                await service.pull.pull(who, _text(page), 10, entities, version)


async def test_a_commit_of_another_process_is_seen_once_its_notify_arrives(db: Db) -> None:
    if db.kind != "pg":
        pytest.skip("processes share commits over PostgreSQL LISTEN/NOTIFY")
    inst = await _who(db, "instructor1@demo.test")
    async with _process(db) as a, _process(db) as b:
        page = await _to_head(b, inst)
        count = _counting(b)
        await b.pull.pull(inst, _text(page), 1000, None, 1)
        assert sum(count.values()) == 0  # b answers from memory
        student = await _a_student_of(a, inst)
        for writer in (a.store, Store(db.sessions, db.dialect)):  # a server; a bare CLI store
            rev = await _add_note(writer, inst, student)

            async def seen(rev: int = rev, page: PullPage = page) -> bool:
                nxt = await b.pull.pull(inst, _text(page), 1000, None, 1)
                return nxt.rev >= rev and rev in {c["rev"] for c in nxt.changes}

            await _eventually(seen)
            page = await _to_head(b, inst)
            assert page.rev == rev


async def test_scope_changes_reach_cached_scopes_in_every_process(db: Db) -> None:
    admin = await _who(db, "admin@demo.test")
    i1 = await _who(db, "instructor1@demo.test")
    i2 = await _who(db, "instructor2@demo.test")
    async with _process(db) as a, _process(db) as b:
        pages = {who: await _to_head(b, who) for who in (i1, i2)}
        for who in (i1, i2):  # cached, and answered from memory on PostgreSQL
            await b.pull.pull(who, _text(pages[who]), 1000, None, 1)
        student = await _a_student_of(a, i1)
        await a.admin.assign(admin, student, [str(i2.instructor_id)])

        async def moved() -> bool:
            got = await b.pull.pull(i2, _text(pages[i2]), 5000, None, 1)
            return any(c.get("record", {}).get("student_id") == student for c in got.changes)

        await _eventually(moved)
        lost = await b.pull.pull(i1, _text(pages[i1]), 5000, None, 1)
        assert any(c["op"] == "delete" and c["id"] == student for c in lost.changes)
        # and a student who leaves disappears from the cached scope of their instructor
        pages[i2] = await _to_head(b, i2)
        await a.admin.student_leaves(admin, student)

        async def left() -> bool:
            got = await b.pull.pull(i2, _text(pages[i2]), 5000, None, 1)
            return any(c["op"] == "delete" and c["id"] == student for c in got.changes)

        await _eventually(left)


async def test_while_listen_is_down_pulls_ask_the_database(
    db: Db, monkeypatch: pytest.MonkeyPatch
) -> None:
    if db.kind != "pg":
        pytest.skip("LISTEN is PostgreSQL's")
    inst = await _who(db, "instructor1@demo.test")
    async with _process(db) as a, _process(db) as b:
        poked = Subscriber(inst.tenant_id, lambda _info: True)
        b.notifier.subscribe(poked)
        page = await _to_head(b, inst)
        count = _counting(b)
        # The LISTEN connection dies, and b may reconnect only when the test says so.
        allowed = asyncio.Event()
        connect = b.notifier._connect

        async def gated() -> dict[str, int]:
            await allowed.wait()
            return await connect()

        monkeypatch.setattr(b.notifier, "_connect", gated)
        conn = await asyncpg.connect(_dsn(db))
        try:
            await conn.execute(
                "SELECT pg_terminate_backend($1)", b.notifier._pg_conn.get_server_pid()
            )
        finally:
            await conn.close()
        await _eventually(lambda: _true(not b.notifier.listening))
        # A commit b cannot hear is seen all the same, at once: b asks the database.
        rev = await _add_note(a.store, inst, await _a_student_of(a, inst))
        count.clear()
        nxt = await b.pull.pull(inst, _text(page), 1000, None, 1)
        assert nxt.rev == rev and [c["rev"] for c in nxt.changes] == [rev]
        assert sum(count.values()) > 0
        # LISTEN comes back; subscribers of schools that moved meanwhile are poked.
        allowed.set()
        await _eventually(lambda: _true(b.notifier.listening))
        await _eventually(lambda: _true(not poked.queue.empty()))
        assert max(poked.queue.get_nowait() for _ in range(poked.queue.qsize())) >= rev
        count.clear()
        await b.pull.pull(inst, _text(nxt), 1000, None, 1)
        assert sum(count.values()) == 0  # and memory answers again


async def _true(value: bool) -> bool:
    return value


async def test_writes_changing_assignments_always_move_the_rev_and_name_whom(db: Db) -> None:
    inst = await _who(db, "instructor1@demo.test")
    heard: list[CommitInfo] = []

    async def listen(info: CommitInfo) -> None:
        heard.append(info)

    store = Store(db.sessions, db.dialect)
    store.listeners.append(listen)
    student = await _a_student_of(SyncService(store, TEST_SECRET, Limits()), inst)
    # An ORM insert of an assignment, stamping nothing and naming nobody.
    async with store.write(inst.tenant_id) as txn:
        other = await txn.session.scalar(
            text("SELECT id FROM instructors WHERE tenant_id = :t AND id != :i LIMIT 1"),
            {"t": inst.tenant_id, "i": inst.instructor_id},
        )
        txn.session.add(
            StudentInstructor(
                tenant_id=inst.tenant_id,
                student_id=student,
                instructor_id=str(other),
                is_primary=False,
            )
        )
    assert heard[-1].rev == txn.start_rev + 1  # the rev moved
    assert heard[-1].rescoped == {student, str(other)} and not heard[-1].rescope_all
    # A bulk delete naming nobody: every scope counts as changed.
    async with store.write(inst.tenant_id) as txn:
        await txn.session.execute(
            delete(StudentInstructor).where(StudentInstructor.instructor_id == str(other))
        )
    assert heard[-1].rev == txn.start_rev + 1 and heard[-1].rescope_all
    # A write that says whom it rescoped is taken at its word.
    async with store.write(inst.tenant_id) as txn:
        await txn.session.execute(
            delete(StudentInstructor).where(StudentInstructor.instructor_id == str(other))
        )
        txn.rescoped_students.add(student)
    assert heard[-1].rescoped == {student} and not heard[-1].rescope_all
    # A write that touches no scope and stamps nothing commits no rev and tells nobody.
    before = len(heard)
    async with store.write(inst.tenant_id):
        pass
    assert len(heard) == before


async def test_no_change_pulls_through_the_app_answer_as_before(client: Any) -> None:
    from tests.helpers import Device

    inst = await Device(client, "instructor1@demo.test").login()
    admin = await Device(client, "admin@demo.test").login()
    await inst.pull()
    params = {"cursor": inst.cursor, "client_id": inst.client_id}
    bodies = []
    for _ in range(3):
        resp = await client.get("/v1/sync/pull", params=params, headers=inst.headers)
        assert resp.status == 200
        bodies.append(await resp.json())
    assert bodies[0] == bodies[1] == bodies[2]
    assert bodies[0]["changes"] == [] and bodies[0]["has_more"] is False
    assert bodies[0]["cursor"] == inst.cursor
    resp = await client.get("/v1/admin/devices", headers=admin.headers)
    devices = (await resp.json())["devices"]
    mine = next(d for d in devices if d["client_id"] == inst.client_id)
    assert mine["last_pull_rev"] == bodies[0]["rev"] and mine["lag_revs"] == 0
    # A foreign cursor is still refused on this path.
    resp = await client.get("/v1/sync/pull", params=params, headers=admin.headers)
    assert resp.status == 410
