"""Login and refresh against the database: password check, rate limit on failures,
refresh-token rotation with reuse detection."""

from __future__ import annotations

import datetime as dt
import hashlib
import uuid

from sqlalchemy import delete, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from schemas import (
    LoginAttempt,
    RefreshToken,
    Tenant,
    User,
    utcnow,
)
from schemas.wire import SchoolInfo
from server.auth.passwords import verify_password
from server.auth.tokens import hash_refresh_token, issue_access_token, new_refresh_token
from server.config import Settings
from sync.access import principal_for
from sync.core.principal import Principal
from sync.errors import RateLimited, Unauthenticated
from sync.tenancy import ALL_TENANTS, bind_tenant


def _attempt_key(slug: str, email: str) -> str:
    return hashlib.sha256(f"{slug}\0{email.lower()}".encode()).hexdigest()


class AuthService:
    """Sign-in and token refresh."""

    def __init__(self, sessions: async_sessionmaker[AsyncSession], settings: Settings) -> None:
        self._sessions = sessions
        self._settings = settings
        self._secret = settings.resolved_secret()

    async def login(self, slug: str, email: str, password: str) -> tuple[dict[str, object], User]:
        """Tokens for a correct (school, email, password); 401 otherwise, 429 when too many
        failures for that email came in the window."""
        key = _attempt_key(slug, email)
        now = utcnow()
        window_start = now - dt.timedelta(seconds=self._settings.login_window_s)
        async with self._sessions() as session, session.begin():
            bind_tenant(session, ALL_TENANTS)
            failures = await session.scalar(
                select(func.count()).where(LoginAttempt.key == key, LoginAttempt.at > window_start)
            )
            if (failures or 0) >= self._settings.login_max_failures:
                raise RateLimited(
                    "too many failed sign-ins for this account; try again later",
                    retry_after=self._settings.login_window_s,
                )
            tenant = await session.scalar(select(Tenant).where(Tenant.slug == slug))
            user = None
            if tenant is not None:
                user = await session.scalar(
                    select(User).where(
                        User.tenant_id == tenant.id, User.email == email.strip().lower()
                    )
                )
            ok = verify_password(user.password_hash if user else None, password)
            if ok and user is not None and tenant is not None and user.is_active:
                await session.execute(delete(LoginAttempt).where(LoginAttempt.key == key))
                bind_tenant(session, tenant.id)
                principal = await principal_for(session, tenant.id, user.id)
                tokens = await self._issue(session, principal, family_id=str(uuid.uuid4()))
                return {**tokens, "principal": principal, "school": school_info(tenant)}, user
        # The failure is recorded in its own transaction so the rate limit sees it.
        async with self._sessions() as session, session.begin():
            bind_tenant(session, ALL_TENANTS)
            session.add(LoginAttempt(key=key, at=now))
        raise Unauthenticated("wrong school, email or password")

    async def refresh(self, token: str) -> dict[str, object]:
        """Rotate a refresh token: the old one is spent, a new pair is issued. A spent
        token presented again means it leaked: its whole family is revoked."""
        token_hash = hash_refresh_token(token)
        now = utcnow()
        async with self._sessions() as session, session.begin():
            bind_tenant(session, ALL_TENANTS)
            row = await session.scalar(
                select(RefreshToken).where(RefreshToken.token_hash == token_hash)
            )
            if row is None:
                raise Unauthenticated("unknown refresh token")
            bind_tenant(session, row.tenant_id)
            if row.revoked_at is not None:
                await session.execute(
                    update(RefreshToken)
                    .where(
                        RefreshToken.family_id == row.family_id, RefreshToken.revoked_at.is_(None)
                    )
                    .values(revoked_at=now)
                )
                # Commit the family revocation even though the request fails.
                await session.commit()
                raise Unauthenticated("refresh token was already used; sign in again")
            if row.expires_at <= now:
                raise Unauthenticated("refresh token expired; sign in again")
            user = await session.scalar(select(User).where(User.id == row.user_id))
            if user is None or not user.is_active:
                raise Unauthenticated("account disabled")
            principal = await principal_for(session, row.tenant_id, row.user_id)
            tokens = await self._issue(session, principal, family_id=row.family_id)
            row.revoked_at = now
            row.replaced_by = str(tokens["refresh_id"])
            tenant = await session.scalar(select(Tenant).where(Tenant.id == row.tenant_id))
            assert tenant is not None  # the token's foreign key guarantees it
        return {**tokens, "principal": principal, "school": school_info(tenant)}

    async def revoke(self, token: str) -> None:
        """Log out: revoke the refresh token's family."""
        token_hash = hash_refresh_token(token)
        async with self._sessions() as session, session.begin():
            bind_tenant(session, ALL_TENANTS)
            row = await session.scalar(
                select(RefreshToken).where(RefreshToken.token_hash == token_hash)
            )
            if row is not None:
                await session.execute(
                    update(RefreshToken)
                    .where(
                        RefreshToken.tenant_id == row.tenant_id,
                        RefreshToken.family_id == row.family_id,
                        RefreshToken.revoked_at.is_(None),
                    )
                    .values(revoked_at=utcnow())
                )

    async def _issue(
        self, session: AsyncSession, principal: Principal, family_id: str
    ) -> dict[str, object]:
        refresh, refresh_hash = new_refresh_token()
        refresh_id = str(uuid.uuid4())
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
        access = issue_access_token(principal, self._secret, self._settings.access_token_ttl_s)
        return {
            "access_token": access,
            "refresh_token": refresh,
            "refresh_id": refresh_id,
            "expires_in": self._settings.access_token_ttl_s,
        }


def school_info(tenant: Tenant) -> dict[str, object]:
    """The school as clients see it with their tokens: the fields of `SchoolInfo`."""
    return {name: getattr(tenant, name) for name in SchoolInfo.model_fields}
