"""DriveSync's sync engine: no HTTP in it.

Read in this order:

Pure core (no I/O, no aiohttp, no SQLAlchemy — checked by import-linter):
    hlc        hybrid logical clock stamps, clamping of clocks from the future
    cursor     signed, opaque pull cursors (tenant, user, rev, scope fingerprint, schema)
    scope      who may read what, from their role and assignments
    policy     field last-writer-wins, delete vs update, lesson/booking state machines,
               the note-body merge decision
    textmerge  three-way token merge of lesson-note text
    geo        GPS maths: haversine, point validation
    derive     server-derived fields: progress, trip totals, mock-test score and pass

Store and services (transactions):
    database   engines for SQLite and PostgreSQL (WAL, BEGIN IMMEDIATE, isolation)
    tenancy    every ORM statement scoped to the session's tenant, in one place
    store      write transactions holding the tenant's rev lock; the change index
    entities   the synced entities: table, wire fields, writers, policy, visibility
    mutation   one mutation's parsing and the handler context
    apply      last-writer-wins entities (lesson, note, trip, availability)
    append     append-only entities and the derived records they update
    booking    server-authoritative booking rules
    push       exactly-once batches: seq order, savepoints, journal, outbox
    pull       pages of changes in scope, scope diffs, cursors
    checksum   per-entity count and hash for verification
    access     loading a principal's scope; scope snapshots
    admin      reassignments, leaving students, the journal, devices
    compaction tombstone horizon
    notifier   live pokes in-process and over LISTEN/NOTIFY
    service    SyncService: the one object the web layer holds
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from sync.errors import DriveSyncError
    from sync.principal import Principal
    from sync.service import Limits, SyncService
    from sync.store import Store

__all__ = ["DriveSyncError", "Limits", "Principal", "Store", "SyncService"]

# Where each public name lives: loaded on first use, so importing one pure module (say
# `sync.hlc`) does not bring in the store, SQLAlchemy and the services.
_HOMES = {
    "DriveSyncError": "sync.errors",
    "Limits": "sync.service",
    "Principal": "sync.principal",
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
