"""Records whose reader is decided by one field (a lesson's student, a slot's instructor)
cannot move to another value of it: the index keeps one row per record, under its current
keys, so the readers it left would never hear that it left (and a lesson's notes, marks and
trip would stay with the old student). The change is refused `cannot_move`, nothing moves,
and fields that children only copy (a trip's instructor) follow their lesson."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from schemas import Trip
from sync.tenancy import ALL_TENANTS, bind_tenant
from tests.conftest import Db
from tests.helpers import Device, uid


async def _devices(client: Any) -> tuple[Device, Device, Device, Device]:
    admin = await Device(client, "admin@demo.test").login()
    inst = await Device(client, "instructor1@demo.test").login()
    s1 = await Device(client, "student1@demo.test").login()
    s2 = await Device(client, "student2@demo.test").login()
    for d in (admin, inst, s1, s2):
        await d.pull()
    return admin, inst, s1, s2


async def test_lesson_cannot_move_to_another_student(client: Any) -> None:
    admin, inst, s1, s2 = await _devices(client)
    lesson = next(x for x in inst.of("lesson").values() if x["id"] in s1.of("lesson"))
    note = uid()
    assert (await inst.one("lesson_note", note, "put", {"lesson_id": lesson["id"], "body": "ok"}))[
        "status"
    ] == "applied"
    await s1.pull()
    assert note in s1.of("lesson_note")
    other = next(iter(s2.of("student")))  # student2's own student record
    result = await admin.one("lesson", lesson["id"], "patch", {"student_id": other})
    assert result["status"] == "rejected"
    assert result["error"]["code"] == "cannot_move"
    assert result["error"]["details"]["field"] == "student_id"
    # Nothing moved: the first student keeps the lesson and its note, the second never
    # hears of either.
    await s1.pull()
    await s2.pull()
    assert lesson["id"] in s1.of("lesson") and note in s1.of("lesson_note")
    assert lesson["id"] not in s2.of("lesson") and note not in s2.of("lesson_note")
    await admin.pull()
    assert admin.of("lesson")[lesson["id"]]["student_id"] == lesson["student_id"]
    # The same field sent unchanged is no move, and the rest of the patch applies.
    same = await admin.one(
        "lesson", lesson["id"], "patch", {"student_id": lesson["student_id"], "attended": True}
    )
    assert same["status"] == "applied"


async def test_slot_cannot_move_to_another_instructor(client: Any) -> None:
    admin, inst, _s1, _s2 = await _devices(client)
    slot = next(iter(inst.of("availability").values()))
    other = next(i for i in admin.of("instructor") if i != slot["instructor_id"])
    result = await admin.one("availability", slot["id"], "patch", {"instructor_id": other})
    assert result["status"] == "rejected" and result["error"]["code"] == "cannot_move"


async def _trip_instructor(db: Db, trip_id: str) -> str:
    """The trip's copy of its lesson's instructor (not sent on the wire)."""
    async with db.sessions() as s:
        bind_tenant(s, ALL_TENANTS)
        value: str = await s.scalar(select(Trip.instructor_id).where(Trip.id == trip_id))
        return value


async def test_trip_follows_its_lesson_to_another_instructor(client: Any, db: Db) -> None:
    admin, inst, _s1, _s2 = await _devices(client)
    lesson = next(x for x in inst.of("lesson").values() if x["status"] == "scheduled")
    trip = uid()
    put = await inst.one("trip", trip, "put", {"lesson_id": lesson["id"]})
    assert put["status"] == "applied"
    await admin.pull()
    trip_rev = admin.of("trip")[trip]["rev"]
    assert await _trip_instructor(db, trip) == lesson["instructor_id"]
    other = next(i for i in admin.of("instructor") if i != lesson["instructor_id"])
    moved = await admin.one("lesson", lesson["id"], "patch", {"instructor_id": other})
    assert moved["status"] == "applied"
    changes = await admin.pull()
    assert {c["entity"] for c in changes} >= {"lesson", "trip"}
    assert admin.of("trip")[trip]["rev"] > trip_rev
    assert await _trip_instructor(db, trip) == other
    assert admin.of("lesson")[lesson["id"]]["instructor_id"] == other
