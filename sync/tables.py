"""Which table holds each synced entity (kept apart from sync.entities so the pure core
never imports SQLAlchemy)."""

from __future__ import annotations

from typing import Any

from schemas import (
    Availability,
    Booking,
    Instructor,
    Lesson,
    LessonNote,
    MockTest,
    Payment,
    Service,
    Skill,
    SkillAssessment,
    Student,
    StudentProgress,
    TheoryAttempt,
    TheoryQuestion,
    Trip,
    TripSegment,
)

TABLES: dict[str, Any] = {
    "lesson": Lesson,
    "lesson_note": LessonNote,
    "skill_assessment": SkillAssessment,
    "student_progress": StudentProgress,
    "trip": Trip,
    "trip_segment": TripSegment,
    "theory_question": TheoryQuestion,
    "theory_attempt": TheoryAttempt,
    "mock_test": MockTest,
    "booking": Booking,
    "availability": Availability,
    "student": Student,
    "instructor": Instructor,
    "skill": Skill,
    "service": Service,
    "payment": Payment,
}


def table_of(entity: str) -> Any:
    """The mapped class of a synced entity."""
    return TABLES[entity]
