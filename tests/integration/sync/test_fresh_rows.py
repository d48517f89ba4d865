"""New rows of a push skip the ORM's unit of work (sync.store.WriteTxn.fresh): they are
written with the batch's bookkeeping just before COMMIT, or before any read of their table.
These check what that must not change, on both databases."""

from __future__ import annotations

from typing import Any

from sqlalchemy import text

from tests.conftest import Db
from tests.helpers import Device, uid
from tests.integration.sync.test_bookings import _actors, _slot
from tests.integration.sync.test_push_exactly_once import _a_lesson


async def test_created_patched_and_deleted_in_one_push(client: Any) -> None:
    """A record created and changed by later mutations of the same push is written once,
    in its last state."""
    inst = await Device(client, "instructor1@demo.test").login()
    lesson = await _a_lesson(inst)
    kept, gone = uid(), uid()
    body = await inst.push(
        inst.mutation("lesson_note", kept, "put", {"lesson_id": lesson["id"], "body": "a"}),
        inst.mutation("lesson_note", gone, "put", {"lesson_id": lesson["id"], "body": "b"}),
        inst.mutation("lesson_note", kept, "patch", {"body": "a, then more", "tags": ["x"]}),
        inst.mutation("lesson_note", gone, "delete", {}),
    )
    assert [r["status"] for r in body["results"]] == ["applied"] * 4, body["results"]
    fresh = await Device(client, "instructor1@demo.test").login()
    await fresh.pull()
    notes = fresh.of("lesson_note")
    assert notes[kept]["body"] == "a, then more" and notes[kept]["tags"] == ["x"]
    assert gone not in notes
    assert notes[kept]["rev"] == body["results"][2]["rev"]


async def test_a_second_booking_of_the_same_push_sees_the_first(client: Any) -> None:
    """The overlap check reads bookings: the first request of the push must be written
    before it, or the instructor would be booked twice."""
    st, inst, _admin, service = await _actors(client)
    iid = inst.user["instructor_id"]
    first, second = uid(), uid()
    body = await st.push(
        st.mutation(
            "booking",
            first,
            "put",
            {"instructor_id": iid, "service_id": service, "start": _slot(24, 10)},
        ),
        st.mutation(
            "booking",
            second,
            "put",
            {"instructor_id": iid, "service_id": service, "start": _slot(24, 10, 30)},
        ),
    )
    statuses = [(r["status"], r.get("error", {}).get("code")) for r in body["results"]]
    assert statuses == [("applied", None), ("rejected", "overlap")], body["results"]
    await st.pull()
    assert first in st.of("booking") and second not in st.of("booking")


async def test_a_new_row_only_the_database_refuses_is_rejected_alone(client: Any, db: Db) -> None:
    """A constraint a new row breaks shows when the rows are written, at COMMIT: the attempt
    is undone and the push applied one mutation at a time, so only that mutation is refused
    and the others apply exactly once."""
    async with db.engine.begin() as conn:  # a rule of the data the engine does not know
        if db.dialect == "postgresql":
            await conn.execute(
                text(
                    "ALTER TABLE lesson_notes ADD CONSTRAINT test_no_forbidden "
                    "CHECK (body <> 'forbidden')"
                )
            )
        else:
            await conn.execute(
                text(
                    "CREATE TRIGGER test_no_forbidden BEFORE INSERT ON lesson_notes "
                    "WHEN NEW.body = 'forbidden' BEGIN SELECT RAISE(ABORT, 'forbidden'); END"
                )
            )
    inst = await Device(client, "instructor1@demo.test").login()
    lesson = await _a_lesson(inst)
    a, bad, b = uid(), uid(), uid()
    body = await inst.push(
        inst.mutation("lesson_note", a, "put", {"lesson_id": lesson["id"], "body": "one"}),
        inst.mutation("lesson_note", bad, "put", {"lesson_id": lesson["id"], "body": "forbidden"}),
        inst.mutation("lesson_note", b, "put", {"lesson_id": lesson["id"], "body": "two"}),
    )
    statuses = [r["status"] for r in body["results"]]
    assert statuses == ["applied", "rejected", "applied"], body["results"]
    assert body["results"][1]["error"]["code"] == "invalid"
    revs = [r["rev"] for r in body["results"] if r["status"] == "applied"]
    assert revs[1] - revs[0] == 1 and revs[1] == body["rev"]  # no rev lost to the undo
    fresh = await Device(client, "instructor1@demo.test").login()
    await fresh.pull()
    notes = fresh.of("lesson_note")
    assert notes[a]["body"] == "one" and notes[b]["body"] == "two" and bad not in notes


async def test_two_bookings_of_one_push_are_both_answered_whole(client: Any) -> None:
    """The second request's overlap check writes the first before it (attached to the
    session afterwards); both answers are built whole. (A row attached with unset columns
    once had to load them outside the session's greenlet: tests/integration/test_people.py
    caught that with instructors.)"""
    st, inst, _admin, service = await _actors(client)
    iid = inst.user["instructor_id"]
    first, second = uid(), uid()
    body = await st.push(
        st.mutation(
            "booking",
            first,
            "put",
            {"instructor_id": iid, "service_id": service, "start": _slot(25, 9)},
        ),
        st.mutation(
            "booking",
            second,
            "put",
            {"instructor_id": iid, "service_id": service, "start": _slot(25, 14)},
        ),
    )
    assert [r["status"] for r in body["results"]] == ["applied", "applied"], body["results"]
    records = [r["record"] for r in body["results"]]
    assert [r["id"] for r in records] == [first, second]
    assert all(r["status"] == "requested" and r["pickup_location"] is None for r in records)
