"""Lesson sign-off (`lesson_signature`) through sync pushes on both databases: the student
signs on the instructor's device, once per lesson, only once the lesson started; the
strokes' form is checked with a stable code; everyone who sees the lesson reads it."""

from __future__ import annotations

from typing import Any

from sync.core.signature import MAX_BYTES, check_strokes
from tests.helpers import Device, uid

SIGNED_AT = "2026-12-02T10:05:00Z"
STROKES = [[100, 500, 10, -5, 10, -5, 10, 0, 10, 5], [400, 520, 20, 0, 20, 3]]


async def _lessons(inst: Device) -> dict[str, dict[str, Any]]:
    await inst.pull(entities="lesson")
    inst.cursor = None
    return inst.of("lesson")


def _pick(lessons: dict[str, dict[str, Any]], status: str) -> dict[str, Any]:
    return next(lesson for lesson in lessons.values() if lesson["status"] == status)


def _sig(lesson_id: str, strokes: Any = STROKES, name: str = "Sam Student") -> dict[str, Any]:
    return {"lesson_id": lesson_id, "signed_by": name, "signed_at": SIGNED_AT, "strokes": strokes}


async def test_a_completed_lesson_is_signed_once_and_everyone_who_sees_it_reads_it(
    client: Any,
) -> None:
    inst = await Device(client, "instructor1@demo.test").login()
    student = await Device(client, "student1@demo.test").login()
    mine = student.user["student_id"]
    lessons = await _lessons(inst)
    lesson = _pick({k: v for k, v in lessons.items() if v["student_id"] == mine}, "completed")
    sid = uid()
    r = await inst.one("lesson_signature", sid, "put", _sig(lesson["id"]))
    assert r["status"] == "applied", r
    # The same put again (a resend) is applied again, nothing changes.
    again = await inst.one("lesson_signature", sid, "put", _sig(lesson["id"]))
    assert again["status"] == "applied", again
    # Immutable: any other content on the id.
    r = await inst.one("lesson_signature", sid, "put", _sig(lesson["id"], name="Someone else"))
    assert (r["status"], r["error"]["code"]) == ("rejected", "immutable")
    r = await inst.one("lesson_signature", sid, "delete")
    assert (r["status"], r["error"]["code"]) == ("rejected", "immutable")

    for email in ("admin@demo.test", "instructor1@demo.test"):
        dev = await Device(client, email).login()
        await dev.pull(entities="lesson_signature")
        got = dev.of("lesson_signature")[sid]
        assert got["strokes"] == STROKES and got["signed_by"] == "Sam Student"
        assert got["student_id"] == lesson["student_id"]
        assert got["captured_by"] == inst.user["id"]
    # The lesson's student reads it; another student does not.
    await student.pull(entities="lesson_signature")
    assert student.of("lesson_signature")[sid]["strokes"] == STROKES
    others = await Device(client, "student4@demo.test").login()
    await others.pull(entities="lesson_signature")
    assert sid not in others.of("lesson_signature")


async def test_a_second_signature_of_a_lesson_is_refused(client: Any) -> None:
    """Two devices sign the same lesson offline: the one that syncs second is refused."""
    phone = await Device(client, "instructor1@demo.test").login()
    office = await Device(client, "admin@demo.test").login()
    lesson = _pick(await _lessons(phone), "completed")
    first, second = uid(), uid()
    assert (await phone.one("lesson_signature", first, "put", _sig(lesson["id"])))[
        "status"
    ] == "applied"
    r = await office.one("lesson_signature", second, "put", _sig(lesson["id"], name="Other"))
    assert r["status"] == "rejected"
    assert r["error"]["code"] == "already_signed"
    assert r["error"]["details"] == {"field": "lesson_id", "signature_id": first}


async def test_two_signatures_of_a_lesson_in_one_batch(client: Any) -> None:
    inst = await Device(client, "instructor1@demo.test").login()
    lesson = _pick(await _lessons(inst), "completed")
    body = await inst.push(
        inst.mutation("lesson_signature", uid(), "put", _sig(lesson["id"])),
        inst.mutation("lesson_signature", uid(), "put", _sig(lesson["id"])),
    )
    assert [r["status"] for r in body["results"]] == ["applied", "rejected"]
    assert body["results"][1]["error"]["code"] == "already_signed"


async def test_only_a_started_or_finished_lesson_is_signed(client: Any) -> None:
    """Finishing offline then signing in one batch works: the lesson's patch comes first."""
    inst = await Device(client, "instructor1@demo.test").login()
    lesson = _pick(await _lessons(inst), "scheduled")
    r = await inst.one("lesson_signature", uid(), "put", _sig(lesson["id"]))
    assert r["status"] == "rejected"
    assert r["error"]["code"] == "lesson_not_signable"
    assert r["error"]["details"] == {"field": "lesson_id", "status": "scheduled"}
    body = await inst.push(
        inst.mutation("lesson", lesson["id"], "patch", {"status": "in_progress"}),
        inst.mutation("lesson", lesson["id"], "patch", {"status": "completed"}),
        inst.mutation("lesson_signature", uid(), "put", _sig(lesson["id"], strokes=[])),
    )
    assert [r["status"] for r in body["results"]] == ["applied"] * 3, body


async def test_strokes_are_checked_with_a_stable_code(client: Any) -> None:
    inst = await Device(client, "instructor1@demo.test").login()
    lesson = _pick(await _lessons(inst), "completed")
    bad = {
        "strokes[0][2]": [[990, 10, 20, 0]],  # x = 1010: outside the box
        "strokes[0]": [[1, 2, 3]],  # not x,y pairs
        "strokes[1]": [[1, 2], []],  # an empty stroke
    }
    for field, strokes in bad.items():
        r = await inst.one("lesson_signature", uid(), "put", _sig(lesson["id"], strokes=strokes))
        assert r["status"] == "rejected", field
        assert r["error"]["code"] == "invalid_strokes", r
        assert r["error"]["details"]["field"] == field
    # A type error is the usual `invalid`, naming the field.
    r = await inst.one("lesson_signature", uid(), "put", _sig(lesson["id"], strokes=[["a"]]))
    assert r["error"]["code"] == "invalid"
    # Required fields.
    data = _sig(lesson["id"])
    del data["signed_by"]
    r = await inst.one("lesson_signature", uid(), "put", data)
    assert (r["error"]["code"], r["error"]["details"]["field"]) == ("invalid", "signed_by")


async def test_only_the_lessons_instructor_or_the_office_signs(client: Any) -> None:
    other = await Device(client, "instructor2@demo.test").login()
    inst = await Device(client, "instructor1@demo.test").login()
    lesson = _pick(await _lessons(inst), "completed")
    r = await other.one("lesson_signature", uid(), "put", _sig(lesson["id"]))
    assert (r["status"], r["error"]["code"]) == ("rejected", "forbidden")
    student = await Device(client, "student1@demo.test").login()
    r = await student.one("lesson_signature", uid(), "put", _sig(lesson["id"]))
    assert (r["status"], r["error"]["code"]) == ("rejected", "forbidden")


def test_the_size_and_point_bounds() -> None:
    assert check_strokes([]) is None
    assert check_strokes(STROKES) is None
    long = [[500, 500] + [1, 0, -1, 0] * 499 + [1, 0]]  # 1000 points in one stroke
    assert check_strokes(long) is None
    assert check_strokes([[500, 500] + [1, 0, -1, 0] * 500]) == (
        "at most 1000 points in a stroke",
        "strokes[0]",
    )
    many = [[500, 500] + [1, 0, -1, 0] * 499 + [1, 0] for _ in range(5)]
    assert check_strokes(many) == ("at most 4000 points in all", "strokes[4]")
    wide = [[1000, 1000] + [-999, -999, 999, 999] * 499 + [-999, -999] for _ in range(4)]
    fault = check_strokes(wide)
    assert fault == (f"the strokes are over {MAX_BYTES} bytes as compact JSON", "strokes")
    assert check_strokes([[1, 2, True, 1]]) == ("coordinates are integers", "strokes[0][2]")
