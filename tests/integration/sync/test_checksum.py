"""Verify: the checksum endpoint agrees with a replica built by pulling."""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from sync.checksum import replica_checksum
from tests.helpers import Device, uid


def _local(dev: Device) -> dict[str, Any]:
    grouped: dict[str, list[tuple[str, int]]] = defaultdict(list)
    for (entity, rid), record in dev.replica.items():
        grouped[entity].append((rid, record["rev"]))
    return replica_checksum(grouped)


async def test_checksum_matches_pulled_replica_for_each_role(client: Any) -> None:
    for email in ("admin@demo.test", "instructor1@demo.test", "student1@demo.test"):
        dev = await Device(client, email).login()
        await dev.pull(limit=333)
        resp = await client.get(
            "/v1/sync/checksum", params={"cursor": dev.cursor}, headers=dev.headers
        )
        body = await resp.json()
        assert body["entities"] == _local(dev), email
        assert body["cursor_rev"] == body["rev"]


async def test_checksum_detects_a_divergent_replica(client: Any) -> None:
    inst = await Device(client, "instructor1@demo.test").login()
    await inst.pull()
    lesson = next(iter(inst.of("lesson").values()))
    other = await Device(client, "admin@demo.test").login()
    await other.one("lesson_note", uid(), "put", {"lesson_id": lesson["id"], "body": "new"})
    resp = await client.get(
        "/v1/sync/checksum", params={"cursor": inst.cursor}, headers=inst.headers
    )
    body = await resp.json()
    assert body["rev"] > body["cursor_rev"]
    assert body["entities"]["lesson_note"] != _local(inst)["lesson_note"]
    await inst.pull()
    resp = await client.get(
        "/v1/sync/checksum", params={"cursor": inst.cursor}, headers=inst.headers
    )
    assert (await resp.json())["entities"] == _local(inst)
