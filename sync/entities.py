"""The synced entities: for each, its table, wire fields, who may write it, which conflict
policy applies and which keys decide who can see it. The one table every layer reads."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from functools import cached_property
from typing import Any

from pydantic import BaseModel

from schemas.wire import RECORD_MODELS, WRITE_MODELS


class Policy(StrEnum):
    """How concurrent writes to an entity combine."""

    LWW = "lww"  # field-level last-writer-wins by hlc
    NOTE = "note"  # LWW, but `body` is three-way merged against the base rev
    APPEND = "append"  # put once, immutable
    ONCE = "once"  # put once (mock tests), scored by the server
    BOOKING = "booking"  # server-authoritative rules
    READ_ONLY = "read_only"  # no client writes


class Visibility(StrEnum):
    """Which key of a record decides who may read it (see sync.scope)."""

    CATALOGUE = "catalogue"  # every member of the school
    INSTRUCTOR = "instructor"  # by instructor_id: the instructor's profile and availability
    STUDENT = "student"  # by student_id: a student's records
    ADMIN = "admin"  # owners and admins only


@dataclass(frozen=True)
class EntitySpec:
    """Everything the engine needs to know about one synced entity."""

    name: str
    policy: Policy
    visibility: Visibility
    writers: frozenset[str]
    record_model: type[BaseModel]
    write_model: type[BaseModel] | None = None
    required: frozenset[str] = frozenset()
    # Roles beyond admins that may read the entity within its visibility.
    readers: frozenset[str] = frozenset({"instructor", "student", "guardian"})

    @cached_property  # asked per record and per mutation; the models never change
    def record_fields(self) -> tuple[str, ...]:
        return tuple(
            f for f in self.record_model.model_fields if f not in ("id", "rev", "updated_at")
        )

    @cached_property
    def writable(self) -> frozenset[str]:
        if self.write_model is None:
            return frozenset()
        return frozenset(self.write_model.model_fields)

    @cached_property
    def read_only_fields(self) -> frozenset[str]:
        """Fields a client may see but never send."""
        return frozenset(self.record_fields) - self.writable | SERVER_FIELDS


# Never accepted from a client, whatever the entity (`read_only_field`).
SERVER_FIELDS = frozenset(
    {"tenant_id", "rev", "updated_at", "created_at", "created_by", "deleted", "field_hlc", "id"}
)

STAFF = frozenset({"owner", "admin", "instructor"})
ADMINS = frozenset({"owner", "admin"})
STUDENT_ONLY = frozenset({"student"})
NOBODY: frozenset[str] = frozenset()


def _spec(
    name: str,
    policy: Policy,
    visibility: Visibility,
    writers: frozenset[str],
    required: tuple[str, ...] = (),
    readers: frozenset[str] = frozenset({"instructor", "student", "guardian"}),
) -> EntitySpec:
    return EntitySpec(
        name=name,
        policy=policy,
        visibility=visibility,
        writers=writers,
        record_model=RECORD_MODELS[name],
        write_model=WRITE_MODELS.get(name),
        required=frozenset(required),
        readers=readers,
    )


STAFF_READ = frozenset({"instructor"})
ALL_READ = frozenset({"instructor", "student", "guardian"})
STUDENT_READ = frozenset({"student", "guardian"})

ENTITIES: dict[str, EntitySpec] = {
    spec.name: spec
    for spec in (
        _spec(
            "lesson",
            Policy.LWW,
            Visibility.STUDENT,
            STAFF,
            ("instructor_id", "student_id", "scheduled_start", "scheduled_end"),
        ),
        _spec("lesson_note", Policy.NOTE, Visibility.STUDENT, STAFF, ("lesson_id",)),
        _spec(
            "skill_assessment",
            Policy.APPEND,
            Visibility.STUDENT,
            STAFF,
            ("lesson_id", "skill_id", "level"),
        ),
        _spec("student_progress", Policy.READ_ONLY, Visibility.STUDENT, NOBODY),
        _spec("trip", Policy.LWW, Visibility.STUDENT, STAFF, ("lesson_id",)),
        _spec(
            "trip_segment",
            Policy.APPEND,
            Visibility.STUDENT,
            STAFF,
            ("trip_id", "index", "points"),
        ),
        _spec(
            "theory_attempt",
            Policy.APPEND,
            Visibility.STUDENT,
            STUDENT_ONLY,
            ("question_id", "answered_at"),
            readers=STUDENT_READ,
        ),
        _spec(
            "mock_test",
            Policy.ONCE,
            Visibility.STUDENT,
            STUDENT_ONLY,
            ("started_at", "finished_at", "answers"),
            readers=STUDENT_READ,
        ),
        _spec(
            "booking",
            Policy.BOOKING,
            Visibility.STUDENT,
            frozenset({"owner", "admin", "instructor", "student"}),
            ("instructor_id", "service_id", "start"),
        ),
        _spec(
            "availability",
            Policy.LWW,
            Visibility.INSTRUCTOR,
            STAFF,
            ("weekday", "start_time", "end_time"),
        ),
        _spec("student", Policy.READ_ONLY, Visibility.STUDENT, NOBODY),
        _spec("instructor", Policy.READ_ONLY, Visibility.INSTRUCTOR, NOBODY),
        _spec("skill", Policy.READ_ONLY, Visibility.CATALOGUE, NOBODY),
        _spec("service", Policy.READ_ONLY, Visibility.CATALOGUE, NOBODY),
        _spec("theory_question", Policy.READ_ONLY, Visibility.CATALOGUE, NOBODY),
        _spec(
            "payment",
            Policy.READ_ONLY,
            Visibility.STUDENT,
            NOBODY,
            readers=STUDENT_READ,
        ),
    )
}


def scope_keys(entity: str, row: Any) -> tuple[str | None, str | None, bool]:
    """(student_id, instructor_id, private) of a row: the keys sync.scope decides on."""
    if entity == "student":
        return row.id, None, False
    if entity == "instructor":
        return None, row.id, False
    if entity == "availability":
        return None, row.instructor_id, False
    if entity in ("lesson", "booking"):
        return row.student_id, row.instructor_id, False
    if entity == "lesson_note":
        return row.student_id, None, bool(row.private)
    return getattr(row, "student_id", None), None, False
