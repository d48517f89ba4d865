"""Tenant scoping, enforced in one place.

A session is bound to one tenant with `bind_tenant(session, tenant_id)`. From then on every
ORM statement it runs (select, update, delete) on a tenant-keyed table gets
`tenant_id = :tenant` added by a `do_orm_execute` hook, and every new row it flushes must carry
that tenant. Queries elsewhere never type the tenant filter, so none can forget it. A session
that must cross tenants (migrations, the outbox claim, the CLI) says so explicitly with
`bind_tenant(session, ALL_TENANTS)`; a session bound to nothing refuses tenant-keyed work.
"""

from __future__ import annotations

from typing import Any, Final

from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import ORMExecuteState, Session, with_loader_criteria

from schemas import Tenant

ALL_TENANTS: Final = "*all-tenants*"
_KEY: Final = "drivesync_tenant"


class TenancyError(RuntimeError):
    """A tenant-keyed statement ran on a session bound to no tenant, or a row of another
    tenant was about to be written."""


def bind_tenant(session: AsyncSession | Session, tenant_id: str) -> None:
    """Scope every later statement of `session` to `tenant_id` (or ALL_TENANTS)."""
    target = session.sync_session if isinstance(session, AsyncSession) else session
    target.info[_KEY] = tenant_id


def bound_tenant(session: AsyncSession | Session) -> str | None:
    """The tenant a session is bound to, if any."""
    target = session.sync_session if isinstance(session, AsyncSession) else session
    value = target.info.get(_KEY)
    return value if isinstance(value, str) else None


@event.listens_for(Session, "do_orm_execute")
def _scope_statement(state: ORMExecuteState) -> None:
    if not (state.is_select or state.is_update or state.is_delete):
        return
    tenant = state.session.info.get(_KEY)
    if tenant == ALL_TENANTS:
        return
    mappers = state.all_mappers
    if tenant is None:
        keyed = [m for m in mappers if "tenant_id" in m.columns and m.class_ is not Tenant]
        if keyed:
            raise TenancyError(
                f"query on {keyed[0].class_.__name__} from a session bound to no tenant"
            )
        return
    for mapper in mappers:
        if "tenant_id" in mapper.columns and mapper.class_ is not Tenant:
            state.statement = state.statement.options(
                with_loader_criteria(
                    mapper.class_, lambda cls: cls.tenant_id == tenant, include_aliases=True
                )
            )


@event.listens_for(Session, "before_flush")
def _check_new_rows(session: Session, _ctx: Any, _instances: Any) -> None:
    tenant = session.info.get(_KEY)
    if tenant == ALL_TENANTS:
        return
    for obj in list(session.new) + list(session.dirty):
        row_tenant = getattr(obj, "tenant_id", None)
        if row_tenant is None or isinstance(obj, Tenant):
            continue
        if tenant is None:
            raise TenancyError(f"writing {type(obj).__name__} from a session bound to no tenant")
        if row_tenant != tenant:
            raise TenancyError(f"writing a {type(obj).__name__} of another tenant")
