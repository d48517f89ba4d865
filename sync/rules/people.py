"""People written through sync by admins (the PEOPLE policy): students, instructors and
guardians, the assignments between students and instructors (`student_instructor`) and the
links between guardians and learners (`guardian_student`, sync.rules.guardian_links).

A person is a last-writer-wins record (sync.rules.lww) with three effects of its own:

- one with an email and no sign-in yet gets one in the same transaction: a `User` with no
  password (`NO_PASSWORD`) and a `Membership` in the entity's `account_role`, linked through
  `user_id`, and an `invitation_requested` outbox event (the invitation email with its
  one-time link is the accounts side's). A user with that email already in the school is
  linked instead, and no event is emitted;
- `active: false` on a student is leaving the school, on an instructor the end of their
  assignments; either signs their devices out (sync.assignments). A student who left is
  not brought back (`left`); an instructor made active again may sign in again;
- people are never deleted (`invalid` on op delete): lessons and payments name them.

An assignment is created (assign), patched (`is_primary` only) or deleted (unassign) by the
shared code in sync.assignments, which tells the store whose scope changed. A student has at
most one primary: making one primary clears the other in the same transaction.
"""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

from sqlalchemy import select

from schemas import Membership, StudentInstructor, SyncRecord, User
from sync import assignments
from sync.core.command import Command, Outcome, Reject
from sync.core.entities import ADMINS, EntitySpec
from sync.core.policy import lww
from sync.rules import guardian_links
from sync.rules.batch import Context, load_row
from sync.rules.lww import apply_lww, check_nulls
from sync.tables import table_of

# The password hash of an account no password was set for yet: not an Argon2 hash, so no
# password verifies against it (server.auth.passwords refuses it as invalid).
NO_PASSWORD = "!"

INVITATION_EVENT = "invitation_requested"


async def apply_people(ctx: Context, m: Command) -> Outcome:
    """Apply an admin's write of a person or an assignment."""
    if m.spec.account_role is not None:
        return await _person(ctx, m)
    if m.spec.name == guardian_links.ENTITY:
        return await guardian_links.apply_link(ctx, m)
    return await _assignment(ctx, m)


# --------------------------------------------------------------------------- people
def _check_dates(data: dict[str, Any], today: dt.date) -> None:
    born = data.get("date_of_birth")
    if born is not None and born > today:
        raise Reject("invalid", "date_of_birth cannot be in the future", "date_of_birth")


async def _person(ctx: Context, m: Command) -> Outcome:
    spec = m.spec
    if m.op == "delete":
        raise Reject(
            "invalid", f"a {spec.name} is not deleted: set active to false to deactivate", "op"
        )
    row = await load_row(ctx, spec.name, m.id)
    if row is not None and getattr(row, "left_at", None) is not None:
        raise Reject("left", f"this {spec.name} has left the school", "id")
    if row is None and m.data.get("active") is False:
        raise Reject("invalid", f"a new {spec.name} starts active", "active")
    _check_dates(m.data, ctx.txn.now.date())
    # A guardian has no `active` (nothing to end but their links): always active.
    was_active = bool(getattr(row, "active", True)) if row is not None and not row.deleted else None
    outcome = await apply_lww(ctx, m)
    person = outcome.row
    if person is None or outcome.status == "rejected":
        return outcome
    if person.email and person.user_id is None:
        await _link_account(ctx, spec, person)
    if not hasattr(person, "active"):
        return outcome
    if was_active is not False and person.active is False:
        await _deactivate(ctx, spec, person)
    elif was_active is False and person.active:
        await assignments.sign_in_again(ctx.txn, person.user_id)
    return outcome


async def _deactivate(ctx: Context, spec: EntitySpec, person: Any) -> None:
    if spec.name == "student":
        await assignments.student_leaves(ctx.txn, person)
    else:
        await assignments.instructor_leaves(ctx.txn, person)


async def _link_account(ctx: Context, spec: EntitySpec, person: Any) -> None:
    """Give a person with an email a sign-in: the school's user with that email, or a new
    one with no password and an invitation (see the module docstring)."""
    s = ctx.session
    role = spec.account_role
    assert role is not None
    email = person.email.lower()  # as sign-in compares it
    existing = await s.scalar(select(User).where(User.email == email))
    if existing is not None:
        has = await s.scalar(select(Membership.role).where(Membership.user_id == existing.id))
        table = table_of(spec.name)
        other = await s.scalar(
            select(table.id).where(
                getattr(table, "user_id") == existing.id,  # noqa: B009 - not on SyncedTable
                table.id != person.id,
                table.deleted.is_(False),
            )
        )
        if other is not None or (has != role and has not in ADMINS):
            raise Reject(
                "email_taken",
                f"{email} already signs in to the school as someone else",
                "email",
            )
        person.user_id = existing.id
        return
    user_id = str(uuid.uuid4())
    s.add(
        User(
            tenant_id=ctx.txn.tenant_id,
            id=user_id,
            email=email,
            name=person.name,
            phone=person.phone,
            password_hash=NO_PASSWORD,
            is_active=True,
            created_at=ctx.txn.now,
        )
    )
    await s.flush()  # the membership refers to the user (no ORM relationship orders them)
    s.add(Membership(tenant_id=ctx.txn.tenant_id, user_id=user_id, role=role))
    person.user_id = user_id
    ctx.emit(
        INVITATION_EVENT,
        {
            "user_id": user_id,
            "person": spec.name,
            "person_id": person.id,
            "email": email,
            "name": person.name,
        },
        f"{INVITATION_EVENT}:{user_id}",
    )


# --------------------------------------------------------------------------- assignments
async def _tombstoned(ctx: Context, entity: str, rid: str) -> bool:
    """Whether the record existed and was deleted (assignment rows go; the index stays)."""
    return bool(
        await ctx.session.scalar(
            select(SyncRecord.deleted).where(SyncRecord.entity == entity, SyncRecord.id == rid)
        )
    )


async def _assignment(ctx: Context, m: Command) -> Outcome:
    spec = m.spec
    row = await load_row(ctx, spec.name, m.id)
    if m.op == "delete":
        if row is None:
            if await _tombstoned(ctx, spec.name, m.id):
                return Outcome("applied", None, include_record=False)  # unassigned already
            raise Reject("not_found", f"no {spec.name} with this id to delete", "id")
        rev = await assignments.unassign(ctx.txn, row)
        await assignments.restamp_student(ctx.txn, row.student_id)
        ctx.loaded[(spec.name, m.id)] = None
        return Outcome("applied", rev, include_record=False)
    check_nulls(spec, m.data)
    if row is None:
        if m.op == "patch":
            raise Reject("not_found", f"no {spec.name} with this id to patch", "id")
        if await _tombstoned(ctx, spec.name, m.id):
            raise Reject("deleted", "this assignment was ended; create a new one", "id")
        return await _assign(ctx, m)
    for name in ("student_id", "instructor_id"):
        if name in m.data and m.data[name] != getattr(row, name):
            raise Reject(
                "immutable",
                f"an assignment's {name} cannot change: delete it and create another",
                name,
            )
    merge = lww({k: v for k, v in m.data.items() if k == "is_primary"}, m.hlc, row.field_hlc or {})
    if "is_primary" in merge.apply and merge.apply["is_primary"] != row.is_primary:
        if merge.apply["is_primary"]:
            await assignments.make_primary(ctx.txn, row, m.hlc)
        else:
            row.is_primary = False
            row.field_hlc = merge.clocks
            ctx.stamp(spec.name, row)
    if merge.lost:
        return Outcome("merged", row.rev, row, lost=merge.lost)
    return Outcome("applied", row.rev, row, include_record=False)


async def _assign(ctx: Context, m: Command) -> Outcome:
    values = {**m.spec.defaults, **m.data}
    for name in ("student_id", "instructor_id"):
        if values.get(name) is None:
            raise Reject("invalid", f"{name} is required to create an assignment", name)
    student = await load_row(ctx, "student", values["student_id"])
    if student is None or student.deleted:
        raise Reject("not_found", "student_id names no student", "student_id")
    if student.left_at is not None:
        raise Reject("left", "this student has left the school", "student_id")
    instructor = await load_row(ctx, "instructor", values["instructor_id"])
    if instructor is None or instructor.deleted:
        raise Reject("not_found", "instructor_id names no instructor", "instructor_id")
    if not instructor.active:
        raise Reject("inactive", "this instructor is inactive", "instructor_id")
    taken = await ctx.session.scalar(
        select(StudentInstructor.id).where(
            StudentInstructor.student_id == student.id,
            StudentInstructor.instructor_id == instructor.id,
        )
    )
    if taken is not None:
        raise Reject(
            "already_assigned",
            "the student is already assigned to this instructor",
            "instructor_id",
            assignment_id=taken,
        )
    row = await assignments.add(
        ctx.txn,
        student.id,
        instructor.id,
        bool(values["is_primary"]),
        rid=m.id,
        hlc=m.hlc,
        created_by=ctx.who.user_id,
    )
    ctx.loaded[(m.spec.name, row.id)] = row
    return Outcome("applied", row.rev, row)
