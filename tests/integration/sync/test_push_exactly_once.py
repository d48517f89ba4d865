"""Push: exactly once, order, seq gaps, atomic batches, limits and bad input."""

from __future__ import annotations

import asyncio
import time
from typing import Any

from sqlalchemy import select

from schemas import AuditEntry
from sync.tenancy import ALL_TENANTS, bind_tenant
from tests.conftest import Db
from tests.helpers import Device, uid


async def _a_lesson(dev: Device) -> dict[str, Any]:
    await dev.pull(entities="lesson")
    return next(iter(dev.of("lesson").values()))


async def _audit_count(db: Db, client_id: str) -> int:
    async with db.sessions() as s:
        bind_tenant(s, ALL_TENANTS)
        rows = await s.scalars(select(AuditEntry.details))
        return sum(1 for d in rows if d.get("client_id") == client_id)


async def test_resend_gets_original_results_and_changes_nothing(client: Any, db: Db) -> None:
    inst = await Device(client, "instructor1@demo.test").login()
    lesson = await _a_lesson(inst)
    note = uid()
    batch = [
        inst.mutation(
            "lesson_note", note, "put", {"lesson_id": lesson["id"], "body": "Clutch control ok"}
        ),
        inst.mutation("lesson_note", note, "patch", {"body": "Clutch control good"}),
        inst.mutation("lesson", uid(), "patch", {"attended": True}),  # not found → rejected
    ]
    first = await inst.push(*batch)
    assert [r["status"] for r in first["results"]] == ["applied", "applied", "rejected"]
    assert first["acked_seq"] == 3
    for _ in range(3):
        again = await inst.push(*batch)
        assert again["acked_seq"] == 3
        for a, b in zip(first["results"], again["results"], strict=True):
            assert b.pop("duplicate") is True
            assert a == b
        assert again["rev"] == first["rev"], "a resend changed data"
    # Who changed what, when: one audit line per applied mutation, none for resends.
    assert await _audit_count(db, inst.client_id) == 2
    # Duplicates first, then new mutations, in one batch.
    extra = inst.mutation("lesson_note", note, "patch", {"tags": ["clutch"]})
    mixed = await inst.push(*batch, extra)
    assert [r.get("duplicate") for r in mixed["results"]] == [True, True, True, None]
    assert mixed["results"][3]["status"] == "applied"
    assert mixed["acked_seq"] == 4


async def test_seq_gap_is_409_and_applies_nothing(client: Any) -> None:
    inst = await Device(client, "instructor1@demo.test").login()
    lesson = await _a_lesson(inst)
    m1 = inst.mutation("lesson", lesson["id"], "patch", {"attended": True})
    inst.seq += 1  # skip seq 2
    m3 = inst.mutation("lesson", lesson["id"], "patch", {"attended": False})
    resp = await inst.push_raw([m1, m3])
    assert resp.status == 409
    body = await resp.json()
    assert body["error"]["code"] == "seq_gap" and body["error"]["details"]["expected"] == 2
    # The batch committed nothing, not even m1: acked_seq is still 0.
    resp = await inst.push_raw([m3])
    assert (await resp.json())["error"]["details"]["expected"] == 1


async def test_other_users_token_never_sees_stored_results(client: Any) -> None:
    a = await Device(client, "instructor1@demo.test").login()
    b = await Device(client, "instructor2@demo.test").login()
    lesson = await _a_lesson(a)
    m = a.mutation("lesson", lesson["id"], "patch", {"attended": True})
    await a.push(m)
    b.client_id = a.client_id  # same installation id, another user's token
    resp = await b.push_raw([m])
    body = await resp.json()
    assert resp.status == 200
    assert body["results"][0].get("duplicate") is None
    assert body["results"][0]["status"] == "rejected"  # instructor2 may not touch it


async def test_concurrent_resends_of_one_batch_apply_once(client: Any) -> None:
    inst = await Device(client, "instructor1@demo.test").login()
    lesson = await _a_lesson(inst)
    notes = [uid() for _ in range(20)]
    batch = [
        inst.mutation("lesson_note", n, "put", {"lesson_id": lesson["id"], "body": f"n{i}"})
        for i, n in enumerate(notes)
    ]
    bodies = await asyncio.gather(*(inst.push(*batch) for _ in range(4)))
    applied = [r for body in bodies for r in body["results"] if not r.get("duplicate")]
    assert len(applied) == 20 and all(r["status"] == "applied" for r in applied)
    revs = {r["rev"] for body in bodies for r in body["results"]}
    assert len(revs) == 20


async def test_limits_and_malformed_envelopes(client: Any) -> None:
    inst = await Device(client, "instructor1@demo.test").login()
    too_many = [inst.mutation("lesson", uid(), "patch", {"attended": True}) for _ in range(501)]
    resp = await inst.push_raw(too_many)
    assert resp.status == 413 and (await resp.json())["error"]["code"] == "too_large"
    inst.seq = 0
    big = inst.mutation("lesson_note", uid(), "put", {"body": "x" * (2 * 1024 * 1024)})
    resp = await inst.push_raw([big])
    assert resp.status == 413
    resp = await client.post("/v1/sync/push", data=b'{"client_id": ', headers=inst.headers)
    assert resp.status == 400 and (await resp.json())["error"]["code"] == "bad_request"
    resp = await client.post(
        "/v1/sync/push", json={"client_id": "not-a-uuid", "mutations": []}, headers=inst.headers
    )
    assert resp.status == 422 and (await resp.json())["error"]["details"]["field"] == "client_id"
    resp = await client.post(
        "/v1/sync/push",
        json={"client_id": inst.client_id, "mutations": [{"seq": "one"}]},
        headers=inst.headers,
    )
    assert resp.status == 422
    resp = await inst.push_raw([], schema_version=99)
    assert resp.status == 426 and (await resp.json())["error"]["code"] == "upgrade_required"


async def test_bad_mutations_rejected_alone_naming_the_field(client: Any) -> None:
    inst = await Device(client, "instructor1@demo.test").login()
    lesson = await _a_lesson(inst)
    lid = lesson["id"]
    cases = [
        (inst.mutation("lesson", lid, "patch", {"attended": "yes"}), "invalid", "attended"),
        (inst.mutation("lesson", lid, "patch", {"colour": "red"}), "invalid", "colour"),
        (
            inst.mutation("lesson_note", uid(), "put", {"lesson_id": lid, "body": "y" * 1_000_000}),
            "invalid",
            "body",
        ),
        (inst.mutation("lesson", "not-a-uuid", "patch", {"attended": True}), "invalid", "id"),
        (inst.mutation("spaceship", uid(), "put", {}), "invalid", "entity"),
        (
            inst.mutation("lesson_note", uid(), "put", {"lesson_id": lid, "student_id": uid()}),
            "read_only_field",
            "student_id",
        ),
        (inst.mutation("lesson", lid, "patch", {"rev": 5}), "read_only_field", "rev"),
        (inst.mutation("student_progress", uid(), "put", {}), "forbidden", "entity"),
        (inst.mutation("student", uid(), "put", {"name": "x"}), "forbidden", None),
        (inst.mutation("lesson", lid, "frobnicate", {}), "invalid", "op"),
    ]
    good = inst.mutation("lesson", lid, "patch", {"attended": True})
    body = await inst.push(*(c[0] for c in cases), good)
    for (_m, code, field), result in zip(cases, body["results"], strict=False):
        assert result["status"] == "rejected", result
        assert result["error"]["code"] == code, result
        assert result["error"]["details"].get("field") == field, result
    assert body["results"][-1]["status"] == "applied"
    assert body["acked_seq"] == len(cases) + 1
    # Everything rejected is in the journal.
    admin = await Device(client, "admin@demo.test").login()
    resp = await client.get("/v1/admin/rejections", headers=admin.headers)
    entries = (await resp.json())["entries"]
    assert len([e for e in entries if e["client_id"] == inst.client_id]) == len(cases)


async def test_future_hlc_is_clamped_and_flagged(client: Any) -> None:
    inst = await Device(client, "instructor1@demo.test").login()
    lesson = await _a_lesson(inst)
    future = int(time.time() * 1000) + 3 * 365 * 86400 * 1000
    r = await inst.one("lesson", lesson["id"], "patch", {"attended": True}, hlc=inst.hlc(future))
    assert r["status"] == "applied" and r["hlc_clamped"] is True
    # A normal edit made a second later still wins: the future stamp was not trusted.
    other = await Device(client, "admin@demo.test").login()
    r2 = await other.one("lesson", lesson["id"], "patch", {"attended": False})
    assert r2["status"] == "applied"
    resp = await client.get("/v1/admin/devices", headers=other.headers)
    dev = next(d for d in (await resp.json())["devices"] if d["client_id"] == inst.client_id)
    assert dev["clock_skew_ms"] > 365 * 86400 * 1000


async def test_device_health_recorded(client: Any) -> None:
    inst = await Device(client, "instructor1@demo.test").login()
    await inst.push(
        device={"app_version": "1.2.3", "pending": 7, "last_pull_rev": 3, "platform": "android"}
    )
    admin = await Device(client, "admin@demo.test").login()
    resp = await client.get("/v1/admin/devices", headers=admin.headers)
    body = await resp.json()
    dev = next(d for d in body["devices"] if d["client_id"] == inst.client_id)
    assert (dev["app_version"], dev["pending"], dev["platform"]) == ("1.2.3", 7, "android")
    assert dev["lag_revs"] == body["rev"] - 3
    resp = await client.get("/v1/admin/devices", headers=inst.headers)
    assert resp.status == 403


async def test_a_constraint_breaker_is_refused_alone_and_the_rest_applies_once(
    client: Any, db: Db
) -> None:
    """A batch is first applied all at once; a mutation that only the database can refuse
    (its CHECK constraint) undoes that attempt, and the batch is applied again one by one:
    the breaker is rejected, the others are applied exactly once, nothing of the undone
    attempt is left behind."""
    inst = await Device(client, "instructor1@demo.test").login()
    lesson = await _a_lesson(inst)
    inst.cursor = None  # that cursor was for lessons only
    await inst.pull(entities="availability")
    slot = next(iter(inst.of("availability").values()))
    before = await _audit_count(db, inst.client_id)
    a, b = uid(), uid()
    body = await inst.push(
        inst.mutation("lesson_note", a, "put", {"lesson_id": lesson["id"], "body": "first"}),
        inst.mutation(
            "availability", slot["id"], "patch", {"start_time": "18:00", "end_time": "09:00"}
        ),
        inst.mutation("lesson_note", b, "put", {"lesson_id": lesson["id"], "body": "second"}),
        inst.mutation("lesson", lesson["id"], "patch", {"attended": not lesson["attended"]}),
    )
    statuses = [r["status"] for r in body["results"]]
    assert statuses == ["applied", "rejected", "applied", "applied"], body["results"]
    assert body["results"][1]["error"]["code"] == "invalid"
    assert body["acked_seq"] == 4
    # Revs given once each, in order, with no hole left by the undone attempt.
    revs = [r["rev"] for r in body["results"] if r["status"] == "applied"]
    assert revs == sorted(revs) and revs[-1] == body["rev"] and revs[-1] - revs[0] == 2
    fresh = Device(client, "instructor1@demo.test")
    await fresh.login()
    await fresh.pull()
    notes = fresh.of("lesson_note")
    assert notes[a]["body"] == "first" and notes[b]["body"] == "second"
    kept = fresh.of("availability")[slot["id"]]
    assert (kept["start_time"], kept["end_time"]) == (slot["start_time"], slot["end_time"])
    assert fresh.of("lesson")[lesson["id"]]["attended"] is not lesson["attended"]
    assert await _audit_count(db, inst.client_id) == before + 3  # one per applied mutation
    admin = await Device(client, "admin@demo.test").login()
    resp = await client.get("/v1/admin/rejections", headers=admin.headers)
    mine = [e for e in (await resp.json())["entries"] if e["client_id"] == inst.client_id]
    assert [(e["seq"], e["entity"]) for e in mine] == [(2, "availability")]


async def test_a_clamped_clock_in_a_whole_batch_is_recorded(client: Any) -> None:
    inst = await Device(client, "instructor1@demo.test").login()
    lesson = await _a_lesson(inst)
    future = int(time.time() * 1000) + 86400 * 1000
    body = await inst.push(  # the note first: the helper's clock never runs backwards
        inst.mutation("lesson_note", uid(), "put", {"lesson_id": lesson["id"], "body": "x"}),
        inst.mutation("lesson", lesson["id"], "patch", {"attended": True}, hlc=inst.hlc(future)),
    )
    assert [r["status"] for r in body["results"]] == ["applied", "applied"]
    assert body["results"][1]["hlc_clamped"] is True and "hlc_clamped" not in body["results"][0]
    admin = await Device(client, "admin@demo.test").login()
    resp = await client.get("/v1/admin/devices", headers=admin.headers)
    dev = next(d for d in (await resp.json())["devices"] if d["client_id"] == inst.client_id)
    assert dev["clock_skew_ms"] > 80_000_000


async def test_a_device_that_only_pulls_shows_in_device_health(client: Any) -> None:
    reader = await Device(client, "student2@demo.test").login()
    admin = await Device(client, "admin@demo.test").login()

    async def listed() -> dict[str, Any] | None:
        resp = await client.get("/v1/admin/devices", headers=admin.headers)
        body = await resp.json()
        return next((d for d in body["devices"] if d["client_id"] == reader.client_id), None)

    resp = await client.get(
        "/v1/sync/pull", params={"client_id": "not-a-uuid"}, headers=reader.headers
    )
    assert resp.status == 422 and (await resp.json())["error"]["details"]["field"] == "client_id"
    await reader.pull()  # without client_id: nothing recorded
    assert await listed() is None
    resp = await client.get(
        "/v1/sync/pull",
        params={"client_id": reader.client_id, "limit": 5000},
        headers=reader.headers,
    )
    page = await resp.json()
    assert resp.status == 200 and not page["has_more"]
    device = await listed()
    assert device is not None and device["last_pull_rev"] == page["rev"]
    assert device["acked_seq"] == 0 and device["lag_revs"] == 0
    # A push elsewhere in the school: the device now lags by it, until it pulls again.
    lesson = await _a_lesson(admin)
    done = await admin.one("lesson", lesson["id"], "patch", {"attended": not lesson["attended"]})
    device = await listed()
    assert device is not None and device["lag_revs"] == done["rev"] - page["rev"] > 0
    # The same device pushing later keeps its row (no second row, no race).
    await reader.one(
        "theory_attempt",
        uid(),
        "put",
        {"question_id": uid(), "chosen_option": 0, "answered_at": "2030-01-01T10:00:00Z"},
    )
    resp = await client.get("/v1/admin/devices", headers=admin.headers)
    rows = [d for d in (await resp.json())["devices"] if d["client_id"] == reader.client_id]
    assert len(rows) == 1 and rows[0]["acked_seq"] == 1


async def test_ids_that_are_not_uuids_never_reach_a_query(client: Any) -> None:
    """Ids are looked up for the whole batch before any mutation is parsed: an id or a
    parent id that is not a UUID (a NUL byte, which PostgreSQL refuses in text, included)
    is rejected with its mutation alone and the rest of the batch applies."""
    inst = await Device(client, "instructor1@demo.test").login()
    lesson = await _a_lesson(inst)
    nul_id = "0193a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5\x00"
    good = uid()
    body = await inst.push(
        inst.mutation("lesson_note", nul_id, "put", {"lesson_id": lesson["id"], "body": "x"}),
        inst.mutation("lesson_note", uid(), "put", {"lesson_id": nul_id, "body": "y"}),
        inst.mutation("lesson_note", uid(), "put", {"lesson_id": lesson["id"], "b\x00": "w"}),
        inst.mutation("lesson_note", good, "put", {"lesson_id": lesson["id"], "body": "z"}),
    )
    statuses = [r["status"] for r in body["results"]]
    assert statuses == ["rejected", "rejected", "rejected", "applied"]
    assert body["results"][0]["error"]["details"]["field"] == "id"
    assert body["results"][1]["error"]["code"] == "invalid"
    assert body["results"][2]["error"]["details"]["field"] == "b\ufffd"
    assert body["results"][3]["record"]["id"] == good


async def test_device_health_that_columns_cannot_hold_is_clamped_not_a_500(client: Any) -> None:
    """Device health is advisory: absurd numbers and text a database refuses are clamped or
    cleaned, and the batch is applied (a 500 here would block the device's queue for good)."""
    inst = await Device(client, "instructor1@demo.test").login()
    lesson = await _a_lesson(inst)
    health = {
        "pending": 2**40,  # beyond the 32-bit column (pydantic refuses beyond 64 bits)
        "last_pull_rev": 2**63 - 1,
        "app_version": "1.0\x00beta",
        "platform": "web\x00",
    }
    body = await inst.push(
        inst.mutation("lesson", lesson["id"], "patch", {"attended": True}), device=health
    )
    assert body["results"][0]["status"] == "applied" and body["acked_seq"] == 1
    admin = await Device(client, "admin@demo.test").login()
    resp = await client.get("/v1/admin/devices", headers=admin.headers)
    assert resp.status == 200, await resp.text()
    mine = next(d for d in (await resp.json())["devices"] if d["client_id"] == inst.client_id)
    assert mine["pending"] == 2**31 - 1
    assert mine["last_pull_rev"] == 2**63 - 1
    assert mine["app_version"] == "1.0\ufffdbeta"
    assert mine["platform"] == "web\ufffd"


async def test_poison_values_are_rejected_alone_and_journaled(client: Any) -> None:
    """Values the JSON encoder or a database refuses (nesting past orjson's 254 levels,
    integers past 64 bits, NaN-like input) never fail the batch: the mutation is rejected,
    its neighbours apply, the journal keeps a storable copy, and the queue moves on."""
    inst = await Device(client, "instructor1@demo.test").login()
    lesson = await _a_lesson(inst)
    deep: Any = 1
    for _ in range(600):
        deep = [deep]
    poisons = [
        {"attended": True, "junk": deep},
        {"attended": 2**70},
        {"attended": True, "junk": {"n": 2**80}},
    ]
    batch = [inst.mutation("lesson", lesson["id"], "patch", {"attended": True})]
    batch += [inst.mutation("lesson", lesson["id"], "patch", p) for p in poisons]
    batch.append(inst.mutation("lesson", lesson["id"], "patch", {"attended": False}))
    body = await inst.push(*batch)
    statuses = [r["status"] for r in body["results"]]
    assert statuses[0] == "applied" and statuses[-1] == "applied", statuses
    assert body["acked_seq"] == len(batch)
    for result in body["results"][1:-1]:
        assert result["status"] in ("applied", "rejected"), result
    admin = await Device(client, "admin@demo.test").login()
    resp = await client.get("/v1/admin/journal?kind=rejected", headers=admin.headers)
    assert resp.status == 200, await resp.text()
    # The next push of the same device is accepted: nothing blocks the queue.
    again = await inst.push(inst.mutation("lesson", lesson["id"], "patch", {"attended": True}))
    assert again["results"][0]["status"] == "applied"
