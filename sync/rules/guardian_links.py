"""Links between guardians and the learners they follow (`guardian_student`), written by
admins (the PEOPLE policy, like assignments).

A link is created (put) or ended (delete); it has nothing else to patch. Like an assignment,
only current links are kept: ending one deletes the row and indexes its tombstone, and a
new link of the same pair is a new record. Each write changes the guardian's scope (a
guardian reads a student's view of each ward, sync.access.load_scope), so it names, as
rescoped, the guardian's sign-in (sync.core.scope.members counts a user's own id) and the
student: the guardian's live connections reload their scope and their next pull walks the
learner's records in or out (sync.pull).
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from schemas import Guardian, StudentGuardian, SyncRecord
from sync.core.command import Command, Outcome, Reject
from sync.rules.batch import Context, load_row
from sync.rules.lww import check_nulls

ENTITY = "guardian_student"


async def _rescope(ctx: Context, guardian_id: str, student_id: str) -> None:
    user_id = await ctx.session.scalar(select(Guardian.user_id).where(Guardian.id == guardian_id))
    if user_id:
        ctx.txn.rescoped_students.add(user_id)  # a user's own id: see scope.members
    ctx.txn.rescoped_students.add(student_id)


async def _tombstoned(ctx: Context, rid: str) -> bool:
    return bool(
        await ctx.session.scalar(
            select(SyncRecord.deleted).where(SyncRecord.entity == ENTITY, SyncRecord.id == rid)
        )
    )


async def apply_link(ctx: Context, m: Command) -> Outcome:
    """Create or end a guardian's link to a learner."""
    row: Any = await load_row(ctx, ENTITY, m.id)
    if m.op == "delete":
        if row is None:
            if await _tombstoned(ctx, m.id):
                return Outcome("applied", None, include_record=False)  # ended already
            raise Reject("not_found", "no guardian_student with this id to delete", "id")
        await ctx.session.delete(row)
        rev = ctx.txn.next_rev()
        ctx.txn.index(ENTITY, row.id, rev, True, row.student_id, None)
        await _rescope(ctx, row.guardian_id, row.student_id)
        ctx.loaded[(ENTITY, m.id)] = None
        return Outcome("applied", rev, include_record=False)
    check_nulls(m.spec, m.data)
    if row is not None:
        for name in ("guardian_id", "student_id"):
            if name in m.data and m.data[name] != getattr(row, name):
                raise Reject(
                    "immutable",
                    f"a link's {name} cannot change: delete it and create another",
                    name,
                )
        return Outcome("applied", row.rev, row, include_record=False)
    if m.op == "patch":
        raise Reject("not_found", "no guardian_student with this id to patch", "id")
    if await _tombstoned(ctx, m.id):
        raise Reject("deleted", "this link was ended; create a new one", "id")
    for name in ("guardian_id", "student_id"):
        if m.data.get(name) is None:
            raise Reject("invalid", f"{name} is required to create a link", name)
    guardian = await load_row(ctx, "guardian", m.data["guardian_id"])
    if guardian is None or guardian.deleted:
        raise Reject("not_found", "guardian_id names no guardian", "guardian_id")
    student = await load_row(ctx, "student", m.data["student_id"])
    if student is None or student.deleted:
        raise Reject("not_found", "student_id names no student", "student_id")
    if student.left_at is not None:
        raise Reject("left", "this student has left the school", "student_id")
    taken = await ctx.session.scalar(
        select(StudentGuardian.id).where(
            StudentGuardian.student_id == student.id,
            StudentGuardian.guardian_id == guardian.id,
        )
    )
    if taken is not None:
        raise Reject(
            "already_linked",
            "the guardian already follows this student",
            "student_id",
            link_id=taken,
        )
    row = StudentGuardian(
        tenant_id=ctx.txn.tenant_id,
        id=m.id,
        student_id=student.id,
        guardian_id=guardian.id,
        created_by=ctx.who.user_id,
        deleted=False,
        field_hlc={"guardian_id": m.hlc, "student_id": m.hlc},
    )
    ctx.stamp(ENTITY, row)
    await _rescope(ctx, guardian.id, student.id)
    return Outcome("applied", row.rev, row)
