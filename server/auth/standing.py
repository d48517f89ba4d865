"""Whether an access token's holder still stands where the token says: the user is active,
still has the role in the school (a student has not left), and the device has not logged out
(its refresh family still has a live token).

Access tokens are self-contained JWTs, so this is what voids them early. Each process keeps
the answer per (tenant, user, family) for `access_check_s` seconds: a token keeps working at
most that long after the user is disabled, leaves the school or logs out on another process
(a logout on this process drops its entry at once). Entries are primed when tokens are issued
so sign-in and refresh cost no extra query.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from schemas import Instructor, Membership, RefreshToken, Student, User
from server.auth.throttle import Lru
from sync.core.principal import Principal

Key = tuple[str, str, str | None]  # (tenant, user, refresh family)


async def standing(
    session: AsyncSession, who: Principal, family: str | None, now: dt.datetime
) -> str | None:
    """None when `who` (bound to their tenant) may still act; else why not."""
    row = (
        await session.execute(
            select(User.is_active, Membership.role)
            .join(Membership, Membership.user_id == User.id)
            .where(User.id == who.user_id, Membership.tenant_id == who.tenant_id)
        )
    ).first()
    if row is None or row.role != who.role:
        return "no longer a member of this school in this role; sign in again"
    if not row.is_active:
        return "account disabled"
    if who.role == "student" or who.student_id:
        # Leaving sets left_at and deletes the student's records, the student row included.
        present = select(func.count()).where(
            Student.user_id == who.user_id, Student.left_at.is_(None), Student.deleted.is_(False)
        )
        if who.student_id:
            present = present.where(Student.id == who.student_id)
        if not await session.scalar(present):
            return "this student has left the school"
    if who.instructor_id:
        gone = await session.scalar(
            select(func.count()).where(
                Instructor.id == who.instructor_id, Instructor.deleted.is_(True)
            )
        )
        if gone:
            return "this instructor has left the school"
    if family is not None:
        live = await session.scalar(
            select(func.count()).where(
                RefreshToken.family_id == family,
                RefreshToken.user_id == who.user_id,
                RefreshToken.revoked_at.is_(None),
                RefreshToken.expires_at > now,
            )
        )
        if not live:
            return "signed out on this device; sign in again"
    return None


class StandingCache:
    """Recent `standing` answers per key, trusted for `ttl_s` seconds (monotonic clock)."""

    def __init__(self, ttl_s: float, size: int) -> None:
        self.ttl_s = ttl_s
        self._entries: Lru[Key, tuple[float, str | None]] = Lru(size)

    def get(self, key: Key, now: float) -> tuple[bool, str | None]:
        """(known, reason): known is False when the entry is missing or too old."""
        entry = self._entries.get(key)
        if entry is None or now - entry[0] >= self.ttl_s:
            return False, None
        return True, entry[1]

    def put(self, key: Key, reason: str | None, now: float) -> None:
        if self.ttl_s > 0:
            self._entries.put(key, (now, reason))

    def drop(self, key: Key) -> None:
        self._entries.pop(key)

    def drop_user(self, tenant_id: str, user_id: str) -> None:
        """Forget every answer about one user (all their sign-ins), e.g. after a password
        reset signed them out everywhere: this process then checks again at once."""
        for key in [k for k in self._entries.keys() if k[0] == tenant_id and k[1] == user_id]:
            self._entries.pop(key)
