"""The contract: every JSON body the running app sends matches what it publishes — the JSON
Schema files in schemas/json/ and the response schema of its operation in
`GET /v1/openapi.json`. The schemas forbid undeclared keys, so a response that grows a key
nobody declared fails here (and, with DRIVESYNC_STRICT_RESPONSES as in every test, in the
server itself)."""

from __future__ import annotations

import json
import time
from functools import cache
from pathlib import Path
from typing import Any

import pytest
from jsonschema import Draft202012Validator
from jsonschema.exceptions import best_match
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

from schemas.jsonschema import OUT
from server.keys import SYNC
from sync import accounts
from tests.conftest import Db
from tests.helpers import Device, held_record, uid
from tests.integration.test_accounts import invited, mint

# (method, route) → the published file its 200 answer follows; other statuses: error.json.
CONTRACT = {
    ("post", "/v1/auth/login"): "token_response",
    ("post", "/v1/auth/refresh"): "token_response",
    ("post", "/v1/auth/invitations/accept"): "token_response",
    ("post", "/v1/auth/password/forgot"): "password_forgot_response",
    ("post", "/v1/auth/password/reset"): "token_response",
    ("post", "/v1/sync/push"): "push_response",
    ("get", "/v1/sync/pull"): "pull_response",
    ("get", "/v1/sync/info"): "sync_info",
    ("get", "/v1/sync/checksum"): "checksum_response",
    ("get", "/v1/admin/school"): "school_settings",
    ("patch", "/v1/admin/school"): "school_settings",
    ("put", "/v1/admin/students/{student_id}/instructors"): "assign_response",
    ("post", "/v1/admin/students/{student_id}/leave"): "leave_response",
    ("get", "/v1/admin/journal"): "journal_response",
    ("get", "/v1/admin/conflicts"): "journal_response",
    ("get", "/v1/admin/rejections"): "journal_response",
    ("get", "/v1/admin/journal/{entry_id}"): "journal_entry",
    ("post", "/v1/admin/conflicts/{entry_id}/resolve"): "resolve_response",
    ("post", "/v1/admin/rejections/{entry_id}/replay"): "replay_response",
    ("get", "/v1/admin/devices"): "devices_response",
}


@cache
def published(name: str) -> Draft202012Validator:
    """The validator of schemas/json/<name>.json, as committed."""
    schema = json.loads((Path(OUT) / f"{name}.json").read_text())
    Draft202012Validator.check_schema(schema)
    return Draft202012Validator(schema)


def operation(doc: dict[str, Any], method: str, route: str, status: int) -> Draft202012Validator:
    """The validator of one operation's response schema in the OpenAPI document."""
    responses = doc["paths"][route][method]["responses"]
    assert str(status) in responses, f"{method} {route} does not declare {status}"
    ref = responses[str(status)]["content"]["application/json"]["schema"]["$ref"]
    resource = Resource.from_contents(doc, default_specification=DRAFT202012)
    registry: Registry[Any] = Registry().with_resource("urn:drivesync:openapi", resource)
    return Draft202012Validator({"$ref": f"urn:drivesync:openapi{ref}"}, registry=registry)


def conforms(validator: Draft202012Validator, body: Any, what: str) -> None:
    error = best_match(validator.iter_errors(body))
    if error is not None:
        where = "/".join(str(p) for p in error.absolute_path) or "(top)"
        pytest.fail(f"{what}: at {where}: {error.message}")


class Contract:
    """Calls the app and checks each answer against both published forms."""

    def __init__(self, client: Any, openapi: dict[str, Any]) -> None:
        self.client = client
        self.openapi = openapi
        self.seen: set[tuple[str, str]] = set()
        self.sent: dict[str, list[dict[str, Any]]] = {}

    async def call(
        self,
        method: str,
        route: str,
        headers: dict[str, str] | None = None,
        *,
        expect: int = 200,
        json: Any = None,
        params: dict[str, Any] | None = None,
        **path: str,
    ) -> Any:
        resp = await self.client.request(
            method.upper(), route.format(**path), headers=headers, json=json, params=params
        )
        body = await resp.json()
        assert resp.status == expect, body
        what = f"{method.upper()} {route} {resp.status}"
        ok = expect in (200, 202)
        conforms(published(CONTRACT[(method, route)] if ok else "error"), body, what)
        conforms(operation(self.openapi, method, route, expect), body, f"{what} (OpenAPI)")
        if ok:
            self.seen.add((method, route))
        return body

    async def push(self, dev: Device, *mutations: dict[str, Any], **extra: Any) -> Any:
        """Push as `dev`; each result's record also matches its entity's record schema."""
        body = {"client_id": dev.client_id, "mutations": list(mutations), **extra}
        self.sent.setdefault(dev.client_id, []).extend(mutations)
        answer = await self.call("post", "/v1/sync/push", dev.headers, json=body)
        by_seq = {m["seq"]: m for m in mutations}
        for result in answer["results"]:
            m = by_seq.get(result["seq"])
            if m is None:
                continue
            # An acknowledged create: the data sent plus what the server filled in must be
            # a whole record.
            record = held_record(m, result)
            if record is not None:
                record_schema = published(f"{m['entity']}.record")
                conforms(record_schema, record, f"push result {result['seq']} record")
        return answer

    async def pull(self, dev: Device, **params: Any) -> list[dict[str, Any]]:
        """Pull as `dev` until has_more is false; every record matches its record schema."""
        changes: list[dict[str, Any]] = []
        while True:
            query = {"limit": 50, **params, **({"cursor": dev.cursor} if dev.cursor else {})}
            page = await self.call("get", "/v1/sync/pull", dev.headers, params=query)
            for change in page["changes"]:
                if change["op"] == "put":
                    record_schema = published(f"{change['entity']}.record")
                    conforms(record_schema, change["record"], f"pulled {change['entity']}")
            changes.extend(page["changes"])
            dev.cursor = page["cursor"]
            if not page["has_more"]:
                return changes


async def _contract(client: Any) -> Contract:
    doc = await (await client.get("/v1/openapi.json")).json()
    return Contract(client, doc)


async def test_every_answer_matches_the_published_contract(client: Any, db: Db) -> None:
    c = await _contract(client)
    login = {"tenant": "demo", "email": "admin@demo.test", "password": "drive-demo-1"}
    tokens = await c.call("post", "/v1/auth/login", json=login)
    await c.call("post", "/v1/auth/refresh", json={"refresh_token": tokens["refresh_token"]})
    # Accounts: tokens made as the notification worker makes them for its emails.
    forgot = {"school": "demo", "email": "student2@demo.test"}
    await c.call("post", "/v1/auth/password/forgot", json=forgot, expect=202)
    await invited(db)
    invite = await mint(db, "new.student@demo.test", accounts.INVITE)
    answer = {"token": invite, "password": "first-password"}
    await c.call("post", "/v1/auth/invitations/accept", json=answer)
    await c.call("post", "/v1/auth/invitations/accept", json=answer, expect=400)
    reset = {"token": await mint(db, "student2@demo.test", accounts.RESET), "password": "x"}
    await c.call("post", "/v1/auth/password/reset", json=reset, expect=422)
    await c.call("post", "/v1/auth/password/reset", json={**reset, "password": "new-password"})
    inst = await Device(client, "instructor1@demo.test").login()
    admin = await Device(client, "admin@demo.test").login()

    # An initial sync, in pages of 50.
    pulled = await c.pull(inst)
    assert {ch["op"] for ch in pulled} == {"put"}
    lesson = next(ch["record"] for ch in pulled if ch["entity"] == "lesson")
    lid = lesson["id"]

    # applied (a create: acknowledged with the fields the server filled in, not echoed),
    # then hlc_clamped from a far-future clock.
    nid = uid()
    body = "Mirror checks good. Speed ok on the ring road."
    applied = await c.push(
        inst, inst.mutation("lesson_note", nid, "put", {"lesson_id": lid, "body": body})
    )
    created = applied["results"][0]
    assert created["status"] == "applied" and "record" not in created
    assert created["filled"]["student_id"] == lesson["student_id"]
    future = int(time.time() * 1000) + 86_400_000
    clamped = await c.push(
        inst,
        inst.mutation(
            "lesson", lid, "patch", {"attended": True}, hlc=f"{future:013d}-0000-{inst.client_id}"
        ),
    )
    assert clamped["results"][0]["hlc_clamped"] is True

    # merged with `lost`: an edit stamped an hour ago loses `attended` to the newer ones.
    t = int(time.time() * 1000) - 3_600_000
    older = f"{t:013d}-0000-{inst.client_id}"
    await c.push(admin, admin.mutation("lesson", lid, "patch", {"attended": False}))
    merged = await c.push(
        inst,
        inst.mutation(
            "lesson", lid, "patch", {"attended": True, "started_at": "2026-11-20T10:00:00Z"},
            hlc=older,
        ),
    )  # fmt: skip
    assert merged["results"][0]["status"] == "merged"
    assert merged["results"][0]["lost"] == ["attended"]

    # conflict with loser and conflict_id: overlapping edits of the note's body.
    base_rev = created["rev"]
    await c.push(
        admin,
        admin.mutation("lesson_note", nid, "patch", {"body": body.replace("good", "poor")},
                       base_rev=base_rev),
    )  # fmt: skip
    conflict = await c.push(
        inst,
        inst.mutation("lesson_note", nid, "patch", {"body": body.replace("good", "excellent")},
                      base_rev=base_rev),
    )  # fmt: skip
    result = conflict["results"][0]
    assert result["status"] == "conflict" and result["loser"] and result["conflict_id"]

    # rejected with error (a patch of a note that does not exist yet), and a duplicate
    # resend of everything this device pushed so far.
    later = uid()
    rejected = await c.push(inst, inst.mutation("lesson_note", later, "patch", {"body": "x"}))
    assert rejected["results"][0]["error"]["code"] == "not_found"
    again = await c.push(inst, *c.sent[inst.client_id])
    assert all(r.get("duplicate") is True for r in again["results"])
    assert {r["status"] for r in again["results"]} == {"applied", "merged", "conflict", "rejected"}

    # Errors follow error.json and the status each operation declares.
    gap = {"seq": inst.seq + 5, "entity": "lesson", "id": lid, "op": "patch", "hlc": inst.hlc()}
    jump = {"client_id": inst.client_id, "mutations": [{**gap, "data": {"attended": True}}]}
    await c.call("post", "/v1/sync/push", inst.headers, json=jump, expect=409)
    await c.call("get", "/v1/sync/pull", inst.headers, params={"cursor": "bogus"}, expect=410)
    await c.call("get", "/v1/admin/devices", inst.headers, expect=403)

    # An incremental pull carrying a delete.
    gone = uid()
    await c.push(inst, inst.mutation("lesson_note", gone, "put", {"lesson_id": lid, "body": "-"}))
    await c.pull(inst)
    await c.push(inst, inst.mutation("lesson_note", gone, "delete"))
    incremental = await c.pull(inst)
    assert [(ch["id"], ch["op"]) for ch in incremental if ch["id"] == gone] == [(gone, "delete")]

    # Info and checksum (with a cursor: cursor_rev is sent; without: it is not).
    await c.call("get", "/v1/sync/info")
    with_cursor = await c.call(
        "get", "/v1/sync/checksum", inst.headers, params={"cursor": inst.cursor}
    )
    assert with_cursor["cursor_rev"] == with_cursor["rev"]
    assert "cursor_rev" not in await c.call("get", "/v1/sync/checksum", inst.headers)

    # The admin API.
    a = admin.headers
    journal = await c.call("get", "/v1/admin/journal", a)
    assert {"rejected", "conflict", "lost_field"} <= {e["kind"] for e in journal["entries"]}
    await c.call("get", "/v1/admin/conflicts", a)
    rejections = await c.call("get", "/v1/admin/rejections", a)
    entry_id = next(e["id"] for e in rejections["entries"] if e["record_id"] == later)
    await c.call("get", "/v1/admin/journal/{entry_id}", a, entry_id=entry_id)
    still = await c.call("post", "/v1/admin/rejections/{entry_id}/replay", a, entry_id=entry_id)
    assert still["result"]["status"] == "rejected"
    # Once the note exists (made with a clock older than the rejected patch's), it applies.
    await c.push(
        inst, inst.mutation("lesson_note", later, "put", {"lesson_id": lid, "body": "y"}, hlc=older)
    )
    replayed = await c.call("post", "/v1/admin/rejections/{entry_id}/replay", a, entry_id=entry_id)
    assert replayed["result"]["status"] == "applied"
    resolved = await c.call(
        "post", "/v1/admin/conflicts/{entry_id}/resolve", a,
        json={"keep": "client"}, entry_id=result["conflict_id"],
    )  # fmt: skip
    assert resolved["rev"] is not None
    devices = await c.call("get", "/v1/admin/devices", a)
    assert any(d["client_id"] == inst.client_id for d in devices["devices"])
    await c.call("get", "/v1/admin/school", a)
    await c.call("patch", "/v1/admin/school", a, json={"pass_mark": 44})
    student_id = lesson["student_id"]
    await c.call(
        "put", "/v1/admin/students/{student_id}/instructors", a,
        json={"instructor_ids": [inst.user["instructor_id"]]}, student_id=student_id,
    )  # fmt: skip
    await c.call("post", "/v1/admin/students/{student_id}/leave", a, student_id=student_id)

    assert c.seen == set(CONTRACT), f"not exercised: {set(CONTRACT) - c.seen}"


async def test_a_surprise_key_answers_500_in_strict_mode(client: Any, monkeypatch: Any) -> None:
    """What makes the contract bite in every test: the server itself refuses to send a key
    its model does not declare (production logs it instead, see tests/unit)."""
    service = client.server.app[SYNC]
    info = service.info
    monkeypatch.setattr(service, "info", lambda: {**info(), "surprise": True})
    resp = await client.get("/v1/sync/info")
    body = await resp.json()
    assert resp.status == 500
    assert body["error"]["code"] == "response_mismatch"
    assert body["error"]["details"]["field"] == "surprise"
