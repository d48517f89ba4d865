"""Instructors' earnings from their payouts (sync.core.earnings groups them): an instructor
reads their own, admins every instructor's or one's."""

from __future__ import annotations

from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import select

from schemas import Instructor, Payout, Tenant
from sync.core.earnings import Earning, Period, group
from sync.core.principal import Principal
from sync.errors import Forbidden
from sync.store import Store


async def earnings(
    store: Store, who: Principal, period: Period, instructor_id: str | None = None, own: bool = True
) -> dict[str, Any]:
    """{period, timezone, currency, groups: [...], instructors: {id: name}}: with `own`, the
    signed-in instructor's; else (admins) every instructor's or the one named."""
    if own:
        if not who.instructor_id:
            raise Forbidden("only instructors have earnings")
        instructor_id = who.instructor_id
    elif not who.is_admin:
        raise Forbidden("only the school's owner or admins read every instructor's earnings")
    async with store.read(who.tenant_id) as s:
        tenant = await s.scalar(select(Tenant).where(Tenant.id == who.tenant_id))
        assert tenant is not None
        q = select(Payout).where(Payout.deleted.is_(False))
        if instructor_id is not None:
            q = q.where(Payout.instructor_id == instructor_id)
        rows = (await s.scalars(q)).all()
        names_q = select(Instructor.id, Instructor.name)
        if instructor_id is not None:
            names_q = names_q.where(Instructor.id == instructor_id)
        names = {i: n for i, n in (await s.execute(names_q)).all()}
    items = [
        Earning(
            instructor_id=p.instructor_id,
            when=p.lesson_start or p.created_at,
            gross_cents=p.gross_cents,
            fee_cents=p.fee_cents,
            net_cents=p.net_cents,
            reversed_cents=p.reversed_cents,
            currency=p.currency,
            status=p.status,
            transfer_status=p.transfer_status,
        )
        for p in rows
    ]
    return {
        "period": period,
        "timezone": tenant.timezone,
        "currency": tenant.currency,
        "groups": group(items, ZoneInfo(tenant.timezone), period),
        "instructors": names,
    }
