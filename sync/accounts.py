"""Accounts: one-time tokens to set a password (invitations, password resets), the password
rule, and the outbox events that ask for the emails.

A token is 32 random bytes (URL-safe text) handed out once, in an email; the table keeps its
SHA-256 only (`schemas.AccountToken`), so a copy of the database opens no account. A token
is refused with one code, `invalid_token`, whether it is unknown, spent, replaced by a newer
one or expired: a caller learns nothing about which accounts exist or were invited.

Spending is a compare-and-set UPDATE (`used_at` from NULL), so of two requests presenting
the same token exactly one wins, on SQLite and PostgreSQL alike.

Who makes the tokens: the notification worker, when it delivers `invitation_requested` or
`password_reset_requested` (workers/notifications/accounts.py). The events carry no token,
so the outbox never holds one either; each try of the email makes a fresh token and
revokes the older unused ones of the same purpose.

    DriveSyncError
    ├── InvalidToken     400 invalid_token
    ├── WeakPassword     422 weak_password   details.field
    └── WrongPassword    403 wrong_password
"""

from __future__ import annotations

import datetime as dt
import hashlib
import secrets
import uuid
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.engine import CursorResult
from sqlalchemy.ext.asyncio import AsyncSession

from schemas import AccountToken, OutboxEvent, RefreshToken, User, utcnow
from schemas.wire import check_storable
from sync.errors import DriveSyncError, Invalid

INVITE, RESET = "invite", "reset"
INVITATION_EVENT = "invitation_requested"
RESET_EVENT = "password_reset_requested"

# The password rule: the one `drivesync create-user` already applied (8 characters), plus
# "not the email address". Longer rules belong to the school's own policy, not here.
MIN_PASSWORD = 8
MAX_PASSWORD = 1024


class InvalidToken(DriveSyncError):
    code = "invalid_token"
    status = 400


class WeakPassword(Invalid):
    code = "weak_password"


class WrongPassword(DriveSyncError):
    code = "wrong_password"
    status = 403


def check_password(password: str, email: str, field: str = "password") -> None:
    """`WeakPassword` unless `password` follows the rule (see MIN_PASSWORD)."""
    try:
        check_storable(password)
    except ValueError as exc:
        raise WeakPassword(f"{field}: {exc}", {"field": field, "reason": str(exc)}) from exc
    if len(password) < MIN_PASSWORD or not password.strip():
        raise WeakPassword(
            f"{field} must have at least {MIN_PASSWORD} characters",
            {"field": field, "reason": "too_short", "min_length": MIN_PASSWORD},
        )
    if len(password) > MAX_PASSWORD:
        raise WeakPassword(
            f"{field} must have at most {MAX_PASSWORD} characters",
            {"field": field, "reason": "too_long"},
        )
    if password.strip().lower() == email.strip().lower():
        raise WeakPassword(
            f"{field} must not be the email address", {"field": field, "reason": "is_email"}
        )


def has_password(user: User) -> bool:
    """Whether the account has a password of its own. An invited account is created with a
    `password_hash` that is not an Argon2 hash ("" or sync.rules.people's "!"), which no
    password matches (server.auth.passwords)."""
    return user.password_hash.startswith("$argon2")


def hash_token(token: str) -> str:
    """SHA-256 hex of a token (high-entropy, so no salt or slow hash is needed). Text that
    is not UTF-8 hashes to something no stored token has instead of raising."""
    return hashlib.sha256(token.encode("utf-8", "surrogatepass")).hexdigest()


async def issue_token(
    session: AsyncSession,
    tenant_id: str,
    user_id: str,
    purpose: str,
    ttl: dt.timedelta,
    now: dt.datetime | None = None,
) -> str:
    """A new token of `purpose` for the user, valid for `ttl`; the user's older unused
    tokens of that purpose are revoked (only the newest link works). `session` is bound to
    the tenant and inside a transaction. Returns the token itself, which is not stored."""
    now = now or utcnow()
    await session.execute(
        update(AccountToken)
        .where(
            AccountToken.user_id == user_id,
            AccountToken.purpose == purpose,
            AccountToken.used_at.is_(None),
            AccountToken.revoked_at.is_(None),
        )
        .values(revoked_at=now)
        .execution_options(synchronize_session=False)
    )
    token = secrets.token_urlsafe(32)
    session.add(
        AccountToken(
            tenant_id=tenant_id,
            id=str(uuid.uuid4()),
            user_id=user_id,
            purpose=purpose,
            token_hash=hash_token(token),
            created_at=now,
            expires_at=now + ttl,
        )
    )
    await session.flush()
    return token


async def find_token(
    session: AsyncSession, token: str, purpose: str, now: dt.datetime | None = None
) -> AccountToken:
    """The live token row for `token` (any tenant: the session is bound to ALL_TENANTS),
    without spending it; `InvalidToken` when unknown, of another purpose, spent, revoked
    or expired."""
    now = now or utcnow()
    row = await session.scalar(
        select(AccountToken).where(AccountToken.token_hash == hash_token(token))
    )
    if (
        row is None
        or row.purpose != purpose
        or row.used_at is not None
        or row.revoked_at is not None
        or row.expires_at <= now
    ):
        raise InvalidToken("this link is not valid any more; ask for a new one")
    return row


async def spend_token(session: AsyncSession, row: AccountToken, now: dt.datetime) -> None:
    """Mark the token used, if still live; `InvalidToken` when another request spent or
    replaced it first (compare-and-set)."""
    result: CursorResult[Any] = await session.execute(  # type: ignore[assignment]
        update(AccountToken)
        .where(
            AccountToken.tenant_id == row.tenant_id,
            AccountToken.id == row.id,
            AccountToken.used_at.is_(None),
            AccountToken.revoked_at.is_(None),
            AccountToken.expires_at > now,
        )
        .values(used_at=now)
        .execution_options(synchronize_session=False)
    )
    if result.rowcount != 1:
        raise InvalidToken("this link is not valid any more; ask for a new one")


async def set_password(session: AsyncSession, user_id: str, password_hash: str) -> None:
    """Store a new password hash. `session` is bound to the user's tenant. It never marks
    an account active: a disabled account's links are refused (server.auth.accounts), so a
    person deactivated before accepting an invitation cannot undo that."""
    await session.execute(
        update(User)
        .where(User.id == user_id)
        .values(password_hash=password_hash)
        .execution_options(synchronize_session=False)
    )


async def revoke_refresh_tokens(
    session: AsyncSession, user_id: str, now: dt.datetime, keep_family: str | None = None
) -> None:
    """Sign the user out of every device (but the sign-in `keep_family`, when given): their
    refresh tokens are revoked, and their access tokens stop working within
    DRIVESYNC_ACCESS_CHECK_S (server.auth.standing checks the family)."""
    query = update(RefreshToken).where(
        RefreshToken.user_id == user_id, RefreshToken.revoked_at.is_(None)
    )
    if keep_family is not None:
        query = query.where(RefreshToken.family_id != keep_family)
    await session.execute(query.values(revoked_at=now).execution_options(synchronize_session=False))


async def _emit(
    session: AsyncSession, tenant_id: str, event: str, payload: dict[str, Any], dedupe: str
) -> bool:
    taken = await session.scalar(select(OutboxEvent.id).where(OutboxEvent.dedupe_key == dedupe))
    if taken is not None:
        return False
    session.add(
        OutboxEvent(
            tenant_id=tenant_id,
            id=str(uuid.uuid4()),
            event_type=event,
            payload=payload,
            dedupe_key=dedupe,
            status="pending",
            attempts=0,
            available_at=utcnow(),
        )
    )
    await session.flush()
    return True


async def request_invitation(
    session: AsyncSession,
    tenant_id: str,
    user: User,
    person: str,
    person_id: str,
    *,
    again: bool = False,
) -> bool:
    """Ask for the invitation email of a new account, in the caller's transaction (the
    session is bound to the tenant): an `invitation_requested` outbox event, once per user
    (dedupe key `invitation_requested:<user_id>`). `again` sends another (an admin's
    "invite again"; the new link replaces the old). False when one was already asked for."""
    payload = {
        "user_id": user.id,
        "person": person,
        "person_id": person_id,
        "email": user.email,
        "name": user.name,
    }
    dedupe = f"{INVITATION_EVENT}:{user.id}"
    if again:
        dedupe += f":{uuid.uuid4()}"
    return await _emit(session, tenant_id, INVITATION_EVENT, payload, dedupe)


async def request_reset(session: AsyncSession, tenant_id: str, user_id: str) -> None:
    """Ask for a password-reset email (each request its own event; the forgot-password
    route limits how often)."""
    dedupe = f"{RESET_EVENT}:{uuid.uuid4()}"
    await _emit(session, tenant_id, RESET_EVENT, {"user_id": user_id}, dedupe)
