"""Scope rules: which records a user may read, from their role, and which commits concern
them. Pure. The rules live here once: `Scope.sees` decides a record, `Scope.reaches` the
records a pull must hear about (sync.pull.reach is the same rule as SQL), and
`Scope.touched_by` / `rescopes` are the live poke filter (which commits may change what a
connection sees). tests/integration/sync/test_scope_agreement.py checks the three agree.

- owner/admin: everything in the school;
- instructor: own profile and availability, assigned students and their bookings, lessons,
  notes, assessments, progress and trips, and the catalogue;
- student: own records (minus private notes), own theory attempts, mock tests and payments,
  their instructors' profiles and availability, and the catalogue;
- guardian: a student's view of each ward, read-only (their wards are the learners their
  `guardian_student` links name), and those links;
- party records (Visibility.PARTY: messages, inbox items) are read by the user they are
  addressed to, by the instructor they name (that instructor alone, not the students who
  follow them), and by admins.

What each role may read is versioned (`RULES`): the version is part of a scope's
fingerprint, so a cursor made before a role's reading widened is treated like a cursor
whose scope changed, and its next pull resends every record of the scope's members,
including the ones it was never sent (sync.pull).
"""

from __future__ import annotations

import hashlib
from collections.abc import Collection
from dataclasses import dataclass
from functools import cached_property

from sync.core.entities import ENTITIES, EntitySpec, Visibility, party_instructor
from sync.core.principal import Principal

# The version of each role's read rules (1 when not listed): raised whenever a role may
# read an entity it could not before, since the records already there would never reach a
# cursor made earlier (an incremental pull only sends what changed after it). A version
# above 1 is hashed into the fingerprint; version 1 fingerprints are those of before
# versions existed, so the cursors of roles whose rules never changed stay valid.
# instructor 2: their students' theory attempts and mock tests (issue 13).
RULES: dict[str, int] = {"instructor": 2}


def rules_version(role: str) -> int:
    """The current version of a role's read rules."""
    return RULES.get(role, 1)


@dataclass(frozen=True)
class Scope:
    """What one user may read right now. `everything` for admins; otherwise the students
    and instructors whose records they see."""

    role: str
    everything: bool = False
    student_ids: frozenset[str] = frozenset()
    instructor_ids: frozenset[str] = frozenset()
    # The user's own id, for party records addressed to them. Not in the fingerprint: it
    # is the same for every scope one user ever has, so it never moves a record in or out.
    user_id: str | None = None
    # The read rules this scope was made under (None: the role's current ones): only a
    # scope loaded from an old cursor's snapshot has an older version (sync.access).
    rules: int | None = None

    @property
    def rules_version(self) -> int:
        return self.rules if self.rules is not None else rules_version(self.role)

    @property
    def sees_private(self) -> bool:
        """Private lesson notes are for staff only."""
        return self.everything or self.role == "instructor"

    def fingerprint(self) -> str:
        """A short stable digest of the scope, carried by cursors: when it changes, the next
        pull sends what entered and left the scope."""
        return self._fingerprint

    @cached_property
    def _fingerprint(self) -> str:
        digest = hashlib.sha256()
        digest.update(f"{self.role}|{int(self.everything)}|".encode())
        digest.update(",".join(sorted(self.student_ids)).encode())
        digest.update(b"|")
        digest.update(",".join(sorted(self.instructor_ids)).encode())
        if self.rules_version > 1 and not self.everything:
            digest.update(f"|rules{self.rules_version}".encode())
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
        user_id: str | None = None,
    ) -> bool:
        """Whether a record with these scope keys is visible to this user."""
        spec = ENTITIES[entity]
        if spec.personal:  # its owner's alone, whoever else asks
            return user_id is not None and user_id == self.user_id
        if self.everything:
            return True
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
        if spec.visibility is Visibility.PARTY:
            if user_id is not None and user_id == self.user_id:
                return True
            # An instructor's scope holds their own id alone; a student's holds the
            # instructors they follow, who must not open their instructor's mail.
            return (
                self.role == "instructor"
                and instructor_id is not None
                and instructor_id in self.instructor_ids
            )
        return False

    def reaches(
        self,
        entity: str,
        student_id: str | None,
        instructor_id: str | None,
        user_id: str | None = None,
    ) -> bool:
        """Whether a pull must tell this user about changes of such a record: the records
        they see, plus those they would see but for the `private` flag (sent as deletes).
        `sync.pull.reach` is this rule in SQL."""
        return self.sees(entity, student_id, instructor_id, False, user_id)

    def touched_by(
        self,
        who: Principal,
        student_ids: Collection[str],
        instructor_ids: Collection[str],
        catalogue: bool,
        user_ids: Collection[str] = (),
    ) -> bool:
        """Whether a commit with these scope keys (sync.store.CommitInfo) may have changed
        what `who`, with this scope, can see: the live poke filter. Never false for a commit
        that changed a record this scope `reaches`; may be true for some that did not."""
        if self.everything or catalogue:
            return True
        if who.user_id in user_ids:
            return True
        if who.instructor_id and who.instructor_id in instructor_ids:
            return True
        # A party record's instructor is named among its users (sync.store): it reaches the
        # instructors `sees` lets read it, not the students who follow them.
        if self.role == "instructor" and any(
            party_instructor(i) in user_ids for i in self.instructor_ids
        ):
            return True
        if who.student_id and who.student_id in student_ids:
            return True
        return not self.student_ids.isdisjoint(student_ids) or not self.instructor_ids.isdisjoint(
            instructor_ids
        )

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


def members(who: Principal) -> frozenset[str]:
    """The student and instructor ids a principal stands for (a guardian: their wards),
    and their own user id (a guardian's links name it: sync.rules.guardian_links). A
    commit naming one of them as rescoped changed this principal's scope."""
    ids = {who.student_id, who.instructor_id, who.user_id, *who.ward_ids}
    return frozenset(i for i in ids if i)


def rescopes(who: Principal, rescoped: Collection[str], rescope_all: bool = False) -> bool:
    """Whether a commit that changed the scopes of `rescoped` (or of everyone) changed
    `who`'s: their scope must be loaded again."""
    return rescope_all or not members(who).isdisjoint(rescoped)
