"""Guardians, test records and what instructors read (issue 13), on SQLite and PostgreSQL:

- admins invite a guardian (`guardian`, an account with the role guardian) and link them to
  learners (`guardian_student`); a guardian reads a student's view of each ward and nothing
  else (no private note, no other learner's tests), writes nothing, and a new link reaches
  their existing cursor;
- staff write `test_record` (an instructor only for their assigned students), checked as a
  whole with stable codes; students and guardians read them;
- instructors read their students' theory attempts and mock tests, also through a cursor
  made before they could (the scope-rules version in its fingerprint).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from typing import Any

from sqlalchemy import select

from schemas import Membership, OutboxEvent, User
from sync.access import load_scope, principal_for, save_snapshot
from sync.core.cursor import Cursor
from sync.core.scope import Scope
from sync.tenancy import ALL_TENANTS, bind_tenant
from tests.conftest import TEST_SECRET, Db
from tests.helpers import Device, uid

TODAY = dt.date.today()


def _code(result: dict[str, Any]) -> tuple[str, str | None]:
    assert result["status"] == "rejected", result
    return result["error"]["code"], result["error"]["details"].get("field")


async def _students(admin: Device) -> dict[str, str]:
    """Student id by email (the demo's)."""
    await admin.pull(entities="student")
    admin.cursor = None
    return {s["email"]: s["id"] for s in admin.of("student").values()}


async def test_guardian_reads_their_wards_only_and_writes_nothing(client: Any, db: Db) -> None:
    admin = await Device(client, "admin@demo.test").login()
    ids = await _students(admin)
    inst = await Device(client, "instructor1@demo.test").login()
    # A booked practical test for each of the guardian's wards and one for student3.
    day = (TODAY + dt.timedelta(days=30)).isoformat()
    tests = {}
    for email in ("student1@demo.test", "student2@demo.test", "student3@demo.test"):
        tests[email] = uid()
        data = {"student_id": ids[email], "kind": "practical", "date": day, "centre": "Hendon"}
        r = await inst.one("test_record", tests[email], "put", data)
        assert r["status"] == "applied", r
    g = await Device(client, "guardian1@demo.test").login()
    assert g.user["role"] == "guardian"
    await g.pull()
    wards = {ids["student1@demo.test"], ids["student2@demo.test"]}
    assert set(g.of("student")) == wards
    for entity in ("lesson", "lesson_note", "student_progress", "test_record", "guardian_student"):
        rows = g.of(entity)
        assert rows, entity
        assert {r["student_id"] for r in rows.values()} <= wards, entity
    assert not any(n["private"] for n in g.of("lesson_note").values())
    assert "Instructor only" not in str(g.replica)  # the seeded private notes' text
    assert tests["student3@demo.test"] not in g.of("test_record")
    assert {tests["student1@demo.test"], tests["student2@demo.test"]} <= set(g.of("test_record"))
    assert not g.of("guardian")  # the office's records of guardians: admins only
    # Read-only: every write is refused.
    lesson = next(iter(g.of("lesson").values()))
    for entity, data in (
        ("test_record", {"student_id": lesson["student_id"], "kind": "theory", "date": day}),
        ("lesson_note", {"lesson_id": lesson["id"], "body": "from a parent"}),
        ("guardian_student", {"guardian_id": uid(), "student_id": lesson["student_id"]}),
        ("booking", {"instructor_id": lesson["instructor_id"], "service_id": uid(), "start": day}),
    ):
        assert _code(await g.one(entity, uid(), "put", data))[0] == "forbidden", entity
    patch = {"result": "passed"}
    assert _code(await g.one("test_record", tests["student1@demo.test"], "patch", patch))[0] == (
        "forbidden"
    )
    # The office links the guardian to student3 as well: the guardian's cursor (made before)
    # now brings student3's records, with their test; unlinking takes them away again.
    await admin.pull(entities="guardian")
    [guardian] = admin.of("guardian").values()
    link = uid()
    put = {"guardian_id": guardian["id"], "student_id": ids["student3@demo.test"]}
    assert (await admin.one("guardian_student", link, "put", put))["status"] == "applied"
    again = await admin.one("guardian_student", uid(), "put", put)
    assert _code(again) == ("already_linked", "student_id")
    await g.pull()
    assert set(g.of("student")) == wards | {ids["student3@demo.test"]}
    assert tests["student3@demo.test"] in g.of("test_record")
    assert not any(n["private"] for n in g.of("lesson_note").values())
    assert (await admin.one("guardian_student", link, "delete"))["status"] == "applied"
    await g.pull()
    assert set(g.of("student")) == wards
    assert tests["student3@demo.test"] not in g.of("test_record")


async def test_admin_invites_a_guardian(client: Any, db: Db) -> None:
    admin = await Device(client, "admin@demo.test").login()
    ids = await _students(admin)
    gid = uid()
    data = {"name": "Ruth Patel", "email": "Ruth.Patel@Example.test", "phone": "+447700900555"}
    r = await admin.one("guardian", gid, "put", data)
    assert r["status"] == "applied", r
    link = {"guardian_id": gid, "student_id": ids["student4@demo.test"]}
    assert (await admin.one("guardian_student", uid(), "put", link))["status"] == "applied"
    async with db.sessions() as s:
        bind_tenant(s, ALL_TENANTS)
        user = await s.scalar(select(User).where(User.email == "ruth.patel@example.test"))
        assert user is not None
        role = await s.scalar(select(Membership.role).where(Membership.user_id == user.id))
        assert role == "guardian"
        events = list(
            await s.scalars(
                select(OutboxEvent).where(OutboxEvent.event_type == "invitation_requested")
            )
        )
    assert [e.payload["person"] for e in events if e.payload["user_id"] == user.id] == ["guardian"]
    await admin.pull(entities="guardian,guardian_student")
    assert admin.of("guardian")[gid]["user_id"] == user.id
    # A guardian is never deleted (links are); nor may others write one.
    assert _code(await admin.one("guardian", gid, "delete"))[0] == "invalid"
    inst = await Device(client, "instructor1@demo.test").login()
    assert _code(await inst.one("guardian", uid(), "put", {"name": "X"}))[0] == "forbidden"
    bad = {"guardian_id": uid(), "student_id": ids["student4@demo.test"]}
    assert _code(await admin.one("guardian_student", uid(), "put", bad)) == (
        "not_found",
        "guardian_id",
    )


async def test_staff_write_test_records_checked_as_a_whole(client: Any) -> None:
    admin = await Device(client, "admin@demo.test").login()
    ids = await _students(admin)
    inst = await Device(client, "instructor1@demo.test").login()
    mine, other = ids["student1@demo.test"], ids["student4@demo.test"]  # student4: instructor2's
    soon = (TODAY + dt.timedelta(days=10)).isoformat()
    past = (TODAY - dt.timedelta(days=3)).isoformat()
    booked = {"student_id": mine, "kind": "practical", "date": soon, "time": "09:40"}
    # Not their student: refused, and nothing of the student is told.
    refused = await inst.one("test_record", uid(), "put", {**booked, "student_id": other})
    assert _code(refused)[0] == "forbidden"
    tid = uid()
    r = await inst.one("test_record", tid, "put", booked)
    assert r["status"] == "applied" and r["record"]["result"] == "booked", r
    cases = [
        ({"score": 40}, ("test_score_kind", "score")),  # a practical test has faults
        ({"faults": 3}, ("test_not_taken", "faults")),  # still booked
        ({"result": "passed", "faults": 3}, ("test_in_future", "result")),
        ({"student_id": other}, ("cannot_move", "student_id")),
    ]
    for patch, expected in cases:
        assert _code(await inst.one("test_record", tid, "patch", patch)) == expected, patch
    # Taken: a past date, a result and its faults, in one patch.
    taken = {"date": past, "result": "failed", "faults": 16, "notes": "Two serious faults"}
    r = await inst.one("test_record", tid, "patch", taken)
    assert r["status"] == "applied", r
    theory = {"student_id": mine, "kind": "theory", "date": past, "result": "passed"}
    assert _code(await inst.one("test_record", uid(), "put", {**theory, "faults": 2})) == (
        "test_score_kind",
        "faults",
    )
    assert (await inst.one("test_record", uid(), "put", {**theory, "score": 47}))["status"] == (
        "applied"
    )
    # Admins write for anyone; instructor2 cannot touch instructor1's student's record.
    r = await admin.one("test_record", uid(), "put", {**booked, "student_id": other})
    assert r["status"] == "applied", r
    inst2 = await Device(client, "instructor2@demo.test").login()
    assert _code(await inst2.one("test_record", tid, "patch", {"notes": "x"}))[0] in (
        "forbidden",
        "not_found",
    )
    # The student reads their own tests only.
    st = await Device(client, "student1@demo.test").login()
    await st.pull()
    rows = st.of("test_record")
    assert rows[tid]["faults"] == 16 and rows[tid]["notes"] == "Two serious faults"
    assert {r["student_id"] for r in rows.values()} == {mine}
    assert _code(await st.one("test_record", uid(), "put", booked))[0] == "forbidden"


async def test_instructors_read_their_students_theory_even_from_an_older_cursor(
    client: Any, db: Db
) -> None:
    inst = await Device(client, "instructor1@demo.test").login()
    await inst.pull()  # a cursor at the head, made under today's rules
    st = await Device(client, "student1@demo.test").login()
    await st.pull()
    q = next(iter(st.of("theory_question").values()))
    attempt = {
        "question_id": q["id"],
        "chosen_option": q["correct_option"],
        "mode": "practice",
        "answered_at": "2030-01-01T10:00:00Z",
    }
    aid = uid()
    assert (await st.one("theory_attempt", aid, "put", attempt))["status"] == "applied"
    times = {"started_at": "2030-01-01T10:00:00Z", "finished_at": "2030-01-01T10:50:00Z"}
    mock = {**times, "answers": [{"question_id": q["id"], "chosen_option": q["correct_option"]}]}
    mid = uid()
    assert (await st.one("mock_test", mid, "put", mock))["status"] == "applied"
    # The instructor (assigned) reads both; instructor2 and another student do not.
    await inst.pull()
    assert aid in inst.of("theory_attempt") and mid in inst.of("mock_test")
    assert (
        _code(await inst.one("theory_attempt", uid(), "put", attempt))[0] == "forbidden"
    )  # read only
    inst2 = await Device(client, "instructor2@demo.test").login()
    await inst2.pull()
    assert not inst2.of("theory_attempt") and not inst2.of("mock_test")
    st2 = await Device(client, "student2@demo.test").login()
    await st2.pull()
    assert aid not in st2.of("theory_attempt")

    # A cursor made under the rules before instructors could read theory: its scope's
    # fingerprint is the version-1 one, and the replica never got the attempt (rev below
    # the cursor). Its next pull must still bring it.
    old_device = Device(client, "instructor1@demo.test")
    old_device.tokens, old_device.user = inst.tokens, inst.user
    assert inst.cursor is not None
    tenant, user = inst.user["tenant_id"], inst.user["id"]
    current = Cursor.from_string(inst.cursor, TEST_SECRET, tenant, user)
    async with db.sessions() as s, s.begin():
        bind_tenant(s, tenant)
        scope = await load_scope(s, await principal_for(s, tenant, user))
        old_scope = Scope(scope.role, False, scope.student_ids, scope.instructor_ids, rules=1)
        assert old_scope.fingerprint() != scope.fingerprint() == current.scope
        await save_snapshot(s, tenant, old_scope)
    old_device.cursor = dataclasses.replace(current, scope=old_scope.fingerprint()).to_string(
        TEST_SECRET
    )
    changes = await old_device.pull()
    sent = {(c["entity"], c["id"]) for c in changes if c["op"] == "put"}
    assert ("theory_attempt", aid) in sent and ("mock_test", mid) in sent
    # Once caught up, the cursor is a current one: the next pull has nothing new.
    assert (
        Cursor.from_string(old_device.cursor, TEST_SECRET, tenant, user).scope
        == scope.fingerprint()
    )
    assert await old_device.pull() == []


async def test_linking_pokes_the_guardians_open_app_and_widens_it(client: Any) -> None:
    admin = await Device(client, "admin@demo.test").login()
    ids = await _students(admin)
    g = await Device(client, "guardian1@demo.test").login()
    ws = await client.ws_connect("/v1/sync/live", headers=g.headers)
    assert (await ws.receive_json(timeout=5))["type"] == "ready"
    await admin.pull(entities="guardian")
    [guardian] = admin.of("guardian").values()
    isla = ids["student3@demo.test"]
    put = {"guardian_id": guardian["id"], "student_id": isla}
    assert (await admin.one("guardian_student", uid(), "put", put))["status"] == "applied"
    assert (await ws.receive_json(timeout=5))["type"] == "poke"
    # The connection reloaded its scope: a later change to Isla's records pokes it too.
    day = (TODAY + dt.timedelta(days=20)).isoformat()
    data = {"student_id": isla, "kind": "theory", "date": day}
    assert (await admin.one("test_record", uid(), "put", data))["status"] == "applied"
    assert (await ws.receive_json(timeout=5))["type"] == "poke"
    await ws.close()
