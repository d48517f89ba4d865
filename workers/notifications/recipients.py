"""Turning one outbox event into its recipients and the facts its templates show.

Facts are read when the event is delivered, not when it was emitted: a lesson summary is
built from the notes as they are after the push that completed the lesson committed, and a
reminder whose booking was moved or cancelled meanwhile is skipped (`stale`).

| event | recipients |
|---|---|
| booking_requested | the instructor |
| booking_confirmed, booking_declined | the student |
| booking_cancelled | the student, and the instructor unless they cancelled it |
| booking_move_requested | the instructor |
| booking_move_accepted, booking_move_declined | the student |
| booking_reminder | the student |
| series_requested | the instructor (one for the whole series) |
| series_confirmed, series_declined | the student |
| series_cancelled | the student, and the instructor unless they cancelled it |
| instructor_digest | the instructor |
| lesson_completed | the student (public notes only) |
| mock_test_passed | the student and their instructors |
| test_reminder | the student and their guardians (the evening before a booked test) |
| conflict_stored | the school's owners and admins |
| payment_succeeded, payment_failed, payment_refunded | the student |
| credit_note_issued | the student (the credit note's PDF attached; invoice_mail.py) |
| time_off_clash | the student whose confirmed lessons the time off covers (one each) |
| time_off_clash_admin | the school's owners and admins (workers/notifications/time_off.py) |
| message_received | the thread's other side (its party; its instructor or the admins) |
| message_unread | those of them who have not read the window's messages (messages.py) |

Wherever a student is a recipient, so are their guardians (a copy): by default only for the
kinds a parent needs (preferences.GUARDIAN_DEFAULTS), for any other kind once they choose
channels for it. Every recipient with an account also finds it in their inbox
(workers/notifications/inbox.py), a guardian only for the copies they receive.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from schemas import (
    Booking,
    BookingSeries,
    Guardian,
    Instructor,
    Lesson,
    LessonNote,
    Membership,
    Package,
    Payment,
    Service,
    Skill,
    SkillAssessment,
    Student,
    StudentGuardian,
    StudentInstructor,
    Tenant,
    User,
)
from workers.money import format_money
from workers.notifications.attachments import Attachment


@dataclass(frozen=True)
class Recipient:
    """Someone to notify. `key` names them in idempotency keys: their user id, or
    `student:<id>` for a student record with no account."""

    key: str
    user_id: str | None
    name: str
    email: str | None
    phone: str | None
    role: str
    # A student recipient's student record: their guardians may receive a copy.
    student_id: str | None = None


@dataclass
class Expansion:
    """An event's recipients and template facts; `stale` says why it is no longer worth
    sending (the event then completes without sending anything)."""

    recipients: list[Recipient] = field(default_factory=list)
    context: dict[str, Any] = field(default_factory=dict)
    stale: str | None = None
    # Files the email carries (workers/notifications/invoice_mail.py: an invoice's PDF).
    attachments: list[Attachment] = field(default_factory=list)


def local_text(value: dt.datetime, tz: ZoneInfo) -> str:
    """A time as people in the school read it, e.g. "Tue 24 Nov 2026, 10:00"."""
    return value.astimezone(tz).strftime("%a %d %b %Y, %H:%M")


class Facts:
    """Loads rows of one tenant (its session is tenant-bound) for one event."""

    def __init__(self, session: AsyncSession, tenant: Tenant) -> None:
        self.s = session
        self.tenant = tenant
        self.tz = ZoneInfo(tenant.timezone)

    async def _get(self, table: Any, rid: str | None) -> Any:
        if not rid:
            return None
        return await self.s.scalar(select(table).where(table.id == rid))

    async def _user(self, user_id: str | None) -> User | None:
        user: User | None = await self._get(User, user_id)
        return user

    async def _person(self, row: Any, role: str) -> Recipient | None:
        """A student, instructor or guardian record as a recipient: none when their sign-in
        is disabled; the record's own address first, else their account's."""
        user = await self._user(row.user_id)
        if user is not None and not user.is_active:
            return None
        return Recipient(
            key=row.user_id or f"{role}:{row.id}",
            user_id=row.user_id,
            name=row.name,
            email=row.email or (user.email if user else None),
            phone=row.phone or (user.phone if user else None),
            role=role,
            student_id=row.id if role == "student" else None,
        )

    async def student(self, student_id: str | None) -> Recipient | None:
        row: Student | None = await self._get(Student, student_id)
        if row is None or row.deleted or row.left_at is not None:
            return None
        return await self._person(row, "student")

    async def instructor(self, instructor_id: str | None) -> Recipient | None:
        row: Instructor | None = await self._get(Instructor, instructor_id)
        if row is None or row.deleted:
            return None
        return await self._person(row, "instructor")

    async def admins(self) -> list[Recipient]:
        rows = await self.s.execute(
            select(User)
            .join(Membership, Membership.user_id == User.id)
            .where(Membership.role.in_(("owner", "admin")), User.is_active.is_(True))
            .order_by(User.email)
        )
        return [Recipient(u.id, u.id, u.name, u.email, u.phone, "admin") for (u,) in rows.all()]

    async def booking(self, booking_id: str | None) -> tuple[Booking | None, dict[str, Any]]:
        row: Booking | None = await self._get(Booking, booking_id)
        if row is None:
            return None, {}
        service: Service | None = await self._get(Service, row.service_id)
        student: Student | None = await self._get(Student, row.student_id)
        instructor: Instructor | None = await self._get(Instructor, row.instructor_id)
        return row, {
            "id": row.id,
            "status": row.status,
            "start": local_text(row.start, self.tz),
            "end_time": row.end.astimezone(self.tz).strftime("%H:%M"),
            "service": service.name if service else "Lesson",
            "student": student.name if student else "",
            "instructor": instructor.name if instructor else "",
            "pickup_location": row.pickup_location,
            "price": format_money(row.price_cents, row.currency),
            "payment_status": row.payment_status,
            # A late cancellation's fee (sync.core.cancellation), formatted; "" when none.
            "late_fee": format_money(row.late_fee_cents, row.currency)
            if row.late_fee_cents
            else "",
            "cancelled_by": row.cancelled_by,
        }

    async def series(self, series_id: str | None) -> tuple[BookingSeries | None, dict[str, Any]]:
        """A recurring booking and the dates its occurrences hold now (live ones)."""
        row: BookingSeries | None = await self._get(BookingSeries, series_id)
        if row is None:
            return None, {}
        service: Service | None = await self._get(Service, row.service_id)
        student: Student | None = await self._get(Student, row.student_id)
        instructor: Instructor | None = await self._get(Instructor, row.instructor_id)
        bookings = await self.s.scalars(
            select(Booking)
            .where(Booking.series_id == row.id, Booking.deleted.is_(False))
            .order_by(Booking.start)
        )
        return row, {
            "id": row.id,
            "status": row.status,
            "every": "every week" if row.every == "week" else "every two weeks",
            "first": local_text(row.first_start, self.tz),
            "service": service.name if service else "Lesson",
            "student": student.name if student else "",
            "instructor": instructor.name if instructor else "",
            "pickup_location": row.pickup_location,
            "dates": [
                {"start": local_text(b.start, self.tz), "status": b.status} for b in bookings
            ],
            "refused": [
                {
                    "start": local_text(dt.datetime.fromisoformat(o["start"]), self.tz),
                    "reason": o.get("reason") or "",
                }
                for o in row.occurrences
                if o.get("refused")
            ],
        }

    async def lesson(self, lesson_id: str | None) -> tuple[Lesson | None, dict[str, Any]]:
        row: Lesson | None = await self._get(Lesson, lesson_id)
        if row is None:
            return None, {}
        instructor: Instructor | None = await self._get(Instructor, row.instructor_id)
        start = row.started_at or row.scheduled_start
        return row, {
            "id": row.id,
            "start": local_text(start, self.tz),
            "date": start.astimezone(self.tz).strftime("%d %b %Y"),
            "instructor": instructor.name if instructor else "",
            "status": row.status,
        }

    async def public_notes(self, lesson_id: str) -> list[dict[str, Any]]:
        """The lesson's notes a student may read: not deleted, not private."""
        rows = await self.s.scalars(
            select(LessonNote)
            .where(
                LessonNote.lesson_id == lesson_id,
                LessonNote.deleted.is_(False),
                LessonNote.private.is_(False),
            )
            .order_by(LessonNote.created_at, LessonNote.id)
        )
        return [{"body": n.body, "tags": list(n.tags or [])} for n in rows if n.body.strip()]

    async def assessments(self, lesson_id: str) -> list[dict[str, Any]]:
        rows = await self.s.execute(
            select(SkillAssessment, Skill.name)
            .join(Skill, Skill.id == SkillAssessment.skill_id)
            .where(SkillAssessment.lesson_id == lesson_id, SkillAssessment.deleted.is_(False))
            .order_by(Skill.stage, Skill.position)
        )
        return [{"skill": name, "level": a.level, "comment": a.comment} for a, name in rows.all()]

    async def instructors_of(self, student_id: str) -> list[Recipient]:
        ids = await self.s.scalars(
            select(StudentInstructor.instructor_id)
            .where(StudentInstructor.student_id == student_id)
            .order_by(StudentInstructor.instructor_id)
        )
        out = []
        for iid in ids.all():
            r = await self.instructor(iid)
            if r is not None:
                out.append(r)
        return out

    async def guardians_of(self, student_id: str) -> list[Recipient]:
        """The guardians following a student (their `guardian_student` links)."""
        rows = await self.s.scalars(
            select(Guardian)
            .join(StudentGuardian, StudentGuardian.guardian_id == Guardian.id)
            .where(
                StudentGuardian.student_id == student_id,
                StudentGuardian.deleted.is_(False),
                Guardian.deleted.is_(False),
            )
            .order_by(Guardian.id)
        )
        found = [await self._person(row, "guardian") for row in rows.all()]
        return [r for r in found if r is not None]

    async def payment(self, payment_id: str | None) -> Payment | None:
        row: Payment | None = await self._get(Payment, payment_id)
        return row

    async def package(self, package_id: str | None) -> Package | None:
        row: Package | None = await self._get(Package, package_id)
        return row

    async def lessons_on(self, instructor_id: str, day: dt.date) -> list[dict[str, Any]]:
        """An instructor's confirmed bookings on a local day, in time order."""
        start = dt.datetime.combine(day, dt.time(0), self.tz).astimezone(dt.UTC)
        end = dt.datetime.combine(day + dt.timedelta(days=1), dt.time(0), self.tz).astimezone(
            dt.UTC
        )
        rows = await self.s.execute(
            select(Booking, Student.name)
            .join(Student, Student.id == Booking.student_id)
            .where(
                Booking.instructor_id == instructor_id,
                Booking.status == "confirmed",
                Booking.deleted.is_(False),
                Booking.start >= start,
                Booking.start < end,
            )
            .order_by(Booking.start)
        )
        return [
            {
                "start_time": b.start.astimezone(self.tz).strftime("%H:%M"),
                "end_time": b.end.astimezone(self.tz).strftime("%H:%M"),
                "student": name,
                "pickup_location": b.pickup_location,
                "booking_id": b.id,
            }
            for b, name in rows.all()
        ]
