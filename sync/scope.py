"""Scope rules: which records a user may read, from their role. Pure: the store turns the
same rules into SQL (sync.pull) and tests check the two agree.

- owner/admin: everything in the school;
- instructor: own profile and availability, assigned students and their bookings, lessons,
  notes, assessments, progress and trips, and the catalogue;
- student: own records (minus private notes), own theory attempts, mock tests and payments,
  their instructors' profiles and availability, and the catalogue;
- guardian: a student's view of each ward, read-only.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from sync.entities import ENTITIES, EntitySpec, Visibility


@dataclass(frozen=True)
class Scope:
    """What one user may read right now. `everything` for admins; otherwise the students
    and instructors whose records they see."""

    role: str
    everything: bool = False
    student_ids: frozenset[str] = frozenset()
    instructor_ids: frozenset[str] = frozenset()

    @property
    def sees_private(self) -> bool:
        """Private lesson notes are for staff only."""
        return self.everything or self.role == "instructor"

    def fingerprint(self) -> str:
        """A short stable digest of the scope, carried by cursors: when it changes, the next
        pull sends what entered and left the scope."""
        digest = hashlib.sha256()
        digest.update(f"{self.role}|{int(self.everything)}|".encode())
        digest.update(",".join(sorted(self.student_ids)).encode())
        digest.update(b"|")
        digest.update(",".join(sorted(self.instructor_ids)).encode())
        return digest.hexdigest()[:32]

    def readable(self, spec: EntitySpec) -> bool:
        """Whether this role may read the entity at all."""
        if self.everything:
            return True
        return self.role in spec.readers and spec.visibility is not Visibility.ADMIN

    def sees(
        self,
        entity: str,
        student_id: str | None,
        instructor_id: str | None,
        private: bool = False,
    ) -> bool:
        """Whether a record with these scope keys is visible to this user."""
        if self.everything:
            return True
        spec = ENTITIES[entity]
        if not self.readable(spec):
            return False
        if spec.visibility is Visibility.CATALOGUE:
            return True
        if spec.visibility is Visibility.INSTRUCTOR:
            return instructor_id is not None and instructor_id in self.instructor_ids
        if spec.visibility is Visibility.STUDENT:
            if student_id is None or student_id not in self.student_ids:
                return False
            return self.sees_private or not private
        return False

    def entities_by_visibility(
        self, visibility: Visibility, only: frozenset[str] | None = None
    ) -> list[str]:
        """The entities of one visibility kind this user may read (optionally restricted)."""
        return sorted(
            name
            for name, spec in ENTITIES.items()
            if spec.visibility is visibility
            and self.readable(spec)
            and (only is None or name in only)
        )


def changed_members(old: Scope, new: Scope) -> tuple[frozenset[str], frozenset[str]]:
    """Students and instructors that entered or left between two scopes of one user."""
    return (
        old.student_ids ^ new.student_ids,
        old.instructor_ids ^ new.instructor_ids,
    )
