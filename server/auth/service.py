"""Login, refresh and logout against the database, and the per-request check that an access
token still stands.

Sign-in: the input is checked for text a database cannot hold, the throttle
(`server.auth.throttle`) may refuse before any work, and the password is checked on the
hashing pool (`server.auth.hashing`), against a dummy hash when the school or user does not
exist so timing reveals nothing. Refresh tokens rotate with a compare-and-set UPDATE: of
several requests presenting one token exactly one wins; the others, like any reuse of a spent
token, revoke the whole family.
"""

from __future__ import annotations

import datetime as dt
import functools
import hashlib
import time
import uuid
from typing import TYPE_CHECKING

from sqlalchemy import select, update
from sqlalchemy.engine import CursorResult
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from schemas import RefreshToken, Tenant, User, utcnow
from schemas.wire import SchoolInfo, check_storable
from server.auth.hashing import HashPool
from server.auth.passwords import needs_rehash
from server.auth.settings import AuthSettings
from server.auth.standing import StandingCache, standing
from server.auth.throttle import LoginThrottle
from server.auth.tokens import hash_refresh_token, issue_access_token, new_refresh_token
from server.config import Settings
from sync.access import principal_for
from sync.core.principal import Principal
from sync.errors import Invalid, Unauthenticated
from sync.tenancy import ALL_TENANTS, bind_tenant

if TYPE_CHECKING:
    from server.auth.accounts import AccountService


def _account_key(slug: str, email: str) -> str:
    return hashlib.sha256(f"{slug}\0{email}".encode()).hexdigest()


def storable(field: str, value: str) -> str:
    """`value` if a database can store and compare it (`schemas.wire.check_storable`, the
    rule every request model applies); 422 naming the field otherwise. The login route's
    model checks this already; the service checks again for its other callers."""
    try:
        return check_storable(value)
    except ValueError as exc:
        raise Invalid(f"{field}: {exc}", {"field": field, "reason": str(exc)}) from exc


class Reused(Unauthenticated):
    """A refresh token presented after it was spent (or while another request spent it)."""


class AuthService:
    """Sign-in, token refresh and logout, and the access-token standing check."""

    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        settings: Settings,
        limits: AuthSettings | None = None,
    ) -> None:
        self._sessions = sessions
        self._settings = settings
        self._secret = settings.resolved_secret()
        self.limits = limits or AuthSettings()
        self.throttle = LoginThrottle(
            self.limits, settings.login_max_failures, float(settings.login_window_s)
        )
        self._hashes = HashPool(self.limits.hash_threads(), self.limits.login_queue)
        self._standing = StandingCache(self.limits.access_check_s, self.limits.login_table_size)

    def close(self) -> None:
        self._hashes.close()

    async def login(
        self, slug: str, email: str, password: str, address: str = "unknown"
    ) -> tuple[dict[str, object], User]:
        """Tokens for a correct (school, email, password); 401 otherwise, 429 when this
        address (or this account from this address, or the school) must wait, 503 when too
        many sign-ins are already being checked."""
        storable("tenant", slug)
        email = storable("email", email).strip().lower()
        storable("password", password)
        school = slug.strip().lower()  # case variants count as one school for the limits
        account = _account_key(school, email)
        self.throttle.check(address, school, account, time.monotonic())
        async with self._sessions() as session:
            bind_tenant(session, ALL_TENANTS)
            tenant = await session.scalar(select(Tenant).where(Tenant.slug == slug))
            user = None
            if tenant is not None:
                user = await session.scalar(
                    select(User).where(User.tenant_id == tenant.id, User.email == email)
                )
        # No connection is held while waiting for a hashing thread.
        ok = await self._hashes.verify(user.password_hash if user else None, password)
        ok = ok and user is not None and tenant is not None and user.is_active
        self.throttle.record(address, account, ok, time.monotonic())
        if not ok or user is None or tenant is None:
            raise Unauthenticated("wrong school, email or password")
        rehashed = None
        if user.password_hash and needs_rehash(user.password_hash):
            rehashed = await self._hashes.hash(password)
        async with self._sessions() as session, session.begin():
            bind_tenant(session, tenant.id)
            principal = await principal_for(session, tenant.id, user.id)
            why = await standing(session, principal, None, utcnow())
            if why is not None:
                raise Unauthenticated(why, {"reason": "standing"})
            if rehashed is not None:
                await session.execute(
                    update(User)
                    .where(User.id == user.id, User.password_hash == user.password_hash)
                    .values(password_hash=rehashed)
                    .execution_options(synchronize_session=False)
                )
            tokens = await self._issue(session, principal, family_id=str(uuid.uuid4()))
        return {**tokens, "principal": principal, "school": school_info(tenant)}, user

    async def refresh(self, token: str) -> dict[str, object]:
        """Rotate a refresh token: the old one is spent, a new pair is issued. A spent
        token presented again means it leaked: its whole family is revoked."""
        token_hash = hash_refresh_token(token)
        now = utcnow()
        async with self._sessions() as session:
            async with session.begin():
                bind_tenant(session, ALL_TENANTS)
                row = await session.scalar(
                    select(RefreshToken).where(RefreshToken.token_hash == token_hash)
                )
                if row is None:
                    raise Unauthenticated("unknown refresh token", {"reason": "unknown"})
                bind_tenant(session, row.tenant_id)
                if row.expires_at <= now and row.revoked_at is None:
                    raise Unauthenticated("refresh token expired; sign in again")
                if row.revoked_at is None:
                    principal = await principal_for(session, row.tenant_id, row.user_id)
                    why = await standing(session, principal, None, now)
                    if why is not None:
                        raise Unauthenticated(why, {"reason": "standing"})
                    new_id = str(uuid.uuid4())
                    # Compare-and-set: only the request that flips revoked_at from NULL
                    # rotates. On PostgreSQL a concurrent one waits for the row lock, then
                    # matches nothing; SQLite runs the transactions one after the other.
                    spent: CursorResult[tuple[()]] = await session.execute(  # type: ignore[assignment]
                        update(RefreshToken)
                        .where(RefreshToken.id == row.id, RefreshToken.revoked_at.is_(None))
                        .values(revoked_at=now, replaced_by=new_id)
                        .execution_options(synchronize_session=False)
                    )
                    if spent.rowcount == 1:
                        tokens = await self._issue(session, principal, row.family_id, new_id)
                        tenant = await session.scalar(
                            select(Tenant).where(Tenant.id == row.tenant_id)
                        )
                        assert tenant is not None  # the token's foreign key guarantees it
                        return {**tokens, "principal": principal, "school": school_info(tenant)}
            if row.revoked_at is not None and row.replaced_by is None:
                raise Unauthenticated(
                    "refresh token was revoked (signed out); sign in again",
                    {"reason": "token_revoked"},
                )
            # Spent before, or by a concurrent request just now: the token was copied.
            await self._revoke_family(row.tenant_id, row.family_id)
            raise Reused(
                "refresh token was already used; sign in again", {"reason": "token_reused"}
            )

    async def revoke(self, token: str) -> None:
        """Log out: revoke the refresh token's family (its access tokens die with it)."""
        token_hash = hash_refresh_token(token)
        async with self._sessions() as session, session.begin():
            bind_tenant(session, ALL_TENANTS)
            row = await session.scalar(
                select(RefreshToken).where(RefreshToken.token_hash == token_hash)
            )
        if row is not None:
            await self._revoke_family(row.tenant_id, row.family_id)
            self._standing.drop((row.tenant_id, row.user_id, row.family_id))

    async def check_access(self, who: Principal, family: str | None) -> None:
        """401 when the holder of an access token no longer stands (see
        `server.auth.standing`); answered from memory for `access_check_s` seconds."""
        key = (who.tenant_id, who.user_id, family)
        known, why = self._standing.get(key, time.monotonic())
        if not known:
            async with self._sessions() as session, session.begin():
                bind_tenant(session, who.tenant_id)
                why = await standing(session, who, family, utcnow())
            self._standing.put(key, why, time.monotonic())
        if why is not None:
            raise Unauthenticated(why, {"reason": "token_revoked"})

    @functools.cached_property
    def accounts(self) -> AccountService:
        """Invitations, password reset and change (server.auth.accounts)."""
        from server.auth.accounts import AccountService

        return AccountService(self)

    @property
    def sessions(self) -> async_sessionmaker[AsyncSession]:
        return self._sessions

    @property
    def hashes(self) -> HashPool:
        """The bounded password-hashing pool (server.auth.accounts hashes new passwords)."""
        return self._hashes

    async def sign_in(
        self, session: AsyncSession, tenant: Tenant, user_id: str
    ) -> dict[str, object]:
        """A new sign-in (token pair, new family) for a user whose password was just set,
        in the caller's transaction (bound to the tenant): the same answer as `login`."""
        principal = await principal_for(session, tenant.id, user_id)
        why = await standing(session, principal, None, utcnow())
        if why is not None:
            raise Unauthenticated(why, {"reason": "standing"})
        tokens = await self._issue(session, principal, family_id=str(uuid.uuid4()))
        return {**tokens, "principal": principal, "school": school_info(tenant)}

    def forget_standing(self, who: Principal) -> None:
        """Drop the cached standing answers of `who` (after their sessions were revoked)."""
        self._standing.drop_user(who.tenant_id, who.user_id)

    async def _revoke_family(self, tenant_id: str, family_id: str) -> None:
        async with self._sessions() as session, session.begin():
            bind_tenant(session, tenant_id)
            await session.execute(
                update(RefreshToken)
                .where(RefreshToken.family_id == family_id, RefreshToken.revoked_at.is_(None))
                .values(revoked_at=utcnow())
                .execution_options(synchronize_session=False)
            )

    async def _issue(
        self,
        session: AsyncSession,
        principal: Principal,
        family_id: str,
        refresh_id: str | None = None,
    ) -> dict[str, object]:
        refresh, refresh_hash = new_refresh_token()
        refresh_id = refresh_id or str(uuid.uuid4())
        session.add(
            RefreshToken(
                tenant_id=principal.tenant_id,
                id=refresh_id,
                user_id=principal.user_id,
                family_id=family_id,
                token_hash=refresh_hash,
                expires_at=utcnow() + dt.timedelta(days=self._settings.refresh_token_ttl_days),
            )
        )
        ttl = self._settings.access_token_ttl_s
        access = issue_access_token(principal, self._secret, ttl, family_id)
        self._standing.put(
            (principal.tenant_id, principal.user_id, family_id), None, time.monotonic()
        )
        return {
            "access_token": access,
            "refresh_token": refresh,
            "refresh_id": refresh_id,
            "expires_in": ttl,
        }


def school_info(tenant: Tenant) -> dict[str, object]:
    """The school as clients see it with their tokens: the fields of `SchoolInfo`."""
    return {name: getattr(tenant, name) for name in SchoolInfo.model_fields}
