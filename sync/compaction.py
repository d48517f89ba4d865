"""Tombstone compaction: deletes are kept in the change index for a configurable horizon
(how long a device may stay offline and still catch up incrementally), then removed. The
tenant's `horizon_rev` moves past the removed tombstones, so a cursor older than it gets
`410 reset_required` instead of silently missing a delete."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from sqlalchemy import delete, func, select, update

from schemas import MutationResult, SyncRecord, Tenant, TenantRev, utcnow
from sync.store import Store
from sync.tenancy import ALL_TENANTS, bind_tenant


@dataclass(frozen=True)
class Compacted:
    """What one tenant's compaction removed."""

    tenant_id: str
    tombstones: int
    results: int
    horizon_rev: int


async def compact_tenant(store: Store, tenant_id: str, horizon: dt.timedelta) -> Compacted:
    """Remove tombstones and stored push results older than `horizon` in one tenant."""
    cutoff = utcnow() - horizon
    async with store.write(tenant_id) as txn:
        s = txn.session
        newest = await s.scalar(
            select(func.max(SyncRecord.rev)).where(
                SyncRecord.deleted.is_(True), SyncRecord.updated_at < cutoff
            )
        )
        removed = 0
        if newest is not None:
            result = await s.execute(
                delete(SyncRecord).where(SyncRecord.deleted.is_(True), SyncRecord.rev <= newest)
            )
            removed = int(result.rowcount or 0)  # type: ignore[attr-defined]
            await s.execute(
                update(TenantRev).where(TenantRev.horizon_rev < newest).values(horizon_rev=newest)
            )
        # Results of pushes acked long ago: a device offline past the horizon re-syncs anyway.
        results = await s.execute(delete(MutationResult).where(MutationResult.created_at < cutoff))
        horizon_rev = await s.scalar(select(TenantRev.horizon_rev)) or 0
    return Compacted(tenant_id, removed, int(results.rowcount or 0), horizon_rev)  # type: ignore[attr-defined]


async def compact_all(store: Store, horizon: dt.timedelta) -> list[Compacted]:
    """Compact every tenant, one transaction each (the job `drivesync compact` runs)."""
    async with store.sessions() as session:
        bind_tenant(session, ALL_TENANTS)
        tenants = list(await session.scalars(select(Tenant.id).order_by(Tenant.id)))
    return [await compact_tenant(store, t, horizon) for t in tenants]
