"""The outbox table as a work queue: claim rows under a lease, then acknowledge, reschedule or
bury them.

A claim sets `locked_by` / `locked_until` and counts one attempt. A worker that dies keeps
nothing: when its lease runs out the row is claimable again and goes out once more (at-least-
once delivery; the notifications log makes deliveries already sent idempotent). Every
acknowledgement checks that the caller still holds the lease, so a worker that was too slow
and lost its row cannot overwrite the outcome of the worker that took it over.

PostgreSQL claims with `SELECT … FOR UPDATE SKIP LOCKED`, so several workers take disjoint
batches without waiting on each other. SQLite has no row locks: its write transactions are
serialized (BEGIN IMMEDIATE), and each claim is a conditional UPDATE that re-checks status and
lease, so a row is never claimed twice even if two processes race.
"""

from __future__ import annotations

import datetime as dt
import random
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import and_, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from schemas import Notification, OutboxEvent, utcnow
from sync.errors import Conflict, NotFound
from sync.store import Store
from sync.tenancy import ALL_TENANTS, bind_tenant
from workers.notifications.delivery_log import Attempt, add_lines
from workers.session import bound


@dataclass(frozen=True)
class Claimed:
    """One outbox row held under this worker's lease."""

    tenant_id: str
    id: str
    event_type: str
    payload: dict[str, Any]
    attempts: int
    created_at: dt.datetime


def backoff_s(attempt: int, base_s: float, cap_s: float, rng: random.Random | None = None) -> float:
    """Delay before try `attempt + 1`: exponential (base * 2^attempt), capped, with full
    jitter so that a burst of failures does not retry in lockstep against a recovering
    provider."""
    ceiling = min(cap_s, base_s * (2 ** max(0, attempt)))
    return (rng or random).uniform(0, ceiling)


def _due(now: dt.datetime) -> Any:
    return and_(
        OutboxEvent.status == "pending",
        OutboxEvent.available_at <= now,
        or_(OutboxEvent.locked_until.is_(None), OutboxEvent.locked_until < now),
    )


async def claim(
    sessions: async_sessionmaker[AsyncSession],
    dialect: str,
    worker_id: str,
    limit: int,
    lease_s: float,
) -> list[Claimed]:
    """Take up to `limit` due rows (oldest first) under a lease of `lease_s` seconds."""
    async with sessions() as session:
        bind_tenant(session, ALL_TENANTS)
        async with session.begin():
            now = utcnow()
            until = now + dt.timedelta(seconds=lease_s)
            if dialect == "postgresql":
                return await _claim_pg(session, now, until, worker_id, limit)
            return await _claim_conditional(session, now, until, worker_id, limit)


async def _claim_pg(
    session: AsyncSession, now: dt.datetime, until: dt.datetime, worker_id: str, limit: int
) -> list[Claimed]:
    rows = (
        await session.scalars(
            select(OutboxEvent)
            .where(_due(now))
            .order_by(OutboxEvent.available_at)
            .limit(limit)
            .with_for_update(skip_locked=True)
        )
    ).all()
    claimed = []
    for row in rows:
        row.locked_by, row.locked_until = worker_id, until
        row.attempts += 1
        claimed.append(_claimed(row))
    return claimed


async def _claim_conditional(
    session: AsyncSession, now: dt.datetime, until: dt.datetime, worker_id: str, limit: int
) -> list[Claimed]:
    rows = (
        await session.scalars(
            select(OutboxEvent).where(_due(now)).order_by(OutboxEvent.available_at).limit(limit)
        )
    ).all()
    claimed = []
    for row in rows:
        # The WHERE repeats the due check: only the process whose UPDATE matched owns it.
        result = await session.execute(
            update(OutboxEvent)
            .where(OutboxEvent.tenant_id == row.tenant_id, OutboxEvent.id == row.id, _due(now))
            .values(locked_by=worker_id, locked_until=until, attempts=OutboxEvent.attempts + 1)
            .execution_options(synchronize_session=False)
        )
        if getattr(result, "rowcount", 0) == 1:
            claimed.append(_claimed(row, attempts=row.attempts + 1))
    return claimed


def _claimed(row: OutboxEvent, attempts: int | None = None) -> Claimed:
    return Claimed(
        tenant_id=row.tenant_id,
        id=row.id,
        event_type=row.event_type,
        payload=dict(row.payload or {}),
        attempts=row.attempts if attempts is None else attempts,
        created_at=row.created_at,
    )


async def finish(
    sessions: async_sessionmaker[AsyncSession],
    c: Claimed,
    worker_id: str,
    lines: Sequence[Attempt] = (),
    gone: Sequence[str] = (),
    **values: Any,
) -> bool:
    """Settle a claimed row in one transaction: write the log lines of this try, delete the
    push subscriptions found gone, and apply `values` (status, next try…) if this worker
    still holds the lease. False when the lease was lost (the lines are written anyway:
    what was sent was sent)."""
    async with sessions() as session:
        bind_tenant(session, ALL_TENANTS)
        async with session.begin():
            await add_lines(session, c.tenant_id, lines, gone)
            result = await session.execute(
                update(OutboxEvent)
                .where(
                    OutboxEvent.tenant_id == c.tenant_id,
                    OutboxEvent.id == c.id,
                    OutboxEvent.status == "pending",
                    OutboxEvent.locked_by == worker_id,
                )
                .values(locked_by=None, locked_until=None, **values)
                .execution_options(synchronize_session=False)
            )
            return getattr(result, "rowcount", 0) == 1


def done_values() -> dict[str, Any]:
    """Every delivery of the event is settled (sent, skipped or given up on)."""
    return {"status": "done", "done_at": utcnow(), "last_error": None}


def retry_values(
    at: dt.datetime, error: str | None, *, count_attempt: bool = True
) -> dict[str, Any]:
    """Try again at `at`. A deferral (quiet hours) gives the claim's attempt back: waiting
    for the morning is not a failure and must not bring the event closer to dead."""
    values: dict[str, Any] = {"available_at": at, "last_error": error}
    if not count_attempt:
        values["attempts"] = OutboxEvent.attempts - 1
    return values


def dead_values(error: str) -> dict[str, Any]:
    """Dead letter: no more automatic tries; admins see it and may retry it."""
    return {"status": "dead", "last_error": error[:2000]}


async def retry(store: Store, tenant_id: str, outbox_id: str) -> str:
    """The admin's retry of a dead letter of their school: put it back in the queue
    (`retry_dead`) and return its id. `outbox_id` may also name a line of the delivery log,
    which names its event. NotFound when no such event; Conflict when it is not dead."""
    async with bound(store, tenant_id) as session, session.begin():
        row = await session.scalar(select(OutboxEvent.status).where(OutboxEvent.id == outbox_id))
        if row is None:  # a log line's id names its event too
            line = await session.scalar(
                select(Notification.outbox_id).where(Notification.id == outbox_id)
            )
            if line is not None:
                outbox_id = line
                row = await session.scalar(
                    select(OutboxEvent.status).where(OutboxEvent.id == outbox_id)
                )
        if row is None:
            raise NotFound("no outbox event with this id")
        if not await retry_dead(session, outbox_id):
            raise Conflict(f"only dead events can be retried (this one is {row})", {"status": row})
    return outbox_id


async def retry_dead(session: AsyncSession, outbox_id: str) -> bool:
    """Put a dead-lettered row back in the queue, due now, with its tries reset. `session`
    is bound to the admin's tenant, so only that school's rows can be touched."""
    result = await session.execute(
        update(OutboxEvent)
        .where(OutboxEvent.id == outbox_id, OutboxEvent.status == "dead")
        .values(
            status="pending",
            attempts=0,
            available_at=utcnow(),
            locked_by=None,
            locked_until=None,
            done_at=None,
        )
        .execution_options(synchronize_session=False)
    )
    return getattr(result, "rowcount", 0) == 1


def new_event(
    tenant_id: str,
    event_type: str,
    payload: dict[str, Any],
    dedupe_key: str | None,
    available_at: dt.datetime | None = None,
) -> OutboxEvent:
    """An outbox row to add to the session whose transaction causes it."""
    return OutboxEvent(
        tenant_id=tenant_id,
        id=str(uuid.uuid4()),
        event_type=event_type,
        payload=payload,
        status="pending",
        attempts=0,
        available_at=available_at or utcnow(),
        dedupe_key=dedupe_key,
    )
