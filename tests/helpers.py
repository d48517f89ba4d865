"""A small test-side sync client: signs in, stamps mutations with seq and hlc, pushes,
pulls to a local replica. It speaks only the wire protocol, like a real client."""

from __future__ import annotations

import time
import uuid
from typing import Any

from tests.conftest import bearer, login


def uid() -> str:
    return str(uuid.uuid4())


def held_record(m: dict[str, Any], result: dict[str, Any]) -> dict[str, Any] | None:
    """The record a client holds after a push result: the whole `record` when the server
    sent one, for an acknowledged create the data sent plus the fields the server filled in
    (`filled`), else None (a patch, a delete, a rejection)."""
    if "record" in result:
        record: dict[str, Any] = result["record"]
        return record
    if m["op"] != "put" or result["status"] != "applied" or "updated_at" not in result:
        return None
    return {
        **m.get("data", {}),
        **result.get("filled", {}),
        "id": m["id"],
        "rev": result["rev"],
        "updated_at": result["updated_at"],
    }


class Device:
    """One installation of one user: client_id, seq counter, hlc clock, replica, cursor."""

    def __init__(self, client: Any, email: str, tenant: str = "demo") -> None:
        self.client = client
        self.email = email
        self.tenant = tenant
        self.client_id = uid()
        self.seq = 0
        self.last_ms = 0
        self.counter = 0
        self.cursor: str | None = None
        self.replica: dict[tuple[str, str], dict[str, Any]] = {}
        self.tokens: dict[str, Any] = {}
        self.user: dict[str, Any] = {}

    async def login(self) -> Device:
        self.tokens = await login(self.client, self.email, self.tenant)
        self.user = self.tokens["user"]
        return self

    @property
    def headers(self) -> dict[str, str]:
        return bearer(self.tokens)

    def hlc(self, ms: int | None = None) -> str:
        now = ms if ms is not None else int(time.time() * 1000)
        if now > self.last_ms:
            self.last_ms, self.counter = now, 0
        else:
            self.counter += 1
        return f"{self.last_ms:013d}-{self.counter:04d}-{self.client_id}"

    def mutation(
        self,
        entity: str,
        rid: str,
        op: str,
        data: dict[str, Any] | None = None,
        base_rev: int | None = None,
        hlc: str | None = None,
    ) -> dict[str, Any]:
        self.seq += 1
        m: dict[str, Any] = {
            "seq": self.seq,
            "entity": entity,
            "id": rid,
            "op": op,
            "hlc": hlc or self.hlc(),
        }
        if data is not None:
            m["data"] = data
        if base_rev is not None:
            m["base_rev"] = base_rev
        return m

    async def push_raw(self, mutations: list[dict[str, Any]], **extra: Any) -> Any:
        body = {"client_id": self.client_id, "schema_version": 1, "mutations": mutations, **extra}
        return await self.client.post("/v1/sync/push", json=body, headers=self.headers)

    async def push(self, *mutations: dict[str, Any], **extra: Any) -> dict[str, Any]:
        """Push and return the answer, with each created record as the device now holds it
        under `record`: the server acknowledges a put with only the fields it filled in
        (`filled`), and a client rebuilds the record from what it sent, as the PWA does.
        `push_raw` gives the answer as it came."""
        resp = await self.push_raw(list(mutations), **extra)
        assert resp.status == 200, await resp.text()
        body: dict[str, Any] = await resp.json()
        sent = {m["seq"]: m for m in mutations}
        for result in body["results"]:
            m = sent.get(result["seq"])
            held = held_record(m, result) if m is not None else None
            if held is not None:
                result["record"] = held
        return body

    async def one(
        self, entity: str, rid: str, op: str, data: dict[str, Any] | None = None, **kw: Any
    ) -> dict[str, Any]:
        body = await self.push(self.mutation(entity, rid, op, data, **kw))
        result: dict[str, Any] = body["results"][0]
        return result

    async def pull_page(self, limit: int = 1000, entities: str | None = None) -> dict[str, Any]:
        params: dict[str, Any] = {"limit": limit}
        if self.cursor:
            params["cursor"] = self.cursor
        if entities:
            params["entities"] = entities
        resp = await self.client.get("/v1/sync/pull", params=params, headers=self.headers)
        assert resp.status == 200, await resp.text()
        body: dict[str, Any] = await resp.json()
        return body

    async def pull(self, limit: int = 1000, entities: str | None = None) -> list[dict[str, Any]]:
        """Pull until has_more is false, applying to the replica; returns all changes."""
        seen: list[dict[str, Any]] = []
        while True:
            page = await self.pull_page(limit, entities)
            assert page["changes"] or not page["has_more"], "empty page with has_more"
            for change in page["changes"]:
                key = (change["entity"], change["id"])
                if change["op"] == "delete":
                    self.replica.pop(key, None)
                else:
                    self.replica[key] = change["record"]
            seen.extend(page["changes"])
            self.cursor = page["cursor"]
            if not page["has_more"]:
                return seen

    def of(self, entity: str) -> dict[str, dict[str, Any]]:
        return {rid: rec for (ent, rid), rec in self.replica.items() if ent == entity}
