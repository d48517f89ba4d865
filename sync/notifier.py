"""Change notification: live pokes, and each tenant's head rev kept in memory.

After a write commits, the store tells its listeners what changed (`CommitInfo`: tenant,
revs, scope keys). On PostgreSQL every write transaction also queues
`NOTIFY drivesync_changes` (sent by PostgreSQL at COMMIT, in commit order, by whichever
process wrote: server, worker or CLI), and every server process LISTENs, so pokes reach
clients whichever process they are connected to. A process delivers its own commits at once
and skips their NOTIFY when it comes back. Subscribers are queues: a slow or dead
connection's full queue drops the poke (the next one carries a higher rev) and never blocks
a push.

The same stream keeps `TenantHeads` current: each tenant's head rev, so a pull whose cursor
is already at the head can be answered without the database (sync.pull). That is only safe
while no commit can go unheard, so heads are trusted only while LISTEN is up, and only when
anchored by a read made after it started. The connection is checked every second (heads
are not trusted while a check is slow); a lost one (closed, or failing the check) drops
every head at once — pulls then ask the database — and is reconnected with backoff; on
reconnect the heads are reloaded and local subscribers of schools that moved meanwhile get
a poke. On SQLite (one process, no LISTEN) heads are never trusted.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from sync.store import CHANNEL, CommitInfo, decode, encode

log = logging.getLogger("drivesync.notifier")

__all__ = ["CHANNEL", "Notifier", "Subscriber", "TenantHeads", "decode", "encode"]


@dataclass(eq=False)
class Subscriber:
    """One live connection: its tenant and a predicate over commits it cares about."""

    tenant_id: str
    wants: Callable[[CommitInfo], bool]
    queue: asyncio.Queue[int] = field(default_factory=lambda: asyncio.Queue(maxsize=16))


@dataclass
class _Head:
    """What this process knows of one tenant (see TenantHeads)."""

    rev: int
    horizon: int
    # Every commit with rev <= seen has been heard (its `rescoped` noted) ...
    seen: int
    # ... from tracked_from on: scopes loaded earlier cannot be vouched for.
    tracked_from: int
    # Commits heard past a gap (first_rev -> rev): heard out of order, or the gap's
    # commit is still on its way.
    pending: dict[int, int] = field(default_factory=dict)
    # Member id -> rev of the latest commit that changed that member's scope.
    rescoped: dict[str, int] = field(default_factory=dict)
    rescoped_all: int = 0


class TenantHeads:
    """Each tenant's head rev and horizon rev as this process knows them, and which scopes
    the commits since changed. Pure (no I/O): fed by the notifier (commits of this process,
    and of every process over LISTEN) and by reads of the tenant's counter row.

    A head is *trusted* (`current()` answers) only while `listening`, and only once a read
    that began after LISTEN started (`token()` taken before it) anchored it: every commit
    after that read is then heard, so the head is at most one NOTIFY delivery behind.
    Losing LISTEN starts a new epoch and forgets every head.
    """

    MAX_PENDING = 256
    MAX_RESCOPED = 10_000

    def __init__(self) -> None:
        self.listening = False
        self.epoch = 0
        self._tenants: dict[str, _Head] = {}

    # -- the LISTEN connection's lifecycle ------------------------------------------------
    def listen_started(self) -> int:
        """LISTEN is up: a new epoch, in which reads anchor heads. Returns its token."""
        self.epoch += 1
        self.listening = True
        self._tenants.clear()
        return self.epoch

    def lost(self) -> dict[str, int]:
        """LISTEN is down (commits may go unheard): forget every head. Returns the revs
        known until now, to tell after reconnecting which tenants moved meanwhile."""
        known = {tenant: head.rev for tenant, head in self._tenants.items()}
        self.epoch += 1
        self.listening = False
        self._tenants.clear()
        return known

    def suspend(self) -> int:
        """Stop trusting heads for a while (the LISTEN connection is slow to answer: it may
        be dead). Nothing is forgotten: a live connection loses no notification, it only
        delays them. Returns the epoch to pass to `resume`."""
        self.listening = False
        return self.epoch

    def resume(self, epoch: int) -> None:
        """The connection answered: every notification sent before has been heard."""
        if epoch == self.epoch:
            self.listening = True

    def token(self) -> int | None:
        """Taken before a read of a tenant's counter row, passed to `observe` after it."""
        return self.epoch if self.listening else None

    # -- what feeds it ----------------------------------------------------------------------
    def observe(self, tenant_id: str, rev: int, horizon: int, token: int | None) -> None:
        """A read saw the tenant's counter at (rev, horizon)."""
        if token is None or token != self.epoch or not self.listening:
            return  # LISTEN was down at some point since the read began
        head = self._tenants.get(tenant_id)
        if head is None:
            # Commits up to `rev` may still be on their way; scopes loaded at `rev` or
            # later already include them, and later commits will all be heard.
            self._tenants[tenant_id] = _Head(rev, horizon, seen=rev, tracked_from=rev)
        else:
            head.rev = max(head.rev, rev)
            head.horizon = max(head.horizon, horizon)

    def advance(self, info: CommitInfo) -> None:
        """A commit was heard (locally or over LISTEN; each may come twice)."""
        head = self._tenants.get(info.tenant_id)
        if head is None:
            return  # not anchored yet: the next read anchors it
        head.rev = max(head.rev, info.rev)
        for member in info.rescoped:
            head.rescoped[member] = max(head.rescoped.get(member, 0), info.rev)
        if len(head.rescoped) > self.MAX_RESCOPED:  # bounded: count them all as changed
            head.rescoped.clear()
            head.rescoped_all = max(head.rescoped_all, head.rev)
        if info.rescope_all:
            head.rescoped_all = max(head.rescoped_all, info.rev)
        if info.first_rev is None:
            # Where it starts is unknown (a payload of an older version): commits before
            # it may be unheard, so no scope loaded earlier is carried past it.
            head.tracked_from = max(head.tracked_from, info.rev)
            head.seen = max(head.seen, info.rev)
        elif info.first_rev <= head.seen + 1:
            head.seen = max(head.seen, info.rev)
        else:
            head.pending[info.first_rev] = max(head.pending.get(info.first_rev, 0), info.rev)
            if len(head.pending) > self.MAX_PENDING:  # a gap that never fills: start over
                head.seen = head.tracked_from = head.rev
        self._drain(head)

    @staticmethod
    def _drain(head: _Head) -> None:
        while head.pending:
            ready = [first for first in head.pending if first <= head.seen + 1]
            if not ready:
                stale = [first for first, last in head.pending.items() if last <= head.seen]
                for first in stale:
                    del head.pending[first]
                return
            for first in ready:
                head.seen = max(head.seen, head.pending.pop(first))

    # -- what it answers ----------------------------------------------------------------------
    def current(self, tenant_id: str) -> tuple[int, int] | None:
        """The tenant's (head rev, horizon rev) if known for sure; None: ask the database."""
        if not self.listening:
            return None
        head = self._tenants.get(tenant_id)
        return (head.rev, head.horizon) if head is not None else None

    def scope_unchanged(
        self, tenant_id: str, members: Iterable[str], loaded_rev: int, at_rev: int
    ) -> bool:
        """Whether the scope of a user standing for `members` (see sync.core.scope.members),
        loaded at `loaded_rev`, is still theirs at `at_rev`.

        True when no commit came between (every write that changes a scope moves the rev:
        sync.store makes sure), or when every commit between has been heard and none
        rescoped them. Conservative: any doubt answers False (reload)."""
        if at_rev == loaded_rev:
            return True
        if at_rev < loaded_rev or not self.listening:
            return False
        head = self._tenants.get(tenant_id)
        if head is None or loaded_rev < head.tracked_from or at_rev > head.seen:
            return False
        if head.rescoped_all > loaded_rev:
            return False
        return all(head.rescoped.get(member, 0) <= loaded_rev for member in members)


class Notifier:
    """Fans commits out to subscribers, locally and (on PostgreSQL) across processes, and
    keeps `heads` current."""

    CHECK_INTERVAL_S = 1.0  # a round trip on the LISTEN connection this often ...
    CHECK_SLOW_S = 0.5  # ... heads not trusted while one takes longer ...
    CHECK_TIMEOUT_S = 5.0  # ... and the connection given up past this
    CONNECT_TIMEOUT_S = 5.0  # (asyncpg's default, 60 s, would stall reconnecting that long)
    # Reconnect backoff: 0.1 s doubling up to this, each wait jittered down by up to half
    # (processes that lost LISTEN together do not retry in step). Kept short: while LISTEN
    # is down no pull can skip the database and pokes from other processes wait, so after
    # an outage each second of backoff is load on a database just back.
    RETRY_MAX_S = 2.0

    def __init__(self, origin: str = "", heads: TenantHeads | None = None) -> None:
        self._subs: dict[str, set[Subscriber]] = {}
        self.heads = heads if heads is not None else TenantHeads()
        # The store whose commits on_commit hears: their NOTIFYs are not delivered twice.
        self.origin = origin
        self._dsn: str | None = None
        self._pg_conn: Any = None
        self._watcher: asyncio.Task[None] | None = None
        self._lost = asyncio.Event()
        self._known_before_loss: dict[str, int] = {}

    @property
    def listening(self) -> bool:
        """Whether commits of every process are being heard right now."""
        return self.heads.listening

    @property
    def remote_enabled(self) -> bool:  # the name earlier versions used
        return self.listening

    def subscribe(self, sub: Subscriber) -> None:
        self._subs.setdefault(sub.tenant_id, set()).add(sub)

    def unsubscribe(self, sub: Subscriber) -> None:
        subs = self._subs.get(sub.tenant_id)
        if subs:
            subs.discard(sub)
            if not subs:
                del self._subs[sub.tenant_id]

    @property
    def subscriber_count(self) -> int:
        return sum(len(s) for s in self._subs.values())

    def deliver(self, info: CommitInfo) -> None:
        """Poke every local subscriber the commit concerns (never blocks)."""
        for sub in list(self._subs.get(info.tenant_id, ())):
            try:
                if not sub.wants(info):
                    continue
            except Exception:  # a broken predicate must not stop other pokes
                log.exception("subscriber predicate failed")
                continue
            try:
                sub.queue.put_nowait(info.rev)
            except asyncio.QueueFull:
                pass  # it already has pokes waiting; the latest rev will follow

    async def on_commit(self, info: CommitInfo) -> None:
        """Store listener: this process's commits reach its subscribers at once (other
        processes hear the NOTIFY the commit itself queued)."""
        self.heads.advance(info)
        self.deliver(info)

    def _on_notify(self, _conn: Any, _pid: int, _channel: str, payload: str) -> None:
        try:
            info = decode(payload)
        except (ValueError, KeyError, TypeError):
            log.warning("ignored a malformed change notification")
            return
        self.heads.advance(info)
        if not (info.origin and info.origin == self.origin):
            self.deliver(info)

    # -- LISTEN -------------------------------------------------------------------------------
    async def start_pg(self, dsn: str) -> None:
        """LISTEN on PostgreSQL so commits of every process reach our subscribers and keep
        the heads current; then watch the connection and reconnect when it is lost."""
        self._dsn = dsn
        await self._connect()
        self._watcher = asyncio.create_task(self._watch(), name="drivesync-listen")

    async def _connect(self) -> dict[str, int]:
        import asyncpg

        assert self._dsn is not None
        conn = await asyncpg.connect(self._dsn, timeout=self.CONNECT_TIMEOUT_S)
        try:
            await conn.add_listener(CHANNEL, self._on_notify)
            conn.add_termination_listener(self._on_terminated)
            token = self.heads.listen_started()
            rows = await conn.fetch("SELECT tenant_id, rev, horizon_rev FROM tenant_revs")
            if conn.is_closed():  # closed before it became _pg_conn: unseen by _on_terminated
                raise ConnectionError("LISTEN connection closed while connecting")
        except BaseException:
            self.heads.lost()
            await conn.close()
            raise
        self._pg_conn = conn
        self._lost.clear()
        revs: dict[str, int] = {}
        for tenant_id, rev, horizon in rows:
            self.heads.observe(str(tenant_id), int(rev), int(horizon), token)
            revs[str(tenant_id)] = int(rev)
        return revs

    def _on_terminated(self, conn: Any) -> None:
        if conn is self._pg_conn:
            self._lose("connection closed")

    def _lose(self, why: str) -> None:
        conn, self._pg_conn = self._pg_conn, None
        if conn is None:
            return
        log.warning("LISTEN lost (%s): pulls ask the database until it is back", why)
        known = self.heads.lost()
        for tenant_id, rev in known.items():
            self._known_before_loss.setdefault(tenant_id, rev)
        self._lost.set()
        conn.terminate()

    async def _watch(self) -> None:
        """Check the LISTEN connection every CHECK_INTERVAL_S: a round trip on it also
        detects a silently dead link (heads are not trusted while it is slow to answer);
        reconnect, with backoff, when it is lost."""
        delay = 0.1
        while True:
            if self._pg_conn is None:
                try:
                    revs = await self._connect()
                except Exception as exc:
                    wait = delay * random.uniform(0.5, 1.0)
                    log.warning("LISTEN reconnect failed (%s); retrying in %.1f s", exc, wait)
                    await asyncio.sleep(wait)
                    delay = min(delay * 2, self.RETRY_MAX_S)
                    continue
                delay = 0.1
                log.warning("LISTEN is back")
                self._catch_up(revs)
                continue
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._lost.wait(), self.CHECK_INTERVAL_S)
                continue
            conn = self._pg_conn
            if conn is not None:
                await self._check(conn)

    async def _check(self, conn: Any) -> None:
        check = asyncio.ensure_future(conn.fetchval("SELECT 1"))
        try:
            done, _ = await asyncio.wait({check}, timeout=self.CHECK_SLOW_S)
            if done:
                check.result()
                return
            epoch = self.heads.suspend()
            await asyncio.wait_for(check, self.CHECK_TIMEOUT_S)
            self.heads.resume(epoch)
        except Exception as exc:  # timeout, closed, anything: start over
            if conn is self._pg_conn:
                self._lose(f"check failed: {exc!r}")
        finally:
            check.cancel()

    def _catch_up(self, revs: dict[str, int]) -> None:
        """After a reconnect: commits made while LISTEN was down were not heard, so poke
        every local subscriber of a school that moved (or whose rev was unknown)."""
        known, self._known_before_loss = self._known_before_loss, {}
        for tenant_id in list(self._subs):
            rev = revs.get(tenant_id)
            if rev is not None and rev != known.get(tenant_id):
                self.deliver(CommitInfo(tenant_id, rev, catalogue=True, rescope_all=True))

    async def close(self) -> None:
        if self._watcher is not None:
            self._watcher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._watcher
            self._watcher = None
        conn, self._pg_conn = self._pg_conn, None
        self.heads.lost()
        if conn is not None:
            await conn.close()
