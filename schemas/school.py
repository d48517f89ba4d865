"""People and the school's offer: students, instructors, guardians, assignments, services,
rate cards and availability."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

from sqlalchemy import (
    Boolean,
    CheckConstraint,
    Date,
    ForeignKeyConstraint,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    false,
    true,
)
from sqlalchemy.orm import Mapped, mapped_column

from schemas.base import Base, JsonDoc, UtcDateTime, id_type, utcnow
from schemas.synced import SyncedMixin


class Student(SyncedMixin, Base):
    """A learner driver. `left_at` is set (and `active` cleared) when they leave the school:
    their records then leave every replica, while lesson and payment rows stay for legal
    retention."""

    __tablename__ = "students"

    user_id: Mapped[str | None] = mapped_column(id_type())
    name: Mapped[str] = mapped_column(String(200))
    email: Mapped[str | None] = mapped_column(String(320))
    phone: Mapped[str | None] = mapped_column(String(32))
    licence_number: Mapped[str | None] = mapped_column(String(32))
    date_of_birth: Mapped[dt.date | None] = mapped_column(Date)
    address: Mapped[str | None] = mapped_column(Text)
    theory_test_date: Mapped[dt.date | None] = mapped_column(Date)
    practical_test_date: Mapped[dt.date | None] = mapped_column(Date)
    goals: Mapped[str | None] = mapped_column(Text)
    left_at: Mapped[dt.datetime | None] = mapped_column(UtcDateTime)
    active: Mapped[bool] = mapped_column(Boolean, default=True, server_default=true())

    __table_args__ = (Index("ix_students_user", "user_id", "tenant_id"),)


class Instructor(SyncedMixin, Base):
    """An approved driving instructor (ADI number in GB). An inactive one (`active` false)
    has no students and cannot sign in; their lessons stay."""

    __tablename__ = "instructors"

    user_id: Mapped[str | None] = mapped_column(id_type())
    name: Mapped[str] = mapped_column(String(200))
    email: Mapped[str | None] = mapped_column(String(320))
    phone: Mapped[str | None] = mapped_column(String(32))
    adi_number: Mapped[str | None] = mapped_column(String(32))
    specialties: Mapped[list[str]] = mapped_column(JsonDoc, default=list)
    stripe_account_id: Mapped[str | None] = mapped_column(String(64))
    # Stripe Connect: whether Stripe pays out to them, and where their onboarding stands
    # ('none' | 'pending' | 'enabled' | 'restricted'), from `account.updated` webhooks.
    payouts_enabled: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    connect_status: Mapped[str] = mapped_column(String(16), default="none", server_default="none")
    active: Mapped[bool] = mapped_column(Boolean, default=True, server_default=true())

    __table_args__ = (Index("ix_instructors_user", "user_id", "tenant_id"),)


class Guardian(SyncedMixin, Base):
    """A parent or carer who follows young learners, synced as the entity `guardian`
    (written by admins, read by admins only). One with an email gets a sign-in with the
    role guardian (sync.rules.people); which learners they follow is `guardian_student`."""

    __tablename__ = "guardians"

    user_id: Mapped[str | None] = mapped_column(id_type())
    name: Mapped[str] = mapped_column(String(200))
    email: Mapped[str | None] = mapped_column(String(320))
    phone: Mapped[str | None] = mapped_column(String(32))

    __table_args__ = (Index("ix_guardians_user", "user_id", "tenant_id"),)


class StudentGuardian(SyncedMixin, Base):
    """Which guardian follows which student: the synced entity `guardian_student`, written
    by admins. These rows define guardians' sync scopes (sync.access), so, like
    assignments, only current links are kept: unlinking deletes the row and the change
    index keeps its tombstone."""

    __tablename__ = "student_guardians"

    # Rows made outside a push (the seed) get an id of their own.
    id: Mapped[str] = mapped_column(
        id_type(), primary_key=True, default=lambda: str(uuid.uuid4()), sort_order=-9
    )
    student_id: Mapped[str] = mapped_column(id_type())
    guardian_id: Mapped[str] = mapped_column(id_type())

    __table_args__ = (
        ForeignKeyConstraint(["tenant_id", "student_id"], ["students.tenant_id", "students.id"]),
        ForeignKeyConstraint(["tenant_id", "guardian_id"], ["guardians.tenant_id", "guardians.id"]),
        UniqueConstraint("student_id", "guardian_id", "tenant_id"),
        Index("ix_student_guardians_guardian", "guardian_id", "tenant_id"),
    )


def _new_id() -> str:
    return str(uuid.uuid4())


class StudentInstructor(SyncedMixin, Base):
    """An admin-made assignment of a student to an instructor, synced as the entity
    `student_instructor`; at most one of a student's assignments is primary. These rows
    define instructors' and students' sync scopes, so only current assignments are kept:
    unassigning deletes the row (the change index keeps its tombstone, which is what
    replicas pull), and `deleted` stays false."""

    __tablename__ = "student_instructors"

    # Rows made outside a push (the seed, benchmarks) get an id of their own.
    id: Mapped[str] = mapped_column(id_type(), primary_key=True, default=_new_id, sort_order=-9)
    student_id: Mapped[str] = mapped_column(id_type())
    instructor_id: Mapped[str] = mapped_column(id_type())
    is_primary: Mapped[bool] = mapped_column(Boolean, default=False)
    assigned_at: Mapped[dt.datetime] = mapped_column(UtcDateTime, default=utcnow)

    __table_args__ = (
        ForeignKeyConstraint(["tenant_id", "student_id"], ["students.tenant_id", "students.id"]),
        ForeignKeyConstraint(
            ["tenant_id", "instructor_id"], ["instructors.tenant_id", "instructors.id"]
        ),
        UniqueConstraint("student_id", "instructor_id", "tenant_id"),
        Index("ix_student_instructors_instructor", "instructor_id", "tenant_id"),
    )


class Service(SyncedMixin, Base):
    """Something a student can book: a 60-minute lesson, a motorway lesson, a mock test."""

    __tablename__ = "services"

    name: Mapped[str] = mapped_column(String(200))
    kind: Mapped[str] = mapped_column(String(32), default="lesson")
    duration_min: Mapped[int] = mapped_column(Integer)
    price_cents: Mapped[int] = mapped_column(Integer)
    currency: Mapped[str] = mapped_column(String(3))
    active: Mapped[bool] = mapped_column(Boolean, default=True)

    __table_args__ = (
        CheckConstraint("duration_min > 0 AND duration_min <= 1440", name="duration"),
        CheckConstraint("price_cents >= 0", name="price"),
        CheckConstraint("length(currency) = 3", name="currency_iso"),
    )


class RateCard(SyncedMixin, Base):
    """A price for a service: for one instructor, or the school's default (`instructor_id`
    null), valid between two dates in the school's timezone (inclusive; null is
    open-ended). A booking snapshots the most specific card valid on its day
    (sync.core.pricing); cards of one service and instructor never overlap."""

    __tablename__ = "rate_cards"

    service_id: Mapped[str] = mapped_column(id_type())
    instructor_id: Mapped[str | None] = mapped_column(id_type())
    price_cents: Mapped[int] = mapped_column(Integer)
    currency: Mapped[str] = mapped_column(String(3))
    valid_from: Mapped[dt.date | None] = mapped_column(Date)
    valid_until: Mapped[dt.date | None] = mapped_column(Date)

    __table_args__ = (
        ForeignKeyConstraint(["tenant_id", "service_id"], ["services.tenant_id", "services.id"]),
        ForeignKeyConstraint(
            ["tenant_id", "instructor_id"], ["instructors.tenant_id", "instructors.id"]
        ),
        CheckConstraint("price_cents >= 0", name="price"),
        CheckConstraint("length(currency) = 3", name="currency_iso"),
        Index("ix_rate_cards_service", "service_id", "tenant_id"),
    )


class Availability(SyncedMixin, Base):
    """A weekly slot an instructor teaches in, read in the school's timezone."""

    __tablename__ = "availability"

    instructor_id: Mapped[str] = mapped_column(id_type())
    weekday: Mapped[int] = mapped_column(Integer)
    start_time: Mapped[str] = mapped_column(String(5))
    end_time: Mapped[str] = mapped_column(String(5))
    valid_from: Mapped[dt.date | None] = mapped_column(Date)
    valid_until: Mapped[dt.date | None] = mapped_column(Date)

    __table_args__ = (
        ForeignKeyConstraint(
            ["tenant_id", "instructor_id"], ["instructors.tenant_id", "instructors.id"]
        ),
        CheckConstraint("weekday >= 0 AND weekday <= 6", name="weekday"),
        CheckConstraint("start_time < end_time", name="times_ordered"),
        Index("ix_availability_instructor", "instructor_id", "tenant_id"),
    )


class AvailabilityException(SyncedMixin, Base):
    """A dated block when an instructor is not available (holiday, sick day, blocked hours),
    synced as the entity `availability_exception`. The columns are named `start` and `end`
    like the wire fields (and like bookings'), because every layer of the engine maps a
    record field to the column of the same name. An `all_day` block is stored widened to
    whole local days of the school's timezone (sync.rules.timeoff), so readers compare plain
    instants. `reason` is staff-only: records sent to students and guardians leave it out."""

    __tablename__ = "availability_exceptions"

    instructor_id: Mapped[str] = mapped_column(id_type())
    start: Mapped[dt.datetime] = mapped_column(UtcDateTime)
    end: Mapped[dt.datetime] = mapped_column(UtcDateTime)
    reason: Mapped[str | None] = mapped_column(String(200))
    all_day: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    details: Mapped[dict[str, Any]] = mapped_column(JsonDoc, default=dict)

    __table_args__ = (
        ForeignKeyConstraint(
            ["tenant_id", "instructor_id"], ["instructors.tenant_id", "instructors.id"]
        ),
        CheckConstraint('start < "end"', name="ordered"),
        Index("ix_availability_exceptions_instructor_start", "instructor_id", "start", "tenant_id"),
    )
