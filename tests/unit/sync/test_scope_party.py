"""The party rule of sync.core.scope (Visibility.PARTY: threads, messages, read marks): a
record is read by the user its `user` key names, by the instructor its `instructor` key
names (that instructor alone, never the students who follow them), and by admins; nobody
else, whatever students they share. tests/integration/sync/test_scope_agreement.py checks
that the SQL filter and the live poke filter say the same."""

from __future__ import annotations

import pytest

from sync.core.entities import PARTY_ENTITIES, party_instructor
from sync.core.principal import Principal
from sync.core.scope import Scope
from sync.store import WriteTxn

T = "t"
S1, S2 = "student-1", "student-2"
I1, I2 = "instructor-1", "instructor-2"
U_STUDENT, U_GUARDIAN, U_OTHER = "user-student", "user-guardian", "user-other"
PARTY = ("thread", "message", "thread_member")


def student(user: str = U_STUDENT) -> Scope:
    # A student's scope holds the instructors they follow: those must not open their mail.
    return Scope("student", False, frozenset({S1}), frozenset({I1}), user)


def guardian() -> Scope:
    return Scope("guardian", False, frozenset({S1, S2}), frozenset({I1, I2}), U_GUARDIAN)


def instructor(own: str = I1) -> Scope:
    return Scope("instructor", False, frozenset({S1}), frozenset({own}), "user-" + own)


@pytest.mark.parametrize("entity", PARTY)
def test_the_addressed_user_reads_it(entity: str) -> None:
    assert student().sees(entity, None, I1, False, U_STUDENT)
    assert student().sees(entity, None, None, False, U_STUDENT)  # with the office
    assert guardian().sees(entity, None, I2, False, U_GUARDIAN)


@pytest.mark.parametrize("entity", PARTY)
def test_another_user_does_not_even_with_the_same_student_or_instructor(entity: str) -> None:
    assert not student(U_OTHER).sees(entity, S1, I1, False, U_STUDENT)
    assert not student().sees(entity, S1, I1, False, U_GUARDIAN)
    assert not guardian().sees(entity, S1, I1, False, U_STUDENT)
    assert not student().sees(entity, None, None, False, None)


@pytest.mark.parametrize("entity", PARTY)
def test_the_named_instructor_reads_it_and_no_other(entity: str) -> None:
    assert instructor(I1).sees(entity, None, I1, False, U_STUDENT)
    assert instructor(I1).sees(entity, None, I1, False, None)  # staff only, with the office
    assert not instructor(I2).sees(entity, None, I1, False, U_STUDENT)
    assert not instructor(I1).sees(entity, S1, None, False, U_STUDENT)  # the office's thread


@pytest.mark.parametrize("entity", PARTY)
def test_students_do_not_read_their_instructors_mail(entity: str) -> None:
    # The student follows I1: a record addressed to I1 and someone else is not theirs.
    assert not student().sees(entity, None, I1, False, None)
    assert not student().sees(entity, None, I1, False, U_GUARDIAN)
    assert not guardian().sees(entity, None, I2, False, U_STUDENT)


@pytest.mark.parametrize("entity", PARTY)
@pytest.mark.parametrize("role", ["owner", "admin"])
def test_admins_read_every_party_record(entity: str, role: str) -> None:
    office = Scope(role, everything=True)
    assert office.sees(entity, None, None, False, None)
    assert office.sees(entity, None, I1, False, U_STUDENT)


def test_reaches_is_sees_for_party_records() -> None:
    for scope in (student(), guardian(), instructor()):
        for keys in [(None, I1, U_STUDENT), (None, None, U_GUARDIAN), (S1, I2, None)]:
            sid, iid, uid = keys
            assert scope.reaches("message", sid, iid, uid) == scope.sees(
                "message", sid, iid, False, uid
            )


def test_the_live_filter_pokes_the_addressed_user_and_instructor() -> None:
    who = Principal(T, U_STUDENT, "student", student_id=S1)
    assert student().touched_by(who, set(), set(), False, {U_STUDENT})
    assert not student().touched_by(who, set(), set(), False, {U_OTHER})
    teacher = Principal(T, "user-" + I1, "instructor", instructor_id=I1)
    assert instructor().touched_by(teacher, set(), {I1}, False, {U_STUDENT})
    other = Principal(T, "user-" + I2, "instructor", instructor_id=I2)
    assert not instructor(I2).touched_by(other, set(), {I1}, False, {U_STUDENT})


def test_a_party_commit_pokes_its_instructor_not_the_students_who_follow_them() -> None:
    """A commit of a party record names its instructor among its users (not among
    `instructor_ids`, which every student of that instructor listens to, for their
    availability)."""
    txn = WriteTxn(None, T, 0)  # type: ignore[arg-type]
    txn.index("message", "m1", txn.next_rev(), False, None, I1, False, U_STUDENT)
    info = txn.commit_info(frozenset())
    assert info.instructor_ids == set()
    assert info.user_ids == {U_STUDENT, party_instructor(I1)}
    teacher = Principal(T, "user-" + I1, "instructor", instructor_id=I1)
    assert instructor().touched_by(teacher, set(), info.instructor_ids, False, info.user_ids)
    # Another student of I1 hears nothing; the addressed one does.
    other = Principal(T, U_OTHER, "student", student_id=S1)
    assert not student(U_OTHER).touched_by(other, set(), set(), False, info.user_ids)
    who = Principal(T, U_STUDENT, "student", student_id=S1)
    assert student().touched_by(who, set(), set(), False, info.user_ids)
    # Their availability still reaches them.
    assert student(U_OTHER).touched_by(other, set(), {I1}, False, set())
    assert {"thread", "thread_member", "message"} <= PARTY_ENTITIES


def test_the_user_key_is_not_in_the_fingerprint() -> None:
    # One user's scopes all share their id: it never moves a record in or out.
    a = Scope("student", False, frozenset({S1}), frozenset({I1}), U_STUDENT)
    b = Scope("student", False, frozenset({S1}), frozenset({I1}), U_OTHER)
    assert a.fingerprint() == b.fingerprint()
