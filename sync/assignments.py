"""The writes that change who sees whom: assigning a student to an instructor, unassigning,
making an assignment primary, a student leaving the school, an instructor made inactive,
and signing a person out. Shared by the admin API (sync.admin) and the pushed `student`,
`instructor` and `student_instructor` mutations (sync.rules.people), so both tell the
store whose scope changed the same way.

Assignments are rows of `student_instructors` while they hold; unassigning deletes the row
and leaves its tombstone in the change index (a replica pulls that delete). Each function
works inside the caller's write transaction and names the students and instructors whose
scope it changed (`WriteTxn.rescoped_students` / `extra_instructors`): their live
connections are poked, cached scopes dropped, and their next pull walks the records that
entered or left (sync.pull).
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterable

from sqlalchemy import select, update

from schemas import Instructor, RefreshToken, Student, StudentInstructor, SyncRecord, User
from sync.core.hlc import Hlc
from sync.store import WriteTxn
from sync.tables import table_of

ENTITY = "student_instructor"


def server_hlc() -> str:
    """A stamp for a change the server makes itself."""
    return str(Hlc(int(time.time() * 1000), 0, "server"))


async def assignments_of(
    txn: WriteTxn, *, student_id: str | None = None, instructor_id: str | None = None
) -> list[StudentInstructor]:
    """A student's or an instructor's current assignments."""
    q = select(StudentInstructor)
    if student_id is not None:
        q = q.where(StudentInstructor.student_id == student_id)
    if instructor_id is not None:
        q = q.where(StudentInstructor.instructor_id == instructor_id)
    return list(await txn.session.scalars(q.order_by(StudentInstructor.instructor_id)))


def _rescoped(txn: WriteTxn, student_id: str, instructor_id: str) -> None:
    txn.extra_instructors.add(instructor_id)
    txn.rescoped_students.add(student_id)


async def restamp_student(txn: WriteTxn, student_id: str) -> None:
    """A student's record carries their instructors (`instructor_ids`): it moves on too."""
    student = await txn.session.scalar(select(Student).where(Student.id == student_id))
    if student is not None and not student.deleted:
        txn.stamp("student", student)


async def add(
    txn: WriteTxn,
    student_id: str,
    instructor_id: str,
    primary: bool,
    *,
    rid: str | None = None,
    hlc: str | None = None,
    created_by: str | None = None,
) -> StudentInstructor:
    """Assign a student to an instructor (the caller checked both exist and the pair is
    new). A primary assignment clears the student's other primary."""
    row = StudentInstructor(
        tenant_id=txn.tenant_id,
        id=rid or str(uuid.uuid4()),
        student_id=student_id,
        instructor_id=instructor_id,
        is_primary=False,
        assigned_at=txn.now,
        created_by=created_by,
        deleted=False,
        field_hlc={name: hlc for name in ("student_id", "instructor_id", "is_primary")}
        if hlc
        else {},
    )
    txn.stamp(ENTITY, row)
    if primary:
        await make_primary(txn, row, hlc or server_hlc())
    _rescoped(txn, student_id, instructor_id)
    await restamp_student(txn, student_id)
    return row


async def make_primary(txn: WriteTxn, row: StudentInstructor, hlc: str) -> None:
    """Make `row` its student's primary assignment and clear any other primary, in the same
    transaction: a student has at most one primary instructor. The newest write to arrive
    wins; the assignments it clears are sent to replicas with `is_primary` false."""
    for other in await assignments_of(txn, student_id=row.student_id):
        if other.id != row.id and other.is_primary:
            other.is_primary = False
            other.field_hlc = {**(other.field_hlc or {}), "is_primary": hlc}
            txn.stamp(ENTITY, other)
    if not row.is_primary:
        row.is_primary = True
        row.field_hlc = {**(row.field_hlc or {}), "is_primary": hlc}
        txn.stamp(ENTITY, row)


async def unassign(txn: WriteTxn, row: StudentInstructor) -> int:
    """End one assignment: the row is deleted and its tombstone indexed (replicas pull the
    delete). Returns the tombstone's rev. The student's record is not stamped (see drop)."""
    await txn.session.delete(row)
    rev = txn.next_rev()
    txn.index(ENTITY, row.id, rev, True, row.student_id, row.instructor_id)
    _rescoped(txn, row.student_id, row.instructor_id)
    return rev


async def drop(txn: WriteTxn, rows: Iterable[StudentInstructor], restamp: bool = True) -> int:
    """Unassign each of `rows`; the student's record, which lists their instructors, moves
    on unless `restamp` is false (the student is leaving and their record goes too).
    Returns how many ended."""
    students: set[str] = set()
    ended = 0
    for row in rows:
        await unassign(txn, row)
        students.add(row.student_id)
        ended += 1
    if restamp:
        for student_id in sorted(students):
            await restamp_student(txn, student_id)
    return ended


async def replace(
    txn: WriteTxn,
    student_id: str,
    instructor_ids: list[str],
    primary: str | None,
    created_by: str | None = None,
) -> set[str]:
    """Make `instructor_ids` a student's instructors (the admin API's assignment): pairs
    that stay keep their row, the others are dropped or added; `primary` (default the
    first) is the primary. Returns the instructors the student had before."""
    current = await assignments_of(txn, student_id=student_id)
    before = {row.instructor_id for row in current}
    wanted = set(instructor_ids)
    chosen = primary or (instructor_ids[0] if instructor_ids else None)
    await drop(txn, [row for row in current if row.instructor_id not in wanted], restamp=False)
    kept = {row.instructor_id: row for row in current if row.instructor_id in wanted}
    hlc = server_hlc()
    for iid in sorted(wanted):
        row = kept.get(iid)
        if row is None:
            await add(txn, student_id, iid, iid == chosen, hlc=hlc, created_by=created_by)
        elif iid == chosen:
            await make_primary(txn, row, hlc)
    if chosen is None or chosen not in wanted:
        for row in kept.values():
            if row.is_primary:
                row.is_primary = False
                txn.stamp(ENTITY, row)
    for iid in before | wanted:
        txn.extra_instructors.add(iid)
    txn.rescoped_students.add(student_id)
    await restamp_student(txn, student_id)
    return before


async def student_leaves(txn: WriteTxn, student: Student) -> int:
    """A student leaves the school: their assignments end and every record of theirs (the
    student's own included) leaves every replica on its next pull. Rows stay in the
    database (legal retention of lesson and payment records). Returns how many records
    were removed from replicas."""
    s = txn.session
    student.left_at = txn.now
    student.active = False
    await drop(txn, await assignments_of(txn, student_id=student.id), restamp=False)
    index = (
        await s.execute(
            select(SyncRecord.entity, SyncRecord.id).where(
                SyncRecord.student_id == student.id,
                SyncRecord.deleted.is_(False),
                SyncRecord.entity != ENTITY,  # dropped above
            )
        )
    ).all()
    removed = 0
    for entity, rid in index:
        table = table_of(entity)
        row = await s.scalar(select(table).where(table.id == rid))
        if row is not None and not row.deleted:
            row.deleted = True
            row.deleted_hlc = server_hlc()
            txn.stamp(entity, row)
            removed += 1
    if not student.deleted:  # never indexed (made outside the sync engine)
        student.deleted = True
        student.deleted_hlc = server_hlc()
        txn.stamp("student", student)
        removed += 1
    txn.rescoped_students.add(student.id)
    await sign_out(txn, student.user_id)
    return removed


async def instructor_leaves(txn: WriteTxn, instructor: Instructor) -> int:
    """An instructor is made inactive: their assignments end (their students' records leave
    their replica, and they leave their students') and they are signed out. Their lessons
    and bookings stay. Returns how many assignments ended."""
    ended = await drop(txn, await assignments_of(txn, instructor_id=instructor.id))
    txn.extra_instructors.add(instructor.id)
    await sign_out(txn, instructor.user_id)
    return ended


async def sign_out(txn: WriteTxn, user_id: str | None) -> None:
    """Disable a person's account and revoke its refresh tokens: no device of theirs gets a
    new access token, and the auth middleware's standing check refuses the ones they hold
    (`account disabled`) within DRIVESYNC_ACCESS_CHECK_S."""
    if user_id is None:
        return
    await txn.session.execute(update(User).where(User.id == user_id).values(is_active=False))
    await txn.session.execute(
        update(RefreshToken)
        .where(RefreshToken.user_id == user_id, RefreshToken.revoked_at.is_(None))
        .values(revoked_at=txn.now)
    )


async def sign_in_again(txn: WriteTxn, user_id: str | None) -> None:
    """An instructor made active again may sign in again (with the password they had)."""
    if user_id is not None:
        await txn.session.execute(update(User).where(User.id == user_id).values(is_active=True))
