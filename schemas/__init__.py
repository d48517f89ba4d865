"""THE definition of DriveSync's data: SQLAlchemy tables (every key starts with
`tenant_id`), pydantic wire models, and the JSON Schema files generated from them.

Importing this package registers every table on `Base.metadata` (what Alembic compares).
"""

from schemas.base import Base, UtcDateTime, utcnow
from schemas.lessons import (
    Booking,
    Lesson,
    LessonNote,
    MockTest,
    NoteRevision,
    Skill,
    SkillAssessment,
    StudentProgress,
    TheoryAttempt,
    TheoryQuestion,
    Trip,
    TripSegment,
)
from schemas.messaging import (
    Device,
    Notification,
    NotificationPreference,
    NotificationTemplate,
    OutboxEvent,
    PushSubscription,
)
from schemas.money import Payment, Payout, Refund, WebhookEvent
from schemas.school import (
    Availability,
    AvailabilityException,
    Guardian,
    Instructor,
    RateCard,
    Service,
    Student,
    StudentGuardian,
    StudentInstructor,
)
from schemas.syncmeta import (
    AuditEntry,
    JournalEntry,
    MutationResult,
    ScopeSnapshot,
    SyncRecord,
    TenantRev,
)
from schemas.tenancy import ROLES, Branch, LoginAttempt, Membership, RefreshToken, Tenant, User

__all__ = [
    "ROLES",
    "AuditEntry",
    "Availability",
    "AvailabilityException",
    "Base",
    "Booking",
    "Branch",
    "Device",
    "Guardian",
    "Instructor",
    "JournalEntry",
    "Lesson",
    "LessonNote",
    "LoginAttempt",
    "Membership",
    "MockTest",
    "MutationResult",
    "NoteRevision",
    "Notification",
    "NotificationPreference",
    "NotificationTemplate",
    "OutboxEvent",
    "Payment",
    "Payout",
    "PushSubscription",
    "RateCard",
    "RefreshToken",
    "Refund",
    "ScopeSnapshot",
    "Service",
    "Skill",
    "SkillAssessment",
    "Student",
    "StudentGuardian",
    "StudentInstructor",
    "StudentProgress",
    "SyncRecord",
    "Tenant",
    "TenantRev",
    "TheoryAttempt",
    "TheoryQuestion",
    "Trip",
    "TripSegment",
    "User",
    "UtcDateTime",
    "WebhookEvent",
    "utcnow",
]
