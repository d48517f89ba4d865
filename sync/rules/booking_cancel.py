"""Cancelling a booking: when it was made, who made it, and the late fee (the policy is
sync.core.cancellation; this module reads the school's settings and writes the row)."""

from __future__ import annotations

from sqlalchemy import select

from schemas import Booking, Tenant
from sync.core.cancellation import Verdict, judge, made_at
from sync.rules.batch import Context


async def settle(
    ctx: Context, row: Booking, previous: str, hlc: str, base_rev: int | None
) -> Verdict:
    """Record a cancellation on `row` (call before the row is stamped: the bound below
    reads the version the device cancelled). Sets cancelled_at, cancelled_by and, for a
    student's late cancellation of a confirmed lesson, late_fee_cents."""
    # The device saw at least the booking as it was created; if it edited the current
    # version, it saw that version, committed at updated_at.
    seen = row.updated_at if base_rev is not None and base_rev == row.rev else row.created_at
    cutoff, fee = (
        await ctx.session.execute(
            select(Tenant.cancel_cutoff_hours, Tenant.late_fee_cents).where(
                Tenant.id == ctx.txn.tenant_id
            )
        )
    ).one()
    verdict = judge(
        ctx.who.role,
        previous,
        row.start,
        made_at(hlc, seen or ctx.txn.now),
        cutoff,
        fee,
    )
    row.cancelled_at = verdict.made_at
    row.cancelled_by = "admin" if ctx.who.role in ("owner", "admin") else ctx.who.role
    row.late_fee_cents = verdict.fee_cents
    return verdict
