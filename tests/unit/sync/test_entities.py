"""Tests for sync.core.entities: the registry every layer reads is consistent with itself, with the
mapped tables (sync.tables) and with the protocol's entity list. No database: only the
SQLAlchemy metadata is read."""

from __future__ import annotations

import pytest
from sqlalchemy import Table

from sync.core.entities import (
    CATALOGUE_ENTITIES,
    ENTITIES,
    SERVER_FIELDS,
    EntitySpec,
    Policy,
    ScopeKeys,
    Visibility,
)
from sync.tables import table_of

SPECS = sorted(ENTITIES.values(), key=lambda s: s.name)
WRITTEN = [s for s in SPECS if s.writers]


def ids(spec: EntitySpec) -> str:
    return spec.name


def columns(entity: str) -> set[str]:
    table = table_of(entity).__table__
    assert isinstance(table, Table)
    return set(table.columns.keys())


def test_registry_holds_the_protocol_entities() -> None:
    assert set(ENTITIES) == {
        "lesson",
        "lesson_note",
        "skill_assessment",
        "student_progress",
        "trip",
        "trip_segment",
        "theory_attempt",
        "mock_test",
        "lesson_signature",  # issue 13: a lesson's sign-off
        "booking",
        "booking_series",  # issue 11: recurring lessons
        "booking_move",  # issue 11: move requests
        "booking_history",  # issue 11: every change of a booking (admins only)
        "availability",
        "availability_exception",
        "student",
        "instructor",
        "student_instructor",
        "skill",
        "service",
        "rate_card",
        "theory_question",
        "payment",
        "invoice",  # issue 12: invoices and credit notes, server-issued
        "payout",  # issue 12: instructors' payouts (their own, and admins)
        "thread",  # issue 13: messaging, addressed to its two sides (Visibility.PARTY)
        "thread_member",
        "message",
        "inbox_item",  # issue 13: the notification centre (personal)
        "guardian",  # issue 13: guardians and their links to learners
        "guardian_student",
        "test_record",  # issue 13: theory and practical tests
        "package",  # issue 12: packages of lessons (catalogue)
        "credit_entry",  # issue 12: the students' credit ledger (read-only)
        "student_balance",  # issue 12: its sums (read-only)
    }
    assert all(name == spec.name for name, spec in ENTITIES.items())


@pytest.mark.parametrize("spec", SPECS, ids=ids)
def test_table_maps_to_a_class_holding_every_record_field(spec: EntitySpec) -> None:
    cls = table_of(spec.name)
    assert cls.__table__.name == spec.table
    cols = columns(spec.name)
    missing = [f for f in spec.record_fields if f not in cols and f not in spec.joined]
    assert missing == []
    # joined fields are record fields, and really not on the row
    assert set(spec.joined) <= set(spec.record_fields)
    assert not set(spec.joined) & cols
    # the fields every record carries
    assert {"id", "rev", "updated_at", "tenant_id", "deleted"} <= cols


def test_tables_are_distinct() -> None:
    assert len({s.table for s in SPECS}) == len(SPECS)


@pytest.mark.parametrize("spec", SPECS, ids=ids)
def test_refs_name_registry_entities_and_real_fields(spec: EntitySpec) -> None:
    cols = columns(spec.name)
    for ref in spec.refs:
        assert ref.entity in ENTITIES, ref
        if ref.many is None:
            assert ref.field in spec.writable, ref
        else:
            assert ref.many in spec.writable, ref
        parent_cols = columns(ref.entity)
        for target, source in ref.copy:
            assert target in cols, (ref, target)
            assert source in parent_cols, (ref, source)


@pytest.mark.parametrize("spec", SPECS, ids=ids)
def test_scope_key_columns_exist(spec: EntitySpec) -> None:
    cols = columns(spec.name)
    for key in (spec.keys.student, spec.keys.instructor, spec.keys.private, spec.keys.user):
        assert key is None or key in cols, key


def test_scope_keys_match_visibility() -> None:
    for spec in SPECS:
        if spec.visibility is Visibility.STUDENT:
            assert spec.keys.student is not None, spec.name
        if spec.visibility is Visibility.INSTRUCTOR:
            assert spec.keys.instructor is not None, spec.name
    assert ENTITIES["lesson_note"].keys.private == "private"  # private notes never reach students


@pytest.mark.parametrize("spec", [s for s in SPECS if s.instructor_owned], ids=ids)
def test_instructor_owned_entities_carry_an_instructor(spec: EntitySpec) -> None:
    assert "instructor_id" in columns(spec.name)
    assert "instructor" in spec.writers


@pytest.mark.parametrize("spec", SPECS, ids=ids)
def test_read_only_fields_are_never_writable(spec: EntitySpec) -> None:
    assert not spec.read_only_fields & spec.writable
    assert not SERVER_FIELDS & spec.writable
    assert SERVER_FIELDS <= spec.read_only_fields


def test_catalogue_entities() -> None:
    by_visibility = {s.name for s in SPECS if s.visibility is Visibility.CATALOGUE}
    assert by_visibility == CATALOGUE_ENTITIES
    # PROTOCOL.md, and issue 11's rate cards
    assert CATALOGUE_ENTITIES == {"skill", "service", "rate_card", "theory_question", "package"}


@pytest.mark.parametrize("spec", SPECS, ids=ids)
def test_written_fields_are_writable(spec: EntitySpec) -> None:
    assert spec.server_fills <= spec.writable
    assert spec.required <= spec.writable
    assert set(spec.defaults) <= spec.writable
    for first, second in spec.after:
        assert {first, second} <= spec.writable
    for name in (spec.merged_text, spec.state_field):
        assert name is None or name in spec.writable


@pytest.mark.parametrize("spec", SPECS, ids=ids)
def test_writers_policy_and_write_model_agree(spec: EntitySpec) -> None:
    read_only = spec.policy is Policy.READ_ONLY
    assert read_only == (not spec.writers)
    assert read_only == (spec.write_model is None)


def test_writers_follow_the_protocol() -> None:
    staff = {"owner", "admin", "instructor"}
    expected = {
        "lesson": staff,
        "lesson_note": staff,
        "skill_assessment": staff,
        "trip": staff,
        "trip_segment": staff,
        "availability": staff,
        "availability_exception": staff,  # issue 11: time off, instructor-owned
        "theory_attempt": {"student"},  # pushed only by their own student
        "mock_test": {"student"},
        "booking": staff | {"student"},
        "booking_series": staff | {"student"},  # issue 11: recurring lessons
        "booking_move": staff | {"student"},  # students ask, staff answer
        "lesson_signature": staff,  # captured on the instructor's device
        # issue 11: people and assignments are written by the office only
        "student": {"owner", "admin"},
        "instructor": {"owner", "admin"},
        "student_instructor": {"owner", "admin"},
        "guardian": {"owner", "admin"},  # issue 13
        "guardian_student": {"owner", "admin"},
        "test_record": staff,  # issue 13: instructors for their assigned students
        # issue 11: the catalogue is written by the office only
        "service": {"owner", "admin"},
        "rate_card": {"owner", "admin"},
        "skill": {"owner", "admin"},
        "theory_question": {"owner", "admin"},
        "package": {"owner", "admin"},  # issue 12
        # issue 13: everyone messages (who with whom: sync.rules.messaging)
        "thread": staff | {"student", "guardian"},
        "thread_member": staff | {"student", "guardian"},
        "message": staff | {"student", "guardian"},
        # issue 13: everyone marks their own inbox items read (sync.rules.inbox)
        "inbox_item": {"owner", "admin", "instructor", "student", "guardian"},
    }
    assert {s.name: set(s.writers) for s in WRITTEN} == expected


# PROTOCOL.md, "Fields every client can rely on": the read-only ones marked ro there, and the
# server-controlled fields it lists, are never accepted from a client.
PROTOCOL_READ_ONLY = {
    "lesson_note": {"student_id"},
    "student_progress": {"student_id", "levels", "readiness_pct"},
    "trip": {"distance_m", "duration_s"},
    "theory_attempt": {"correct"},
    "mock_test": {"total", "score", "passed"},
    "lesson_signature": {"student_id", "captured_by"},
    "booking": {"price_cents", "currency"},
    "availability": {"timezone"},
    "student": {"user_id", "instructor_ids"},
    "instructor": {"user_id"},
    "guardian": {"user_id"},
}
PROTOCOL_FIELDS = {
    "lesson": "booking_id instructor_id student_id scheduled_start scheduled_end status "
    "started_at ended_at attended",
    "lesson_note": "lesson_id student_id body private tags",
    "skill_assessment": "lesson_id student_id skill_id level comment assessed_at",
    "student_progress": "student_id levels readiness_pct",
    "trip": "lesson_id started_at ended_at distance_m duration_s",
    "trip_segment": "trip_id index points",
    "theory_question": "topic question options correct_option explanation active",
    "theory_attempt": "question_id chosen_option mode mock_test_id answered_at correct",
    "mock_test": "started_at finished_at answers total score passed",
    "lesson_signature": "lesson_id student_id signed_by captured_by signed_at strokes",
    "booking": "student_id instructor_id service_id start end status pickup_location "
    "price_cents currency",
    "availability": "instructor_id weekday start_time end_time valid_from valid_until timezone",
    "student": "user_id name email phone licence_number date_of_birth theory_test_date "
    "practical_test_date goals active instructor_ids",
    "instructor": "user_id name email phone adi_number specialties active",
    "student_instructor": "student_id instructor_id is_primary",
    "availability_exception": "instructor_id start end reason all_day",
    "skill": "code name stage position active",
    "service": "name kind duration_min price_cents currency active",
    "rate_card": "service_id instructor_id price_cents currency valid_from valid_until",
    "payment": "booking_id amount_cents currency status",
    "invoice": "number kind student_id payer_user_id payment_id refund_id credits_invoice_id "
    "issued_at currency lines subtotal_cents tax_cents total_cents status",
    "guardian": "user_id name email phone",
    "guardian_student": "guardian_id student_id",
    "test_record": "student_id kind date time centre result score faults notes",
}


@pytest.mark.parametrize("name", sorted(PROTOCOL_FIELDS))
def test_protocol_fields_are_record_fields(name: str) -> None:
    spec = ENTITIES[name]
    assert set(PROTOCOL_FIELDS[name].split()) <= set(spec.record_fields)
    assert PROTOCOL_READ_ONLY.get(name, set()) <= spec.read_only_fields
    if spec.writers:  # every other listed field of a client-written entity is writable
        ro = PROTOCOL_READ_ONLY.get(name, set()) | {"booking_id"}  # lesson's: set by the server
        assert set(PROTOCOL_FIELDS[name].split()) - ro <= spec.writable


def test_staff_only_fields_are_record_fields_hidden_from_students() -> None:
    """Time off's reason and an instructor's Stripe Connect state are staff-only; whatever
    is declared must be a record field (a typo would hide nothing) and never a scope key."""
    declared = {s.name: s.staff_only for s in SPECS if s.staff_only}
    assert declared == {
        "availability_exception": frozenset({"reason"}),
        "instructor": frozenset({"payouts_enabled", "connect_status"}),
    }
    for name, fields in declared.items():
        spec = ENTITIES[name]
        assert fields <= set(spec.record_fields)
        assert not fields & {spec.keys.student, spec.keys.instructor, spec.keys.private}


def test_scope_keys_of_reads_a_row() -> None:
    class Row:
        id = "n1"
        student_id = "s1"
        instructor_id = "i1"
        private = 1
        party_user_id = "u1"

    assert ENTITIES["lesson"].keys.of(Row()) == ("s1", "i1", False, None)
    assert ENTITIES["lesson_note"].keys.of(Row()) == ("s1", None, True, None)
    assert ENTITIES["student"].keys.of(Row()) == ("n1", None, False, None)
    party = ScopeKeys(instructor="instructor_id", user="party_user_id")
    assert party.of(Row()) == (None, "i1", False, "u1")
    assert ENTITIES["skill"].keys.of(Row()) == (None, None, False, None)


def test_ref_ids_from_mutation_data() -> None:
    (answers,) = ENTITIES["mock_test"].refs
    data = {"answers": [{"question_id": "q1"}, {"question_id": 7}, "junk", {"question_id": "q2"}]}
    assert answers.ids(data) == ["q1", "q2"]
    assert answers.ids({"answers": "not a list"}) == []
    (lesson,) = ENTITIES["lesson_note"].refs
    assert lesson.ids({"lesson_id": "l1"}) == ["l1"]
    assert lesson.ids({"lesson_id": None}) == []
