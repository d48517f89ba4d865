"""The delivery log (`notifications`): one line per attempt of one delivery, with channel,
status, provider id, error and timing. It is also what makes deliveries idempotent: a key
whose latest line says `sent` (or `skipped`) is settled and never sent again, whichever
worker picks the event up next.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession

from schemas import Notification, OutboxEvent, PushSubscription, utcnow
from sync.store import Store

SETTLED = frozenset({"sent", "skipped"})
STATUSES = ("sent", "failed", "deferred", "skipped", "dead")


@dataclass(frozen=True)
class Attempt:
    """One line of the log, before it is written."""

    outbox_id: str
    user_id: str | None
    event_type: str
    channel: str
    key: str
    status: str
    attempt: int
    provider_id: str | None = None
    error: str | None = None
    duration_ms: int | None = None


async def add_lines(
    session: AsyncSession, tenant_id: str, lines: Iterable[Attempt], gone: Iterable[str] = ()
) -> None:
    """Add log lines (and delete push subscriptions reported gone) in the caller's
    transaction: the dispatcher writes them together with the event's new state."""
    now = utcnow()
    for a in lines:
        session.add(
            Notification(
                tenant_id=tenant_id,
                id=str(uuid.uuid4()),
                outbox_id=a.outbox_id,
                user_id=a.user_id,
                event_type=a.event_type,
                channel=a.channel,
                idempotency_key=a.key[:200],
                status=a.status,
                provider_id=a.provider_id[:200] if a.provider_id else None,
                error=a.error[:2000] if a.error else None,
                attempt=a.attempt,
                created_at=now,
                duration_ms=a.duration_ms,
            )
        )
    dropped = sorted(set(gone))
    if dropped:
        await session.execute(
            delete(PushSubscription)
            .where(PushSubscription.tenant_id == tenant_id, PushSubscription.id.in_(dropped))
            .execution_options(synchronize_session=False)
        )


async def settled(session: AsyncSession, keys: Iterable[str]) -> set[str]:
    """The keys among `keys` already delivered (or deliberately skipped)."""
    wanted = sorted(set(keys))
    if not wanted:
        return set()
    rows = await session.execute(
        select(Notification.idempotency_key).where(
            Notification.idempotency_key.in_(wanted), Notification.status.in_(sorted(SETTLED))
        )
    )
    return {key for (key,) in rows.all()}


def as_dict(n: Notification, outbox_status: str | None = None) -> dict[str, Any]:
    return {
        "id": n.id,
        "outbox_id": n.outbox_id,
        "outbox_status": outbox_status,
        "user_id": n.user_id,
        "event_type": n.event_type,
        "channel": n.channel,
        "idempotency_key": n.idempotency_key,
        "status": n.status,
        "provider_id": n.provider_id,
        "error": n.error,
        "attempt": n.attempt,
        "attempts": n.attempt,
        "created_at": n.created_at,
        "duration_ms": n.duration_ms,
    }


async def admin_view(
    store: Store,
    tenant_id: str,
    status: str | None = None,
    event_type: str | None = None,
    outbox_id: str | None = None,
    limit: int = 100,
) -> dict[str, Any]:
    """The admin's view of a school's log (`listing`); asked for `dead` lines, it also lists
    the dead-lettered events themselves (`dead_events`), newest first."""
    async with store.read(tenant_id) as session:
        body: dict[str, Any] = {
            "notifications": await listing(session, status, event_type, outbox_id, limit)
        }
        if status == "dead":
            body["dead_events"] = await dead_events(session, limit)
    return body


async def dead_events(session: AsyncSession, limit: int = 100) -> list[dict[str, Any]]:
    """The session's school's dead-lettered outbox events, newest first."""
    dead = await session.scalars(
        select(OutboxEvent)
        .where(OutboxEvent.status == "dead")
        .order_by(OutboxEvent.created_at.desc())
        .limit(limit)
    )
    return [
        {
            "outbox_id": e.id,
            "event_type": e.event_type,
            "attempts": e.attempts,
            "last_error": e.last_error,
            "created_at": e.created_at,
        }
        for e in dead
    ]


async def listing(
    session: AsyncSession,
    status: str | None = None,
    event_type: str | None = None,
    outbox_id: str | None = None,
    limit: int = 100,
) -> list[dict[str, Any]]:
    """Log lines of the session's school, newest first, with their event's queue state."""
    query = (
        select(Notification, OutboxEvent.status)
        .outerjoin(
            OutboxEvent,
            (OutboxEvent.tenant_id == Notification.tenant_id)
            & (OutboxEvent.id == Notification.outbox_id),
        )
        .order_by(Notification.created_at.desc(), Notification.id)
        .limit(limit)
    )
    if status:
        query = query.where(Notification.status == status)
    if event_type:
        query = query.where(Notification.event_type == event_type)
    if outbox_id:
        query = query.where(Notification.outbox_id == outbox_id)
    rows = await session.execute(query)
    return [as_dict(n, outbox_status) for n, outbox_status in rows.all()]
