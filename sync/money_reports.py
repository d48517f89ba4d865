"""The school's money as admins read it: payments, refunds, instructors' payouts, invoices
and students' balances as filterable tables, a page at a time or whole as CSV.

Each report is declared once (`REPORTS`): the select that makes its rows (with the student's
and instructor's names joined in), the column that dates a row, and the columns its filters
and totals use. Reading is the same for every report: filters by school days (both ends
included, in the school's time zone), status, student and instructor; newest first; pages
cut by a cursor on (date, id) so a page stays right while new rows arrive; totals of the
amount columns over everything the filters match, not just the page.

Every table of a report is filtered by the school explicitly, joins included: the session's
tenant binding (sync.tenancy) scopes the ORM entities of a statement, and a count or sum
over a subquery of plain columns would escape it. The CSV export reads
the same rows, so what an admin downloads is what the screen shows.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import Select, and_, case, func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased

from schemas import (
    Booking,
    Instructor,
    Invoice,
    Package,
    Payment,
    Payout,
    Refund,
    Student,
    StudentBalance,
)
from sync.audit_log import decode_cursor, encode_cursor
from sync.errors import Invalid
from sync.records import wire_value

MAX_PAGE = 200
# A CSV export is one response built in memory: bounded so one click cannot hold the
# server's memory (a school with more rows narrows the dates).
MAX_EXPORT = 50_000


# A report's columns by role (`at`, `id`, `status`, ...): mapped attributes of its tables or
# of their aliases.
Columns = Mapping[str, Any]


@dataclass(frozen=True)
class MoneyQuery:
    kind: str
    since: dt.date | None = None
    until: dt.date | None = None
    status: str | None = None
    student_id: str | None = None
    instructor_id: str | None = None
    limit: int = 50
    before: str | None = None  # the `next` of the previous page


@dataclass(frozen=True)
class Report:
    """One table of the money views. `build` gives the select of its rows (labelled columns,
    in the order of `columns`) and the columns the reading needs by role: `at` (dates and
    orders a row), `id`, `status`, `student_id`, `instructor_id`."""

    columns: tuple[str, ...]
    amounts: tuple[str, ...]  # summed into the totals
    statuses: frozenset[str]
    build: Callable[[str], tuple[Select[*tuple[Any, ...]], Columns]]
    names: Mapping[str, str] = field(default_factory=dict)


def _payments(tenant: str) -> tuple[Select[*tuple[Any, ...]], Columns]:
    booking, package = aliased(Booking), aliased(Package)
    student, instructor = aliased(Student), aliased(Instructor)
    q = (
        select(
            Payment.created_at.label("at"),
            Payment.id.label("id"),
            Payment.purpose.label("purpose"),
            Payment.student_id.label("student_id"),
            student.name.label("student_name"),
            booking.instructor_id.label("instructor_id"),
            instructor.name.label("instructor_name"),
            Payment.booking_id.label("booking_id"),
            booking.start.label("lesson_start"),
            Payment.package_id.label("package_id"),
            package.name.label("package_name"),
            Payment.amount_cents.label("amount_cents"),
            Payment.currency.label("currency"),
            Payment.status.label("status"),
            Payment.provider.label("provider"),
            Payment.provider_ref.label("provider_ref"),
        )
        .outerjoin(booking, and_(booking.tenant_id == tenant, booking.id == Payment.booking_id))
        .outerjoin(student, and_(student.tenant_id == tenant, student.id == Payment.student_id))
        .outerjoin(
            instructor, and_(instructor.tenant_id == tenant, instructor.id == booking.instructor_id)
        )
        .outerjoin(package, and_(package.tenant_id == tenant, package.id == Payment.package_id))
        .where(Payment.tenant_id == tenant)
    )
    return q, {
        "at": Payment.created_at,
        "id": Payment.id,
        "status": Payment.status,
        "student_id": Payment.student_id,
        "instructor_id": booking.instructor_id,
        "amount_cents": Payment.amount_cents,
    }


def _refunds(tenant: str) -> tuple[Select[*tuple[Any, ...]], Columns]:
    payment, booking = aliased(Payment), aliased(Booking)
    student, instructor = aliased(Student), aliased(Instructor)
    q = (
        select(
            Refund.created_at.label("at"),
            Refund.id.label("id"),
            payment.student_id.label("student_id"),
            student.name.label("student_name"),
            booking.instructor_id.label("instructor_id"),
            instructor.name.label("instructor_name"),
            Refund.payment_id.label("payment_id"),
            payment.booking_id.label("booking_id"),
            Refund.amount_cents.label("amount_cents"),
            Refund.currency.label("currency"),
            Refund.status.label("status"),
            Refund.provider_ref.label("provider_ref"),
        )
        .outerjoin(payment, and_(payment.tenant_id == tenant, payment.id == Refund.payment_id))
        .outerjoin(booking, and_(booking.tenant_id == tenant, booking.id == payment.booking_id))
        .outerjoin(student, and_(student.tenant_id == tenant, student.id == payment.student_id))
        .outerjoin(
            instructor, and_(instructor.tenant_id == tenant, instructor.id == booking.instructor_id)
        )
        .where(Refund.tenant_id == tenant)
    )
    return q, {
        "at": Refund.created_at,
        "id": Refund.id,
        "status": Refund.status,
        "student_id": payment.student_id,
        "instructor_id": booking.instructor_id,
        "amount_cents": Refund.amount_cents,
    }


def _payouts(tenant: str) -> tuple[Select[*tuple[Any, ...]], Columns]:
    booking = aliased(Booking)
    student, instructor = aliased(Student), aliased(Instructor)
    q = (
        select(
            Payout.created_at.label("at"),
            Payout.id.label("id"),
            Payout.instructor_id.label("instructor_id"),
            instructor.name.label("instructor_name"),
            booking.student_id.label("student_id"),
            student.name.label("student_name"),
            Payout.booking_id.label("booking_id"),
            Payout.payment_id.label("payment_id"),
            Payout.gross_cents.label("gross_cents"),
            Payout.fee_cents.label("fee_cents"),
            Payout.net_cents.label("net_cents"),
            Payout.currency.label("currency"),
            Payout.status.label("status"),
            Payout.lesson_start.label("lesson_start"),
            Payout.transfer_status.label("transfer_status"),
            Payout.reversed_cents.label("reversed_cents"),
            Payout.paid_out_at.label("paid_out_at"),
        )
        .outerjoin(booking, and_(booking.tenant_id == tenant, booking.id == Payout.booking_id))
        .outerjoin(student, and_(student.tenant_id == tenant, student.id == booking.student_id))
        .outerjoin(
            instructor, and_(instructor.tenant_id == tenant, instructor.id == Payout.instructor_id)
        )
        .where(Payout.tenant_id == tenant)
    )
    return q, {
        "at": Payout.created_at,
        "id": Payout.id,
        "status": Payout.status,
        "student_id": booking.student_id,
        "instructor_id": Payout.instructor_id,
        "gross_cents": Payout.gross_cents,
        "fee_cents": Payout.fee_cents,
        "net_cents": Payout.net_cents,
    }


def _invoices(tenant: str) -> tuple[Select[*tuple[Any, ...]], Columns]:
    student = aliased(Student)
    q = (
        select(
            Invoice.issued_at.label("at"),
            Invoice.id.label("id"),
            Invoice.number.label("number"),
            Invoice.kind.label("kind"),
            Invoice.student_id.label("student_id"),
            student.name.label("student_name"),
            Invoice.payer_name.label("payer_name"),
            Invoice.payment_id.label("payment_id"),
            Invoice.credits_invoice_id.label("credits_invoice_id"),
            Invoice.total_cents.label("total_cents"),
            Invoice.currency.label("currency"),
            Invoice.status.label("status"),
        )
        .outerjoin(student, and_(student.tenant_id == tenant, student.id == Invoice.student_id))
        .where(Invoice.tenant_id == tenant)
    )
    return q, {
        "at": Invoice.issued_at,
        "id": Invoice.id,
        "status": Invoice.status,
        "student_id": Invoice.student_id,
        "total_cents": Invoice.total_cents,
    }


def _balances(tenant: str) -> tuple[Select[*tuple[Any, ...]], Columns]:
    student = aliased(Student)
    # A balance's "status": whether the student owes the school anything.
    owing = case((StudentBalance.owed_cents > 0, "owing"), else_="settled")
    q = (
        select(
            StudentBalance.updated_at.label("at"),
            StudentBalance.id.label("id"),
            StudentBalance.student_id.label("student_id"),
            student.name.label("student_name"),
            StudentBalance.lessons_left.label("lessons_left"),
            StudentBalance.minutes_left.label("minutes_left"),
            StudentBalance.owed_cents.label("owed_cents"),
            StudentBalance.currency.label("currency"),
            StudentBalance.next_expiry.label("next_expiry"),
            owing.label("status"),
        )
        .outerjoin(
            student, and_(student.tenant_id == tenant, student.id == StudentBalance.student_id)
        )
        .where(StudentBalance.tenant_id == tenant)
    )
    return q, {
        "at": StudentBalance.updated_at,
        "id": StudentBalance.id,
        "status": owing,
        "student_id": StudentBalance.student_id,
    }


REPORTS: dict[str, Report] = {
    "payments": Report(
        columns=(
            "at",
            "id",
            "purpose",
            "student_id",
            "student_name",
            "instructor_id",
            "instructor_name",
            "booking_id",
            "lesson_start",
            "package_id",
            "package_name",
            "amount_cents",
            "currency",
            "status",
            "provider",
            "provider_ref",
        ),
        amounts=("amount_cents",),
        statuses=frozenset({"pending", "succeeded", "failed", "refunded", "partially_refunded"}),
        build=_payments,
    ),
    "refunds": Report(
        columns=(
            "at",
            "id",
            "student_id",
            "student_name",
            "instructor_id",
            "instructor_name",
            "payment_id",
            "booking_id",
            "amount_cents",
            "currency",
            "status",
            "provider_ref",
        ),
        amounts=("amount_cents",),
        statuses=frozenset({"pending", "succeeded", "failed", "canceled", "requires_action"}),
        build=_refunds,
    ),
    "payouts": Report(
        columns=(
            "at",
            "id",
            "instructor_id",
            "instructor_name",
            "student_id",
            "student_name",
            "booking_id",
            "payment_id",
            "gross_cents",
            "fee_cents",
            "net_cents",
            "currency",
            "status",
            "lesson_start",
            "transfer_status",
            "reversed_cents",
            "paid_out_at",
        ),
        amounts=("gross_cents", "fee_cents", "net_cents"),
        # The share's own status; `transfer_status` says where its money is.
        statuses=frozenset({"pending", "cancelled"}),
        build=_payouts,
    ),
    # Invoices and credit notes (a credit note's total is negative).
    "invoices": Report(
        columns=(
            "at",
            "id",
            "number",
            "kind",
            "student_id",
            "student_name",
            "payer_name",
            "payment_id",
            "credits_invoice_id",
            "total_cents",
            "currency",
            "status",
        ),
        amounts=("total_cents",),
        statuses=frozenset({"issued", "paid", "void", "credited"}),
        build=_invoices,
    ),
    # Each student's balance as it stands (dated by its last change): credit left and money
    # owed; `status` is `owing` or `settled`.
    "balances": Report(
        columns=(
            "at",
            "id",
            "student_id",
            "student_name",
            "lessons_left",
            "minutes_left",
            "owed_cents",
            "currency",
            "next_expiry",
            "status",
        ),
        amounts=("owed_cents", "lessons_left", "minutes_left"),
        statuses=frozenset({"owing", "settled"}),
        build=_balances,
    ),
}


def report_of(kind: str) -> Report:
    report = REPORTS.get(kind)
    if report is None:
        raise Invalid(f"kind must be one of {', '.join(sorted(REPORTS))}", {"field": "kind"})
    return report


def _filtered(
    query: MoneyQuery, tenant: str, timezone: str
) -> tuple[Report, Select[*tuple[Any, ...]], Columns]:
    """The report's select with the query's filters (not its page) applied."""
    report = report_of(query.kind)
    if query.since and query.until and query.until < query.since:
        raise Invalid("until is before since", {"field": "until"})
    if query.status is not None and query.status not in report.statuses:
        allowed = ", ".join(sorted(report.statuses))
        raise Invalid(f"status must be one of {allowed}", {"field": "status"})
    q, col = report.build(tenant)
    tz = ZoneInfo(timezone)
    if query.since:
        q = q.where(col["at"] >= dt.datetime.combine(query.since, dt.time(), tz))
    if query.until:
        next_day = query.until + dt.timedelta(days=1)
        q = q.where(col["at"] < dt.datetime.combine(next_day, dt.time(), tz))
    if query.status:
        q = q.where(col["status"] == query.status)
    if query.student_id:
        q = q.where(col["student_id"] == query.student_id)
    if query.instructor_id:
        if "instructor_id" not in col:
            raise Invalid(
                f"instructor_id does not apply to {query.kind}", {"field": "instructor_id"}
            )
        q = q.where(col["instructor_id"] == query.instructor_id)
    return report, q, col


def _row(report: Report, row: Any) -> dict[str, Any]:
    return {name: wire_value(getattr(row, name)) for name in report.columns}


async def read_page(
    session: AsyncSession, query: MoneyQuery, tenant: str, timezone: str
) -> dict[str, Any]:
    """A page of one report (session bound to the school): `rows` newest first, `count` and
    `totals` over every row the filters match, and `next`, the following page's cursor."""
    report, q, col = _filtered(query, tenant, timezone)
    matching = q.subquery()
    sums = [func.coalesce(func.sum(matching.c[a]), 0) for a in report.amounts]
    summary = (await session.execute(select(func.count(), *sums).select_from(matching))).one()
    page = q.order_by(col["at"].desc(), col["id"].desc())
    if query.before:
        at, row_id = decode_cursor(query.before)
        page = page.where(or_(col["at"] < at, and_(col["at"] == at, col["id"] < row_id)))
    limit = min(max(query.limit, 1), MAX_PAGE)
    rows = list(await session.execute(page.limit(limit + 1)))
    more = len(rows) > limit
    rows = rows[:limit]
    return {
        "kind": query.kind,
        "columns": list(report.columns),
        "rows": [_row(report, r) for r in rows],
        "count": int(summary[0]),
        "totals": {a: int(v) for a, v in zip(report.amounts, summary[1:], strict=True)},
        "next": encode_cursor(rows[-1].at, rows[-1].id) if more else None,
    }


async def export_csv(session: AsyncSession, query: MoneyQuery, tenant: str, timezone: str) -> str:
    """Every row the filters match, newest first, as CSV text with a header line; 422
    `invalid` when there are more than MAX_EXPORT (narrow the dates)."""
    report, q, col = _filtered(query, tenant, timezone)
    total = int(await session.scalar(select(func.count()).select_from(q.subquery())) or 0)
    if total > MAX_EXPORT:
        raise Invalid(
            f"{total} rows match; an export holds at most {MAX_EXPORT}: narrow the dates",
            {"field": "until", "rows": total},
        )
    rows = await session.execute(q.order_by(col["at"].desc(), col["id"].desc()))
    return to_csv(report.columns, (_row(report, r) for r in rows))


# A spreadsheet runs a cell that starts with one of these as a formula (CSV injection): a
# student's name such as "=HYPERLINK(…)" must stay text.
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def _cell(value: Any) -> Any:
    if isinstance(value, str) and value.startswith(_FORMULA_START):
        return "'" + value
    return "" if value is None else value


def to_csv(columns: tuple[str, ...], rows: Iterator[dict[str, Any]]) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(columns)
    for row in rows:
        writer.writerow([_cell(row[c]) for c in columns])
    return out.getvalue()
