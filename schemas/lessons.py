"""Bookings, lessons, notes, skills and assessments, progress, trips and GPS segments."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import (
    Boolean,
    CheckConstraint,
    Date,
    Float,
    ForeignKeyConstraint,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    true,
)
from sqlalchemy.orm import Mapped, mapped_column

from schemas.base import Base, JsonDoc, RevInt, UtcDateTime, id_type
from schemas.synced import SyncedMixin

BOOKING_STATUSES = ("requested", "confirmed", "declined", "cancelled", "completed")
LESSON_STATUSES = ("scheduled", "in_progress", "completed", "no_show", "cancelled")


def _fk(cols: str, table: str) -> ForeignKeyConstraint:
    """A tenant-scoped foreign key: (tenant_id, <col>) → <table>(tenant_id, id)."""
    return ForeignKeyConstraint(["tenant_id", cols], [f"{table}.tenant_id", f"{table}.id"])


class Booking(SyncedMixin, Base):
    """A slot a student booked with an instructor; the price is snapshotted when made."""

    __tablename__ = "bookings"

    student_id: Mapped[str] = mapped_column(id_type())
    instructor_id: Mapped[str] = mapped_column(id_type())
    service_id: Mapped[str] = mapped_column(id_type())
    start: Mapped[dt.datetime] = mapped_column(UtcDateTime)
    end: Mapped[dt.datetime] = mapped_column(UtcDateTime)
    status: Mapped[str] = mapped_column(String(16), default="requested")
    pickup_location: Mapped[str | None] = mapped_column(Text)
    price_cents: Mapped[int] = mapped_column(Integer)
    currency: Mapped[str] = mapped_column(String(3))
    payment_status: Mapped[str] = mapped_column(String(16), default="unpaid")
    # The `booking_series` this booking is an occurrence of: each occurrence is its own
    # booking so that one can be moved or cancelled alone.
    series_id: Mapped[str | None] = mapped_column(id_type())
    # Set by the server when the booking is cancelled (sync.rules.booking_cancel): when the
    # person made the cancellation (their clamped HLC time, not its arrival), the role of who
    # made it, and the late-cancellation fee owed (cents, the booking's currency) or None.
    cancelled_at: Mapped[dt.datetime | None] = mapped_column(UtcDateTime)
    cancelled_by: Mapped[str | None] = mapped_column(String(16))
    late_fee_cents: Mapped[int | None] = mapped_column(Integer)

    __table_args__ = (
        _fk("student_id", "students"),
        _fk("instructor_id", "instructors"),
        _fk("service_id", "services"),
        CheckConstraint(
            "status IN ('requested', 'confirmed', 'declined', 'cancelled', 'completed')",
            name="status",
        ),
        CheckConstraint(
            "payment_status IN ('unpaid', 'pending', 'paid', 'refunded', 'failed', 'credit')",
            name="payment_status",
        ),
        CheckConstraint('start < "end"', name="ordered"),
        CheckConstraint("price_cents >= 0", name="price"),
        Index("ix_bookings_instructor_start", "instructor_id", "tenant_id", "start"),
        Index("ix_bookings_student_start", "student_id", "tenant_id", "start"),
        Index("ix_bookings_series", "series_id", "tenant_id"),
    )


SERIES_EVERY = ("week", "2weeks")
SERIES_STATUSES = ("requested", "confirmed", "declined", "cancelled")


class BookingSeries(SyncedMixin, Base):
    """Recurring lessons as asked for: the server expands a new series into single bookings
    (`Booking.series_id`), each checked on its own; `occurrences` records what became of
    each date (its booking, or why it was refused). Confirming, declining or cancelling the
    series applies to its occurrences at once; shortening `until` cancels the ones after
    it ("this and following")."""

    __tablename__ = "booking_series"

    student_id: Mapped[str] = mapped_column(id_type())
    instructor_id: Mapped[str] = mapped_column(id_type())
    service_id: Mapped[str] = mapped_column(id_type())
    first_start: Mapped[dt.datetime] = mapped_column(UtcDateTime)
    every: Mapped[str] = mapped_column(String(8))
    count: Mapped[int | None] = mapped_column(Integer)
    until: Mapped[dt.date | None] = mapped_column(Date)
    pickup_location: Mapped[str | None] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(16), default="requested")
    occurrences: Mapped[list[dict[str, Any]]] = mapped_column(JsonDoc, default=list)

    __table_args__ = (
        _fk("student_id", "students"),
        _fk("instructor_id", "instructors"),
        _fk("service_id", "services"),
        CheckConstraint("every IN ('week', '2weeks')", name="every"),
        CheckConstraint(
            "status IN ('requested', 'confirmed', 'declined', 'cancelled')", name="status"
        ),
        CheckConstraint("count IS NULL OR (count >= 1 AND count <= 52)", name="count"),
        Index("ix_booking_series_student", "student_id", "tenant_id"),
        Index("ix_booking_series_instructor", "instructor_id", "tenant_id"),
    )


class Lesson(SyncedMixin, Base):
    """A lesson as it happens in the car; created by the server when a booking is confirmed
    (or by an instructor/admin directly)."""

    __tablename__ = "lessons"

    booking_id: Mapped[str | None] = mapped_column(id_type())
    instructor_id: Mapped[str] = mapped_column(id_type())
    student_id: Mapped[str] = mapped_column(id_type())
    scheduled_start: Mapped[dt.datetime] = mapped_column(UtcDateTime)
    scheduled_end: Mapped[dt.datetime] = mapped_column(UtcDateTime)
    status: Mapped[str] = mapped_column(String(16), default="scheduled")
    started_at: Mapped[dt.datetime | None] = mapped_column(UtcDateTime)
    ended_at: Mapped[dt.datetime | None] = mapped_column(UtcDateTime)
    attended: Mapped[bool | None] = mapped_column(Boolean)

    __table_args__ = (
        _fk("student_id", "students"),
        _fk("instructor_id", "instructors"),
        _fk("booking_id", "bookings"),
        CheckConstraint(
            "status IN ('scheduled', 'in_progress', 'completed', 'no_show', 'cancelled')",
            name="status",
        ),
        CheckConstraint("scheduled_start < scheduled_end", name="ordered"),
        Index("ix_lessons_student", "student_id", "tenant_id"),
        Index("ix_lessons_instructor_start", "instructor_id", "tenant_id", "scheduled_start"),
        Index("ix_lessons_booking", "booking_id", "tenant_id"),
    )


class LessonNote(SyncedMixin, Base):
    """An instructor's note on a lesson. `student_id` is copied from the lesson so scope
    checks need no join; private notes never reach students."""

    __tablename__ = "lesson_notes"

    lesson_id: Mapped[str] = mapped_column(id_type())
    student_id: Mapped[str] = mapped_column(id_type())
    body: Mapped[str] = mapped_column(Text, default="")
    private: Mapped[bool] = mapped_column(Boolean, default=False)
    tags: Mapped[list[str]] = mapped_column(JsonDoc, default=list)

    __table_args__ = (
        _fk("lesson_id", "lessons"),
        Index("ix_lesson_notes_lesson", "lesson_id", "tenant_id"),
    )


class NoteRevision(Base):
    """The body of a note at each rev it was written at: the base a three-way merge needs
    when a client's edit started from an older rev."""

    __tablename__ = "note_revisions"

    tenant_id: Mapped[str] = mapped_column(id_type(), primary_key=True)
    note_id: Mapped[str] = mapped_column(id_type(), primary_key=True)
    rev: Mapped[int] = mapped_column(RevInt, primary_key=True)
    body: Mapped[str] = mapped_column(Text)

    __table_args__ = (_fk("note_id", "lesson_notes"),)


class Skill(SyncedMixin, Base):
    """One entry of the school's skills catalogue (the stages of learning to drive)."""

    __tablename__ = "skills"

    code: Mapped[str] = mapped_column(String(64))
    name: Mapped[str] = mapped_column(String(200))
    stage: Mapped[int] = mapped_column(Integer)
    position: Mapped[int] = mapped_column(Integer)
    # Retired skills are no longer offered for assessment; old assessments keep them.
    active: Mapped[bool] = mapped_column(Boolean, default=True, server_default=true())

    __table_args__ = (
        UniqueConstraint("code", "tenant_id"),
        CheckConstraint("stage >= 1 AND stage <= 5", name="stage"),
    )


class SkillAssessment(SyncedMixin, Base):
    """An immutable assessment event: a skill's level (1 to 5) seen in a lesson."""

    __tablename__ = "skill_assessments"

    lesson_id: Mapped[str] = mapped_column(id_type())
    student_id: Mapped[str] = mapped_column(id_type())
    skill_id: Mapped[str] = mapped_column(id_type())
    level: Mapped[int] = mapped_column(Integer)
    comment: Mapped[str | None] = mapped_column(Text)
    assessed_at: Mapped[dt.datetime] = mapped_column(UtcDateTime)

    __table_args__ = (
        _fk("lesson_id", "lessons"),
        _fk("skill_id", "skills"),
        _fk("student_id", "students"),
        CheckConstraint("level >= 1 AND level <= 5", name="level"),
        Index("ix_skill_assessments_student", "student_id", "tenant_id"),
    )


class LessonSignature(SyncedMixin, Base):
    """The student's sign-off of a lesson, captured on the instructor's device: the signer
    (`student_id`, copied from the lesson, and the name typed for them), who captured it,
    when, and the strokes (sync.core.signature). At most one per lesson, never changed."""

    __tablename__ = "lesson_signatures"

    lesson_id: Mapped[str] = mapped_column(id_type())
    student_id: Mapped[str] = mapped_column(id_type())
    signed_by: Mapped[str] = mapped_column(String(200))
    captured_by: Mapped[str | None] = mapped_column(id_type())
    signed_at: Mapped[dt.datetime] = mapped_column(UtcDateTime)
    strokes: Mapped[list[Any]] = mapped_column(JsonDoc, default=list)

    __table_args__ = (
        _fk("lesson_id", "lessons"),
        _fk("student_id", "students"),
        UniqueConstraint("lesson_id", "tenant_id"),
        Index("ix_lesson_signatures_student", "student_id", "tenant_id"),
    )


class StudentProgress(SyncedMixin, Base):
    """Derived by the server from assessments: the latest level per skill and readiness."""

    __tablename__ = "student_progress"

    student_id: Mapped[str] = mapped_column(id_type())
    levels: Mapped[dict[str, Any]] = mapped_column(JsonDoc, default=dict)
    readiness_pct: Mapped[int] = mapped_column(Integer, default=0)

    __table_args__ = (
        _fk("student_id", "students"),
        UniqueConstraint("student_id", "tenant_id"),
        CheckConstraint("readiness_pct >= 0 AND readiness_pct <= 100", name="readiness"),
    )


class Trip(SyncedMixin, Base):
    """The route driven in a lesson; distance and duration derived from its segments."""

    __tablename__ = "trips"

    lesson_id: Mapped[str] = mapped_column(id_type())
    student_id: Mapped[str] = mapped_column(id_type())
    instructor_id: Mapped[str] = mapped_column(id_type())
    started_at: Mapped[dt.datetime | None] = mapped_column(UtcDateTime)
    ended_at: Mapped[dt.datetime | None] = mapped_column(UtcDateTime)
    distance_m: Mapped[float] = mapped_column(Float, default=0.0)
    duration_s: Mapped[int] = mapped_column(Integer, default=0)
    point_count: Mapped[int] = mapped_column(Integer, default=0)

    __table_args__ = (
        _fk("lesson_id", "lessons"),
        Index("ix_trips_lesson", "lesson_id", "tenant_id"),
    )


class TripSegment(SyncedMixin, Base):
    """Up to 500 GPS points `[t_ms, lat, lon, speed_kmh?, accuracy_m?]`; immutable."""

    __tablename__ = "trip_segments"

    trip_id: Mapped[str] = mapped_column(id_type())
    student_id: Mapped[str] = mapped_column(id_type())
    index: Mapped[int] = mapped_column(Integer)
    points: Mapped[list[Any]] = mapped_column(JsonDoc)

    __table_args__ = (
        _fk("trip_id", "trips"),
        UniqueConstraint("trip_id", "index", "tenant_id"),
        CheckConstraint('"index" >= 0', name="index"),
    )


class TheoryQuestion(SyncedMixin, Base):
    """A multiple-choice question of the school's own theory bank."""

    __tablename__ = "theory_questions"

    key: Mapped[str | None] = mapped_column(String(64))
    topic: Mapped[str] = mapped_column(String(64))
    question: Mapped[str] = mapped_column(Text)
    options: Mapped[list[str]] = mapped_column(JsonDoc)
    correct_option: Mapped[int] = mapped_column(Integer)
    explanation: Mapped[str] = mapped_column(Text, default="")
    # Retired questions are no longer offered in practice or mock tests; attempts and mock
    # tests that name one still show it.
    active: Mapped[bool] = mapped_column(Boolean, default=True, server_default=true())

    __table_args__ = (
        UniqueConstraint("key", "tenant_id"),
        CheckConstraint("correct_option >= 0", name="correct_option"),
    )


class TheoryAttempt(SyncedMixin, Base):
    """A student's answer to one question; `correct` is computed by the server."""

    __tablename__ = "theory_attempts"

    student_id: Mapped[str] = mapped_column(id_type())
    question_id: Mapped[str] = mapped_column(id_type())
    chosen_option: Mapped[int | None] = mapped_column(Integer)
    mode: Mapped[str] = mapped_column(String(8), default="practice")
    mock_test_id: Mapped[str | None] = mapped_column(id_type())
    answered_at: Mapped[dt.datetime] = mapped_column(UtcDateTime)
    correct: Mapped[bool] = mapped_column(Boolean, default=False)

    __table_args__ = (
        _fk("student_id", "students"),
        _fk("question_id", "theory_questions"),
        CheckConstraint("mode IN ('practice', 'mock')", name="mode"),
        Index("ix_theory_attempts_student", "student_id", "tenant_id"),
    )


class MockTest(SyncedMixin, Base):
    """A finished mock theory test, scored by the server against the bank."""

    __tablename__ = "mock_tests"

    student_id: Mapped[str] = mapped_column(id_type())
    started_at: Mapped[dt.datetime] = mapped_column(UtcDateTime)
    finished_at: Mapped[dt.datetime] = mapped_column(UtcDateTime)
    answers: Mapped[list[Any]] = mapped_column(JsonDoc)
    total: Mapped[int] = mapped_column(Integer)
    score: Mapped[int] = mapped_column(Integer)
    passed: Mapped[bool] = mapped_column(Boolean)

    __table_args__ = (
        _fk("student_id", "students"),
        CheckConstraint("score >= 0 AND score <= total", name="score"),
        Index("ix_mock_tests_student", "student_id", "tenant_id"),
    )


class TestRecord(SyncedMixin, Base):
    """A theory or practical driving test of a student: booked, then passed or failed,
    synced as the entity `test_record` (written by staff, read by the student and their
    guardians). `date` is the local day of the test in the school's timezone and `time`
    its optional local start ("HH:MM"): a day is what a learner plans around and what the
    reminder (the evening before) needs, and it cannot shift across a timezone offline.
    `score` is a theory test's mark, `faults` a practical test's driving faults."""

    __tablename__ = "test_records"
    __test__ = False  # not a pytest class

    student_id: Mapped[str] = mapped_column(id_type())
    kind: Mapped[str] = mapped_column(String(16))
    date: Mapped[dt.date] = mapped_column(Date)
    time: Mapped[str | None] = mapped_column(String(5))
    centre: Mapped[str | None] = mapped_column(String(200))
    result: Mapped[str] = mapped_column(String(16), default="booked")
    score: Mapped[int | None] = mapped_column(Integer)
    faults: Mapped[int | None] = mapped_column(Integer)
    notes: Mapped[str | None] = mapped_column(Text)

    __table_args__ = (
        _fk("student_id", "students"),
        CheckConstraint("kind IN ('theory', 'practical')", name="kind"),
        CheckConstraint("result IN ('booked', 'passed', 'failed')", name="result"),
        Index("ix_test_records_student", "student_id", "tenant_id"),
        Index("ix_test_records_date", "date", "tenant_id"),
    )
