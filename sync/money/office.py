"""The office's side of the credit ledger: an admin's adjustment of a student's credit or
money (`adjust_credit`), and the sweep of expired credit run by the scheduler
(`expire_all`). Each in one write transaction of the school (its rev lock held)."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import select

from schemas import CreditEntry, Student, StudentBalance, utcnow
from sync.admin import audit
from sync.core.principal import Principal
from sync.errors import Conflict, Invalid, NotFound
from sync.money import ledger
from sync.records import RecordContext, to_record
from sync.store import Store
from sync.tenancy import ALL_TENANTS, bind_tenant


async def adjust_credit(
    store: Store,
    who: Principal,
    student_id: str,
    *,
    lessons: int,
    minutes: int,
    amount_cents: int,
    note: str,
) -> dict[str, Any]:
    """Write an `adjustment` entry (or entries: taking credit draws FIFO by expiry) and
    answer them with the student's new balance. `insufficient_credit` (409) when it would
    take more than the student holds; `invalid` (422) for lessons and minutes at once or
    an adjustment of nothing."""
    async with store.write(who.tenant_id) as txn:
        student = await txn.session.scalar(select(Student).where(Student.id == student_id))
        if student is None or student.deleted:
            raise NotFound("no such student")
        try:
            rows = await ledger.adjust(
                txn,
                student_id=student_id,
                lessons=lessons,
                minutes=minutes,
                amount_cents=amount_cents,
                note=note,
                by=who.user_id,
            )
        except ledger.LedgerError as exc:
            if exc.code == "insufficient_credit":
                raise InsufficientCredit(exc.message, dict(exc.details)) from None
            raise Invalid(exc.message, dict(exc.details)) from None
        balance = await txn.session.scalar(
            select(StudentBalance).where(StudentBalance.id == student_id)
        )
        audit(
            txn,
            who,
            "admin.credit_adjustment",
            "student",
            student_id,
            {"lessons": lessons, "minutes": minutes, "amount_cents": amount_cents},
        )
        ctx = RecordContext("UTC", {}, staff=True)
        return {
            "entries": [to_record("credit_entry", r, ctx) for r in rows],
            "balance": to_record("student_balance", balance, ctx),
        }


class InsufficientCredit(Conflict):
    code = "insufficient_credit"


async def expire_all(store: Store, now: dt.datetime | None = None) -> int:
    """Write expiry entries in every school holding purchases whose validity ended (by
    `now`, default the transaction's clock); returns how many. Idempotent."""
    when = now or utcnow()
    async with store.sessions() as session:
        bind_tenant(session, ALL_TENANTS)
        query = select(CreditEntry.tenant_id).where(
            CreditEntry.kind == "purchase", CreditEntry.expires_at <= when
        )
        tenants = sorted(set(await session.scalars(query.distinct())))
    written = 0
    for tenant_id in tenants:
        async with store.write(tenant_id) as txn:
            written += await ledger.expire_due(txn, when)
    return written
