"""Answers sized for a slow link (issue 10): a push acknowledges what the device created
without echoing it (only the fields the server filled in come back), and a device that pulls
with `skip_own=true` is not sent its own writes again — unless the server changed them.
On both databases."""

from __future__ import annotations

import gzip
import json
import uuid
from typing import Any

from tests.helpers import Device


async def _lesson(device: Device) -> dict[str, Any]:
    return next(iter(device.of("lesson").values()))


async def _pull(client: Any, device: Device, **params: Any) -> dict[str, Any]:
    query = {"cursor": device.cursor, "client_id": device.client_id, **params}
    resp = await client.get("/v1/sync/pull", params=query, headers=device.headers)
    assert resp.status == 200, await resp.text()
    body: dict[str, Any] = await resp.json()
    return body


async def test_a_created_record_is_acknowledged_not_echoed(client: Any) -> None:
    inst = await Device(client, "instructor1@demo.test").login()
    await inst.pull()
    lesson = await _lesson(inst)
    nid = str(uuid.uuid4())
    sent = {"lesson_id": lesson["id"], "body": "Mirrors before signalling.", "private": False}
    sent["tags"] = ["mirrors"]
    resp = await inst.push_raw([inst.mutation("lesson_note", nid, "put", sent)])
    [result] = (await resp.json())["results"]
    assert result["status"] == "applied", result
    assert "record" not in result
    # The one field the device could not send: the note's student, copied from its lesson.
    assert result["filled"] == {"student_id": lesson["student_id"]}
    assert isinstance(result["rev"], int) and result["updated_at"].endswith("Z")
    # What another device pulls is exactly the data sent plus what was filled in.
    other = await Device(client, "instructor1@demo.test").login()
    await other.pull()
    assert other.replica[("lesson_note", nid)] == {
        **sent,
        **result["filled"],
        "id": nid,
        "rev": result["rev"],
        "updated_at": result["updated_at"],
    }


async def test_what_the_server_changes_comes_back_whole(client: Any) -> None:
    inst = await Device(client, "instructor1@demo.test").login()
    await inst.pull()
    note = next(iter(inst.of("lesson_note").values()))
    other = await Device(client, "instructor1@demo.test").login()
    await other.pull()
    # Two devices change the same note's words from the same base: the second is merged or
    # in conflict, and either way gets the committed record whole.
    first = await inst.one(
        "lesson_note", note["id"], "patch", {"body": note["body"] + " A"}, base_rev=note["rev"]
    )
    assert first["status"] == "applied" and "record" not in first  # a bare patch
    second = await other.one(
        "lesson_note", note["id"], "patch", {"body": "Rewritten entirely"}, base_rev=note["rev"]
    )
    assert second["status"] in ("merged", "conflict"), second
    assert second["record"]["id"] == note["id"]


async def test_a_device_is_not_sent_its_own_writes_back(client: Any) -> None:
    inst = await Device(client, "instructor1@demo.test").login()
    await inst.pull()
    lesson = await _lesson(inst)
    nid = str(uuid.uuid4())
    data = {"lesson_id": lesson["id"], "body": "Own", "private": False, "tags": []}
    before = inst.cursor
    assert (await inst.one("lesson_note", nid, "put", data))["status"] == "applied"

    mine = await _pull(client, inst, skip_own="true")
    assert ("lesson_note", nid) not in {(c["entity"], c["id"]) for c in mine["changes"]}
    assert mine["has_more"] is False and mine["rev"] >= 1
    # Without skip_own (older clients), or from scratch (a device rebuilding its replica),
    # it comes as before.
    everything = await _pull(client, inst)
    assert ("lesson_note", nid) in {(c["entity"], c["id"]) for c in everything["changes"]}
    scratch = await client.get(
        "/v1/sync/pull",
        params={"client_id": inst.client_id, "skip_own": "true", "limit": 1000},
        headers=inst.headers,
    )
    ids = {(c["entity"], c["id"]) for c in (await scratch.json())["changes"]}
    assert ("lesson_note", nid) in ids
    # Another device of the same user is not that device: it gets the note.
    other = await Device(client, "instructor1@demo.test").login()
    other.cursor = before  # the same user's cursor from before the write
    theirs = await _pull(client, other, skip_own="true")
    assert ("lesson_note", nid) in {(c["entity"], c["id"]) for c in theirs["changes"]}


async def test_what_a_rule_derives_from_own_writes_still_comes(client: Any) -> None:
    """An assessment is the device's own, the student's progress it moves is the server's."""
    inst = await Device(client, "instructor1@demo.test").login()
    await inst.pull()
    lesson = await _lesson(inst)
    skill = next(iter(inst.of("skill").values()))
    aid = str(uuid.uuid4())
    data = {
        "lesson_id": lesson["id"],
        "student_id": lesson["student_id"],
        "skill_id": skill["id"],
        "level": 4,
        "comment": "",
        "assessed_at": "2026-11-30T10:00:00Z",
    }
    result = await inst.one("skill_assessment", aid, "put", data)
    assert result["status"] == "applied", result
    page = await _pull(client, inst, skip_own="true")
    entities = {(c["entity"], c["id"]) for c in page["changes"]}
    assert ("skill_assessment", aid) not in entities
    assert any(e == "student_progress" for e, _ in entities), entities


async def test_a_later_change_by_someone_else_is_sent(client: Any) -> None:
    inst = await Device(client, "instructor1@demo.test").login()
    await inst.pull()
    lesson = await _lesson(inst)
    nid = str(uuid.uuid4())
    data = {"lesson_id": lesson["id"], "body": "Mine", "private": False, "tags": []}
    put = await inst.one("lesson_note", nid, "put", data)
    other = await Device(client, "instructor1@demo.test").login()
    await other.pull()
    patch = await other.one("lesson_note", nid, "patch", {"tags": ["x"]}, base_rev=put["rev"])
    assert patch["status"] == "applied"
    page = await _pull(client, inst, skip_own="true")
    [change] = [c for c in page["changes"] if c["id"] == nid]
    assert change["record"]["tags"] == ["x"]


async def test_an_initial_sync_in_pages_sends_own_writes(client: Any) -> None:
    """A device rebuilding its replica sends skip_own from its second page on (it has a
    cursor then): what it wrote before the rebuild must still come, on every page."""
    inst = await Device(client, "instructor1@demo.test").login()
    await inst.pull()
    lesson = await _lesson(inst)
    nid = str(uuid.uuid4())
    data = {"lesson_id": lesson["id"], "body": "Before the rebuild", "private": False}
    assert (await inst.one("lesson_note", nid, "put", {**data, "tags": []}))["status"] == "applied"
    inst.cursor = None
    seen: set[tuple[str, str]] = set()
    while True:
        params = {"limit": 5, "client_id": inst.client_id}
        if inst.cursor:
            params.update(cursor=inst.cursor, skip_own="true")
        resp = await client.get("/v1/sync/pull", params=params, headers=inst.headers)
        page = await resp.json()
        seen |= {(c["entity"], c["id"]) for c in page["changes"]}
        inst.cursor = page["cursor"]
        if not page["has_more"]:
            break
    assert ("lesson_note", nid) in seen


async def test_push_answers_are_compressed_when_worth_it(client: Any) -> None:
    inst = await Device(client, "instructor1@demo.test").login()
    await inst.pull()
    lesson = await _lesson(inst)
    mutations = [
        inst.mutation(
            "lesson_note",
            str(uuid.uuid4()),
            "put",
            {"lesson_id": lesson["id"], "body": f"Note {n}", "private": False, "tags": []},
        )
        for n in range(20)
    ]
    body = {"client_id": inst.client_id, "schema_version": 2, "mutations": mutations}
    headers = {**inst.headers, "Accept-Encoding": "gzip"}
    resp = await client.post("/v1/sync/push", json=body, headers=headers, auto_decompress=False)
    assert resp.status == 200
    assert resp.headers.get("Content-Encoding") == "gzip"
    raw = await resp.read()
    answer = json.loads(gzip.decompress(raw))
    assert [r["status"] for r in answer["results"]] == ["applied"] * 20
    assert len(raw) < len(json.dumps(answer)) / 2
    # One small answer is sent as it is.
    small = [inst.mutation("lesson", lesson["id"], "patch", {"attended": True})]
    body = {"client_id": inst.client_id, "schema_version": 2, "mutations": small}
    resp = await client.post("/v1/sync/push", json=body, headers=headers, auto_decompress=False)
    assert resp.status == 200 and "Content-Encoding" not in resp.headers
