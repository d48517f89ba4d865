"""Push: apply a batch of one device's mutations exactly once.

One write transaction per batch (the tenant's rev lock is its first statement). Mutations
at or below the device's acked seq get their stored result again, marked duplicate; the rest
must continue at acked_seq + 1 (else 409 seq_gap) and are applied in order: first all
together with one flush and no savepoint (the common case: every mutation applies), and if
any is rejected or trips a database constraint, the transaction is rolled back and the batch
applied again one by one, each mutation in a savepoint, so that mutation is refused alone
and never blocks the queue. Results, the new acked seq, journal entries and outbox rows
commit together with the data.

Reads are set-based (sync.rules.batch preloads a batch's targets and their parents), so are the
writes: the ORM flushes each table's new and changed rows together, and the bookkeeping rows
(results, audit, journal) go out as one multi-row INSERT per table. A batch costs a constant
number of statements whatever its size (`python -m bench.roundtrips` counts them).
"""

from __future__ import annotations

import datetime as dt
import math
import time
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

from sqlalchemy import and_, select
from sqlalchemy.exc import DataError, IntegrityError

from schemas import (
    AuditEntry,
    Device,
    JournalEntry,
    MutationResult,
    OutboxEvent,
    Tenant,
)
from schemas.wire import DeviceInfo
from sync.access import ScopeCache, load_scope
from sync.core.command import Command, Outcome, Reject, parse_command
from sync.core.entities import ENTITIES, Policy
from sync.core.principal import Principal
from sync.errors import Invalid, SeqGap, UpgradeRequired
from sync.records import RecordContext, needs_assignments, to_record, wire_value
from sync.rules.append import apply_append, finish_batch
from sync.rules.batch import Context, TenantInfo, preload
from sync.rules.booking import apply_booking
from sync.rules.booking_move import apply_move
from sync.rules.catalogue import apply_catalogue
from sync.rules.inbox import apply_inbox
from sync.rules.lww import apply_lww
from sync.rules.messaging import apply_messaging
from sync.rules.people import apply_people
from sync.rules.series import apply_series
from sync.rules.test_record import apply_test_record
from sync.rules.timeoff import apply_timeoff
from sync.store import Store, WriteTxn
from sync.tables import table_of

_MAX_INT32 = 2**31 - 1
_MAX_INT64 = 2**63 - 1

# How often a device's pulls of an unchanged rev are written to its health record.
PULL_NOTE_INTERVAL_S = 60.0

Rule = Callable[[Context, Command], Awaitable[Outcome]]

# The rules each conflict policy applies (sync.core.entities says which policy an entity has).
HANDLERS: dict[Policy, Rule] = {
    Policy.LWW: apply_lww,
    Policy.NOTE: apply_lww,
    Policy.APPEND: apply_append,
    Policy.ONCE: apply_append,
    Policy.BOOKING: apply_booking,
    Policy.PEOPLE: apply_people,
    Policy.TIMEOFF: apply_timeoff,
    Policy.SERIES: apply_series,
    Policy.CATALOGUE: apply_catalogue,
    Policy.MOVE: apply_move,
    Policy.MESSAGING: apply_messaging,
    Policy.INBOX: apply_inbox,
    Policy.TEST: apply_test_record,
}


def _filled(record: dict[str, Any], data: dict[str, Any]) -> dict[str, Any]:
    """The fields of a created record that its writer did not send as they are: all but the
    id and the bookkeeping (rev, updated_at), compared as they go on the wire."""
    return {
        name: value
        for name, value in record.items()
        if name not in ("id", "rev", "updated_at")
        and (name not in data or wire_value(data[name]) != value)
    }


class PushService:
    """Applies pushes; see the module docstring for the guarantees."""

    def __init__(
        self,
        store: Store,
        schema_versions: frozenset[int],
        max_skew_ms: int,
        scopes: ScopeCache | None = None,
    ) -> None:
        self.store = store
        self.scopes = scopes
        self.schema_versions = schema_versions
        self.max_skew_ms = max_skew_ms
        self._pulls: dict[tuple[str, str, str], tuple[int, float]] = {}

    async def push(
        self,
        who: Principal,
        client_id: str,
        schema_version: int,
        mutations: list[dict[str, Any]],
        device_info: DeviceInfo | None = None,
    ) -> dict[str, Any]:
        if schema_version not in self.schema_versions:
            raise UpgradeRequired(
                f"schema version {schema_version} is not supported; upgrade the app",
                {"supported": sorted(self.schema_versions)},
            )
        seqs = [m["seq"] for m in mutations]
        if len(set(seqs)) != len(seqs):
            raise Invalid("a seq appears twice in the batch", {"field": "mutations"})
        ordered = sorted(mutations, key=lambda m: m["seq"])
        try:
            return await self._push(
                who, client_id, ordered, device_info, optimistic=True, version=schema_version
            )
        except (_Undo, IntegrityError, DataError):
            # A mutation was refused or broke a constraint (the new rows of the attempt are
            # written with its bookkeeping, just before COMMIT, so a constraint they break
            # shows there): the whole attempt is rolled back (rev lock released); apply the
            # batch again one mutation per savepoint.
            return await self._push(
                who, client_id, ordered, device_info, optimistic=False, version=schema_version
            )

    async def _push(
        self,
        who: Principal,
        client_id: str,
        ordered: list[dict[str, Any]],
        device_info: DeviceInfo | None,
        optimistic: bool,
        version: int = 1,
    ) -> dict[str, Any]:
        async with self.store.write(who.tenant_id) as txn:
            device, school = await self._device(txn, who, client_id)
            acked = device.acked_seq
            dup_seqs = [m["seq"] for m in ordered if m["seq"] <= acked]
            fresh = [m for m in ordered if m["seq"] > acked]
            expected = acked + 1
            for m in fresh:
                if m["seq"] != expected:
                    raise SeqGap(
                        f"mutation seq {m['seq']} does not follow {expected - 1}; "
                        f"resend from {expected}",
                        {"expected": expected},
                    )
                expected += 1
            results = await self._stored_results(txn, device.id, dup_seqs)
            if fresh:
                ctx = await self._context(txn, who, client_id, school)
                ctx.schema_version = version  # the form of the records it gets back
                # New rows skip the ORM's unit of work and go out with the bookkeeping
                # (sync.store.WriteTxn.fresh); one by one, each needs its own savepoint.
                txn.keep_fresh = optimistic
                await preload(ctx, fresh)
                now_ms = int(time.time() * 1000)
                if optimistic:
                    applied = await self._apply_optimistic(ctx, fresh, now_ms, device)
                else:
                    applied = [await self._apply_one(ctx, raw, now_ms, device) for raw in fresh]
                for raw, result in zip(fresh, applied, strict=True):
                    ctx.deferred.append(
                        (
                            MutationResult,
                            {
                                "tenant_id": who.tenant_id,
                                "device_id": device.id,
                                "seq": raw["seq"],
                                "result": result,
                            },
                        )
                    )
                    results.append(result)
                _write_deferred(ctx)
                await self._flush_effects(ctx)
            # Every fresh mutation got a result: the device's new acked seq and its health
            # go out in one UPDATE, with the bookkeeping (one statement on PostgreSQL).
            self._health(device, device_info, txn.now)
            if fresh:
                device.acked_seq = fresh[-1]["seq"]
            acked_seq = device.acked_seq
            txn.defer_update(device)
        results.sort(key=lambda r: r["seq"])
        return {"results": results, "acked_seq": acked_seq, "rev": txn.rev}

    async def apply_detached(
        self, who: Principal, client_id: str, raw: dict[str, Any]
    ) -> dict[str, Any]:
        """Apply one mutation outside any device's seq order (journal replays). Not
        journaled again when it is rejected once more: the original entry stays open."""
        async with self.store.write(who.tenant_id) as txn:
            ctx = await self._context(txn, who, client_id)
            ctx.journal_enabled = False
            result = await self._apply_one(ctx, raw, int(time.time() * 1000), None)
            _write_deferred(ctx)
            await self._flush_effects(ctx)
        return result

    async def note_pull(self, who: Principal, client_id: str, rev: int) -> None:
        """Record that a device has pulled up to `rev` (so devices that only pull, such as a
        guardian's phone, appear in the admins' device list, with their lag). Taken under
        the tenant's write lock like a push, so the two never race to create the device
        row; at most once a minute per device and rev in this process."""
        key = (who.tenant_id, who.user_id, client_id)
        now = time.monotonic()
        seen = self._pulls.get(key)
        if seen is not None and seen[0] == rev and now - seen[1] < PULL_NOTE_INTERVAL_S:
            return
        async with self.store.write(who.tenant_id) as txn:
            device, _school = await self._device(txn, who, client_id)
            if device.last_pull_rev is None or rev > device.last_pull_rev:
                device.last_pull_rev = rev
            device.last_seen_at = txn.now
        if len(self._pulls) > 100_000:  # bounded: forget everyone rather than grow forever
            self._pulls.clear()
        self._pulls[key] = (rev, now)

    async def _device(
        self, txn: WriteTxn, who: Principal, client_id: str
    ) -> tuple[Device, TenantInfo]:
        """The device's row (created on its first push) and the school's settings, read in
        one statement after the rev lock, so both are current: a settings change, and
        another push of the same device from another process, hold the lock too.

        Not in the locking statement itself: a SELECT that waits for the lock re-reads
        only the locked row once it has it, and would hand back the device and the
        settings as they were before the writer it waited for (its acked seq, its pass
        mark)."""
        timezone, currency, pass_mark, pass_total, device = (
            await txn.session.execute(_device_and_school(who, client_id))
        ).one()
        info = TenantInfo(timezone, currency, pass_mark, pass_total)
        if device is None:
            device = Device(
                tenant_id=who.tenant_id,
                id=str(uuid.uuid4()),
                user_id=who.user_id,
                client_id=client_id,
                acked_seq=0,
                last_seen_at=txn.now,
            )
            txn.session.add(device)
            await txn.session.flush()
        return device, info

    async def _stored_results(
        self, txn: WriteTxn, device_id: str, seqs: list[int]
    ) -> list[dict[str, Any]]:
        if not seqs:
            return []
        rows = await txn.session.execute(
            select(MutationResult.seq, MutationResult.result).where(
                MutationResult.device_id == device_id, MutationResult.seq.in_(seqs)
            )
        )
        stored: dict[int, dict[str, Any]] = {seq: result for seq, result in rows.all()}
        out = []
        for seq in seqs:
            result = stored.get(seq)
            if result is None:
                # Acked long ago and its result compacted: it was applied or rejected then.
                result = {
                    "seq": seq,
                    "status": "rejected",
                    "error": {
                        "code": "result_expired",
                        "message": "processed long ago; result no longer kept",
                        "details": {},
                    },
                }
            out.append({**result, "duplicate": True})
        return out

    async def _context(
        self, txn: WriteTxn, who: Principal, client_id: str, info: TenantInfo | None = None
    ) -> Context:
        if info is None:
            tenant = await txn.session.scalar(select(Tenant).where(Tenant.id == who.tenant_id))
            assert tenant is not None
            info = TenantInfo(tenant.timezone, tenant.currency, tenant.pass_mark, tenant.pass_total)
        # Under the rev lock, `start_rev` is the newest commit: a cached scope is used only
        # while the notifier vouches that nothing since it was loaded changed it.
        scope = self.scopes.get(who, txn.start_rev) if self.scopes is not None else None
        if scope is None:
            scope = await load_scope(txn.session, who)
            if self.scopes is not None:
                self.scopes.put(who, scope, txn.start_rev)
        return Context(txn, who, scope, client_id, info)

    async def _apply_optimistic(
        self, ctx: Context, fresh: list[dict[str, Any]], now_ms: int, device: Device
    ) -> list[dict[str, Any]]:
        """Apply the whole batch with no savepoint and one flush (the common case: every
        mutation applies), so the ORM sends each table's rows together. The first
        rejection or broken constraint raises `_Undo`: the caller rolls the transaction
        back and goes one by one."""
        applied: list[tuple[dict[str, Any], Command, Outcome]] = []
        try:
            for raw in fresh:
                m = parse_command(raw, ctx.who, now_ms, self.max_skew_ms)
                if m.clamped:
                    device.skew_ms = m.skew_ms
                applied.append((raw, m, await HANDLERS[m.spec.policy](ctx, m)))
            await finish_batch(ctx)
            await ctx.session.flush()
        except (Reject, IntegrityError, DataError) as exc:
            raise _Undo from exc
        # Records are built from the rows in memory, after the one flush: no query each.
        return [await self._result(ctx, raw, m, outcome) for raw, m, outcome in applied]

    async def _apply_one(
        self, ctx: Context, raw: dict[str, Any], now_ms: int, device: Device | None
    ) -> dict[str, Any]:
        """Apply one mutation in a savepoint; always returns a result, never raises Reject."""
        txn = ctx.txn
        mark_rev, mark_index = txn.rev, dict(txn._index)
        mark_outbox, mark_deferred = len(ctx.outbox), len(ctx.deferred)
        m: Command | None = None
        try:
            m = parse_command(raw, ctx.who, now_ms, self.max_skew_ms)
            if m.clamped and device is not None:
                device.skew_ms = m.skew_ms
            async with txn.session.begin_nested():
                outcome = await HANDLERS[m.spec.policy](ctx, m)
                await finish_batch(ctx)
                await txn.session.flush()
        except (Reject, IntegrityError, DataError) as exc:
            txn.rev, txn._index = mark_rev, mark_index
            del ctx.outbox[mark_outbox:]
            del ctx.deferred[mark_deferred:]
            ctx.trips_due.clear()  # may hold what the undone mutation added
            ctx.progress_due.clear()
            if not isinstance(exc, Reject):
                exc = Reject(
                    "invalid",
                    "the change breaks a rule of the data (a reference or a unique value)",
                )
            return await self._reject(ctx, raw, m, exc)
        return await self._result(ctx, raw, m, outcome)

    async def _record(
        self, ctx: Context, entity: str, rid: str, row: Any = None, *, for_admin: bool = False
    ) -> dict[str, Any] | None:
        """The committed record, as the writer may see it: None when it does not exist, is
        deleted, or lies outside the writer's scope (a rejection must never hand over a
        record the writer cannot read). Built from `row` when the rule handed it over (no
        query); `for_admin` skips the scope check (journal)."""
        spec = ENTITIES[entity]
        if row is None:
            table = table_of(entity)
            row = await ctx.session.scalar(select(table).where(table.id == rid))
        if row is None or row.deleted:
            return None
        if not for_admin and not ctx.scope.sees(entity, *spec.keys.of(row)):
            return None
        staff = for_admin or ctx.who.is_staff  # staff-only fields stay with staff
        if needs_assignments(entity):  # student records carry their instructors
            rctx = await RecordContext.load(
                ctx.session, ctx.txn.tenant_id, [row.id], ctx.schema_version, staff=staff
            )
        else:
            rctx = RecordContext(ctx.tenant.timezone, {}, ctx.schema_version, staff=staff)
        return to_record(entity, row, rctx)

    async def _result(
        self, ctx: Context, raw: dict[str, Any], m: Command, outcome: Outcome
    ) -> dict[str, Any]:
        result: dict[str, Any] = {"seq": m.seq, "status": outcome.status, "rev": outcome.rev}
        if ctx.journal_enabled:
            ctx.deferred.append(
                (
                    AuditEntry,
                    {
                        "tenant_id": ctx.txn.tenant_id,
                        "id": str(uuid.uuid4()),
                        "at": ctx.txn.now,
                        "user_id": ctx.who.user_id,
                        "action": f"sync.{m.op}",
                        "entity": m.spec.name,
                        "record_id": m.id,
                        "rev": outcome.rev,
                        "details": {
                            "client_id": ctx.client_id,
                            "seq": m.seq,
                            "status": outcome.status,
                            "hlc": m.hlc,
                            "fields": sorted(m.data),
                        },
                    },
                )
            )
        record = None
        created = m.op == "put"
        if (
            outcome.include_record
            or created
            or m.spec.name == "booking"
            or outcome.status != "applied"
        ):
            record = await self._record(ctx, m.spec.name, m.id, outcome.row)
        # A record the device created goes back as the fields the server filled in or
        # changed (a default, a copied or derived field), not as an echo of what the device
        # sent: on a slow link that echo was most of the answer (a GPS segment's points). The
        # device's record is then its data, plus `filled`, at `rev` and `updated_at`. A
        # merge, a conflict, a clamp or a patch the server completed sends the whole record.
        if record is not None and outcome.status == "applied" and created and not m.clamped:
            filled = _filled(record, m.data)
            if filled:
                result["filled"] = filled
            # The record is built after the batch: a later mutation or rule of the same batch
            # (a segment moving its trip's totals) may have moved it on; `filled` says so.
            result["rev"] = record["rev"]
            result["updated_at"] = record["updated_at"]
        elif record is not None:
            result["record"] = record
        elif outcome.status == "applied":
            result["updated_at"] = wire_value(ctx.txn.now)
        if ctx.journal_enabled and outcome.status != "rejected":
            # A device's own push (not a journal replay): the version it now holds is left
            # out of its pulls with `skip_own`. It holds the record it was answered with (or
            # rebuilt from `filled`), or the absence of one it deleted; after a bare patch it
            # holds its own copy plus the patch, which misses any change another device made
            # since that copy, so that version still comes down.
            if record is not None:
                ctx.txn.mark_own(m.spec.name, m.id, record["rev"], ctx.client_id)
            elif m.op == "delete":
                ctx.txn.mark_own(m.spec.name, m.id, outcome.rev, ctx.client_id)
        if m.clamped:
            result["hlc_clamped"] = True
        if outcome.status == "conflict":
            result["loser"] = outcome.loser
            result["conflict_id"] = self._journal(
                ctx,
                raw,
                m,
                "conflict",
                "conflict",
                "edits overlap; the committed text was kept",
                record,
                outcome.loser,
            )
            ctx.emit(
                "conflict_stored",
                {"conflict_id": result["conflict_id"], "entity": m.spec.name, "record_id": m.id},
                f"conflict:{result['conflict_id']}",
            )
        elif outcome.lost:
            result["lost"] = sorted(outcome.lost)
            self._journal(
                ctx,
                raw,
                m,
                "lost_field",
                "lost_lww",
                "newer edits won for: " + ", ".join(sorted(outcome.lost)),
                record,
                outcome.lost,
            )
        return result

    async def _reject(
        self, ctx: Context, raw: dict[str, Any], m: Command | None, exc: Reject
    ) -> dict[str, Any]:
        # The message and details may quote the client's input (a field name): keep them to
        # text the journal and the stored result can hold.
        exc.message, exc.details = _storable(exc.message), _jsonable(exc.details)
        record = journal_record = None
        if m is not None:
            journal_record = await self._record(ctx, m.spec.name, m.id, for_admin=True)
            record = await self._record(ctx, m.spec.name, m.id)
        self._journal(
            ctx, raw, m, "rejected", exc.code, exc.message, journal_record, None, exc.details
        )
        result: dict[str, Any] = {
            "seq": raw["seq"],
            "status": "rejected",
            "error": {"code": exc.code, "message": exc.message, "details": exc.details},
        }
        if record is not None:
            result["record"] = record
        return result

    def _journal(
        self,
        ctx: Context,
        raw: dict[str, Any],
        m: Command | None,
        kind: str,
        code: str,
        message: str,
        record: dict[str, Any] | None,
        loser: dict[str, Any] | None,
        details: dict[str, Any] | None = None,
    ) -> str:
        entry_id = str(uuid.uuid4())
        if not ctx.journal_enabled:
            return entry_id
        entity = m.spec.name if m else _storable(str(raw.get("entity"))[:32])
        record_id = m.id if m else _storable(str(raw.get("id"))[:100])
        ctx.deferred.append(
            (
                JournalEntry,
                {
                    "tenant_id": ctx.txn.tenant_id,
                    "id": entry_id,
                    "kind": kind,
                    "status": "open",
                    "user_id": ctx.who.user_id,
                    "client_id": ctx.client_id,
                    "seq": raw["seq"],
                    "entity": entity,
                    "record_id": record_id,
                    "mutation": _jsonable(raw),
                    "code": code,
                    "message": message,
                    "record": record,
                    "loser": _jsonable(loser) if loser is not None else None,
                    "base": {"base_rev": _jsonable(raw.get("base_rev")), **(details or {})}
                    if details or raw.get("base_rev")
                    else None,
                    "rev": record.get("rev") if record else None,
                    "received_at": ctx.txn.now,
                },
            )
        )
        return entry_id

    async def _flush_effects(self, ctx: Context) -> None:
        """Outbox rows for the batch's events, each once (by its dedupe key, checked for
        every event of the batch in one query)."""
        events: dict[str, tuple[str, dict[str, Any]]] = {}
        for event, payload, dedupe in ctx.outbox:
            events.setdefault(dedupe, (event, payload))
        ctx.outbox.clear()
        if not events:
            return
        keys = sorted(events)
        taken: set[str] = set()
        for start in range(0, len(keys), 1000):
            taken.update(
                await ctx.session.scalars(
                    select(OutboxEvent.dedupe_key).where(
                        OutboxEvent.dedupe_key.in_(keys[start : start + 1000])
                    )
                )
            )
        for dedupe, (event, payload) in events.items():
            if dedupe in taken:
                continue
            ctx.session.add(
                OutboxEvent(
                    tenant_id=ctx.txn.tenant_id,
                    id=str(uuid.uuid4()),
                    event_type=event,
                    payload=payload,
                    dedupe_key=dedupe,
                    status="pending",
                    attempts=0,
                    available_at=ctx.txn.now,
                )
            )

    def _health(self, device: Device, info: DeviceInfo | None, now: dt.datetime) -> None:
        device.last_seen_at = now
        device.last_push_at = now
        if info is None:
            return
        # Health is advisory: a value the columns cannot hold is clamped or cleaned, never
        # a reason to fail the push (that would block the device's queue).
        for name in ("app_version", "platform"):
            text = getattr(info, name)
            if text is not None:
                setattr(device, name, _storable(text))
        if info.pending is not None:
            device.pending = min(info.pending, _MAX_INT32)
        if info.last_pull_rev is not None:
            device.last_pull_rev = min(info.last_pull_rev, _MAX_INT64)


def _device_and_school(who: Principal, client_id: str) -> Any:
    """The school's settings and the device's row (None before its first push)."""
    return (
        select(Tenant.timezone, Tenant.currency, Tenant.pass_mark, Tenant.pass_total, Device)
        .outerjoin(
            Device,
            and_(
                Device.tenant_id == Tenant.id,
                Device.user_id == who.user_id,
                Device.client_id == client_id,
            ),
        )
        .where(Tenant.id == who.tenant_id)
    )


def _write_deferred(ctx: Context) -> None:
    """Hand the batch's bookkeeping rows (results, audit, journal, note history) to the
    transaction, which writes them with the change index just before COMMIT: one
    statement on PostgreSQL (sync.store.WriteTxn.flush_index). Nothing reads them back
    in the batch."""
    ctx.txn.deferred.extend(ctx.deferred)
    ctx.deferred.clear()


def _storable(text: str) -> str:
    """Text any database column takes: PostgreSQL refuses NUL bytes (in text and JSON) and
    lone surrogates are not UTF-8, so the journal keeps a readable stand-in for them."""
    if "\x00" in text:
        text = text.replace("\x00", "\ufffd")
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        text = text.encode("utf-8", "replace").decode("utf-8")
    return text


# Deeper than this, a journaled mutation keeps a stand-in: no field of any entity nests
# like that, and storing it would meet orjson's and Python's recursion limits.
_JOURNAL_DEPTH = 32


def _jsonable(value: Any, depth: int = 0) -> Any:
    """Mutation payloads as JSON the journal can store (clients send JSON, but be safe with
    parsed values and with what a database or the JSON encoder refuses: NUL, lone
    surrogates, integers past 64 bits, NaN, absurd nesting)."""
    if depth > _JOURNAL_DEPTH:
        return "(nested too deep)"
    if isinstance(value, dict):
        return {_storable(str(k)): _jsonable(v, depth + 1) for k, v in value.items()}
    if isinstance(value, list):
        return [_jsonable(v, depth + 1) for v in value]
    if isinstance(value, str):
        return _storable(value)
    if isinstance(value, dt.datetime | dt.date):
        return value.isoformat()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, int) and not isinstance(value, bool) and not -(2**63) <= value < 2**63:
        return str(value)
    return value


class _Undo(Exception):
    """The optimistic attempt met a rejection or a broken constraint: roll it back and
    apply the batch one mutation at a time."""
