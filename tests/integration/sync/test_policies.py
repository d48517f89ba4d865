"""Conflict policies: field LWW, note merges and conflicts, delete vs update, lesson
transitions, append-only records, derived fields."""

from __future__ import annotations

import datetime as dt
import math
import time
from typing import Any

from sqlalchemy import update

from schemas import Tenant
from sync.tenancy import ALL_TENANTS, bind_tenant
from tests.conftest import Db
from tests.helpers import Device, uid


async def _setup(client: Any) -> tuple[Device, Device, dict[str, Any]]:
    inst = await Device(client, "instructor1@demo.test").login()
    admin = await Device(client, "admin@demo.test").login()
    await inst.pull()
    await admin.pull()
    lesson = next(x for x in inst.of("lesson").values() if x["status"] == "scheduled")
    return inst, admin, lesson


async def test_field_lww_by_hlc_with_deterministic_tiebreak(client: Any) -> None:
    inst, admin, lesson = await _setup(client)
    lid = lesson["id"]
    t = int(time.time() * 1000) - 3_600_000
    # Admin's edit was made later (by hlc) but arrives first; the instructor's older edit of
    # the same field loses, its other field wins.
    r1 = await admin.one("lesson", lid, "patch", {"attended": False}, hlc=admin.hlc(t + 10))
    assert r1["status"] == "applied"
    r2 = await inst.one(
        "lesson",
        lid,
        "patch",
        {"attended": True, "started_at": "2026-11-20T10:00:00Z"},
        hlc=inst.hlc(t),
    )
    assert r2["status"] == "merged" and r2["lost"] == ["attended"]
    assert (
        r2["record"]["attended"] is False and r2["record"]["started_at"] == "2026-11-20T10:00:00Z"
    )
    # Same millisecond and counter: the node id decides, the same way whatever the order.
    a_stamp = f"{t + 20:013d}-0000-{admin.client_id}"
    i_stamp = f"{t + 20:013d}-0000-{inst.client_id}"
    winner = "admin" if a_stamp > i_stamp else "inst"
    await inst.one("lesson", lid, "patch", {"ended_at": "2026-11-20T11:00:00Z"}, hlc=i_stamp)
    await admin.one("lesson", lid, "patch", {"ended_at": "2026-11-20T11:30:00Z"}, hlc=a_stamp)
    await admin.pull()
    expect = "2026-11-20T11:30:00Z" if winner == "admin" else "2026-11-20T11:00:00Z"
    assert admin.of("lesson")[lid]["ended_at"] == expect
    resp = await client.get("/v1/admin/journal?kind=lost_field", headers=admin.headers)
    # The instructor's lost `attended`, plus the admin's `ended_at` if it lost the tie-break.
    assert len((await resp.json())["entries"]) == 1 + (winner == "inst")


async def test_note_body_three_way_merge_and_conflict_resolution(client: Any) -> None:
    inst, admin, lesson = await _setup(client)
    nid = uid()
    base = "Mirror checks good. Speed ok on the ring road."
    r = await inst.one("lesson_note", nid, "put", {"lesson_id": lesson["id"], "body": base})
    base_rev = r["rev"]
    assert r["record"]["student_id"] == lesson["student_id"]
    # Two offline edits from the same base, to different words: merged.
    a = await inst.one(
        "lesson_note", nid, "patch", {"body": base.replace("good", "improving")}, base_rev=base_rev
    )
    assert a["status"] == "applied"
    b = await admin.one(
        "lesson_note", nid, "patch", {"body": base.replace("ok", "too fast")}, base_rev=base_rev
    )
    assert b["status"] == "merged"
    merged = "Mirror checks improving. Speed too fast on the ring road."
    assert b["record"]["body"] == merged
    # Overlapping edits of the same words: conflict, server text kept, loser returned.
    c = await admin.one(
        "lesson_note",
        nid,
        "patch",
        {"body": merged.replace("improving", "poor")},
        base_rev=b["rev"],
    )
    assert c["status"] == "applied"
    d = await inst.one(
        "lesson_note",
        nid,
        "patch",
        {"body": merged.replace("improving", "excellent")},
        base_rev=b["rev"],
    )
    assert d["status"] == "conflict" and d["conflict_id"]
    assert d["record"]["body"] == merged.replace("improving", "poor")
    assert d["loser"] == {"body": merged.replace("improving", "excellent")}
    resp = await client.get("/v1/admin/conflicts", headers=admin.headers)
    entries = (await resp.json())["entries"]
    assert [e["id"] for e in entries] == [d["conflict_id"]]
    assert entries[0]["loser"]["body"].endswith("ring road.")
    # Resolve with a new text; the note syncs to the instructor.
    resp = await client.post(
        f"/v1/admin/conflicts/{d['conflict_id']}/resolve",
        json={"keep": "text", "text": "Mirror checks excellent, speed poor."},
        headers=admin.headers,
    )
    assert resp.status == 200, await resp.text()
    await inst.pull()
    assert inst.of("lesson_note")[nid]["body"] == "Mirror checks excellent, speed poor."
    resp = await client.post(
        f"/v1/admin/conflicts/{d['conflict_id']}/resolve",
        json={"keep": "server"},
        headers=admin.headers,
    )
    assert resp.status == 422  # already resolved
    resp = await client.get("/v1/admin/conflicts", headers=admin.headers)
    assert (await resp.json())["entries"] == []


async def test_delete_vs_update(client: Any) -> None:
    inst, admin, lesson = await _setup(client)
    nid = uid()
    t = int(time.time() * 1000) - 3_600_000
    await inst.one(
        "lesson_note", nid, "put", {"lesson_id": lesson["id"], "body": "a"}, hlc=inst.hlc(t)
    )
    # Deleted at t+100 by the admin; an offline edit made at t+50 arrives later: no resurrection.
    assert (await admin.one("lesson_note", nid, "delete", hlc=admin.hlc(t + 100)))[
        "status"
    ] == "applied"
    late = await inst.one("lesson_note", nid, "patch", {"body": "b"}, hlc=inst.hlc(t + 50))
    assert late["status"] == "rejected" and late["error"]["code"] == "deleted"
    await inst.pull()
    assert nid not in inst.of("lesson_note")
    # An edit made after the delete wins and brings it back.
    newer = await inst.one("lesson_note", nid, "patch", {"body": "c"}, hlc=inst.hlc(t + 200))
    assert newer["status"] == "applied"
    await inst.pull()
    assert inst.of("lesson_note")[nid]["body"] == "c"
    # A delete made before the latest edit loses.
    old_delete = await admin.one("lesson_note", nid, "delete", hlc=admin.hlc(t + 150))
    assert old_delete["status"] == "merged" and old_delete["record"]["body"] == "c"


async def test_lesson_status_machine(client: Any) -> None:
    inst, _admin, lesson = await _setup(client)
    lid = lesson["id"]
    bad = await inst.one("lesson", lid, "patch", {"status": "completed"})
    assert bad["status"] == "rejected" and bad["error"]["code"] == "invalid_transition"
    for status in ("in_progress", "completed"):
        assert (await inst.one("lesson", lid, "patch", {"status": status}))["status"] == "applied"
    back = await inst.one("lesson", lid, "patch", {"status": "scheduled"})
    assert back["error"]["code"] == "invalid_transition"


async def test_append_only_and_progress(client: Any) -> None:
    inst, _admin, lesson = await _setup(client)
    skills = sorted(inst.of("skill").values(), key=lambda s: s["position"])
    aid = uid()
    data = {
        "lesson_id": lesson["id"],
        "skill_id": skills[0]["id"],
        "level": 5,
        "assessed_at": "2030-01-01T10:00:00Z",
    }
    r = await inst.one("skill_assessment", aid, "put", data)
    assert r["status"] == "applied" and r["record"]["student_id"] == lesson["student_id"]
    assert (await inst.one("skill_assessment", aid, "put", data))[
        "status"
    ] == "applied"  # same content
    changed = await inst.one("skill_assessment", aid, "put", {**data, "level": 4})
    assert changed["error"]["code"] == "immutable"
    assert (await inst.one("skill_assessment", aid, "patch", {"level": 3}))["error"][
        "code"
    ] == "immutable"
    assert (await inst.one("skill_assessment", aid, "delete"))["error"]["code"] == "immutable"
    out = await inst.one("skill_assessment", uid(), "put", {**data, "level": 6})
    assert out["error"]["code"] == "invalid" and out["error"]["details"]["field"] == "level"
    await inst.pull()
    progress = next(
        p for p in inst.of("student_progress").values() if p["student_id"] == lesson["student_id"]
    )
    assert progress["levels"][skills[0]["id"]] == 5
    assert 0 < progress["readiness_pct"] <= 100


async def test_trip_distance_from_segments(client: Any) -> None:
    inst, _admin, lesson = await _setup(client)
    tid = uid()
    await inst.one(
        "trip", tid, "put", {"lesson_id": lesson["id"], "started_at": "2030-01-01T10:00:00Z"}
    )
    t0 = 1_893_492_000_000
    # 0.01° of latitude ≈ 1111.95 m; two segments, distance spans the boundary.
    seg1 = [[t0, 51.50, -0.12, 30, 5], [t0 + 60_000, 51.51, -0.12, 30, 5]]
    seg2 = [[t0 + 120_000, 51.52, -0.12, None, None]]
    await inst.one("trip_segment", uid(), "put", {"trip_id": tid, "index": 1, "points": seg2})
    r = await inst.one("trip_segment", uid(), "put", {"trip_id": tid, "index": 0, "points": seg1})
    assert r["status"] == "applied"
    await inst.pull()
    trip = inst.of("trip")[tid]
    assert math.isclose(trip["distance_m"], 2 * 1111.95, rel_tol=0.002)
    assert trip["duration_s"] == 120
    # A segment after the last one extends the totals incrementally, to the same answer.
    seg3 = [[t0 + 180_000, 51.53, -0.12, 30, 5]]
    assert (
        await inst.one("trip_segment", uid(), "put", {"trip_id": tid, "index": 2, "points": seg3})
    )["status"] == "applied"
    await inst.pull()
    trip = inst.of("trip")[tid]
    assert math.isclose(trip["distance_m"], 3 * 1111.95, rel_tol=0.002)
    assert trip["duration_s"] == 180
    for bad, field in (
        ([[t0, float("nan"), 0.0]], "points[0]"),
        ([[t0, 91.0, 0.0]], "points[0]"),
        ([[t0, 1.0]], "points[0]"),
    ):
        r = await inst.one(
            "trip_segment", uid(), "put", {"trip_id": tid, "index": 9, "points": bad}
        )
        assert r["error"]["code"] == "invalid", r
        assert r["error"]["details"]["field"] == field
    forged = await inst.one("trip", tid, "patch", {"distance_m": 1.0})
    assert forged["error"]["code"] == "read_only_field"


async def test_theory_and_mock_test_scored_by_server(client: Any, db: Db) -> None:
    st = await Device(client, "student1@demo.test").login()
    await st.pull()
    bank = list(st.of("theory_question").values())[:50]
    r = await st.one(
        "theory_attempt",
        uid(),
        "put",
        {
            "question_id": bank[0]["id"],
            "chosen_option": bank[0]["correct_option"],
            "mode": "practice",
            "answered_at": "2030-01-01T10:00:00Z",
        },
    )
    assert r["record"]["correct"] is True
    forged = await st.one(
        "theory_attempt",
        uid(),
        "put",
        {
            "question_id": bank[1]["id"],
            "chosen_option": 0,
            "answered_at": "2030-01-01T10:00:00Z",
            "correct": True,
        },
    )
    assert forged["error"]["code"] == "read_only_field"

    def answers(right: int) -> list[dict[str, Any]]:
        out = []
        for i, q in enumerate(bank):
            if i < right:
                out.append({"question_id": q["id"], "chosen_option": q["correct_option"]})
            elif i % 2:
                out.append({"question_id": q["id"], "chosen_option": None})
            else:
                out.append(
                    {
                        "question_id": q["id"],
                        "chosen_option": (q["correct_option"] + 1) % len(q["options"]),
                    }
                )
        return out

    times = {"started_at": "2030-01-01T10:00:00Z", "finished_at": "2030-01-01T10:50:00Z"}
    passed = await st.one("mock_test", uid(), "put", {**times, "answers": answers(43)})
    assert (passed["record"]["total"], passed["record"]["score"], passed["record"]["passed"]) == (
        50,
        43,
        True,
    )
    failed = await st.one("mock_test", uid(), "put", {**times, "answers": answers(42)})
    assert (failed["record"]["score"], failed["record"]["passed"]) == (42, False)
    # A stricter school: 45 of 50.
    async with db.sessions() as s, s.begin():
        bind_tenant(s, ALL_TENANTS)
        await s.execute(update(Tenant).where(Tenant.slug == "demo").values(pass_mark=45))
    strict = await st.one("mock_test", uid(), "put", {**times, "answers": answers(44)})
    assert strict["record"]["passed"] is False
    inst = await Device(client, "instructor1@demo.test").login()
    denied = await inst.one("mock_test", uid(), "put", {**times, "answers": answers(50)})
    assert denied["error"]["code"] == "forbidden"
    _ = dt
