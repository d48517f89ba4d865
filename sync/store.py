"""Transactions against the database, bound to one tenant.

`Store.write(tenant_id)` opens the only kind of transaction that changes synced records.
Writers of one tenant first queue in this process (one `asyncio.Lock` per tenant, dropped
when idle) and only then check out a pooled connection, so a busy school's writers wait
without holding connections other schools need. The transaction's first statement then locks
the tenant's counter row (PostgreSQL, for writers in other processes; SQLite's BEGIN
IMMEDIATE already holds the database write lock), so writers in a tenant commit one after
another in rev order.
Inside it, `WriteTxn.stamp(entity, row)` gives a row the next rev and indexes it in
`sync_records`; on exit the counter is saved and, after COMMIT, listeners hear which revs and
scope keys changed (the live pokes).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from schemas import SyncRecord, TenantRev, utcnow
from sync.database import read_options
from sync.entities import CATALOGUE_ENTITIES, scope_keys
from sync.tenancy import bind_tenant


@dataclass
class CommitInfo:
    """What one committed write changed, for the notifier: the tenant's new rev and the
    scope keys touched (students, instructors, and whether catalogue entities changed)."""

    tenant_id: str
    rev: int
    student_ids: set[str] = field(default_factory=set)
    instructor_ids: set[str] = field(default_factory=set)
    catalogue: bool = False
    # Users (instructor or student ids) whose scope itself changed: their live
    # connections reload it. Ordinary commits leave this empty.
    rescoped: set[str] = field(default_factory=set)


CommitListener = Callable[[CommitInfo], Awaitable[None]]


class WriteTxn:
    """One write transaction of one tenant: rev allocation and the change index."""

    def __init__(self, session: AsyncSession, tenant_id: str, rev: int) -> None:
        self.session = session
        self.tenant_id = tenant_id
        self.start_rev = rev
        self.rev = rev
        self.now = utcnow()
        self._index: dict[tuple[str, str], dict[str, Any]] = {}
        # Instructors whose live connections must hear of this commit although no record
        # of theirs changed (their scope did: a student was assigned to or away from them).
        self.extra_instructors: set[str] = set()
        self.rescoped_students: set[str] = set()

    def next_rev(self) -> int:
        self.rev += 1
        return self.rev

    def stamp(self, entity: str, row: Any) -> int:
        """Give `row` the next rev and index it under its scope keys; adds it to the
        session if it is new."""
        student_id, instructor_id, private = scope_keys(entity, row)
        if row not in self.session:
            self.session.add(row)
        rev = self.next_rev()
        row.rev = rev
        row.updated_at = self.now
        if getattr(row, "tenant_id", None) is None:
            row.tenant_id = self.tenant_id
        self.index(
            entity,
            row.id,
            rev,
            bool(getattr(row, "deleted", False)),
            student_id,
            instructor_id,
            private,
        )
        return rev

    def index(
        self,
        entity: str,
        record_id: str,
        rev: int,
        deleted: bool = False,
        student_id: str | None = None,
        instructor_id: str | None = None,
        private: bool = False,
    ) -> None:
        """Index a change made without the ORM (bulk writers); `rev` from `next_rev()`."""
        self._index[(entity, record_id)] = {
            "tenant_id": self.tenant_id,
            "entity": entity,
            "id": record_id,
            "rev": rev,
            "deleted": deleted,
            "student_id": student_id,
            "instructor_id": instructor_id,
            "private": private,
            "updated_at": self.now,
        }

    @property
    def changed(self) -> bool:
        return self.rev != self.start_rev

    def commit_info(self, catalogue_entities: frozenset[str]) -> CommitInfo:
        info = CommitInfo(
            self.tenant_id,
            self.rev,
            instructor_ids=set(self.extra_instructors),
            rescoped=set(self.extra_instructors) | set(self.rescoped_students),
        )
        for (entity, _id), values in self._index.items():
            if values["student_id"]:
                info.student_ids.add(values["student_id"])
            if values["instructor_id"]:
                info.instructor_ids.add(values["instructor_id"])
            if entity in catalogue_entities:
                info.catalogue = True
        return info

    async def flush_index(self) -> None:
        """Write the change index rows and the counter (called just before COMMIT)."""
        if not self._index:
            return
        await self.session.flush()
        rows = list(self._index.values())
        dialect = self.session.get_bind().dialect.name
        ins = (postgresql.insert if dialect == "postgresql" else sqlite.insert)(SyncRecord)
        stmt = ins.on_conflict_do_update(
            index_elements=["tenant_id", "entity", "id"],
            set_={
                c: getattr(ins.excluded, c)
                for c in ("rev", "deleted", "student_id", "instructor_id", "private", "updated_at")
            },
        )
        for start in range(0, len(rows), 500):
            await self.session.execute(stmt, rows[start : start + 500])
        await self.session.execute(
            update(TenantRev).where(TenantRev.tenant_id == self.tenant_id).values(rev=self.rev)
        )


class _TenantLocks:
    """One asyncio.Lock per tenant with writers holding or awaiting it; a lock is dropped
    as soon as nobody holds or awaits it, so idle tenants cost nothing."""

    def __init__(self) -> None:
        self._slots: dict[str, tuple[asyncio.Lock, list[int]]] = {}

    @asynccontextmanager
    async def hold(self, tenant_id: str) -> AsyncIterator[None]:
        slot = self._slots.get(tenant_id)
        if slot is None:
            slot = self._slots[tenant_id] = (asyncio.Lock(), [0])
        lock, users = slot
        users[0] += 1
        try:
            async with lock:
                yield
        finally:
            users[0] -= 1
            if users[0] == 0:
                del self._slots[tenant_id]

    def queued(self, tenant_id: str) -> int:
        """Writers of the tenant holding or awaiting its lock in this process."""
        slot = self._slots.get(tenant_id)
        return slot[1][0] if slot else 0

    def __len__(self) -> int:
        return len(self._slots)


class Store:
    """Opens tenant-bound transactions."""

    def __init__(self, sessions: async_sessionmaker[AsyncSession], dialect: str) -> None:
        self.sessions = sessions
        self.dialect = dialect
        self.listeners: list[CommitListener] = []
        self.catalogue_entities: frozenset[str] = CATALOGUE_ENTITIES
        self.locks = _TenantLocks()

    @asynccontextmanager
    async def write(self, tenant_id: str) -> AsyncIterator[WriteTxn]:
        """A write transaction holding the tenant's rev lock until COMMIT."""
        async with self.locks.hold(tenant_id), self.sessions() as session:
            bind_tenant(session, tenant_id)
            async with session.begin():
                current = await session.scalar(
                    select(TenantRev.rev).where(TenantRev.tenant_id == tenant_id).with_for_update()
                )
                if current is None:
                    session.add(TenantRev(tenant_id=tenant_id, rev=0, horizon_rev=0))
                    await session.flush()
                    current = 0
                txn = WriteTxn(session, tenant_id, current)
                yield txn
                await txn.flush_index()
        # Listeners run after the next writer may go ahead.
        if txn.changed:
            info = txn.commit_info(self.catalogue_entities)
            for listener in self.listeners:
                await listener(info)

    @asynccontextmanager
    async def read(self, tenant_id: str) -> AsyncIterator[AsyncSession]:
        """A read-only transaction seeing one consistent snapshot of the tenant."""
        async with self.sessions() as session:
            bind_tenant(session, tenant_id)
            async with session.begin():
                await session.connection(execution_options=read_options(self.dialect))
                yield session
