"""Setting a password with a one-time link (invitation, reset), asking for a reset link, and
changing a password while signed in. The token table and the password rule are in
sync/accounts.py; this module adds the hashing pool, the limits and the sign-in answer.

Every path hashes on the bounded pool of `server.auth.hashing` (never on the event loop),
and no database connection is held while a hash is made. A token is looked up first
without being spent, so a refused password (`weak_password`) leaves the link usable; it is
spent (compare-and-set) in the same transaction that stores the new hash.

Forgot password answers the same, in the same time, whether or not the account exists (the
look-up runs after the answer); its limits (per address and per school+email, token
buckets like the sign-in throttle's) count unknown emails alike, so they reveal nothing
either.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import time

from sqlalchemy import select

from schemas import Tenant, User, utcnow
from server.auth.service import AuthService, storable
from server.auth.throttle import Buckets
from sync import accounts
from sync.core.principal import Principal
from sync.errors import RateLimited
from sync.tenancy import ALL_TENANTS, bind_tenant

log = logging.getLogger("drivesync.accounts")
# How long a reset request waits before its look-up, so its answer is already sent.
AFTER_ANSWER_S = 0.05


class ForgotThrottle:
    """Forgot-password requests: a bucket per address and one per (school, email)."""

    def __init__(self, auth: AuthService) -> None:
        lim = auth.limits
        size = lim.login_table_size
        self.addresses = Buckets(
            size, lim.forgot_address_burst / lim.forgot_refill_s, lim.forgot_address_burst
        )
        self.accounts = Buckets(
            size, lim.forgot_account_burst / lim.forgot_refill_s, lim.forgot_account_burst
        )

    def check(self, address: str, account: str, now: float) -> None:
        wait = self.addresses.take(address, now) or self.accounts.take(account, now)
        if wait > 0:
            raise RateLimited(
                "too many password reset requests; try again later",
                {"limit": "password_reset"},
                retry_after=max(1, int(wait) + 1),
            )


class AccountService:
    """Invitation acceptance, password reset and change, on top of `AuthService`."""

    def __init__(self, auth: AuthService) -> None:
        self.auth = auth
        self.forgot_throttle = ForgotThrottle(auth)
        self._pending: set[asyncio.Task[None]] = set()

    async def accept_invitation(self, token: str, password: str) -> tuple[dict[str, object], User]:
        """Set the first password of an invited account (created active, with no password)
        and sign it in."""
        return await self._set_with_token(token, password, accounts.INVITE)

    async def reset_password(self, token: str, password: str) -> tuple[dict[str, object], User]:
        """Set a new password from a reset link; every other sign-in of the user ends."""
        return await self._set_with_token(token, password, accounts.RESET)

    async def _set_with_token(
        self, token: str, password: str, purpose: str
    ) -> tuple[dict[str, object], User]:
        sessions = self.auth.sessions
        async with sessions() as session:
            bind_tenant(session, ALL_TENANTS)
            row = await accounts.find_token(session, token, purpose)
            user = await session.scalar(
                select(User).where(User.tenant_id == row.tenant_id, User.id == row.user_id)
            )
            tenant = await session.scalar(select(Tenant).where(Tenant.id == row.tenant_id))
        # A disabled account (someone deactivated, perhaps before they accepted) stays
        # disabled: its links are refused like any dead link.
        if user is None or tenant is None or not user.is_active:
            raise accounts.InvalidToken("this link is not valid any more; ask for a new one")
        accounts.check_password(password, user.email)
        new_hash = await self.auth.hashes.hash(password)
        now = utcnow()
        async with sessions() as session, session.begin():
            bind_tenant(session, row.tenant_id)
            await accounts.spend_token(session, row, now)
            await accounts.set_password(session, user.id, new_hash)
            if purpose == accounts.RESET:
                await accounts.revoke_refresh_tokens(session, user.id, now)
            tokens = await self.auth.sign_in(session, tenant, user.id)
        principal = tokens["principal"]
        assert isinstance(principal, Principal)
        self.auth.forget_standing(principal)
        return tokens, user

    async def forgot(self, slug: str, email: str, address: str) -> None:
        """Ask for a reset email for (school, email) if such an active account exists;
        nothing says whether it does. 429 past the limits.

        The look-up and the outbox write run after the answer, in a task: done inline, a
        known account's insert and commit made its answer measurably slower (129 ms
        against 16 ms for an unknown email on SQLite), which told who has an account."""
        school = storable("school", slug).strip().lower()
        email = storable("email", email).strip().lower()
        key = hashlib.sha256(f"{school}\0{email}".encode()).hexdigest()
        self.forgot_throttle.check(address, key, time.monotonic())
        task = asyncio.create_task(self._request_reset(school, email))
        self._pending.add(task)  # held until done (the loop keeps only weak references)
        task.add_done_callback(self._settled)

    def _settled(self, task: asyncio.Task[None]) -> None:
        self._pending.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("password reset request failed", exc_info=task.exception())

    async def drain(self) -> None:
        """Wait for the reset requests still being written (tests, shutdown)."""
        while self._pending:
            await asyncio.gather(*list(self._pending), return_exceptions=True)

    async def _request_reset(self, school: str, email: str) -> None:
        # Started at once, the task's first database calls still shared the loop with the
        # answer being written (5.6 against 2.4 ms on SQLite): let the answer go first.
        await asyncio.sleep(AFTER_ANSWER_S)
        async with self.auth.sessions() as session, session.begin():
            bind_tenant(session, ALL_TENANTS)
            tenant_id = await session.scalar(select(Tenant.id).where(Tenant.slug == school))
            if tenant_id is None:
                return
            user = await session.scalar(
                select(User).where(User.tenant_id == tenant_id, User.email == email)
            )
            # An invited account that never set a password uses its invitation (or asks
            # the school for a new one); a disabled one gets nothing.
            if user is None or not user.is_active:
                return
            bind_tenant(session, tenant_id)
            await accounts.request_reset(session, tenant_id, user.id)

    async def change_password(
        self, who: Principal, family: str | None, current: str, new: str, address: str
    ) -> None:
        """Replace the signed-in user's password after checking the current one (wrong
        guesses count against the sign-in throttle); the user's other sign-ins end."""
        storable("current_password", current)
        async with self.auth.sessions() as session:
            bind_tenant(session, who.tenant_id)
            user = await session.scalar(select(User).where(User.id == who.user_id))
            tenant = await session.scalar(select(Tenant).where(Tenant.id == who.tenant_id))
        if user is None or tenant is None:
            raise accounts.WrongPassword("the current password is not right")
        account = hashlib.sha256(f"{tenant.slug}\0{user.email}".encode()).hexdigest()
        throttle = self.auth.throttle
        throttle.check(address, tenant.slug, account, time.monotonic())
        ok = await self.auth.hashes.verify(user.password_hash, current)
        throttle.record(address, account, ok, time.monotonic())
        if not ok:
            raise accounts.WrongPassword(
                "the current password is not right", {"field": "current_password"}
            )
        accounts.check_password(new, user.email, "new_password")
        new_hash = await self.auth.hashes.hash(new)
        async with self.auth.sessions() as session, session.begin():
            bind_tenant(session, who.tenant_id)
            await accounts.set_password(session, user.id, new_hash)
            await accounts.revoke_refresh_tokens(session, user.id, utcnow(), keep_family=family)
        self.auth.forget_standing(who)
