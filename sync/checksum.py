"""Verify: per-entity count and SHA-256 over the live records in a user's scope, computed
the same way a client computes it from its replica (lines `id:rev\\n` sorted by id)."""

from __future__ import annotations

import hashlib
from collections import defaultdict
from typing import Any

from sqlalchemy import select

from schemas import SyncRecord, TenantRev
from sync.access import load_scope
from sync.core.principal import Principal
from sync.pull import reach
from sync.store import Store


def replica_checksum(records: dict[str, list[tuple[str, int]]]) -> dict[str, dict[str, Any]]:
    """The checksum body for {entity: [(id, rev), …]}: what a client computes too."""
    out: dict[str, dict[str, Any]] = {}
    for entity, items in sorted(records.items()):
        digest = hashlib.sha256()
        for rid, rev in sorted(items):
            digest.update(f"{rid}:{rev}\n".encode())
        out[entity] = {"count": len(items), "hash": digest.hexdigest()}
    return out


async def checksum(store: Store, who: Principal, entities: frozenset[str] | None) -> dict[str, Any]:
    """Count and hash per entity of the visible live records, at the snapshot's rev."""
    async with store.read(who.tenant_id) as session:
        head = await session.scalar(select(TenantRev.rev)) or 0
        scope = await load_scope(session, who)
        rows = await session.execute(
            select(
                SyncRecord.entity,
                SyncRecord.id,
                SyncRecord.rev,
                SyncRecord.student_id,
                SyncRecord.instructor_id,
                SyncRecord.private,
                SyncRecord.user_id,
            ).where(SyncRecord.deleted.is_(False), reach(scope, entities))
        )
        grouped: dict[str, list[tuple[str, int]]] = defaultdict(list)
        for entity, rid, rev, student_id, instructor_id, private, user_id in rows:
            if scope.sees(entity, student_id, instructor_id, private, user_id):
                grouped[entity].append((rid, rev))
    return {"rev": head, "entities": replica_checksum(grouped)}
