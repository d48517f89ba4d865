"""The admins' audit viewer (`GET /v1/admin/audit`) on both databases: lines written by real
pushes and admin actions, newest first, who made them, the filters, paging by cursor, and
clean refusals of bad parameters."""

from __future__ import annotations

import datetime as dt
from typing import Any
from zoneinfo import ZoneInfo

from tests.conftest import Db, bearer, login
from tests.helpers import Device, uid


async def _audit(client: Any, headers: dict[str, str], **params: Any) -> Any:
    resp = await client.get("/v1/admin/audit", params=params, headers=headers)
    assert resp.status == 200, await resp.text()
    return await resp.json()


async def _some_changes(client: Any) -> tuple[Device, str, str]:
    """An instructor writes a note then edits a lesson: two audit lines of theirs."""
    inst = await Device(client, "instructor1@demo.test").login()
    await inst.pull()
    lesson = next(x for x in inst.of("lesson").values() if x["status"] == "scheduled")
    note = uid()
    made = await inst.one(
        "lesson_note", note, "put", {"lesson_id": lesson["id"], "body": "Mirrors"}
    )
    assert made["status"] == "applied"
    moved = await inst.one("lesson", lesson["id"], "patch", {"attended": True})
    assert moved["status"] == "applied"
    return inst, note, lesson["id"]


async def test_lines_say_who_changed_what_newest_first(client: Any, db: Db) -> None:
    inst, note, lesson = await _some_changes(client)
    admin = bearer(await login(client, "admin@demo.test"))
    # An admin action is in the log too.
    resp = await client.patch("/v1/admin/school", json={"pass_mark": 44}, headers=admin)
    assert resp.status == 200
    page = await _audit(client, admin)
    entries = page["entries"]
    ats = [e["at"] for e in entries]
    assert ats == sorted(ats, reverse=True)
    mine = [e for e in entries if e["user_id"] == inst.user["id"]]
    assert [(e["action"], e["entity"], e["record_id"]) for e in mine] == [
        ("sync.patch", "lesson", lesson),
        ("sync.put", "lesson_note", note),
    ]
    assert {(e["user_name"], e["user_email"], e["role"]) for e in mine} == {
        ("Priya Shah", "instructor1@demo.test", "instructor")
    }
    assert mine[0]["details"]["fields"] == ["attended"]
    assert mine[0]["details"]["client_id"] == inst.client_id
    assert entries[0]["action"].startswith("admin.") and entries[0]["role"] == "admin"


async def test_filters_and_pages(client: Any, db: Db) -> None:
    inst, note, lesson = await _some_changes(client)
    admin = bearer(await login(client, "admin@demo.test"))
    by_person = await _audit(client, admin, user_id=inst.user["id"])
    assert {e["user_id"] for e in by_person["entries"]} == {inst.user["id"]}
    assert len(by_person["entries"]) == 2
    by_entity = await _audit(client, admin, entity="lesson_note")
    assert [e["record_id"] for e in by_entity["entries"]] == [note]
    by_record = await _audit(client, admin, record_id=lesson)
    assert [e["action"] for e in by_record["entries"]] == ["sync.patch"]
    # Dates are the school's days, both ends included.
    today = dt.datetime.now(ZoneInfo("Europe/London")).date()
    assert (
        len(
            (await _audit(client, admin, since=today.isoformat(), until=today.isoformat()))[
                "entries"
            ]
        )
        >= 2
    )
    yesterday = (today - dt.timedelta(days=1)).isoformat()
    assert (await _audit(client, admin, until=yesterday))["entries"] == []
    assert (await _audit(client, admin, since=(today + dt.timedelta(days=1)).isoformat()))[
        "entries"
    ] == []
    # One line a page: the pages together are the whole list, in order, without repeats.
    whole = (await _audit(client, admin))["entries"]
    seen: list[str] = []
    cursor = None
    while True:
        params = {"limit": 1, **({"before": cursor} if cursor else {})}
        page = await _audit(client, admin, **params)
        seen += [e["id"] for e in page["entries"]]
        cursor = page["next"]
        if cursor is None:
            break
    assert seen == [e["id"] for e in whole]


async def test_refusals(client: Any, db: Db) -> None:
    inst = await login(client, "instructor1@demo.test")
    resp = await client.get("/v1/admin/audit", headers=bearer(inst))
    assert resp.status == 403
    admin = bearer(await login(client, "admin@demo.test"))
    for params, field in (
        ({"since": "2026-13-01"}, "since"),
        ({"until": "yesterday"}, "until"),
        ({"since": "2026-12-02", "until": "2026-12-01"}, "until"),
        ({"before": "not-a-cursor"}, "before"),
        ({"user_id": "42"}, "user_id"),
        ({"limit": "0"}, "limit"),
    ):
        resp = await client.get("/v1/admin/audit", params=params, headers=admin)
        body = await resp.json()
        assert resp.status == 422 and body["error"]["details"]["field"] == field, (params, body)
