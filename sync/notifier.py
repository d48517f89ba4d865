"""Change notification for live connections.

After a write commits, the store tells the notifier what changed (tenant, rev, scope keys).
In one process that is a direct call; across processes on PostgreSQL the notifier also sends
`NOTIFY drivesync_changes` and every process LISTENs, so pokes reach clients whichever
process they are connected to. Subscribers are queues: a slow or dead connection's full queue
drops the poke (the next one carries a higher rev) and never blocks a push.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from sync.store import CommitInfo

log = logging.getLogger("drivesync.notifier")
CHANNEL = "drivesync_changes"
# NOTIFY payloads are limited to 8000 bytes; past this many keys we say "everyone".
MAX_KEYS = 100


@dataclass(eq=False)
class Subscriber:
    """One live connection: its tenant and a predicate over commits it cares about."""

    tenant_id: str
    wants: Callable[[CommitInfo], bool]
    queue: asyncio.Queue[int] = field(default_factory=lambda: asyncio.Queue(maxsize=16))


def encode(info: CommitInfo) -> str:
    keys: dict[str, Any] = {
        "t": info.tenant_id,
        "r": info.rev,
        "c": info.catalogue,
        "x": sorted(info.rescoped),
    }
    if len(info.student_ids) + len(info.instructor_ids) > MAX_KEYS:
        keys["all"] = True
    else:
        keys["s"] = sorted(info.student_ids)
        keys["i"] = sorted(info.instructor_ids)
    return json.dumps(keys, separators=(",", ":"))


def decode(payload: str) -> CommitInfo:
    keys = json.loads(payload)
    info = CommitInfo(
        keys["t"],
        int(keys["r"]),
        set(keys.get("s", ())),
        set(keys.get("i", ())),
        bool(keys.get("c")),
        set(keys.get("x", ())),
    )
    if keys.get("all"):
        info.catalogue = True  # treat as relevant to everyone in the tenant
    return info


class Notifier:
    """Fans commits out to subscribers, locally and (on PostgreSQL) across processes."""

    def __init__(self) -> None:
        self._subs: dict[str, set[Subscriber]] = {}
        self._pg_conn: Any = None
        # One asyncpg connection runs one statement at a time: commits finishing together
        # must take turns to NOTIFY.
        self._notify_lock = asyncio.Lock()
        self.remote_enabled = False

    def subscribe(self, sub: Subscriber) -> None:
        self._subs.setdefault(sub.tenant_id, set()).add(sub)

    def unsubscribe(self, sub: Subscriber) -> None:
        subs = self._subs.get(sub.tenant_id)
        if subs:
            subs.discard(sub)

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
        """Store listener: local delivery, or NOTIFY when other processes listen too."""
        if self.remote_enabled and self._pg_conn is not None:
            try:
                async with self._notify_lock:
                    await self._pg_conn.execute("SELECT pg_notify($1, $2)", CHANNEL, encode(info))
                return
            except Exception:
                log.exception("NOTIFY failed; delivering locally only")
        self.deliver(info)

    async def start_pg(self, dsn: str) -> None:
        """LISTEN on PostgreSQL so commits of every process reach our subscribers."""
        import asyncpg

        self._pg_conn = await asyncpg.connect(dsn)
        await self._pg_conn.add_listener(CHANNEL, self._on_notify)
        self.remote_enabled = True

    def _on_notify(self, _conn: Any, _pid: int, _channel: str, payload: str) -> None:
        try:
            self.deliver(decode(payload))
        except (ValueError, KeyError):
            log.warning("ignored a malformed change notification")

    async def close(self) -> None:
        if self._pg_conn is not None:
            await self._pg_conn.close()
            self._pg_conn = None
            self.remote_enabled = False
