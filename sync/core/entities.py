"""The entity registry: every synced entity declared once.

For each entity, `ENTITIES[name]` says which table holds it (by table name, so this module
stays free of SQLAlchemy; `sync.tables` turns it into the mapped class), its wire models, who
may write it, its conflict policy, which columns decide who may read a row (`ScopeKeys`),
which parents a mutation names (`Ref`: preloaded with the batch, and the fields copied from
them), and the rules its policy applies (the lesson state machine, the note-body merge, the
history kept, the defaults of a new record). Every layer reads this table instead of testing
entity names: scope, pull, push, records, the live notifier and the PWA's field list.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from functools import cache, cached_property
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
    SERIES = "series"  # recurring bookings: expanded by the server, each date checked alone
    PEOPLE = "people"  # admins' writes of people and assignments: LWW plus scopes and accounts
    TIMEOFF = "timeoff"  # LWW, all-day blocks widened to local days, clashes told (timeoff.py)
    CATALOGUE = "catalogue"  # admins' writes of the catalogue: LWW plus checks; retired, kept
    MOVE = "move"  # a booking's move requests: asked, then accepted (slot checks) or declined
    # Threads, messages and read marks: who may talk to whom, fixed party keys, append-only
    # messages, read marks that only move forward (sync.rules.messaging).
    MESSAGING = "messaging"
    INBOX = "inbox"  # server-written; its owner marks it read (sync.rules.inbox)
    TEST = "test"  # driving tests: LWW, then the merged record checked (sync.rules.test_record)
    READ_ONLY = "read_only"  # no client writes


class Visibility(StrEnum):
    """Which key of a record decides who may read it (see sync.core.scope)."""

    CATALOGUE = "catalogue"  # every member of the school
    INSTRUCTOR = "instructor"  # by instructor_id: the instructor's profile and availability
    STUDENT = "student"  # by student_id: a student's records
    ADMIN = "admin"  # owners and admins only
    # Addressed to people, not to everyone following a student: the user named by the
    # `user` key (a thread's student or guardian, an inbox item's owner) and the
    # instructor named by the `instructor` key (that instructor only), plus admins.
    PARTY = "party"


@dataclass(frozen=True)
class ScopeKeys:
    """The columns of a row that hold its scope keys: the student and instructor it belongs
    to and whether it is private (staff only). `"id"` names the row's own id (a student's
    own record is keyed by itself)."""

    student: str | None = None
    instructor: str | None = None
    private: str | None = None
    user: str | None = None

    def of(self, row: Any) -> tuple[str | None, str | None, bool, str | None]:
        """(student_id, instructor_id, private, user_id) of a row (an ORM object or a column
        row)."""
        return (
            getattr(row, self.student) if self.student else None,
            getattr(row, self.instructor) if self.instructor else None,
            bool(getattr(row, self.private)) if self.private else False,
            getattr(row, self.user) if self.user else None,
        )


@dataclass(frozen=True)
class Ref:
    """A record a mutation names by id in one of its fields (`field` → an `entity`): loaded
    with the batch's targets, checked to exist, and the source of the fields `copy` lists
    (target field ← parent field), such as a note's student from its lesson. `many` marks a
    list of objects each naming one (a mock test's answers)."""

    field: str
    entity: str
    copy: tuple[tuple[str, str], ...] = ()
    many: str | None = None

    def ids(self, data: Mapping[str, Any]) -> list[str]:
        """The ids this reference names in a mutation's data (unvalidated: strings only)."""
        if self.many is not None:
            items = data.get(self.many)
            if not isinstance(items, list):
                return []
            found = (item.get(self.field) for item in items if isinstance(item, dict))
            return [v for v in found if isinstance(v, str)]
        value = data.get(self.field)
        return [value] if isinstance(value, str) else []


@dataclass(frozen=True)
class EntitySpec:
    """Everything the engine needs to know about one synced entity."""

    name: str
    table: str
    policy: Policy
    visibility: Visibility
    writers: frozenset[str]
    record_model: type[BaseModel]
    keys: ScopeKeys
    write_model: type[BaseModel] | None = None
    required: frozenset[str] = frozenset()
    # Roles beyond admins that may read the entity within its visibility.
    readers: frozenset[str] = frozenset({"instructor", "student", "guardian"})
    refs: tuple[Ref, ...] = ()
    # An instructor may write only rows whose instructor_id is their own.
    instructor_owned: bool = False
    # Field values of a new record the client left out.
    defaults: Mapping[str, Any] = field(default_factory=dict)
    # The field three-way merged against the base rev (NOTE policy), whose history is kept.
    merged_text: str | None = None
    # The status field moved only along the entity's state machine (sync.core.policy).
    state_field: str | None = None
    # Ordered pairs of fields where the second must come after the first.
    after: tuple[tuple[str, str], ...] = ()
    # Writable fields a client may leave out because the server fills them (from a parent,
    # or from who writes): the PWA need not send them.
    server_fills: frozenset[str] = frozenset()
    # Record fields not stored on the row but joined in when a record is built:
    # field -> source (`school_timezone`, `assigned_instructors`; see sync.records).
    joined: Mapping[str, str] = field(default_factory=dict)
    # A person with a sign-in (PEOPLE policy): the role of the account made for a new one
    # with an email, linked through its `user_id` (sync.rules.people).
    account_role: str | None = None
    # Record fields only staff (owners, admins, instructors) read: left out of every record
    # built for a student or guardian (sync.records), in pulls and push answers alike.
    staff_only: frozenset[str] = frozenset()
    # A party record only the user it is addressed to reads and writes, admins included
    # (an inbox item is its owner's, not the school's).
    personal: bool = False

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

    @property
    def catalogue(self) -> bool:
        return self.visibility is Visibility.CATALOGUE

    @cached_property
    def reach_key(self) -> str | None:
        """The field that decides who may read a record (its student for student-visible
        entities, its instructor for instructor-visible ones). A record cannot move to
        another value of it: the readers it leaves would never hear that it left, because
        the index keeps one row per record, under its current keys."""
        if self.visibility is Visibility.STUDENT:
            return self.keys.student
        if self.visibility is Visibility.INSTRUCTOR:
            return self.keys.instructor
        return None


# Never accepted from a client, whatever the entity (`read_only_field`).
SERVER_FIELDS = frozenset(
    {"tenant_id", "rev", "updated_at", "created_at", "created_by", "deleted", "field_hlc", "id"}
)

STAFF = frozenset({"owner", "admin", "instructor"})
ADMINS = frozenset({"owner", "admin"})
STUDENT_ONLY = frozenset({"student"})
NOBODY: frozenset[str] = frozenset()
STAFF_READ = frozenset({"instructor"})
ALL_READ = frozenset({"instructor", "student", "guardian"})
STUDENT_READ = frozenset({"student", "guardian"})
EVERYONE = frozenset({"owner", "admin", "instructor", "student", "guardian"})
# A thread's two sides: its student or guardian, and its instructor (null: the office).
BY_PARTY = ScopeKeys(user="party_user_id", instructor="instructor_id")
THREAD_REF = Ref(
    "thread_id",
    "thread",
    copy=(("party_user_id", "party_user_id"), ("instructor_id", "instructor_id")),
)

BY_STUDENT = ScopeKeys(student="student_id")
LESSON_REF = Ref("lesson_id", "lesson", copy=(("student_id", "student_id"),))


def _spec(
    name: str,
    table: str,
    policy: Policy,
    visibility: Visibility,
    writers: frozenset[str],
    keys: ScopeKeys = BY_STUDENT,
    required: tuple[str, ...] = (),
    **rules: Any,
) -> EntitySpec:
    return EntitySpec(
        name=name,
        table=table,
        policy=policy,
        visibility=visibility,
        writers=writers,
        record_model=RECORD_MODELS[name],
        write_model=WRITE_MODELS.get(name),
        keys=keys,
        required=frozenset(required),
        **rules,
    )


ENTITIES: dict[str, EntitySpec] = {
    spec.name: spec
    for spec in (
        _spec(
            "lesson",
            "lessons",
            Policy.LWW,
            Visibility.STUDENT,
            STAFF,
            ScopeKeys(student="student_id", instructor="instructor_id"),
            ("instructor_id", "student_id", "scheduled_start", "scheduled_end"),
            refs=(Ref("student_id", "student"), Ref("instructor_id", "instructor")),
            instructor_owned=True,
            defaults={"status": "scheduled"},
            state_field="status",
            after=(("scheduled_start", "scheduled_end"),),
        ),
        _spec(
            "lesson_note",
            "lesson_notes",
            Policy.NOTE,
            Visibility.STUDENT,
            STAFF,
            ScopeKeys(student="student_id", private="private"),
            ("lesson_id",),
            refs=(LESSON_REF,),
            defaults={"body": "", "private": False, "tags": []},
            merged_text="body",
        ),
        _spec(
            "skill_assessment",
            "skill_assessments",
            Policy.APPEND,
            Visibility.STUDENT,
            STAFF,
            required=("lesson_id", "skill_id", "level"),
            refs=(LESSON_REF, Ref("skill_id", "skill")),
            server_fills=frozenset({"student_id"}),
        ),
        _spec(
            "lesson_signature",
            "lesson_signatures",
            Policy.APPEND,
            Visibility.STUDENT,
            STAFF,
            required=("lesson_id", "signed_by", "signed_at", "strokes"),
            refs=(LESSON_REF,),  # student_id (the signer) copied from the lesson
        ),
        _spec("student_progress", "student_progress", Policy.READ_ONLY, Visibility.STUDENT, NOBODY),
        _spec(
            "trip",
            "trips",
            Policy.LWW,
            Visibility.STUDENT,
            STAFF,
            required=("lesson_id",),
            refs=(
                Ref(
                    "lesson_id",
                    "lesson",
                    copy=(("student_id", "student_id"), ("instructor_id", "instructor_id")),
                ),
            ),
        ),
        _spec(
            "trip_segment",
            "trip_segments",
            Policy.APPEND,
            Visibility.STUDENT,
            STAFF,
            required=("trip_id", "index", "points"),
            refs=(Ref("trip_id", "trip"),),
        ),
        _spec(
            "theory_attempt",
            "theory_attempts",
            Policy.APPEND,
            Visibility.STUDENT,
            STUDENT_ONLY,
            required=("question_id", "answered_at"),
            readers=ALL_READ,  # instructors read their students' practice (scope.RULES)
            refs=(Ref("question_id", "theory_question"),),
        ),
        _spec(
            "mock_test",
            "mock_tests",
            Policy.ONCE,
            Visibility.STUDENT,
            STUDENT_ONLY,
            required=("started_at", "finished_at", "answers"),
            readers=ALL_READ,  # instructors read their students' mock tests (scope.RULES)
            refs=(Ref("question_id", "theory_question", many="answers"),),
        ),
        _spec(
            "booking",
            "bookings",
            Policy.BOOKING,
            Visibility.STUDENT,
            frozenset({"owner", "admin", "instructor", "student"}),
            ScopeKeys(student="student_id", instructor="instructor_id"),
            ("instructor_id", "service_id", "start"),
            refs=(Ref("service_id", "service"),),
            instructor_owned=True,
            server_fills=frozenset({"student_id"}),  # a student books for themselves
        ),
        _spec(
            "booking_series",
            "booking_series",
            Policy.SERIES,
            Visibility.STUDENT,
            frozenset({"owner", "admin", "instructor", "student"}),
            ScopeKeys(student="student_id", instructor="instructor_id"),
            ("instructor_id", "service_id", "first_start", "every"),
            refs=(Ref("service_id", "service"),),
            instructor_owned=True,
            server_fills=frozenset({"student_id"}),  # a student books for themselves
        ),
        _spec(
            "booking_move",
            "booking_moves",
            Policy.MOVE,
            Visibility.STUDENT,
            frozenset({"owner", "admin", "instructor", "student"}),
            ScopeKeys(student="student_id", instructor="instructor_id"),
            ("booking_id", "start"),
            refs=(Ref("booking_id", "booking"),),
            instructor_owned=True,
        ),
        _spec(
            "booking_history",
            "booking_history",
            Policy.READ_ONLY,
            Visibility.ADMIN,
            NOBODY,
            ScopeKeys(student="student_id", instructor="instructor_id"),
            readers=NOBODY,
        ),
        _spec(
            "availability",
            "availability",
            Policy.LWW,
            Visibility.INSTRUCTOR,
            STAFF,
            ScopeKeys(instructor="instructor_id"),
            ("weekday", "start_time", "end_time"),
            refs=(Ref("instructor_id", "instructor"),),
            instructor_owned=True,
            after=(("start_time", "end_time"),),
            server_fills=frozenset({"instructor_id"}),  # an instructor's own slot
            joined={"timezone": "school_timezone"},
        ),
        _spec(
            "availability_exception",
            "availability_exceptions",
            Policy.TIMEOFF,
            Visibility.INSTRUCTOR,
            STAFF,
            ScopeKeys(instructor="instructor_id"),
            ("start", "end"),
            refs=(Ref("instructor_id", "instructor"),),
            instructor_owned=True,
            defaults={"all_day": False},
            after=(("start", "end"),),
            server_fills=frozenset({"instructor_id"}),  # an instructor's own time off
            staff_only=frozenset({"reason"}),  # students see that, not why, they are away
        ),
        _spec(
            "student",
            "students",
            Policy.PEOPLE,
            Visibility.STUDENT,
            ADMINS,
            ScopeKeys(student="id"),
            ("name",),
            defaults={"active": True},
            joined={"instructor_ids": "assigned_instructors"},
            account_role="student",
        ),
        _spec(
            "instructor",
            "instructors",
            Policy.PEOPLE,
            Visibility.INSTRUCTOR,
            ADMINS,
            ScopeKeys(instructor="id"),
            ("name",),
            defaults={"active": True, "specialties": []},
            account_role="instructor",
            staff_only=frozenset({"payouts_enabled", "connect_status"}),  # Stripe Connect
        ),
        _spec(
            "student_instructor",
            "student_instructors",
            Policy.PEOPLE,
            Visibility.STUDENT,
            ADMINS,
            ScopeKeys(student="student_id", instructor="instructor_id"),
            ("student_id", "instructor_id"),
            refs=(Ref("student_id", "student"), Ref("instructor_id", "instructor")),
            defaults={"is_primary": False},
        ),
        _spec(
            "guardian",
            "guardians",
            Policy.PEOPLE,
            Visibility.ADMIN,
            ADMINS,
            ScopeKeys(),
            ("name",),
            readers=NOBODY,
            account_role="guardian",
        ),
        _spec(
            "guardian_student",
            "student_guardians",
            Policy.PEOPLE,
            Visibility.STUDENT,
            ADMINS,
            BY_STUDENT,
            ("guardian_id", "student_id"),
            readers=frozenset({"guardian"}),  # a guardian's own links (and the office's)
            refs=(Ref("guardian_id", "guardian"), Ref("student_id", "student")),
        ),
        _spec(
            "test_record",
            "test_records",
            Policy.TEST,
            Visibility.STUDENT,
            STAFF,  # an instructor: for their assigned students only (their scope)
            BY_STUDENT,
            ("student_id", "kind", "date"),
            refs=(Ref("student_id", "student"),),
            defaults={"result": "booked"},
        ),
        _spec(
            "skill",
            "skills",
            Policy.CATALOGUE,
            Visibility.CATALOGUE,
            ADMINS,
            ScopeKeys(),
            ("code", "name", "stage"),
            defaults={"position": 0, "active": True},
        ),
        _spec(
            "service",
            "services",
            Policy.CATALOGUE,
            Visibility.CATALOGUE,
            ADMINS,
            ScopeKeys(),
            ("name", "duration_min", "price_cents"),
            defaults={"kind": "lesson", "active": True},
            server_fills=frozenset({"currency"}),  # the school's currency when left out
        ),
        _spec(
            "rate_card",
            "rate_cards",
            Policy.CATALOGUE,
            Visibility.CATALOGUE,
            ADMINS,
            ScopeKeys(),
            ("service_id", "price_cents"),
            # instructor_id is optional (null: the school's default), so not a Ref: a Ref
            # is required on create (sync.rules.lww); sync.rules.catalogue checks it.
            refs=(Ref("service_id", "service"),),
            server_fills=frozenset({"currency"}),  # the service's currency when left out
        ),
        _spec(
            "theory_question",
            "theory_questions",
            Policy.CATALOGUE,
            Visibility.CATALOGUE,
            ADMINS,
            ScopeKeys(),
            ("topic", "question", "options", "correct_option"),
            defaults={"explanation": "", "active": True},
        ),
        _spec(
            "thread",
            "threads",
            Policy.MESSAGING,
            Visibility.PARTY,
            EVERYONE,
            BY_PARTY,
            defaults={"subject": "", "kind": "direct"},
            server_fills=frozenset({"party_user_id", "instructor_id", "student_id"}),
        ),
        _spec(
            "thread_member",
            "thread_members",
            Policy.MESSAGING,
            Visibility.PARTY,
            EVERYONE,
            BY_PARTY,
            ("thread_id", "last_read_at"),
            refs=(THREAD_REF,),
            server_fills=frozenset({"user_id"}),
        ),
        _spec(
            "message",
            "messages",
            Policy.MESSAGING,
            Visibility.PARTY,
            EVERYONE,
            BY_PARTY,
            ("thread_id", "body"),
            refs=(THREAD_REF,),
            server_fills=frozenset({"sent_at"}),
        ),
        _spec(
            "payment",
            "payments",
            Policy.READ_ONLY,
            Visibility.STUDENT,
            NOBODY,
            readers=STUDENT_READ,
        ),
        # Issue 12: packages (catalogue), the credit ledger and the balances it sums
        # (server-written: sync.money.ledger); instructors read their students' ones.
        _spec(
            "package",
            "packages",
            Policy.CATALOGUE,
            Visibility.CATALOGUE,
            ADMINS,
            ScopeKeys(),
            ("name", "price_cents", "valid_days"),
            defaults={"active": True},
            server_fills=frozenset({"currency"}),  # the school's currency when left out
        ),
        _spec(
            "credit_entry",
            "credit_entries",
            Policy.READ_ONLY,
            Visibility.STUDENT,
            NOBODY,
            readers=ALL_READ,
        ),
        _spec(
            "student_balance",
            "student_balances",
            Policy.READ_ONLY,
            Visibility.STUDENT,
            NOBODY,
            readers=ALL_READ,
        ),
        _spec(
            "invoice",
            "invoices",
            Policy.READ_ONLY,
            Visibility.STUDENT,
            NOBODY,
            readers=STUDENT_READ,
        ),
        _spec(
            "payout",
            "payouts",
            Policy.READ_ONLY,
            Visibility.INSTRUCTOR,
            NOBODY,
            ScopeKeys(instructor="instructor_id"),
            readers=STAFF_READ,  # its instructor (their scope holds only their own id)
        ),
        _spec(
            "inbox_item",
            "inbox_items",
            Policy.INBOX,
            Visibility.PARTY,
            EVERYONE,
            ScopeKeys(user="user_id"),
            readers=ALL_READ,
            personal=True,
        ),
    )
}

PERSONAL_ENTITIES = frozenset(name for name, spec in ENTITIES.items() if spec.personal)

CATALOGUE_ENTITIES = frozenset(name for name, spec in ENTITIES.items() if spec.catalogue)
PARTY_ENTITIES = frozenset(
    name for name, spec in ENTITIES.items() if spec.visibility is Visibility.PARTY
)


def party_instructor(instructor_id: str) -> str:
    """How a commit names the instructor a party record is addressed to, among the users it
    is addressed to (CommitInfo.user_ids): that instructor's live connections are poked,
    not those of every student who follows them (as `instructor_ids` would)."""
    return f"instructor:{instructor_id}"


def scope_keys(entity: str, row: Any) -> tuple[str | None, str | None, bool, str | None]:
    """(student_id, instructor_id, private, user_id) of a row: the keys sync.core.scope
    decides on."""
    return ENTITIES[entity].keys.of(row)


@cache
def dependents(entity: str) -> tuple[tuple[EntitySpec, Ref], ...]:
    """The entities that copy fields from `entity` through a reference (a trip copies its
    lesson's instructor): when those fields change, the copies must follow."""
    return tuple(
        (spec, ref)
        for spec in ENTITIES.values()
        for ref in spec.refs
        if ref.entity == entity and ref.copy and ref.many is None
    )
