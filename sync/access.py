"""Loading a principal's current scope from the assignments, caching it while it cannot
have changed, and keeping scope snapshots (so a cursor made under an older scope can be
diffed against the new one)."""

from __future__ import annotations

from collections import OrderedDict

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from schemas import (
    Guardian,
    Instructor,
    Membership,
    ScopeSnapshot,
    Student,
    StudentGuardian,
    StudentInstructor,
)
from sync.core.principal import Principal
from sync.core.scope import Scope, members
from sync.database import insert_for
from sync.errors import Unauthenticated
from sync.notifier import TenantHeads


async def _live_students(session: AsyncSession, ids: set[str]) -> set[str]:
    if not ids:
        return set()
    rows = await session.scalars(
        select(Student.id).where(
            Student.id.in_(sorted(ids)), Student.deleted.is_(False), Student.left_at.is_(None)
        )
    )
    return set(rows)


async def load_scope(session: AsyncSession, who: Principal) -> Scope:
    """The scope `who` has now (admins: everything; others from the assignments)."""
    if who.is_admin:
        return Scope(who.role, everything=True, user_id=who.user_id)
    students: set[str] = set()
    instructors: set[str] = set()
    if who.role == "instructor" and who.instructor_id:
        instructors.add(who.instructor_id)
        rows = await session.scalars(
            select(StudentInstructor.student_id).where(
                StudentInstructor.instructor_id == who.instructor_id
            )
        )
        students = await _live_students(session, set(rows))
    elif who.role in ("student", "guardian"):
        own = {who.student_id} if who.role == "student" and who.student_id else set(who.ward_ids)
        students = await _live_students(session, own)
        if students:
            rows = await session.scalars(
                select(StudentInstructor.instructor_id).where(
                    StudentInstructor.student_id.in_(sorted(students))
                )
            )
            instructors = set(rows)
    return Scope(who.role, False, frozenset(students), frozenset(instructors), who.user_id)


class ScopeCache:
    """Scopes loaded lately, each with the tenant rev of the snapshot it was loaded in. A
    scope is handed out again for a later rev only while `TenantHeads.scope_unchanged`
    vouches for it: no commit since, or every commit since heard and none naming the
    user's students/instructors as rescoped. Admins' scope needs no query and no entry.
    Bounded: the least recently used entries go first."""

    def __init__(self, heads: TenantHeads, size: int = 50_000) -> None:
        self._heads = heads
        self._size = size
        self._entries: OrderedDict[Principal, tuple[Scope, int]] = OrderedDict()

    def get(self, who: Principal, at_rev: int) -> Scope | None:
        """`who`'s scope at the tenant's rev `at_rev`, or None (load it)."""
        if who.is_admin:
            return Scope(who.role, everything=True, user_id=who.user_id)
        entry = self._entries.get(who)
        if entry is None:
            return None
        scope, loaded = entry
        if not self._heads.scope_unchanged(who.tenant_id, members(who), loaded, at_rev):
            return None
        self._entries.move_to_end(who)
        return scope

    def put(self, who: Principal, scope: Scope, rev: int) -> None:
        """Remember `scope`, loaded in a snapshot at the tenant's rev `rev`."""
        if who.is_admin:
            return
        entry = self._entries.get(who)
        if entry is not None and entry[1] > rev:
            return  # a newer load is already here
        self._entries[who] = (scope, rev)
        self._entries.move_to_end(who)
        if len(self._entries) > self._size:
            self._entries.popitem(last=False)

    def __len__(self) -> int:
        return len(self._entries)


async def save_snapshot(session: AsyncSession, tenant_id: str, scope: Scope) -> None:
    """Record the scope under its fingerprint (once; later calls change nothing)."""
    ins = insert_for(session)(ScopeSnapshot)
    await session.execute(
        ins.values(
            tenant_id=tenant_id,
            fingerprint=scope.fingerprint(),
            student_ids=sorted(scope.student_ids),
            instructor_ids=sorted(scope.instructor_ids),
        ).on_conflict_do_nothing(index_elements=["tenant_id", "fingerprint"])
    )


async def load_snapshot(session: AsyncSession, role: str, fingerprint: str) -> Scope | None:
    """The scope a cursor was made under, or None if it was never recorded."""
    row = await session.scalar(
        select(ScopeSnapshot).where(ScopeSnapshot.fingerprint == fingerprint)
    )
    if row is None:
        return None
    scope = Scope(role, False, frozenset(row.student_ids), frozenset(row.instructor_ids))
    if scope.fingerprint() != fingerprint:
        everything = Scope(role, everything=True)
        return everything if everything.fingerprint() == fingerprint else None
    return scope


async def principal_for(session: AsyncSession, tenant_id: str, user_id: str) -> Principal:
    """Build the principal of a user: role and linked student/instructor/guardian records."""
    role = await session.scalar(select(Membership.role).where(Membership.user_id == user_id))
    if role is None:
        raise Unauthenticated("this user has no role in the school")
    student_id = await session.scalar(
        select(Student.id).where(Student.user_id == user_id, Student.deleted.is_(False))
    )
    instructor_id = await session.scalar(
        select(Instructor.id).where(Instructor.user_id == user_id, Instructor.deleted.is_(False))
    )
    wards: tuple[str, ...] = ()
    if role == "guardian":
        guardian_id = await session.scalar(select(Guardian.id).where(Guardian.user_id == user_id))
        if guardian_id:
            rows = await session.scalars(
                select(StudentGuardian.student_id).where(StudentGuardian.guardian_id == guardian_id)
            )
            wards = tuple(sorted(rows))
    return Principal(tenant_id, user_id, role, student_id, instructor_id, wards)
