"""Account mail: the invitation to set a first password (`invitation_requested`) and the
password-reset link (`password_reset_requested`).

The events carry no token (the outbox is a table anyone with a backup can read). The token
is made here, when the email is about to go: `prepare` runs in its own short write
transaction before the dispatcher's read, makes a fresh one-time token (sync/accounts.py,
stored as a hash, older unused ones of the user revoked) and hands the link to the
expander in the payload, in memory only. A try that fails sends a new link the next time;
an email already logged as sent is not sent again and its link is left alone.

The link opens the PWA at `#/accept?token=…` or `#/reset?token=…`: in the fragment, so the
token reaches neither the server's access log nor a Referer header.
"""

from __future__ import annotations

import datetime as dt
from typing import Any
from urllib.parse import quote

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from schemas import Membership, User
from sync import accounts
from sync.tenancy import bind_tenant
from workers.config import WorkerConfig
from workers.notifications import delivery_log
from workers.notifications.recipients import Expansion, Facts, Recipient

EVENTS = (accounts.INVITATION_EVENT, accounts.RESET_EVENT)
_ROUTE = {accounts.INVITATION_EVENT: "accept", accounts.RESET_EVENT: "reset"}


def _span(delta: dt.timedelta) -> str:
    hours = int(delta.total_seconds() // 3600)
    if hours >= 48 and hours % 24 == 0:
        return f"{hours // 24} days"
    if hours >= 1 and delta.total_seconds() % 3600 == 0:
        return f"{hours} hour{'s' if hours != 1 else ''}"
    minutes = int(delta.total_seconds() // 60)
    return f"{minutes} minutes"


def _stale(user: User | None, event_type: str) -> str | None:
    if user is None:
        return "account not found"
    if not user.is_active:
        return "the account is disabled"
    if event_type == accounts.INVITATION_EVENT and accounts.has_password(user):
        return "the account has set its password already"
    return None


async def prepare(
    sessions: async_sessionmaker[AsyncSession],
    config: WorkerConfig,
    tenant_id: str,
    outbox_id: str,
    event_type: str,
    payload: dict[str, Any],
) -> dict[str, Any]:
    """The payload with `link` and `expires` added (a new token made for this try), or
    with `stale` saying why nothing is to be sent."""
    user_id = str(payload.get("user_id") or "")
    key = f"{outbox_id}:{user_id}:email"  # the dispatcher's idempotency key of the mail
    async with sessions() as session, session.begin():
        bind_tenant(session, tenant_id)
        user = await session.scalar(select(User).where(User.id == user_id)) if user_id else None
        why = _stale(user, event_type)
        if why is not None:
            return {**payload, "stale": why}
        if await delivery_log.settled(session, [key]):
            return payload  # sent before: the dispatcher skips it; its link stays valid
        if event_type == accounts.INVITATION_EVENT:
            purpose, ttl = accounts.INVITE, dt.timedelta(hours=config.invite_token_ttl_hours)
        else:
            purpose, ttl = accounts.RESET, dt.timedelta(minutes=config.reset_token_ttl_minutes)
        token = await accounts.issue_token(session, tenant_id, user_id, purpose, ttl)
    base = config.public_url.rstrip("/")
    link = f"{base}/#/{_ROUTE[event_type]}?token={quote(token, safe='')}"
    return {**payload, "link": link, "expires": _span(ttl)}


async def _account_mail(f: Facts, p: dict[str, Any]) -> Expansion:
    if p.get("stale"):
        return Expansion(stale=str(p["stale"]))
    user: User | None = await f._get(User, p.get("user_id"))
    if user is None:
        return Expansion(stale="account not found")
    role = await f.s.scalar(select(Membership.role).where(Membership.user_id == user.id))
    person = Recipient(
        key=user.id,
        user_id=user.id,
        name=user.name,
        email=user.email,
        phone=None,
        role=str(p.get("person") or role or ""),
    )
    context = {"account": {"link": p.get("link", ""), "expires": p.get("expires", "")}}
    return Expansion([person], context)


EXPANDERS = {event: _account_mail for event in EVENTS}
