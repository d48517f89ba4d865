"""Messaging through sync pushes and pulls, on both databases: who may open a thread with
whom (`not_allowed_party`), who reads it (the party, that instructor, admins; never the
other students of that instructor), fixed party keys (`party_immutable`), append-only
messages bounded at 4,000 characters (`message_too_long`), read marks written by their
member only and never moving backwards, and the `message_received` event."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

from sqlalchemy import select

from schemas import Guardian, Membership, OutboxEvent, StudentGuardian, User
from server.auth.passwords import hash_password
from sync.rules.messaging import member_id
from sync.tenancy import bind_tenant
from tests.conftest import Db
from tests.helpers import Device, uid


async def _devices(client: Any, *emails: str) -> list[Device]:
    return [await Device(client, email).login() for email in emails]


async def _thread(dev: Device, **data: Any) -> tuple[str, dict[str, Any]]:
    tid = uid()
    return tid, await dev.one("thread", tid, "put", {"subject": "Hello", **data})


async def _send(dev: Device, thread_id: str, body: str = "See you at 10") -> dict[str, Any]:
    return await dev.one("message", uid(), "put", {"thread_id": thread_id, "body": body})


def _code(result: dict[str, Any]) -> str:
    assert result["status"] == "rejected", result
    code: str = result["error"]["code"]
    return code


async def _guardian(client: Any, db: Db, email: str, *students: str) -> Device:
    """A guardian account of the demo school following these students (the
    student_guardians table, read as it is)."""
    st = await Device(client, "student1@demo.test").login()
    tenant = st.user["tenant_id"]
    user_id, guardian_id = uid(), uid()
    async with db.sessions() as s:
        bind_tenant(s, tenant)
        s.add(
            User(
                tenant_id=tenant,
                id=user_id,
                email=email,
                name="Pat Guardian",
                password_hash=hash_password("drive-demo-1"),
            )
        )
        await s.flush()
        s.add(Membership(tenant_id=tenant, user_id=user_id, role="guardian"))
        s.add(Guardian(tenant_id=tenant, id=guardian_id, user_id=user_id, name="Pat Guardian"))
        await s.flush()
        for sid in students:
            s.add(StudentGuardian(tenant_id=tenant, student_id=sid, guardian_id=guardian_id))
        await s.commit()
    return await Device(client, email).login()


async def test_a_student_and_their_instructor_talk_and_no_one_else_reads_it(client: Any) -> None:
    st1, st2, inst1, inst2, admin = await _devices(
        client,
        "student1@demo.test",
        "student2@demo.test",
        "instructor1@demo.test",
        "instructor2@demo.test",
        "admin@demo.test",
    )
    tid, r = await _thread(st1, instructor_id=inst1.user["instructor_id"])
    assert r["status"] == "applied", r
    thread = r["record"]
    # The server fills the student's side in.
    assert thread["party_user_id"] == st1.user["id"]
    assert thread["party_role"] == "student"
    assert thread["student_id"] == st1.user["student_id"]
    sent = await _send(st1, tid)
    assert sent["status"] == "applied", sent
    message = sent["record"]
    assert message["author_id"] == st1.user["id"] and message["author_role"] == "student"
    assert message["author_name"] and message["received_at"]
    reply = await _send(inst1, tid, "Yes, 10 at the station")
    assert reply["status"] == "applied", reply
    for dev, sees in ((inst1, True), (admin, True), (st1, True), (st2, False), (inst2, False)):
        await dev.pull(entities="message,thread")
        assert (tid in dev.of("thread")) is sees, dev.email
        assert len(dev.of("message")) == (2 if sees else 0) or dev is admin, dev.email
    # A student who follows the same instructor cannot write into it either.
    assert _code(await _send(st2, tid)) == "forbidden"


async def test_who_may_open_a_thread_with_whom(client: Any, db: Db) -> None:
    st1, st4, inst1, inst2, admin = await _devices(
        client,
        "student1@demo.test",
        "student4@demo.test",
        "instructor1@demo.test",
        "instructor2@demo.test",
        "admin@demo.test",
    )
    i1, i2 = inst1.user["instructor_id"], inst2.user["instructor_id"]
    # A student: their instructors and the office; not another instructor.
    assert _code((await _thread(st1, instructor_id=i2))[1]) == "not_allowed_party"
    assert (await _thread(st1))[1]["status"] == "applied"  # the office
    assert _code((await _thread(st1, party_user_id=st4.user["id"]))[1]) == "not_allowed_party"
    # An instructor: their own students, as themselves.
    ok = (await _thread(inst1, party_user_id=st1.user["id"]))[1]
    assert ok["status"] == "applied" and ok["record"]["instructor_id"] == i1, ok
    assert _code((await _thread(inst1, party_user_id=st4.user["id"]))[1]) == "not_allowed_party"
    assert _code((await _thread(inst1, instructor_id=i2))[1]) == "not_allowed_party"
    assert (await _thread(inst1))[1]["status"] == "applied"  # with the office
    # Staff are no party: an instructor as the party is refused.
    staff_party = (await _thread(admin, party_user_id=inst2.user["id"]))[1]
    assert _code(staff_party) == "not_allowed_party"
    # Admins: anyone, as the office; an instructor who does not teach them is still refused.
    assert (await _thread(admin, party_user_id=st4.user["id"]))[1]["status"] == "applied"
    assert _code((await _thread(admin, party_user_id=st4.user["id"], instructor_id=i1))[1]) == (
        "not_allowed_party"
    )
    assert _code((await _thread(admin))[1]) == "not_allowed_party"  # nobody at all
    # A guardian: their learners' instructors and the office.
    guardian = await _guardian(client, db, "guardian-msg@demo.test", st1.user["student_id"])
    gid, g = await _thread(guardian, instructor_id=i1)
    assert g["status"] == "applied", g
    assert g["record"]["party_role"] == "guardian"
    assert g["record"]["student_id"] == st1.user["student_id"]
    assert _code((await _thread(guardian, instructor_id=i2))[1]) == "not_allowed_party"
    assert (
        _code((await _thread(guardian, instructor_id=i1, student_id=st4.user["student_id"]))[1])
        == "not_allowed_party"
    )
    # Instructor1 reads the guardian's thread; the learner does not.
    await _send(guardian, gid, "Can Sam do Thursday?")
    await inst1.pull(entities="thread,message")
    await st1.pull(entities="thread,message")
    assert gid in inst1.of("thread")
    assert gid not in st1.of("thread")
    assert not [m for m in st1.of("message").values() if m["thread_id"] == gid]


async def test_a_lesson_thread_follows_its_lesson(client: Any) -> None:
    st1, _inst1 = await _devices(client, "student1@demo.test", "instructor1@demo.test")
    await st1.pull(entities="lesson")
    lesson = next(iter(st1.of("lesson").values()))
    _tid, r = await _thread(st1, kind="lesson", lesson_id=lesson["id"])
    assert r["status"] == "applied", r
    assert r["record"]["instructor_id"] == lesson["instructor_id"]
    assert r["record"]["student_id"] == lesson["student_id"]
    assert _code((await _thread(st1, kind="lesson"))[1]) == "invalid"
    assert _code((await _thread(st1, kind="direct", lesson_id=lesson["id"]))[1]) == "invalid"


async def test_a_threads_keys_never_change(client: Any) -> None:
    st1, inst1, inst2, admin = await _devices(
        client,
        "student1@demo.test",
        "instructor1@demo.test",
        "instructor2@demo.test",
        "admin@demo.test",
    )
    tid, _ = await _thread(st1, instructor_id=inst1.user["instructor_id"])
    for change in (
        {"instructor_id": inst2.user["instructor_id"]},
        {"party_user_id": admin.user["id"]},
        {"kind": "lesson"},
    ):
        r = await admin.one("thread", tid, "patch", change)
        assert _code(r) == "party_immutable", change
        assert r["error"]["details"]["field"] == next(iter(change))
    renamed = await st1.one("thread", tid, "patch", {"subject": "Thursday"})
    assert renamed["status"] == "applied", renamed
    assert _code(await inst1.one("thread", tid, "patch", {"subject": "Mine"})) == "forbidden"
    assert _code(await st1.one("thread", tid, "delete")) == "immutable"


async def test_messages_are_append_only_and_bounded(client: Any) -> None:
    st1, inst1 = await _devices(client, "student1@demo.test", "instructor1@demo.test")
    tid, _ = await _thread(st1, instructor_id=inst1.user["instructor_id"])
    too_long = await _send(st1, tid, "x" * 4001)
    assert _code(too_long) == "message_too_long"
    assert too_long["error"]["details"] == {"field": "body", "max": 4000, "length": 4001}
    assert (await _send(st1, tid, "y" * 4000))["status"] == "applied"
    assert _code(await _send(st1, tid, "   ")) == "invalid"
    mid = uid()
    data = {"thread_id": tid, "body": "Running late", "sent_at": "2026-01-01T10:00:00Z"}
    first = await st1.one("message", mid, "put", data)
    assert first["status"] == "applied", first
    again = await st1.one("message", mid, "put", data)  # a resend (new seq): a no-op
    assert again["status"] == "applied" and again["rev"] == first["rev"], again
    assert _code(await st1.one("message", mid, "put", {**data, "body": "Edited"})) == "immutable"
    assert _code(await st1.one("message", mid, "patch", {"body": "Edited"})) == "immutable"
    assert _code(await st1.one("message", mid, "delete")) == "immutable"
    assert _code(await inst1.one("message", mid, "put", data)) == "immutable"  # not theirs
    assert _code(await _send(st1, uid())) == "not_found"


async def test_read_marks_are_the_members_own_and_only_move_forward(client: Any) -> None:
    st1, inst1, admin = await _devices(
        client, "student1@demo.test", "instructor1@demo.test", "admin@demo.test"
    )
    tid, _ = await _thread(st1, instructor_id=inst1.user["instructor_id"])
    mine = member_id(tid, inst1.user["id"])
    late = "2026-06-01T10:00:00Z"
    early = "2026-05-01T10:00:00Z"
    # The id is derived from the thread and the member.
    r = await inst1.one("thread_member", uid(), "put", {"thread_id": tid, "last_read_at": late})
    assert _code(r) == "invalid"
    r = await inst1.one("thread_member", mine, "put", {"thread_id": tid, "last_read_at": late})
    assert r["status"] == "applied", r
    assert r["record"]["user_id"] == inst1.user["id"]
    assert r["record"]["party_user_id"] == st1.user["id"]
    # Another device of the same member, behind: ignored, and told the stored value.
    other = await Device(client, "instructor1@demo.test").login()
    older = await other.one("thread_member", mine, "patch", {"last_read_at": early})
    assert older["status"] == "applied", older
    assert older["record"]["last_read_at"] == late
    # Nobody writes another member's mark (admins neither), nor names another user.
    assert _code(await admin.one("thread_member", mine, "patch", {"last_read_at": late})) == (
        "forbidden"
    )
    theirs = member_id(tid, st1.user["id"])
    r = await inst1.one(
        "thread_member",
        theirs,
        "put",
        {"thread_id": tid, "user_id": st1.user["id"], "last_read_at": late},
    )
    assert _code(r) == "forbidden"
    # A mark in the future is taken as now.
    future = (dt.datetime.now(dt.UTC) + dt.timedelta(days=3)).isoformat()
    r = await st1.one("thread_member", theirs, "put", {"thread_id": tid, "last_read_at": future})
    assert r["status"] == "applied", r
    assert r["record"]["last_read_at"] < future.replace("+00:00", "Z")
    # Both sides see both marks ("read" on either side).
    await st1.pull(entities="thread_member")
    assert set(st1.of("thread_member")) >= {mine, theirs}


async def test_a_message_emits_message_received(client: Any, db: Db) -> None:
    st1, inst1 = await _devices(client, "student1@demo.test", "instructor1@demo.test")
    tid, _ = await _thread(st1, instructor_id=inst1.user["instructor_id"])
    sent = await _send(st1, tid)
    mid = sent["record"]["id"]
    async with db.sessions() as s:
        bind_tenant(s, st1.user["tenant_id"])
        event = await s.scalar(
            select(OutboxEvent).where(OutboxEvent.dedupe_key == f"message_received:{mid}")
        )
    assert event is not None and event.event_type == "message_received"
    assert event.payload == {"message_id": mid, "thread_id": tid, "author_id": st1.user["id"]}


def test_member_ids_are_uuid5_of_thread_and_user() -> None:
    ns = uuid.UUID("6f1d3c2a-8b4e-4c1f-9a7d-2e5b8c0d4f13")
    assert member_id("a", "b") == str(uuid.uuid5(ns, "a:b"))


async def _poked(ws: Any, within: float = 0.5) -> bool:
    try:
        msg = await ws.receive_json(timeout=within)
    except TimeoutError:
        return False
    return bool(msg["type"] == "poke")


async def test_a_message_pokes_its_two_sides_and_not_the_instructors_other_students(
    client: Any,
) -> None:
    st1, st2, inst1, inst2 = await _devices(
        client,
        "student1@demo.test",
        "student2@demo.test",
        "instructor1@demo.test",
        "instructor2@demo.test",
    )
    tid, _ = await _thread(st1, instructor_id=inst1.user["instructor_id"])
    sockets = {}
    for dev in (st1, st2, inst1, inst2):
        ws = await client.ws_connect("/v1/sync/live", headers=dev.headers)
        assert (await ws.receive_json(timeout=5))["type"] == "ready"
        sockets[dev.email] = ws
    assert (await _send(inst1, tid, "See you at 9"))["status"] == "applied"
    assert await _poked(sockets["student1@demo.test"], 5)
    assert await _poked(sockets["instructor1@demo.test"], 5)
    # student2 follows instructor1 too: a commit naming instructor1 as a party record's
    # instructor pokes instructor1 alone (CommitInfo.user_ids, as party_instructor), not
    # the students who read instructor1's availability.
    assert not await _poked(sockets["student2@demo.test"])
    assert not await _poked(sockets["instructor2@demo.test"])
    assert await st2.pull(entities="thread,message,thread_member") == []
    for ws in sockets.values():
        await ws.close()


async def test_a_thread_its_first_message_and_a_read_mark_in_one_push(client: Any) -> None:
    """What a device queued offline goes up together: the parent first in the batch, its
    children naming it (the foreign keys hold on both databases)."""
    st1, inst1 = await _devices(client, "student1@demo.test", "instructor1@demo.test")
    tid, mid = uid(), uid()
    body = await st1.push(
        st1.mutation(
            "thread", tid, "put", {"subject": "Hi", "instructor_id": inst1.user["instructor_id"]}
        ),
        st1.mutation("message", mid, "put", {"thread_id": tid, "body": "First"}),
        st1.mutation(
            "thread_member",
            member_id(tid, st1.user["id"]),
            "put",
            {"thread_id": tid, "last_read_at": "2026-01-01T00:00:00Z"},
        ),
    )
    assert [r["status"] for r in body["results"]] == ["applied"] * 3, body
    await inst1.pull(entities="thread,message,thread_member")
    assert tid in inst1.of("thread") and mid in inst1.of("message")
    assert inst1.of("message")[mid]["party_user_id"] == st1.user["id"]
