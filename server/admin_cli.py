"""What `drivesync create-tenant` and `create-user` do, as functions tests can call."""

from __future__ import annotations

import uuid
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from schemas import Instructor, Membership, Student, Tenant, TenantRev, User
from server.auth.passwords import hash_password
from sync.accounts import check_password, has_password, request_invitation
from sync.errors import Invalid, NotFound
from sync.store import Store
from sync.tenancy import ALL_TENANTS, bind_tenant


async def create_tenant(
    sessions: async_sessionmaker[AsyncSession],
    _store: Store,
    slug: str,
    name: str,
    timezone: str = "Europe/London",
    currency: str = "GBP",
) -> str:
    """A new school with its rev counter; `Invalid` for a bad zone, currency or taken slug."""
    try:
        ZoneInfo(timezone)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise Invalid(f"unknown timezone {timezone!r}", {"field": "timezone"}) from exc
    if len(currency) != 3 or not currency.isalpha():
        raise Invalid("currency must be an ISO 4217 code such as GBP", {"field": "currency"})
    tenant_id = str(uuid.uuid4())
    async with sessions() as session, session.begin():
        bind_tenant(session, ALL_TENANTS)
        if await session.scalar(select(Tenant.id).where(Tenant.slug == slug)):
            raise Invalid(f"a school with slug {slug!r} exists", {"field": "slug"})
        session.add(
            Tenant(id=tenant_id, slug=slug, name=name, timezone=timezone, currency=currency.upper())
        )
        await session.flush()
        session.add(TenantRev(tenant_id=tenant_id, rev=0, horizon_rev=0))
    return tenant_id


async def create_user(
    sessions: async_sessionmaker[AsyncSession],
    store: Store,
    slug: str,
    email: str,
    name: str,
    role: str,
    password: str | None,
) -> str:
    """A user with a role; instructors and students also get their synced record. Without a
    password the user is invited: the account has none until they set one from the
    invitation email (sync/accounts.py)."""
    if password is not None:
        check_password(password, email)
    async with sessions() as session:
        bind_tenant(session, ALL_TENANTS)
        tenant_id = await session.scalar(select(Tenant.id).where(Tenant.slug == slug))
    if tenant_id is None:
        raise NotFound(f"no school with slug {slug!r}")
    user_id = str(uuid.uuid4())
    async with store.write(tenant_id) as txn:
        s = txn.session
        email = email.strip().lower()
        if await s.scalar(select(User.id).where(User.email == email)):
            raise Invalid(f"{email} already has an account in {slug}", {"field": "email"})
        s.add(
            User(
                tenant_id=tenant_id,
                id=user_id,
                email=email,
                name=name,
                password_hash=hash_password(password) if password is not None else "!",
            )
        )
        await s.flush()
        s.add(Membership(tenant_id=tenant_id, user_id=user_id, role=role))
        person_id = user_id
        if role == "instructor":
            person_id = str(uuid.uuid4())
            txn.stamp(
                "instructor",
                Instructor(
                    tenant_id=tenant_id, id=person_id, user_id=user_id, name=name, email=email
                ),
            )
        elif role == "student":
            person_id = str(uuid.uuid4())
            txn.stamp(
                "student",
                Student(tenant_id=tenant_id, id=person_id, user_id=user_id, name=name, email=email),
            )
        if password is None:
            user = await s.scalar(select(User).where(User.id == user_id))
            assert user is not None
            await request_invitation(s, tenant_id, user, role, person_id)
    return user_id


async def invite_again(
    sessions: async_sessionmaker[AsyncSession], store: Store, slug: str, email: str
) -> str:
    """Send a user who has not set a password yet a new invitation (the new link replaces
    the old one); `Invalid` when the account has a password (it uses forgot password)."""
    async with sessions() as session:
        bind_tenant(session, ALL_TENANTS)
        tenant_id = await session.scalar(select(Tenant.id).where(Tenant.slug == slug))
    if tenant_id is None:
        raise NotFound(f"no school with slug {slug!r}")
    async with store.write(tenant_id) as txn:
        s = txn.session
        user = await s.scalar(select(User).where(User.email == email.strip().lower()))
        if user is None:
            raise NotFound(f"no account for {email} in {slug}")
        if has_password(user):
            raise Invalid(
                f"{email} has set a password already (use forgot password)", {"field": "email"}
            )
        role = await s.scalar(select(Membership.role).where(Membership.user_id == user.id))
        person_id = await s.scalar(
            select(Student.id).where(Student.user_id == user.id)
        ) or await s.scalar(select(Instructor.id).where(Instructor.user_id == user.id))
        await request_invitation(s, tenant_id, user, role or "", person_id or user.id, again=True)
    return user.id
