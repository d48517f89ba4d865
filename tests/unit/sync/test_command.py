"""Tests for sync.core.command: one raw push mutation turned into a typed `Command`, or a `Reject`
with a stable code and the offending field. Pure: no database, no app."""

from __future__ import annotations

import datetime as dt
import itertools
import uuid
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sync.core.command import Command, Reject, parse_command
from sync.core.entities import ENTITIES
from sync.core.hlc import Hlc
from sync.core.principal import Principal

NOW = 1_763_779_200_000
MAX_SKEW = 5 * 60_000
CLIENT = "5b0c7f3e-9a1d-4c55-8a0e-2f7d1c9b6a10"
RECORD_ID = "0193a5c2-7e41-7c3b-9f10-4d2e8a6b1c00"
STUDENT_ID = "11111111-2222-4333-8444-555555555555"
LESSON_ID = "66666666-7777-4888-9999-aaaaaaaaaaaa"
TENANT = "t-1"

WHO = {
    role: Principal(TENANT, f"user-{role}", role)
    for role in ("owner", "admin", "instructor", "student", "guardian")
}
SETTINGS = settings(max_examples=100, deadline=None)


def hlc(ms: int = NOW - 1000, counter: int = 0) -> str:
    return str(Hlc(ms, counter, CLIENT))


def mutation(**kw: Any) -> dict[str, Any]:
    raw: dict[str, Any] = {
        "seq": 41,
        "entity": "lesson_note",
        "id": RECORD_ID,
        "op": "patch",
        "base_rev": 1200,
        "hlc": hlc(),
        "data": {"body": "Mirror checks improving"},
    }
    raw.update(kw)
    return raw


def parse(raw: dict[str, Any], role: str = "instructor") -> Command:
    return parse_command(raw, WHO[role], NOW, MAX_SKEW)


def rejected(raw: dict[str, Any], role: str = "instructor") -> Reject:
    with pytest.raises(Reject) as info:
        parse(raw, role)
    return info.value


# --- accepted ---------------------------------------------------------------------------------


def test_a_good_mutation_becomes_a_command() -> None:
    raw = mutation()
    cmd = parse(raw)
    assert (cmd.seq, cmd.spec, cmd.id, cmd.op) == (41, ENTITIES["lesson_note"], RECORD_ID, "patch")
    assert (cmd.hlc, cmd.base_rev) == (raw["hlc"], 1200)
    assert cmd.data == {"body": "Mirror checks improving"}
    assert cmd.raw is raw
    assert (cmd.clamped, cmd.skew_ms) == (False, 0)


def test_id_is_normalised_to_a_lowercase_uuid() -> None:
    cmd = parse(mutation(id=RECORD_ID.upper()))
    assert cmd.id == RECORD_ID
    assert str(uuid.UUID(cmd.id)) == cmd.id


@SETTINGS
@given(st.uuids(), st.sampled_from([str.upper, str.lower, lambda s: s.replace("-", "")]))
def test_any_accepted_id_is_canonical(value: uuid.UUID, spelling: Any) -> None:
    assert parse(mutation(id=spelling(str(value)))).id == str(value)


def test_only_sent_fields_are_kept() -> None:
    cmd = parse(mutation(entity="lesson", data={"status": "in_progress"}))
    # The write model has eight optional fields; a patch of one must not null the others.
    assert cmd.data == {"status": "in_progress"}


def test_sent_values_are_normalised() -> None:
    data = {
        "student_id": STUDENT_ID.upper(),
        "scheduled_start": "2025-11-22T10:00:00+02:00",
        "attended": None,
    }
    cmd = parse(mutation(entity="lesson", op="put", data=data))
    assert cmd.data == {
        "student_id": STUDENT_ID,
        "scheduled_start": dt.datetime(2025, 11, 22, 8, 0, tzinfo=dt.UTC),
        "attended": None,  # an explicit null is a sent field too
    }


def test_delete_carries_no_data() -> None:
    cmd = parse(mutation(op="delete", data={"anything": "ignored"}))
    assert cmd.op == "delete"
    assert cmd.data == {}


@pytest.mark.parametrize("base_rev", [None, 0, 1200])
def test_base_rev_accepted(base_rev: int | None) -> None:
    raw = mutation(base_rev=base_rev)
    if base_rev is None:
        del raw["base_rev"]
    assert parse(raw).base_rev == base_rev


# --- the clock-skew guard ---------------------------------------------------------------------


def test_far_future_hlc_is_clamped() -> None:
    sent = Hlc(NOW + 10 * 86_400_000, 7, CLIENT)  # a phone set ten days ahead
    cmd = parse(mutation(hlc=str(sent)))
    assert cmd.clamped
    assert cmd.skew_ms == 10 * 86_400_000
    stamp = Hlc.parse(cmd.hlc)
    assert stamp.ms <= NOW + MAX_SKEW
    assert (stamp.counter, stamp.node) == (7, CLIENT)  # the writer is still known


def test_hlc_within_the_allowed_skew_is_kept() -> None:
    sent = str(Hlc(NOW + MAX_SKEW, 0, CLIENT))  # exactly at the limit
    cmd = parse(mutation(hlc=sent))
    assert (cmd.hlc, cmd.clamped, cmd.skew_ms) == (sent, False, 0)


@SETTINGS
@given(st.integers(NOW - 10**10, NOW + 10**10), st.integers(0, 9999))
def test_stamp_never_beyond_now_plus_skew(ms: int, counter: int) -> None:
    cmd = parse(mutation(hlc=str(Hlc(ms, counter, CLIENT))))
    assert Hlc.parse(cmd.hlc).ms <= NOW + MAX_SKEW
    assert cmd.clamped == (ms > NOW + MAX_SKEW)
    assert cmd.skew_ms == (ms - NOW if cmd.clamped else 0)
    assert cmd.skew_ms >= 0


# --- shape rejections -------------------------------------------------------------------------


def _field(reject: Reject) -> str | None:
    return reject.details.get("field")


@pytest.mark.parametrize("entity", ["lessons", "note", "", None, 3, "LESSON"])
def test_unknown_entity(entity: Any) -> None:
    r = rejected(mutation(entity=entity))
    assert (r.code, _field(r)) == ("invalid", "entity")


@pytest.mark.parametrize("op", ["upsert", "PUT", "", None, 1])
def test_bad_op(op: Any) -> None:
    r = rejected(mutation(op=op))
    assert (r.code, _field(r)) == ("invalid", "op")


@pytest.mark.parametrize(
    "rid",
    ["not-a-uuid", "", None, 42, RECORD_ID + "0", RECORD_ID[:-1], "urn:uuid:" + RECORD_ID],
)
def test_non_uuid_id(rid: Any) -> None:
    r = rejected(mutation(id=rid))
    assert (r.code, _field(r)) == ("invalid", "id")


@pytest.mark.parametrize(
    "stamp",
    [
        None,
        1763779200000,
        "yesterday",
        "1763779200000-0000-",  # no node
        "176377920000-0000-" + CLIENT,  # 12-digit ms
        "0946684799999-0000-" + CLIENT,  # before 2000: a reset clock
    ],
)
def test_bad_hlc(stamp: Any) -> None:
    r = rejected(mutation(hlc=stamp))
    assert (r.code, _field(r)) == ("invalid", "hlc")


def test_missing_hlc() -> None:
    raw = mutation()
    del raw["hlc"]
    r = rejected(raw)
    assert (r.code, _field(r)) == ("invalid", "hlc")


@pytest.mark.parametrize("base_rev", [-1, True, False, "1200", 1.5, 1200.0])
def test_bad_base_rev(base_rev: Any) -> None:
    r = rejected(mutation(base_rev=base_rev))
    assert (r.code, _field(r)) == ("invalid", "base_rev")


@pytest.mark.parametrize("data", [None, [], "body", 3])
def test_data_must_be_an_object(data: Any) -> None:
    r = rejected(mutation(data=data))
    assert (r.code, _field(r)) == ("invalid", "data")


# --- who may write ----------------------------------------------------------------------------

READ_ONLY_REPLICAS = [name for name, spec in ENTITIES.items() if not spec.writers]


@pytest.mark.parametrize("entity", sorted(READ_ONLY_REPLICAS))
@pytest.mark.parametrize("role", ["owner", "instructor", "student"])
def test_read_only_replica_is_forbidden(entity: str, role: str) -> None:
    r = rejected(mutation(entity=entity, op="put", data={}), role)
    assert (r.code, _field(r)) == ("forbidden", "entity")


def test_read_only_replicas_are_the_protocols() -> None:
    # issue 11: skills, services and theory questions are written by admins now; the
    # booking history is the server's own; issue 12: the credit ledger, balances, invoices and
    # instructors' payouts too
    assert set(READ_ONLY_REPLICAS) == {
        "student_progress",
        "payment",
        "booking_history",
        "credit_entry",
        "student_balance",
        "invoice",
        "payout",
    }


# PROTOCOL.md: instructors write lessons, notes, assessments, trips and availability, and
# owners/admins everything an instructor may; theory attempts and mock tests only their own
# student; bookings students, instructors and admins; guardians nothing.
STAFF = {"owner", "admin", "instructor"}
MAY_WRITE = {
    "lesson": STAFF,
    "lesson_note": STAFF,
    "skill_assessment": STAFF,
    "trip": STAFF,
    "trip_segment": STAFF,
    "availability": STAFF,
    "theory_attempt": {"student"},
    "mock_test": {"student"},
    "booking": STAFF | {"student"},
    "booking_move": STAFF | {"student"},
    "lesson_signature": STAFF,  # students ask, staff answer (sync.rules.booking_move)
}


@pytest.mark.parametrize(
    ("entity", "role"), list(itertools.product(sorted(MAY_WRITE), sorted(WHO)))
)
def test_roles_that_may_write(entity: str, role: str) -> None:
    raw = mutation(entity=entity, op="delete", data=None)  # delete: no data to validate
    if role in MAY_WRITE[entity]:
        assert parse(raw, role).spec.name == entity
    else:
        assert rejected(raw, role).code == "forbidden"


def test_student_writing_a_lesson_is_forbidden_whatever_the_data() -> None:
    r = rejected(mutation(entity="lesson", data={"status": "completed"}), "student")
    assert r.code == "forbidden"
    assert "student" in r.message


# --- fields -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("entity", "field", "value"),
    [
        ("lesson_note", "tenant_id", "t-2"),  # any entity: server-controlled
        ("lesson", "rev", 99),
        ("lesson", "created_by", "u"),
        ("lesson_note", "student_id", STUDENT_ID),  # ro: copied from the lesson
        ("lesson", "booking_id", RECORD_ID),  # set when a booking is confirmed
        ("theory_attempt", "correct", True),  # computed from the bank
        ("mock_test", "score", 50),
        ("mock_test", "passed", True),
        ("trip", "distance_m", 1.0),
        ("booking", "price_cents", 0),
        ("availability", "timezone", "UTC"),
    ],
)
def test_server_field_in_data_is_read_only_field(entity: str, field: str, value: Any) -> None:
    role = "student" if entity in ("theory_attempt", "mock_test") else "instructor"
    r = rejected(mutation(entity=entity, op="patch", data={field: value}), role)
    assert r.code == "read_only_field"
    assert _field(r) == field


def test_read_only_field_wins_over_valid_fields_beside_it() -> None:
    r = rejected(mutation(data={"body": "ok", "tenant_id": "other-school"}))
    assert (r.code, _field(r)) == ("read_only_field", "tenant_id")


@pytest.mark.parametrize(
    ("entity", "data", "where"),
    [
        ("lesson", {"status": "flying"}, "status"),
        ("lesson", {"attended": 1}, "attended"),  # strict: no coercion
        ("lesson", {"scheduled_start": "tomorrow"}, "scheduled_start"),
        ("lesson", {"scheduled_start": "2025-11-22T10:00:00"}, "scheduled_start"),  # no zone
        ("lesson", {"student_id": "not-a-uuid"}, "student_id"),
        ("lesson", {"colour": "red"}, "colour"),  # unknown field
        ("lesson_note", {"body": 5}, "body"),
        ("lesson_note", {"tags": ["ok", ""]}, "tags.1"),
        ("skill_assessment", {"level": 6}, "level"),
        ("skill_assessment", {"level": "3"}, "level"),
        ("availability", {"start_time": "25:00"}, "start_time"),
        ("availability", {"weekday": 7}, "weekday"),
    ],
)
def test_invalid_field_value_names_the_field(entity: str, data: dict[str, Any], where: str) -> None:
    r = rejected(mutation(entity=entity, op="patch", data=data))
    assert r.code == "invalid"
    assert _field(r) == where
    assert where in r.message


def test_invalid_nested_value_names_the_path() -> None:
    data = {"answers": [{"question_id": LESSON_ID, "chosen_option": 1}, {"question_id": "q"}]}
    r = rejected(mutation(entity="mock_test", op="put", data=data), "student")
    assert (r.code, _field(r)) == ("invalid", "answers.1.question_id")


def test_reject_carries_details() -> None:
    r = Reject("overlap", "clashes", "start", other="b-1")
    assert (r.code, r.message, str(r)) == ("overlap", "clashes", "clashes")
    assert r.details == {"other": "b-1", "field": "start"}
    assert Reject("forbidden", "no").details == {}
