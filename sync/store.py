"""Transactions against the database, bound to one tenant.

`Store.write(tenant_id)` opens the only kind of transaction that changes synced records.
Writers of one tenant first queue in this process (one `asyncio.Lock` per tenant, dropped
when idle) and only then check out a pooled connection, so a busy school's writers wait
without holding connections other schools need. The transaction's first statement then locks
the tenant's counter row (PostgreSQL, for writers in other processes; SQLite's BEGIN
IMMEDIATE already holds the database write lock), so writers in a tenant commit one after
another in rev order. Inside it, `WriteTxn.stamp(entity, row)` gives a row the next rev and
indexes it in `sync_records`; on exit the counter is saved and — on PostgreSQL, in the same
transaction — `NOTIFY drivesync_changes` says what changed, so every process hears of every
commit whichever process (server, worker, CLI) made it. After COMMIT, listeners in this
process hear it at once (`CommitInfo`: live pokes, the head cache).
"""

from __future__ import annotations

import asyncio
import functools
import json
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any, Final, cast

from sqlalchemy import Table, Text, bindparam, event, func, insert, inspect, literal, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlalchemy.orm import ORMExecuteState, Session, UOWTransaction, make_transient_to_detached
from sqlalchemy.orm.attributes import set_committed_value

from schemas import Student, StudentGuardian, StudentInstructor, SyncRecord, TenantRev, utcnow
from sync.bulk import insert_from, payload
from sync.core.entities import CATALOGUE_ENTITIES, PARTY_ENTITIES, party_instructor, scope_keys
from sync.database import insert_for, read_options
from sync.tenancy import bind_tenant

CHANNEL: Final = "drivesync_changes"
# NOTIFY payloads are limited to 8000 bytes: past this, the keys are summarised.
MAX_PAYLOAD: Final = 7900
_TXN: Final = "drivesync_write_txn"


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
    # connections reload it, and cached scopes of theirs are stale. Ordinary commits leave
    # this empty.
    rescoped: set[str] = field(default_factory=set)
    # The commit's first rev (a commit takes revs first_rev..rev): a reader of the commit
    # stream knows from it whether it has heard every commit up to `rev`. None: unknown.
    first_rev: int | None = None
    # Scopes of users not listed in `rescoped` may have changed too (too many to list, or
    # a write touched assignments without saying whose): every cached scope is stale.
    rescope_all: bool = False
    # The Store that committed it: a process hearing its own NOTIFY back (it has already
    # told its listeners) does not deliver it twice.
    origin: str = ""
    # Users a party record of this commit is addressed to (Visibility.PARTY), and the
    # instructors it names, as `party_instructor(id)`: only they are poked, not every student
    # who follows them (a party record's instructor is not in `instructor_ids`).
    user_ids: set[str] = field(default_factory=set)


CommitListener = Callable[[CommitInfo], Awaitable[None]]


def encode(info: CommitInfo) -> str:
    """The NOTIFY payload of a commit (under 8000 bytes: long key lists are summarised as
    "everyone in the tenant")."""
    keys: dict[str, Any] = {
        "t": info.tenant_id,
        "r": info.rev,
        "f": info.first_rev,
        "o": info.origin,
        "c": info.catalogue,
        "x": sorted(info.rescoped),
        "s": sorted(info.student_ids),
        "i": sorted(info.instructor_ids),
        "u": sorted(info.user_ids),
    }
    if info.rescope_all:
        keys["xa"] = True
    text = json.dumps(keys, separators=(",", ":"))
    if len(text) > MAX_PAYLOAD:
        del keys["s"], keys["i"], keys["u"]
        keys["all"] = True
        text = json.dumps(keys, separators=(",", ":"))
    if len(text) > MAX_PAYLOAD:
        keys["x"] = []
        keys["xa"] = True
        text = json.dumps(keys, separators=(",", ":"))
    return text


def decode(payload: str) -> CommitInfo:
    """A commit from its NOTIFY payload (payloads of older versions lack f, o and xa)."""
    keys = json.loads(payload)
    first = keys.get("f")
    info = CommitInfo(
        keys["t"],
        int(keys["r"]),
        set(keys.get("s", ())),
        set(keys.get("i", ())),
        bool(keys.get("c")),
        set(keys.get("x", ())),
        first_rev=int(first) if first is not None else None,
        rescope_all=bool(keys.get("xa")),
        origin=str(keys.get("o") or ""),
        user_ids=set(keys.get("u", ())),
    )
    if keys.get("all"):
        info.catalogue = True  # treat as relevant to everyone in the tenant
    return info


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
        # What the session hooks below saw of assignment changes, in case the code making
        # them did not say whose scope changed (then every scope counts as changed).
        self.touched_ids: set[str] = set()
        self.touched_unnamed = False
        # Rows nothing in the transaction reads back (results, audit, journal, note
        # history), written with the change index just before COMMIT (see flush_index).
        self.deferred: list[tuple[Any, dict[str, Any]]] = []
        # UPDATEs of rows already loaded (a device's acked seq and health), sent the same way.
        self.deferred_updates: list[tuple[Table, dict[str, Any], dict[str, Any]]] = []
        # New rows kept out of the ORM's unit of work (see `keep_fresh`): table -> id -> row.
        self.fresh: dict[Table, dict[str, Any]] = {}
        self.keep_fresh = False

    def defer_update(self, row: Any) -> None:
        """Send the changes made to a loaded row with the deferred rows instead of in the
        next flush (on PostgreSQL that saves the batch a round trip). The row reads as
        unchanged afterwards, so change it no more in this transaction."""
        state = inspect(row)
        if not state.persistent:
            return  # a new row is the flush's to insert
        changes = {
            attr.key: getattr(row, attr.key)
            for attr in state.mapper.column_attrs
            if state.attrs[attr.key].history.has_changes()
        }
        if not changes:
            return
        key = {col.name: state.identity[i] for i, col in enumerate(state.mapper.primary_key)}
        self.deferred_updates.append((state.mapper.local_table, key, changes))
        for name, value in changes.items():
            set_committed_value(row, name, value)

    def next_rev(self) -> int:
        self.rev += 1
        return self.rev

    def stamp(self, entity: str, row: Any) -> int:
        """Give `row` the next rev and index it under its scope keys; adds it to the
        session if it is new (or, with `keep_fresh`, to the rows inserted without it)."""
        student_id, instructor_id, private, user_id = scope_keys(entity, row)
        rev = self.next_rev()
        row.rev = rev
        row.updated_at = self.now
        if getattr(row, "tenant_id", None) is None:
            row.tenant_id = self.tenant_id
        if row not in self.session:
            table = inspect(row).mapper.local_table
            if self.keep_fresh and type(row) not in _SCOPE_ROWS:
                _fill_defaults(row)
                self.fresh.setdefault(table, {})[row.id] = row
            elif self.fresh.get(table, {}).get(row.id) is not row:
                self.session.add(row)
        self.index(
            entity,
            row.id,
            rev,
            bool(getattr(row, "deleted", False)),
            student_id,
            instructor_id,
            private,
            user_id,
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
        user_id: str | None = None,
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
            "user_id": user_id,
            "updated_at": self.now,
            "origin": None,
        }

    def fresh_rows(self, cls: type) -> list[Any]:
        """The fresh rows of a mapped class, in the order they were created."""
        return list(self.fresh.get(inspect(cls).local_table, {}).values())

    def is_fresh(self, row: Any) -> bool:
        """Whether `row` is a new row of this transaction kept out of the session."""
        return self.fresh.get(inspect(row).mapper.local_table, {}).get(row.id) is row

    def flush_fresh(self, tables: set[Any] | None = None) -> None:
        """Insert the fresh rows (of `tables`, or all) now, with plain multi-row INSERTs,
        and attach them to the session as loaded rows, so later changes to them in this
        transaction are flushed as UPDATEs. Synchronous: called from the session's own
        execution (see `_flush_fresh_before_reads`), inside its greenlet."""
        connection = self.session.sync_session.connection()
        for table in _in_dependency_order(self.fresh):
            if tables is not None and table not in tables:
                continue
            rows = self.fresh.pop(table)
            connection.execute(insert(table), [_values(table, row) for row in rows.values()])
            for row in rows.values():
                make_transient_to_detached(row)
                self.session.sync_session.add(row)

    def mark_own(self, entity: str, record_id: str, rev: int | None, client_id: str) -> None:
        """Note that the record's version at `rev` is what `client_id` holds from its own
        push's answer (nothing if a later write of this batch replaced that version)."""
        entry = self._index.get((entity, record_id))
        if entry is not None and rev is not None and entry["rev"] == rev:
            entry["origin"] = client_id

    @property
    def changed(self) -> bool:
        return self.rev != self.start_rev

    def commit_info(self, catalogue_entities: frozenset[str], origin: str = "") -> CommitInfo:
        declared = self.extra_instructors | self.rescoped_students
        info = CommitInfo(
            self.tenant_id,
            self.rev,
            instructor_ids=set(self.extra_instructors),
            rescoped=declared | self.touched_ids,
            first_rev=self.start_rev + 1,
            rescope_all=self.touched_unnamed and not declared,
            origin=origin,
        )
        for (entity, _id), values in self._index.items():
            if values["student_id"]:
                info.student_ids.add(values["student_id"])
            if values["instructor_id"]:
                if entity in PARTY_ENTITIES:  # that instructor alone (sync.core.scope)
                    info.user_ids.add(party_instructor(values["instructor_id"]))
                else:
                    info.instructor_ids.add(values["instructor_id"])
            if values["user_id"]:
                info.user_ids.add(values["user_id"])
            if entity in catalogue_entities:
                info.catalogue = True
        return info

    async def flush_index(self, dialect: str, notify: CommitInfo | None = None) -> None:
        """Write the deferred rows, the change index and the counter (called just before
        COMMIT). On PostgreSQL that is one statement (sync.bulk), and with `notify` the
        counter's UPDATE also queues its NOTIFY (PostgreSQL sends it at COMMIT, and only if
        the transaction commits)."""
        if not self.changed and not self.deferred and not self.deferred_updates:
            return
        await self.session.flush()
        by_table: dict[Any, list[dict[str, Any]]] = {}
        # New rows first (parents before children: SQLite checks references per statement).
        for table in _in_dependency_order(self.fresh):
            by_table[table] = [_values(table, row) for row in self.fresh[table].values()]
        self.fresh.clear()
        for table, row in self.deferred:
            by_table.setdefault(getattr(table, "__table__", table), []).append(row)
        self.deferred.clear()
        updates, self.deferred_updates = self.deferred_updates, []
        index = list(self._index.values()) if self.changed else []
        if dialect == "postgresql":
            await self._flush_postgresql(by_table, updates, index, notify)
            return
        for table, key, changes in updates:
            where = [table.c[name] == value for name, value in key.items()]
            await self.session.execute(update(table).where(*where).values(**changes))
        for table, rows in by_table.items():
            for start in range(0, len(rows), 1000):
                await self.session.execute(insert(table), rows[start : start + 1000])
        for start in range(0, len(index), 500):
            await self.session.execute(
                _upsert_index(insert_for(self.session)(SyncRecord)), index[start : start + 500]
            )
        if self.changed:
            await self.session.execute(
                update(TenantRev).where(TenantRev.tenant_id == self.tenant_id).values(rev=self.rev)
            )

    async def _flush_postgresql(
        self,
        by_table: dict[Any, list[dict[str, Any]]],
        updates: list[tuple[Table, dict[str, Any], dict[str, Any]]],
        index: list[dict[str, Any]],
        notify: CommitInfo | None,
    ) -> None:
        params: dict[str, Any] = {"tid": self.tenant_id, "rev": self.rev}
        inserts = []
        for i, (table, rows) in enumerate(by_table.items()):
            names, params[f"w{i}"] = payload(table, rows)
            inserts.append((table, names))
        for i, (_table, key, changes) in enumerate(updates):
            for name, value in (*key.items(), *changes.items()):
                params[f"u{i}_{name}"] = value
        index_names: tuple[str, ...] | None = None
        if index:
            index_names, params["idx"] = payload(_INDEX, index)
        if notify is not None:
            params["note"] = encode(notify)
        shape = (
            tuple((table.name, names) for table, names in inserts),
            tuple((table.name, tuple(key), tuple(changes)) for table, key, changes in updates),
            index_names,
            self.changed,
            notify is not None,
        )
        stmt = _SHAPES.get(shape)
        if stmt is None:
            stmt = _bookkeeping(inserts, updates, index_names, self.changed, notify is not None)
            if len(_SHAPES) >= 512:
                _SHAPES.clear()
            _SHAPES[shape] = stmt
        await self.session.execute(stmt, params)


def _fill_defaults(row: Any) -> None:
    """Set the Python-side column defaults the ORM would have set at INSERT (`rev`,
    `created_at`, an entity's `body` or `tags`), and None for the other unset columns, so
    the row reads complete before it is written (results are built from it)."""
    values = row.__dict__
    shape = _shape(type(row))
    for key, make in shape.defaults:
        if key not in values:
            setattr(row, key, make())
    # Every other column it is written with is NULL: say so, so the row never has an
    # attribute left to load (attached after its INSERT, it would load it from the
    # database, outside the session's greenlet).
    for _name, key in shape.columns:
        if key not in values:
            setattr(row, key, None)


def _values(table: Table, row: Any) -> dict[str, Any]:
    """A fresh row's column values, by column name."""
    values = row.__dict__
    return {name: values.get(key) for name, key in _shape(type(row)).columns}


@dataclass(frozen=True)
class _Shape:
    """What writing a mapped class's rows without the ORM needs, worked out once."""

    columns: tuple[tuple[str, str], ...]  # (column name, attribute name)
    defaults: tuple[tuple[str, Callable[[], Any]], ...]  # (attribute, value maker)


_SHAPES_BY_CLASS: dict[type, _Shape] = {}


def _shape(cls: type) -> _Shape:
    shape = _SHAPES_BY_CLASS.get(cls)
    if shape is None:
        mapper: Any = inspect(cls)
        columns, defaults = [], []
        for col in mapper.local_table.c:
            key = mapper.get_property_by_column(col).key
            columns.append((col.name, key))
            default = col.default
            if default is None or default.is_sequence:
                continue
            arg = default.arg
            if default.is_callable:
                defaults.append((key, functools.partial(arg, None)))
            else:
                defaults.append((key, functools.partial(_same, arg)))
        shape = _SHAPES_BY_CLASS[cls] = _Shape(tuple(columns), tuple(defaults))
    return shape


def _same(value: Any) -> Any:
    return value


def _in_dependency_order(tables: dict[Table, Any]) -> list[Table]:
    """Parents before children. (`MetaData.sorted_tables` sorts every table by its foreign
    keys on each call: a few milliseconds, so it is worked out once.)"""
    if len(tables) < 2:
        return list(tables)
    order = _table_order()
    return sorted(tables, key=lambda t: order.get(t, len(order)))


@functools.cache
def _table_order() -> dict[Table, int]:
    from schemas import Base

    return {t: i for i, t in enumerate(Base.metadata.sorted_tables)}


# The one bookkeeping statement of a write on PostgreSQL, by shape (which tables get rows
# and with which columns, which rows are updated, whether the counter moves and notifies):
# built once per shape, since building and hashing it cost about a millisecond a batch.
_SHAPES: dict[Any, Any] = {}


def _bookkeeping(
    inserts: list[tuple[Table, tuple[str, ...]]],
    updates: list[tuple[Table, dict[str, Any], dict[str, Any]]],
    index_names: tuple[str, ...] | None,
    changed: bool,
    notify: bool,
) -> Any:
    ctes = [
        insert_from(insert(table), table, names, f"w{i}").cte(f"w{i}")
        for i, (table, names) in enumerate(inserts)
    ]
    for i, (table, key, changes) in enumerate(updates):
        where = [table.c[name] == bindparam(f"u{i}_{name}") for name in key]
        values = {name: bindparam(f"u{i}_{name}", type_=table.c[name].type) for name in changes}
        ctes.append(update(table).where(*where).values(values).cte(f"u{i}"))
    if index_names is not None:
        ins = insert_from(pg_insert(_INDEX), _INDEX, index_names, "idx")
        ctes.append(_upsert_index(ins).cte("idx"))
    final: Any
    if changed:
        final = (
            update(_COUNTER)
            .where(_COUNTER.c.tenant_id == bindparam("tid"))
            .values(rev=bindparam("rev"))
        )
        if notify:
            final = final.returning(func.pg_notify(CHANNEL, bindparam("note", type_=Text)))
    else:
        final = select(literal(1))
    return final.add_cte(*ctes)


_INDEX = cast(Table, SyncRecord.__table__)
_COUNTER = cast(Table, TenantRev.__table__)


def _upsert_index(ins: Any) -> Any:
    """The change index keeps one row per record: its latest rev and scope keys."""
    return ins.on_conflict_do_update(
        index_elements=["tenant_id", "entity", "id"],
        set_={
            c: getattr(ins.excluded, c)
            for c in (
                "rev",
                "deleted",
                "student_id",
                "instructor_id",
                "private",
                "updated_at",
                "origin",
            )
        },
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
        # Tags this store's NOTIFYs (see CommitInfo.origin).
        self.origin = uuid.uuid4().hex[:12]
        self.locks = _TenantLocks()

    @asynccontextmanager
    async def write(self, tenant_id: str) -> AsyncIterator[WriteTxn]:
        """A write transaction holding the tenant's rev lock until COMMIT."""
        info: CommitInfo | None = None
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
                session.sync_session.info[_TXN] = txn
                yield txn
                await session.flush()  # (runs the hooks noting assignment changes)
                if (txn.touched_ids or txn.touched_unnamed) and not txn.changed:
                    txn.next_rev()  # a scope change always moves the rev (pull caches rely on it)
                if txn.changed:
                    info = txn.commit_info(self.catalogue_entities, self.origin)
                await txn.flush_index(self.dialect, info if self.dialect == "postgresql" else None)
            session.sync_session.info.pop(_TXN, None)
        if info is not None:
            for listener in self.listeners:
                await listener(info)

    async def head(self, tenant_id: str) -> int:
        """The tenant's newest committed rev (0 for a school that never wrote)."""
        async with self.read(tenant_id) as session:
            return await session.scalar(select(TenantRev.rev)) or 0

    @asynccontextmanager
    async def read(self, tenant_id: str) -> AsyncIterator[AsyncSession]:
        """A read-only transaction seeing one consistent snapshot of the tenant."""
        async with self.sessions() as session:
            bind_tenant(session, tenant_id)
            async with session.begin():
                await session.connection(execution_options=read_options(self.dialect))
                yield session


# Execution option of a read that adds the fresh rows it needs itself (sync.rules.append):
# they are not inserted before it.
WITHOUT_FRESH: Final = "drivesync_without_fresh"

# Rows whose changes the hooks below must see in the unit of work: never kept fresh.
_SCOPE_ROWS: Final = (Student, StudentInstructor, StudentGuardian)


@event.listens_for(Session, "do_orm_execute")
def _flush_fresh_before_reads(state: ORMExecuteState) -> None:
    """A statement that reads or changes a table holding fresh rows sees them: they are
    inserted first, as the ORM's autoflush would have done (a batch's second booking must
    see its first, progress must count the assessments just added). Statements that name
    no mapped table (text) flush every fresh row."""
    txn = state.session.info.get(_TXN)
    if txn is None or not txn.fresh or state.execution_options.get(WITHOUT_FRESH):
        return
    mappers = state.all_mappers
    if not mappers:
        txn.flush_fresh()
        return
    touched = {m.local_table for m in mappers} & set(txn.fresh)
    if touched:
        txn.flush_fresh(touched)


# Scopes come from assignments (student_instructors) and from whether a student is still in
# the school (students.left_at, students.deleted). A write transaction changing those must
# say whose scope changed (WriteTxn.extra_instructors / rescoped_students); these hooks
# note such changes, so a write that forgets to say counts as changing every scope.
_SCOPE_COLUMNS: Final = ("left_at", "deleted")


@event.listens_for(Session, "after_flush")
def _note_assignment_rows(session: Session, _flush: UOWTransaction) -> None:
    txn = session.info.get(_TXN)
    if txn is None:
        return
    for obj in (*session.new, *session.deleted):
        if type(obj) is StudentInstructor:
            txn.touched_ids.update((obj.student_id, obj.instructor_id))
        elif type(obj) is StudentGuardian:  # the guardian's sign-in is not at hand here
            txn.touched_ids.add(obj.student_id)
            txn.touched_unnamed = True
    for obj in session.dirty:
        kind = type(obj)
        if kind is StudentInstructor:
            txn.touched_unnamed = True  # the pair it had before is not at hand
        elif kind is Student:
            attrs = inspect(obj).attrs
            if any(attrs[name].history.has_changes() for name in _SCOPE_COLUMNS):
                txn.touched_ids.add(obj.id)
                txn.touched_unnamed = True  # and their instructors'


@event.listens_for(Session, "do_orm_execute")
def _note_assignment_statements(state: ORMExecuteState) -> None:
    if not (state.is_update or state.is_delete):
        return
    txn = state.session.info.get(_TXN)
    if txn is None:
        return
    if any(m.class_ in (StudentInstructor, Student, StudentGuardian) for m in state.all_mappers):
        txn.touched_unnamed = True
