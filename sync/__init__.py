"""DriveSync's sync engine: no HTTP in it. The layout says which part is which.

    core/      the pure rules, no I/O (see sync/core/__init__.py): entity registry, typed
               commands, hlc, cursor, scope, policy, textmerge, geo, derive, pricing
    rules/     applying commands inside a push's transaction: the batch context and its
               cached reads, last-writer-wins (+ note merge, lesson states), append-only
               (+ derived progress, trip totals, scores), bookings, people (admins'
               writes of students, instructors and assignments), catalogue (admins'
               writes of services, rate cards, skills and theory questions)

Store and services (transactions and I/O), read in this order:
    database   engines for SQLite and PostgreSQL (WAL, BEGIN IMMEDIATE, isolation, upsert)
    tenancy    every ORM statement scoped to the session's tenant, in one place
    store      write transactions holding the tenant's rev lock (after an in-process queue
               per tenant); the change index; NOTIFY with the commit
    tables     the mapped class of each registry entity
    records    rows into wire records
    push       exactly-once batches: seq order, optimistic apply, journal, outbox
    pull       pages of changes in scope, scope diffs, cursors; no-change pulls from memory
    checksum   per-entity count and hash for verification
    access     loading a principal's scope; scope snapshots
    assignments  assigning, unassigning, a student leaving, an instructor made inactive
               (who sees whom), shared by rules/people and admin
    admin      reassignments, leaving students, the journal, devices
    compaction tombstone horizon
    notifier   live pokes in-process and over LISTEN/NOTIFY; each school's head rev
    service    SyncService: the one object the web layer holds
    errors     the error tree (stable codes), shared by every layer
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from sync.core.principal import Principal
    from sync.errors import DriveSyncError
    from sync.service import Limits, SyncService
    from sync.store import Store

__all__ = ["DriveSyncError", "Limits", "Principal", "Store", "SyncService"]

# Where each public name lives: loaded on first use, so importing one pure module (say
# `sync.core.hlc`) does not bring in the store, SQLAlchemy and the services.
_HOMES = {
    "DriveSyncError": "sync.errors",
    "Limits": "sync.service",
    "Principal": "sync.core.principal",
    "Store": "sync.store",
    "SyncService": "sync.service",
}


def __getattr__(name: str) -> Any:
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module 'sync' has no attribute {name!r}")
    value = getattr(importlib.import_module(home), name)
    globals()[name] = value
    return value
