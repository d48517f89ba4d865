"""Web Push subscriptions of users' devices: stored, replaced, removed.

One row per endpoint in a school: the same browser profile subscribing again (new keys, or
another user signing in on it) replaces its row, so a device never gets a message twice or a
message meant for the previous user. Rows the push service reports gone are deleted by the
dispatcher (workers/notifications/delivery_log.py).
"""

from __future__ import annotations

import base64
import binascii
import uuid
from typing import Any

from cryptography.hazmat.primitives.asymmetric import ec
from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession

from schemas import PushSubscription, utcnow
from sync.core.principal import Principal
from sync.errors import Invalid
from sync.store import Store
from workers.notifications import push_endpoint
from workers.session import bound

MAX_PER_USER = 20


def _b64url(value: str, field: str) -> bytes:
    try:
        return base64.urlsafe_b64decode(value + "=" * (-len(value) % 4))
    except (binascii.Error, ValueError):
        raise Invalid(f"{field} is not base64url", {"field": field}) from None


def check_subscription(endpoint: str, p256dh: str, auth: str, allow_local: bool = False) -> None:
    """Invalid (422) unless the endpoint is one web push may send to (`invalid_endpoint`:
    https, not a local, private or reserved address; see push_endpoint) and the keys are a
    P-256 public key and a 16-byte secret. `allow_local` is for tests and development."""
    push_endpoint.check(endpoint, allow_local)
    point = _b64url(p256dh, "keys.p256dh")
    try:
        ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), point)
    except ValueError:
        raise Invalid("keys.p256dh is not a P-256 public key", {"field": "keys.p256dh"}) from None
    if len(_b64url(auth, "keys.auth")) != 16:
        raise Invalid("keys.auth must be 16 bytes", {"field": "keys.auth"})


async def add(
    store: Store,
    who: Principal,
    endpoint: str,
    p256dh: str,
    auth: str,
    client_id: str | None,
    allow_local: bool = False,
) -> tuple[dict[str, Any], bool]:
    """`subscribe` in a transaction of its own, bound to the caller's school."""
    async with bound(store, who.tenant_id) as session, session.begin():
        return await subscribe(session, who, endpoint, p256dh, auth, client_id, allow_local)


async def remove(store: Store, who: Principal, endpoint: str) -> bool:
    """`unsubscribe` in a transaction of its own, bound to the caller's school."""
    async with bound(store, who.tenant_id) as session, session.begin():
        return await unsubscribe(session, who, endpoint)


async def subscribe(
    session: AsyncSession,
    who: Principal,
    endpoint: str,
    p256dh: str,
    auth: str,
    client_id: str | None,
    allow_local: bool = False,
) -> tuple[dict[str, Any], bool]:
    """Store (or take over) the subscription of `endpoint` for `who`; (record, created).
    The endpoint is checked first (`check_subscription`)."""
    check_subscription(endpoint, p256dh, auth, allow_local)
    row = await session.scalar(
        select(PushSubscription).where(PushSubscription.endpoint == endpoint)
    )
    created = row is None
    if row is None:
        row = PushSubscription(tenant_id=who.tenant_id, id=str(uuid.uuid4()), endpoint=endpoint)
        session.add(row)
    row.user_id, row.client_id, row.p256dh, row.auth = who.user_id, client_id, p256dh, auth
    row.created_at = utcnow()
    await session.flush()
    await _trim(session, who.user_id)
    return as_dict(row), created


async def _trim(session: AsyncSession, user_id: str) -> None:
    """Keep a user's newest subscriptions only (old browsers rarely say goodbye)."""
    ids = (
        await session.scalars(
            select(PushSubscription.id)
            .where(PushSubscription.user_id == user_id)
            .order_by(PushSubscription.created_at.desc())
            .offset(MAX_PER_USER)
        )
    ).all()
    if ids:
        await session.execute(
            delete(PushSubscription)
            .where(PushSubscription.id.in_(list(ids)))
            .execution_options(synchronize_session=False)
        )


async def unsubscribe(session: AsyncSession, who: Principal, endpoint: str) -> bool:
    """Remove the caller's subscription of `endpoint`; False when there was none."""
    if not push_endpoint.plain(endpoint):
        return False  # never stored (and a NUL would fail the query on PostgreSQL)
    result = await session.execute(
        delete(PushSubscription)
        .where(PushSubscription.endpoint == endpoint, PushSubscription.user_id == who.user_id)
        .execution_options(synchronize_session=False)
    )
    return getattr(result, "rowcount", 0) > 0


def as_dict(row: PushSubscription) -> dict[str, Any]:
    return {
        "id": row.id,
        "endpoint": row.endpoint,
        "client_id": row.client_id,
        "created_at": row.created_at,
    }
