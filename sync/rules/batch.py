"""The context one push batch is applied in: the write transaction, who writes, their scope,
the school's settings, and the batch's reads and pending work.

A batch's reads are loaded up front (`preload`: its targets and the parents they name, one
query per entity), and every later look-up goes through `load_row`, which answers from that
cache while the row is still current; rows the batch creates join the cache as they are
stamped (`Context.stamp`), so a later mutation of the batch sees them without a query.
Derived records (progress, trip totals) are recomputed once per batch, not per mutation.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import inspect, select
from sqlalchemy.ext.asyncio import AsyncSession

from sync.core.entities import ENTITIES
from sync.core.principal import Principal
from sync.core.scope import Scope
from sync.lookup import by_ids
from sync.store import WriteTxn
from sync.tables import table_of


@dataclass
class TenantInfo:
    """Per-school settings a mutation may need."""

    timezone: str
    currency: str
    pass_mark: int
    pass_total: int


@dataclass
class Context:
    """Everything an entity rule may use while a batch is applied."""

    txn: WriteTxn
    who: Principal
    scope: Scope
    client_id: str
    tenant: TenantInfo
    outbox: list[tuple[str, dict[str, Any], str]] = field(default_factory=list)
    journal_enabled: bool = True
    # Bookkeeping rows (results, audit, journal) added in one batch after the mutations.
    deferred: list[tuple[Any, dict[str, Any]]] = field(default_factory=list)
    # The batch's reads: (entity, id) -> row, or None when no such row existed.
    loaded: dict[tuple[str, str], Any] = field(default_factory=dict)
    # Students whose progress, and trips whose totals, the batch must recompute at its end.
    progress_due: set[str] = field(default_factory=set)
    trips_due: dict[str, Any] = field(default_factory=dict)
    # The writer's schema version: the form of the records its results carry (sync.records).
    schema_version: int = 1

    @property
    def session(self) -> AsyncSession:
        return self.txn.session

    def stamp(self, entity: str, row: Any) -> int:
        """Give a changed row its rev (sync.store) and keep it for later look-ups."""
        rev = self.txn.stamp(entity, row)
        self.loaded[(entity, row.id)] = row
        return rev

    def emit(self, event: str, payload: dict[str, Any], dedupe: str) -> None:
        """Queue an outbox event, committed with the change that caused it."""
        self.outbox.append((event, payload, dedupe))

    def forget(self) -> None:
        """Drop the batch's cached reads (after an undo they may be stale)."""
        self.loaded.clear()
        self.progress_due.clear()
        self.trips_due.clear()


_UNSET: Any = object()


def _uuid(value: Any) -> str | None:
    """A raw id in the form the engine stores (lowercase UUID), or None: anything else
    (unvalidated client input, a NUL byte included) never reaches a query."""
    if not isinstance(value, str) or len(value) > 36:
        return None
    try:
        return str(uuid.UUID(value))
    except ValueError:
        return None


async def load_row(ctx: Context, entity: str, rid: str) -> Any:
    """The current row of a record (tombstones included), or None.

    Answered from the batch's cache while the cached row is still current: persistent or
    created in this transaction, and not expired by a savepoint's rollback. Otherwise (or
    never looked up) one query, whose answer joins the cache."""
    hit = ctx.loaded.get((entity, rid), _UNSET)
    if hit is None:
        return None
    if hit is not _UNSET:
        state = inspect(hit)
        if (state.persistent or state.pending) and not state.expired_attributes:
            return hit
        if state.transient and ctx.txn.is_fresh(hit):
            return hit  # created in this batch, not yet written (sync.store.WriteTxn.fresh)
    table = table_of(entity)
    row = await ctx.session.scalar(select(table).where(table.id == rid))
    ctx.loaded[(entity, rid)] = row
    return row


async def preload(ctx: Context, raws: list[dict[str, Any]]) -> None:
    """Load the rows a batch of raw mutations targets and the parents they name, one query
    per entity and 1,000 ids, into the batch's cache (None for ids with no row). Malformed
    mutations are left for `parse_command` to reject."""
    wanted: dict[str, set[str]] = {}
    for raw in raws:
        entity = raw.get("entity")
        if not isinstance(entity, str) or entity not in ENTITIES:
            continue
        rid = _uuid(raw.get("id"))
        if rid is not None:
            wanted.setdefault(entity, set()).add(rid)
        data = raw.get("data")
        if isinstance(data, dict):
            for ref in ENTITIES[entity].refs:
                for ref_id in map(_uuid, ref.ids(data)):
                    if ref_id is not None:
                        wanted.setdefault(ref.entity, set()).add(ref_id)
    dialect = ctx.session.get_bind().dialect.name
    for entity, ids in wanted.items():
        table = table_of(entity)
        ordered = sorted(i for i in ids if (entity, i) not in ctx.loaded)
        for start in range(0, len(ordered), 1000):
            chunk = ordered[start : start + 1000]
            rows = await ctx.session.scalars(by_ids(dialect, table), {"ids": chunk})
            found = {row.id: row for row in rows}
            for rid in chunk:
                ctx.loaded[(entity, rid)] = found.get(rid)
