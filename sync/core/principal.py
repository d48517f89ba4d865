"""Who is asking: the (tenant, user, role) an access token stands for."""

from __future__ import annotations

from dataclasses import dataclass, field

ADMIN_ROLES = frozenset({"owner", "admin"})
STAFF_ROLES = frozenset({"owner", "admin", "instructor"})


@dataclass(frozen=True)
class Principal:
    """The authenticated caller. `student_id` / `instructor_id` link the user to their
    student or instructor record when they have one; `ward_ids` are a guardian's students."""

    tenant_id: str
    user_id: str
    role: str
    student_id: str | None = None
    instructor_id: str | None = None
    ward_ids: tuple[str, ...] = field(default=())

    @property
    def is_admin(self) -> bool:
        return self.role in ADMIN_ROLES

    @property
    def is_staff(self) -> bool:
        """Reads staff-only fields (sync.core.entities.EntitySpec.staff_only)."""
        return self.role in STAFF_ROLES
