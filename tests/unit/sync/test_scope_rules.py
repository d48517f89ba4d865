"""Scope-rules versions (issue 13): a role's read rules are versioned in the fingerprint a
cursor carries, so a cursor made before the role could read more is seen as made under
another scope (sync.pull then resends the scope's records); roles whose rules never
changed keep the fingerprints they had before versions existed."""

from __future__ import annotations

import hashlib

from sync.core.entities import ENTITIES
from sync.core.scope import RULES, Scope, rules_version


def _unversioned(scope: Scope) -> str:
    """The fingerprint as computed before versions existed."""
    digest = hashlib.sha256()
    digest.update(f"{scope.role}|{int(scope.everything)}|".encode())
    digest.update(",".join(sorted(scope.student_ids)).encode())
    digest.update(b"|")
    digest.update(",".join(sorted(scope.instructor_ids)).encode())
    return digest.hexdigest()[:32]


def test_roles_at_version_one_keep_their_fingerprints() -> None:
    for role in ("student", "guardian"):
        scope = Scope(role, False, frozenset({"s1"}), frozenset({"i1"}))
        assert rules_version(role) == 1
        assert scope.fingerprint() == _unversioned(scope)
    admin = Scope("admin", everything=True)
    assert admin.fingerprint() == _unversioned(admin)


def test_instructors_read_theory_under_version_two() -> None:
    assert RULES["instructor"] == 2
    for name in ("theory_attempt", "mock_test"):
        assert "instructor" in ENTITIES[name].readers
        assert ENTITIES[name].writers == {"student"}  # read scope only
    now = Scope("instructor", False, frozenset({"s1"}), frozenset({"i1"}))
    before = Scope("instructor", False, frozenset({"s1"}), frozenset({"i1"}), rules=1)
    assert now.rules_version == 2 and before.rules_version == 1
    assert before.fingerprint() == _unversioned(before)  # what older cursors carry
    assert now.fingerprint() != before.fingerprint()
    assert now.sees("theory_attempt", "s1", None) and not now.sees("theory_attempt", "s2", None)
