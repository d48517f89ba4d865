"""People through the sync protocol (issue 11): admins create, edit and deactivate students
and instructors and assign students to instructors by pushing `student`, `instructor` and
`student_instructor` mutations; everyone else is refused. Runs on SQLite and PostgreSQL."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import select

from schemas import Membership, OutboxEvent, RefreshToken, StudentInstructor, User
from server.app import create_app
from sync.rules.people import NO_PASSWORD
from sync.tenancy import ALL_TENANTS, bind_tenant
from tests.conftest import Db, make_settings
from tests.helpers import Device, uid


@pytest.fixture
async def client(db: Db, tmp_path: Any, aiohttp_client: Any, monkeypatch: Any) -> Any:
    # Every request checks the caller's standing at once (no cached answer), so a sign-out
    # shows on the next request.
    monkeypatch.setenv("DRIVESYNC_ACCESS_CHECK_S", "0")
    return await aiohttp_client(create_app(make_settings(db, tmp_path)))


async def _rows(db: Db, query: Any) -> list[Any]:
    async with db.sessions() as s, s.begin():
        bind_tenant(s, ALL_TENANTS)
        return list(await s.scalars(query))


async def _invitations(db: Db) -> list[OutboxEvent]:
    return await _rows(
        db, select(OutboxEvent).where(OutboxEvent.event_type == "invitation_requested")
    )


def _code(result: dict[str, Any]) -> tuple[str, str | None]:
    assert result["status"] == "rejected", result
    error = result["error"]
    return error["code"], error["details"].get("field")


async def test_admin_creates_and_edits_a_student_with_an_invitation(client: Any, db: Db) -> None:
    admin = await Device(client, "admin@demo.test").login()
    sid = uid()
    data = {
        "name": "Nora Quinn",
        "email": "Nora.Quinn@Example.test",
        "phone": "+447700900123",
        "licence_number": "QUINN901234NQ9",
        "date_of_birth": "2007-05-04",
        "theory_test_date": "2026-12-20",
        "practical_test_date": "2027-03-01",
        "goals": "Pass before university",
    }
    put = admin.mutation("student", sid, "put", data)
    body = await admin.push(put)
    created = body["results"][0]
    assert created["status"] == "applied", created
    record = created["record"]
    assert record["email"] == "Nora.Quinn@Example.test"  # as written; the sign-in is lowercase
    assert record["active"] is True and record["instructor_ids"] == []
    user_id = record["user_id"]
    assert user_id
    (user,) = await _rows(db, select(User).where(User.id == user_id))
    assert (user.email, user.password_hash, user.is_active) == (
        "nora.quinn@example.test",
        NO_PASSWORD,
        True,
    )
    (role,) = await _rows(db, select(Membership.role).where(Membership.user_id == user_id))
    assert role == "student"
    (event,) = await _invitations(db)
    assert event.dedupe_key == f"invitation_requested:{user_id}"
    assert event.payload == {
        "user_id": user_id,
        "person": "student",
        "person_id": sid,
        "email": "nora.quinn@example.test",
        "name": "Nora Quinn",
    }
    # No password: nothing signs in as this user until the invitation is used.
    resp = await client.post(
        "/v1/auth/login",
        json={"tenant": "demo", "email": "nora.quinn@example.test", "password": NO_PASSWORD},
    )
    assert resp.status == 401

    # The same push again is a duplicate; an edit changes the record, not the account.
    again = await admin.push_raw([put])
    assert (await again.json())["results"][0]["duplicate"] is True
    edit = await admin.one("student", sid, "patch", {"phone": "+447700900999", "goals": None})
    assert edit["status"] == "applied", edit
    assert len(await _invitations(db)) == 1
    await admin.pull()
    assert admin.of("student")[sid]["phone"] == "+447700900999"
    assert admin.of("student")[sid]["goals"] is None


async def test_people_are_validated_with_stable_codes(client: Any, db: Db) -> None:
    admin = await Device(client, "admin@demo.test").login()
    cases = [
        ("student", {"name": "A", "email": "not-an-email"}, ("invalid", "email")),
        ("student", {"name": "A", "email": "two@@example.test"}, ("invalid", "email")),
        ("student", {"name": "A", "email": " a@example.test"}, ("invalid", "email")),
        ("student", {"name": "A", "date_of_birth": "2007-02-30"}, ("invalid", "date_of_birth")),
        ("student", {"name": "A", "date_of_birth": "2999-01-01"}, ("invalid", "date_of_birth")),
        ("student", {"name": "A", "theory_test_date": "soon"}, ("invalid", "theory_test_date")),
        ("student", {"email": "a@example.test"}, ("invalid", "name")),
        ("student", {"name": ""}, ("invalid", "name")),
        ("student", {"name": "A", "active": False}, ("invalid", "active")),
        ("student", {"name": "A", "user_id": uid()}, ("read_only_field", "user_id")),
        ("instructor", {"name": "B", "specialties": "motorway"}, ("invalid", "specialties")),
        ("instructor", {"name": "B", "email": "x@y"}, ("invalid", "email")),
        # The demo's student1 signs in as a student: not as a new instructor too.
        ("instructor", {"name": "B", "email": "student1@demo.test"}, ("email_taken", "email")),
        ("student_instructor", {"student_id": uid()}, ("invalid", "instructor_id")),
    ]
    for entity, data, expected in cases:
        result = await admin.one(entity, uid(), "put", data)
        assert _code(result) == expected, (entity, data, result)
    # People are deactivated, never deleted.
    await admin.pull()
    sid = next(iter(admin.of("student")))
    assert _code(await admin.one("student", sid, "delete")) == ("invalid", "op")
    assert await _invitations(db) == []


async def test_an_existing_user_is_linked_without_an_invitation(client: Any, db: Db) -> None:
    admin = await Device(client, "admin@demo.test").login()
    # The office's own account teaches too: the instructor is linked to it.
    iid = uid()
    result = await admin.one(
        "instructor", iid, "put", {"name": "Office", "email": "admin@demo.test"}
    )
    assert result["status"] == "applied", result
    assert result["record"]["user_id"] == admin.user["id"]
    assert await _invitations(db) == []
    # Without an email there is no sign-in; adding one later makes it, with the invitation.
    iid = uid()
    result = await admin.one("instructor", iid, "put", {"name": "Sam Cole", "adi_number": "A1"})
    assert result["status"] == "applied" and result["record"]["user_id"] is None, result
    assert await _invitations(db) == []
    result = await admin.one("instructor", iid, "patch", {"email": "sam.cole@example.test"})
    assert result["status"] == "applied", result
    (event,) = await _invitations(db)
    assert event.payload["person"] == "instructor" and event.payload["person_id"] == iid
    (role,) = await _rows(
        db, select(Membership.role).where(Membership.user_id == event.payload["user_id"])
    )
    assert role == "instructor"


@pytest.mark.parametrize("email", ["instructor1@demo.test", "student1@demo.test"])
async def test_instructors_and_students_may_not_write_people(client: Any, email: str) -> None:
    who = await Device(client, email).login()
    await who.pull()
    me = who.user.get("instructor_id") or who.user.get("student_id")
    entity = "instructor" if "instructor_id" in who.user else "student"
    attempts = [
        ("student", uid(), "put", {"name": "Sneaky"}),
        ("instructor", uid(), "put", {"name": "Sneaky"}),
        (entity, me, "patch", {"phone": "+440000"}),
        (entity, me, "patch", {"active": False}),
        ("student_instructor", uid(), "put", {"student_id": uid(), "instructor_id": uid()}),
    ]
    for assignment in who.of("student_instructor"):
        attempts.append(("student_instructor", assignment, "delete", None))
    for entity_name, rid, op, data in attempts:
        result = await who.one(entity_name, rid, op, data)
        assert _code(result)[0] == "forbidden", (entity_name, op, result)


async def test_a_student_has_at_most_one_primary(client: Any, db: Db) -> None:
    admin = await Device(client, "admin@demo.test").login()
    st = await Device(client, "student1@demo.test").login()
    await admin.pull()
    sid = st.user["student_id"]
    (old,) = [a for a in admin.of("student_instructor").values() if a["student_id"] == sid]
    assert old["is_primary"] is True
    other = next(i for i in admin.of("instructor") if i != old["instructor_id"])
    aid = uid()
    result = await admin.one(
        "student_instructor",
        aid,
        "put",
        {"student_id": sid, "instructor_id": other, "is_primary": True},
    )
    assert result["status"] == "applied", result
    await admin.pull()
    mine = {a["id"]: a for a in admin.of("student_instructor").values() if a["student_id"] == sid}
    assert {k: v["is_primary"] for k, v in mine.items()} == {old["id"]: False, aid: True}
    assert sorted(admin.of("student")[sid]["instructor_ids"]) == sorted(
        [old["instructor_id"], other]
    )
    # Making the first one primary again clears the second, in the same transaction.
    result = await admin.one("student_instructor", old["id"], "patch", {"is_primary": True})
    assert result["status"] == "applied", result
    rows = await _rows(db, select(StudentInstructor).where(StudentInstructor.student_id == sid))
    assert {r.id: r.is_primary for r in rows} == {old["id"]: True, aid: False}
    # The pair is unique and cannot change.
    again = await admin.one(
        "student_instructor", uid(), "put", {"student_id": sid, "instructor_id": other}
    )
    assert _code(again) == ("already_assigned", "instructor_id")
    moved = await admin.one(
        "student_instructor", aid, "patch", {"instructor_id": old["instructor_id"]}
    )
    assert _code(moved) == ("immutable", "instructor_id")


async def test_assigning_moves_the_students_records_in_and_out(client: Any) -> None:
    admin = await Device(client, "admin@demo.test").login()
    i2 = await Device(client, "instructor2@demo.test").login()
    st = await Device(client, "student1@demo.test").login()
    await i2.pull()
    await st.pull()
    sid = st.user["student_id"]
    assert ("student", sid) not in i2.replica
    lessons = set(st.of("lesson"))
    assert lessons
    aid = uid()
    result = await admin.one(
        "student_instructor",
        aid,
        "put",
        {"student_id": sid, "instructor_id": i2.user["instructor_id"]},
    )
    assert result["status"] == "applied", result
    await i2.pull(limit=7)
    assert ("student", sid) in i2.replica
    assert lessons <= set(i2.of("lesson")), "instructor2 lacks the student's lessons"
    assert i2.of("student_instructor")[aid]["is_primary"] is False
    await st.pull()
    assert i2.user["instructor_id"] in st.of("instructor")  # the student sees their new one
    # Unassigning sends it all back out.
    result = await admin.one("student_instructor", aid, "delete")
    assert result["status"] == "applied", result
    await i2.pull(limit=7)
    assert ("student", sid) not in i2.replica
    assert not lessons & set(i2.of("lesson"))
    assert aid not in i2.of("student_instructor")
    await st.pull()
    assert i2.user["instructor_id"] not in st.of("instructor")
    # Deleting it again is done already; reviving the id is refused.
    assert (await admin.one("student_instructor", aid, "delete"))["status"] == "applied"
    revive = await admin.one(
        "student_instructor",
        aid,
        "put",
        {"student_id": sid, "instructor_id": i2.user["instructor_id"]},
    )
    assert _code(revive) == ("deleted", "id")


async def _signed_out(client: Any, device: Device, db: Db) -> None:
    resp = await client.get("/v1/sync/pull", headers=device.headers)
    assert resp.status == 401, await resp.text()
    resp = await client.post(
        "/v1/auth/refresh", json={"refresh_token": device.tokens["refresh_token"]}
    )
    assert resp.status == 401
    live = await _rows(
        db,
        select(RefreshToken).where(
            RefreshToken.user_id == device.user["id"], RefreshToken.revoked_at.is_(None)
        ),
    )
    assert live == []


async def test_deactivating_an_instructor_signs_them_out_and_ends_assignments(
    client: Any, db: Db
) -> None:
    admin = await Device(client, "admin@demo.test").login()
    inst = await Device(client, "instructor1@demo.test").login()
    st = await Device(client, "student1@demo.test").login()
    for d in (admin, inst, st):
        await d.pull()
    iid = inst.user["instructor_id"]
    assert iid in st.of("instructor")
    result = await admin.one("instructor", iid, "patch", {"active": False})
    assert result["status"] == "applied", result
    await _signed_out(client, inst, db)
    await st.pull()
    assert iid not in st.of("instructor"), "the student still holds the inactive instructor"
    assert not [a for a in st.of("student_instructor").values() if a["instructor_id"] == iid]
    await admin.pull()
    assert admin.of("instructor")[iid]["active"] is False
    assert not [a for a in admin.of("student_instructor").values() if a["instructor_id"] == iid]
    refused = await admin.one(
        "student_instructor",
        uid(),
        "put",
        {"student_id": st.user["student_id"], "instructor_id": iid},
    )
    assert _code(refused) == ("inactive", "instructor_id")
    # Active again: they may sign in again (no students until they are assigned some).
    assert (await admin.one("instructor", iid, "patch", {"active": True}))["status"] == "applied"
    back = await Device(client, "instructor1@demo.test").login()
    await back.pull()
    assert back.of("student") == {}


async def test_deactivating_a_student_is_leaving_the_school(client: Any, db: Db) -> None:
    admin = await Device(client, "admin@demo.test").login()
    inst = await Device(client, "instructor1@demo.test").login()
    st = await Device(client, "student2@demo.test").login()
    for d in (admin, inst, st):
        await d.pull()
    sid = st.user["student_id"]
    held = {k for k, r in inst.replica.items() if r.get("student_id") == sid}
    assert len(held) > 5
    result = await admin.one("student", sid, "patch", {"active": False})
    assert result["status"] == "applied", result
    await _signed_out(client, st, db)
    await inst.pull()
    assert not held & set(inst.replica)
    assert ("student", sid) not in inst.replica
    await admin.pull()
    assert ("student", sid) not in admin.replica
    assert not [r for r in admin.replica.values() if r.get("student_id") == sid]
    late = await admin.one("student", sid, "patch", {"name": "Back again"})
    assert _code(late) == ("left", "id")


async def test_a_pushed_assignment_pokes_the_instructor_live(client: Any) -> None:
    admin = await Device(client, "admin@demo.test").login()
    i2 = await Device(client, "instructor2@demo.test").login()
    st = await Device(client, "student1@demo.test").login()
    ws = await client.ws_connect("/v1/sync/live", headers=i2.headers)
    assert (await ws.receive_json(timeout=5))["type"] == "ready"
    aid = uid()
    result = await admin.one(
        "student_instructor",
        aid,
        "put",
        {"student_id": st.user["student_id"], "instructor_id": i2.user["instructor_id"]},
    )
    assert result["status"] == "applied", result
    assert (await ws.receive_json(timeout=5))["type"] == "poke"
    # Later changes to the student's records reach instructor2 too (their scope was reloaded).
    await st.pull(entities="lesson")
    lesson = next(iter(st.of("lesson").values()))
    await admin.one("lesson", lesson["id"], "patch", {"attended": not lesson["attended"]})
    assert (await ws.receive_json(timeout=5))["type"] == "poke"
    await ws.close()
