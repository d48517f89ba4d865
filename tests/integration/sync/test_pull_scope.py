"""Pull: initial sync in pages, coalescing, scopes per role, scope changes, cursors."""

from __future__ import annotations

from typing import Any

from tests.helpers import Device


async def test_initial_sync_pages_and_coalesces(client: Any) -> None:
    admin = await Device(client, "admin@demo.test").login()
    changes = await admin.pull(limit=97)
    keys = [(c["entity"], c["id"]) for c in changes]
    assert len(keys) == len(set(keys)), "a record appeared twice"
    assert all(c["op"] == "put" for c in changes)
    revs = [c["rev"] for c in changes]
    assert revs == sorted(revs)
    entities = {c["entity"] for c in changes}
    assert {"lesson", "lesson_note", "theory_question", "skill", "student", "booking"} <= entities
    assert len(admin.of("theory_question")) >= 200
    # Nothing new: an incremental pull is empty and keeps has_more false.
    page = await admin.pull_page()
    assert page["changes"] == [] and page["has_more"] is False


async def test_instructor_scope(client: Any) -> None:
    inst = await Device(client, "instructor1@demo.test").login()
    await inst.pull()
    students = inst.of("student")
    assert {s["name"] for s in students.values()} == {
        "Amelia Clarke",
        "Oliver Bennett",
        "Isla Murphy",
    }
    student_ids = set(students)
    for entity in (
        "lesson",
        "lesson_note",
        "booking",
        "skill_assessment",
        "trip",
        "student_progress",
    ):
        rows = inst.of(entity)
        assert rows, entity
        assert {r["student_id"] for r in rows.values()} <= student_ids, entity
    assert any(n["private"] for n in inst.of("lesson_note").values())
    assert inst.of("instructor").keys() == {inst.user["instructor_id"]}
    assert not inst.of("theory_attempt") and not inst.of("payment")
    assert len(inst.of("skill")) >= 20


async def test_student_scope_hides_private_notes(client: Any) -> None:
    st = await Device(client, "student1@demo.test").login()
    await st.pull()
    me = st.user["student_id"]
    assert set(st.of("student")) == {me}
    notes = st.of("lesson_note")
    assert notes and not any(n["private"] for n in notes.values())
    assert {r["student_id"] for r in st.of("lesson").values()} == {me}
    instructors = st.of("instructor")
    assert len(instructors) == 1
    assert {a["instructor_id"] for a in st.of("availability").values()} == set(instructors)
    assert len(st.of("theory_question")) >= 200


async def test_other_tenant_sees_nothing_of_demo(client: Any) -> None:
    demo = await Device(client, "admin@demo.test").login()
    rival = await Device(client, "admin@rival.test", tenant="rival").login()
    await demo.pull()
    await rival.pull()
    assert not set(demo.replica) & set(rival.replica)
    assert {s["name"] for s in rival.of("student").values()} == {"Jack Turner", "Mia Ward"}
    # A demo cursor is refused for a rival user.
    resp = await client.get("/v1/sync/pull", params={"cursor": demo.cursor}, headers=rival.headers)
    assert resp.status == 410
    assert (await resp.json())["error"]["code"] == "reset_required"


async def test_tampered_and_foreign_cursors_reset(client: Any) -> None:
    a = await Device(client, "instructor1@demo.test").login()
    b = await Device(client, "instructor2@demo.test").login()
    await a.pull()
    assert a.cursor
    middle = len(a.cursor) // 2
    tampered = (
        a.cursor[:middle] + ("A" if a.cursor[middle] != "A" else "B") + a.cursor[middle + 1 :]
    )
    for cursor, headers in ((tampered, a.headers), (a.cursor, b.headers), ("junk", a.headers)):
        resp = await client.get("/v1/sync/pull", params={"cursor": cursor}, headers=headers)
        assert resp.status == 410, cursor
    # An unsupported version is refused before the cursor is read (426, as for a push); a
    # cursor of another supported version resets: tests/integration/sync/test_pull_version.py
    resp = await client.get(
        "/v1/sync/pull", params={"cursor": "junk", "schema_version": 99}, headers=a.headers
    )
    assert resp.status == 426


async def test_entities_filter_keeps_its_own_cursor(client: Any) -> None:
    inst = await Device(client, "instructor1@demo.test").login()
    changes = await inst.pull(entities="lesson_note,lesson")
    assert {c["entity"] for c in changes} == {"lesson_note", "lesson"}
    params = {"cursor": inst.cursor, "entities": "lesson"}
    resp = await client.get("/v1/sync/pull", params=params, headers=inst.headers)
    assert resp.status == 410  # a filtered cursor is not valid for another filter
    # Without `entities` a poll goes on under the cursor's own filter (it need not repeat it).
    other = await Device(client, "instructor1@demo.test").login()
    await other.pull()
    note = next(iter(other.of("lesson_note").values()))
    done = await other.one(
        "lesson_note",
        note["id"],
        "patch",
        {"body": note["body"] + " (edited)"},
        base_rev=note["rev"],
    )
    assert done["status"] == "applied", done
    resp = await client.get("/v1/sync/pull", params={"cursor": inst.cursor}, headers=inst.headers)
    assert resp.status == 200, await resp.text()
    body = await resp.json()
    assert [(c["entity"], c["id"]) for c in body["changes"]] == [("lesson_note", note["id"])]
    resp = await client.get("/v1/sync/pull", params={"entities": "nope"}, headers=inst.headers)
    assert resp.status == 422


async def test_reassign_moves_records_between_instructors(client: Any) -> None:
    admin = await Device(client, "admin@demo.test").login()
    i1 = await Device(client, "instructor1@demo.test").login()
    i2 = await Device(client, "instructor2@demo.test").login()
    await i1.pull()
    await i2.pull()
    student = next(s for s in i1.of("student").values() if s["name"] == "Amelia Clarke")
    sid = student["id"]
    # (Her assignment to instructor1 ends with the move: instructor2 gets one of their own.)
    amelia_keys = {
        k
        for k, r in i1.replica.items()
        if (r.get("student_id") == sid or k == ("student", sid)) and k[0] != "student_instructor"
    }
    assert len(amelia_keys) > 10
    resp = await client.put(
        f"/v1/admin/students/{sid}/instructors",
        json={"instructor_ids": [i2.user["instructor_id"]]},
        headers=admin.headers,
    )
    assert resp.status == 200, await resp.text()
    await i1.pull(limit=5)
    assert not any(k in i1.replica for k in amelia_keys), "instructor1 still holds Amelia's records"
    await i2.pull(limit=5)
    assert amelia_keys <= set(i2.replica), "instructor2 lacks Amelia's history"
    assert i2.replica[("student", sid)]["instructor_ids"] == [i2.user["instructor_id"]]
    (assignment,) = [a for a in i2.of("student_instructor").values() if a["student_id"] == sid]
    assert (assignment["instructor_id"], assignment["is_primary"]) == (
        i2.user["instructor_id"],
        True,
    )


async def test_student_leaving_is_erased_from_replicas(client: Any) -> None:
    admin = await Device(client, "admin@demo.test").login()
    inst = await Device(client, "instructor1@demo.test").login()
    st = await Device(client, "student2@demo.test").login()
    for d in (admin, inst, st):
        await d.pull()
    sid = st.user["student_id"]
    assert any(r.get("student_id") == sid for r in admin.replica.values())
    resp = await client.post(f"/v1/admin/students/{sid}/leave", headers=admin.headers)
    assert resp.status == 200
    for d in (admin, inst, st):
        await d.pull()
        left = [
            k for k, r in d.replica.items() if r.get("student_id") == sid or k == ("student", sid)
        ]
        assert left == [], d.email
