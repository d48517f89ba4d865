"""Each event type's expansion: recipients and template facts (see
workers/notifications/recipients.py for the table of who receives what)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Awaitable, Callable
from typing import Any

from schemas import BookingMove, MockTest, Payment, TestRecord, utcnow
from workers.money import format_money
from workers.notifications import accounts as account_mail
from workers.notifications import invoice_mail, messages, template_admin, time_off
from workers.notifications.recipients import Expansion, Facts, Recipient, local_text

Expander = Callable[[Facts, dict[str, Any]], Awaitable[Expansion]]


def _only(*people: Recipient | None) -> list[Recipient]:
    seen: set[str] = set()
    out = []
    for p in people:
        if p is not None and p.key not in seen:
            seen.add(p.key)
            out.append(p)
    return out


async def _booking_event(f: Facts, p: dict[str, Any]) -> Expansion:
    row, booking = await f.booking(p.get("booking_id"))
    if row is None:
        return Expansion(stale="booking not found")
    status = p.get("status")
    # Overtaken: a request the instructor already answered (or the student withdrew), or a
    # confirmation already cancelled. The later change has its own event; this one would
    # only confuse. (A confirmed booking that has since been completed is not overtaken.)
    if status == "requested" and row.status != "requested":
        return Expansion(stale=f"booking is now {row.status}")
    if status == "confirmed" and row.status in ("cancelled", "declined"):
        return Expansion(stale=f"booking is now {row.status}")
    student = await f.student(row.student_id)
    instructor = await f.instructor(row.instructor_id)
    if status == "requested":
        people = _only(instructor)
    elif status == "cancelled":
        people = _only(student, instructor if p.get("by") != "instructor" else None)
    else:
        people = _only(student)
    return Expansion(people, {"booking": booking, "by": p.get("by")})


async def _series_event(f: Facts, p: dict[str, Any]) -> Expansion:
    row, series = await f.series(p.get("series_id"))
    if row is None:
        return Expansion(stale="series not found")
    status = p.get("status")
    if status == "requested" and row.status != "requested":
        return Expansion(stale=f"series is now {row.status}")
    student = await f.student(row.student_id)
    instructor = await f.instructor(row.instructor_id)
    if status == "requested":
        people = _only(instructor)
    elif status == "cancelled":
        people = _only(student, instructor if p.get("by") != "instructor" else None)
    else:
        people = _only(student)
    context = {"series": series, "lessons": p.get("lessons"), "by": p.get("by")}
    return Expansion(people, context)


async def _move_event(f: Facts, p: dict[str, Any]) -> Expansion:
    move: BookingMove | None = await f._get(BookingMove, p.get("move_id"))
    row, booking = await f.booking(p.get("booking_id"))
    if move is None or row is None:
        return Expansion(stale="move request not found")
    if p.get("status") == "requested" and move.status != "requested":
        return Expansion(stale=f"move request is now {move.status}")
    asked = {
        "start": local_text(move.start, f.tz),
        "end_time": move.end.astimezone(f.tz).strftime("%H:%M"),
        "note": move.note or "",
    }
    to = await (
        f.instructor(row.instructor_id) if move.status == "requested" else f.student(row.student_id)
    )
    return Expansion(_only(to), {"booking": booking, "move": asked})


async def _reminder(f: Facts, p: dict[str, Any]) -> Expansion:
    row, booking = await f.booking(p.get("booking_id"))
    if row is None or row.deleted or row.status != "confirmed":
        return Expansion(stale="booking no longer confirmed")
    if row.start.isoformat() != p.get("start"):
        return Expansion(stale="booking was moved")
    # Hours left when it goes out (a late reminder says how long it really is).
    left = max(1, round((row.start - utcnow()).total_seconds() / 3600))
    context = {"booking": booking, "hours": left, "nominal_hours": p.get("hours")}
    return Expansion(_only(await f.student(row.student_id)), context)


async def _digest(f: Facts, p: dict[str, Any]) -> Expansion:
    day = dt.date.fromisoformat(p["date"])
    lessons = await f.lessons_on(p["instructor_id"], day)
    if not lessons:
        return Expansion(stale="no lessons that day any more")
    context = {"date": day.strftime("%a %d %b %Y"), "lessons": lessons}
    return Expansion(_only(await f.instructor(p["instructor_id"])), context)


async def _lesson_completed(f: Facts, p: dict[str, Any]) -> Expansion:
    row, lesson = await f.lesson(p.get("lesson_id"))
    if row is None or row.deleted:
        return Expansion(stale="lesson not found")
    context = {
        "lesson": lesson,
        "notes": await f.public_notes(row.id),
        "assessments": await f.assessments(row.id),
    }
    return Expansion(_only(await f.student(row.student_id)), context)


async def _mock_test_passed(f: Facts, p: dict[str, Any]) -> Expansion:
    student = await f.student(p.get("student_id"))
    row: MockTest | None = await f._get(MockTest, p.get("mock_test_id"))
    score = row.score if row is not None else p.get("score")
    total = row.total if row is not None else p.get("total")
    context = {
        "mock_test": {
            "student": student.name if student else "",
            "score": score,
            "total": total,
        }
    }
    instructors = await f.instructors_of(p["student_id"]) if p.get("student_id") else []
    return Expansion(_only(student, *instructors), context)


async def _test_reminder(f: Facts, p: dict[str, Any]) -> Expansion:
    row: TestRecord | None = await f._get(TestRecord, p.get("test_record_id"))
    if row is None or row.deleted or row.result != "booked":
        return Expansion(stale="test no longer booked")
    if row.date.isoformat() != p.get("date"):
        return Expansion(stale="test was moved")
    student = await f.student(row.student_id)
    if student is None:
        return Expansion(stale="student not found")
    context = {
        "test": {
            "student": student.name,
            "kind": row.kind,
            "date": row.date.strftime("%a %d %b %Y"),
            "time": row.time or "",
            "centre": row.centre or "",
        }
    }
    return Expansion(_only(student), context)  # and the guardians' copies (_copy_guardians)


async def _conflict(f: Facts, p: dict[str, Any]) -> Expansion:
    context = {
        "conflict": {
            "id": p.get("conflict_id"),
            "entity": str(p.get("entity", "record")).replace("_", " "),
            "record_id": p.get("record_id"),
        }
    }
    return Expansion(await f.admins(), context)


async def _paid_for(f: Facts, payment: Payment, booking: dict[str, Any]) -> str:
    """What a payment paid for, in words: a lesson, a package or the balance owed."""
    if payment.purpose == "package":
        package = await f.package(payment.package_id)
        return f"the {package.name} package" if package is not None else "a lesson package"
    if payment.purpose == "balance":
        return "your balance"
    return f"your lesson on {booking['start']}" if booking else "your lesson"


async def _payment(f: Facts, p: dict[str, Any]) -> Expansion:
    payment = await f.payment(p.get("payment_id"))
    if payment is None:
        return Expansion(stale="payment not found")
    _row, booking = await f.booking(payment.booking_id)
    context = {
        "booking": booking,
        "payment": {
            "for": await _paid_for(f, payment, booking),
            "amount": format_money(payment.amount_cents, payment.currency),
            "refunded": format_money(int(p.get("refunded_cents") or 0), payment.currency),
            "reference": payment.provider_ref or payment.id,
            "status": payment.status,
            "reason": str(p.get("reason") or ""),
        },
    }
    return Expansion(_only(await f.student(payment.student_id)), context)


EXPANDERS: dict[str, Expander] = {
    "booking_requested": _booking_event,
    "booking_confirmed": _booking_event,
    "booking_cancelled": _booking_event,
    "booking_declined": _booking_event,
    "booking_move_requested": _move_event,
    "booking_move_accepted": _move_event,
    "booking_move_declined": _move_event,
    "booking_reminder": _reminder,
    "series_requested": _series_event,
    "series_confirmed": _series_event,
    "series_declined": _series_event,
    "series_cancelled": _series_event,
    "instructor_digest": _digest,
    "lesson_completed": _lesson_completed,
    "mock_test_passed": _mock_test_passed,
    "test_reminder": _test_reminder,
    "conflict_stored": _conflict,
    "payment_succeeded": _payment,
    "payment_failed": _payment,
    "payment_refunded": _payment,
    **account_mail.EXPANDERS,
    **time_off.EXPANDERS,
    template_admin.TEST_EVENT: template_admin.expand_test,
    **messages.EXPANDERS,
    **invoice_mail.EXPANDERS,
}


async def _copy_guardians(facts: Facts, expansion: Expansion) -> None:
    """A student's guardians are recipients of what the student is told: whether a copy
    goes, and how, is each guardian's choice (preferences.resolve, role "guardian")."""
    students = [p.student_id for p in expansion.recipients if p.role == "student" and p.student_id]
    copies = [g for sid in students for g in await facts.guardians_of(sid)]
    expansion.recipients = _only(*expansion.recipients, *copies)


async def expand(facts: Facts, event_type: str, payload: dict[str, Any]) -> Expansion:
    """Recipients and facts of one event; an unknown type has none (logged as skipped)."""
    expander = EXPANDERS.get(event_type)
    if expander is None:
        return Expansion(stale=f"no notifications for event type {event_type}")
    expansion = await expander(facts, payload)
    await invoice_mail.attach(facts, payload, expansion)  # an invoice's PDF, when named
    await _copy_guardians(facts, expansion)
    expansion.context.setdefault(
        "school", {"name": facts.tenant.name, "brand_color": facts.tenant.brand_color}
    )
    return expansion
