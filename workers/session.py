"""Tenant-bound transactions for the rows side effects own (Web Push subscriptions,
notification preferences, the outbox's dead letters).

Those rows carry no rev and are never pulled, so a write to them takes neither the tenant's
rev lock nor its counter row as `sync.store.Store.write` does (that would queue a
subscription behind a large push); it is still bound to one tenant by `sync.tenancy`, so no
query can reach another school's rows. Reads use `Store.read`.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from sqlalchemy.ext.asyncio import AsyncSession

from sync.store import Store
from sync.tenancy import bind_tenant


@asynccontextmanager
async def bound(store: Store, tenant_id: str) -> AsyncIterator[AsyncSession]:
    """A session bound to `tenant_id`, no transaction begun (callers begin and commit)."""
    async with store.sessions() as session:
        bind_tenant(session, tenant_id)
        yield session
