"""THE definition of DriveSync's data: SQLAlchemy tables (every key starts with
`tenant_id`), pydantic wire models, and the JSON Schema files generated from them.

The tables are loaded on first use of any of the names below (`from schemas import Lesson`
loads and registers every table on `Base.metadata`, which is what Alembic compares), so
that `schemas.wire` and `schemas.response`, and the pure sync core built on them, import
without SQLAlchemy. `load_tables()` does the same explicitly.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from schemas.base import Base, UtcDateTime, utcnow
    from schemas.bookings import BookingHistory, BookingMove
    from schemas.credits import CreditEntry, Package, StudentBalance
    from schemas.inbox import InboxItem
    from schemas.lessons import (
        Booking,
        BookingSeries,
        Lesson,
        LessonNote,
        LessonSignature,
        MockTest,
        NoteRevision,
        Skill,
        SkillAssessment,
        StudentProgress,
        TestRecord,
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
    from schemas.money import Invoice, InvoiceCounter, Payment, Payout, Refund, WebhookEvent
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
    from schemas.tenancy import (
        ROLES,
        AccountToken,
        Branch,
        CalendarFeed,
        LoginAttempt,
        Membership,
        RefreshToken,
        Tenant,
        User,
    )
    from schemas.threads import Message, Thread, ThreadMember

# The modules that define tables, in the order they register them.
TABLE_MODULES = (
    "schemas.base",
    "schemas.tenancy",
    "schemas.school",
    "schemas.lessons",
    "schemas.bookings",
    "schemas.messaging",
    "schemas.threads",
    "schemas.inbox",
    "schemas.money",
    "schemas.credits",
    "schemas.syncmeta",
)


def load_tables() -> None:
    """Import every table module and bind their public names on this package."""
    for name in TABLE_MODULES:
        module = importlib.import_module(name)
        for attr in __all__:
            if hasattr(module, attr):
                globals()[attr] = getattr(module, attr)


def __getattr__(name: str) -> Any:
    if name in __all__:
        load_tables()
        return globals()[name]
    raise AttributeError(f"module 'schemas' has no attribute {name!r}")


__all__ = [
    "ROLES",
    "AccountToken",
    "AuditEntry",
    "Availability",
    "AvailabilityException",
    "Base",
    "Booking",
    "BookingHistory",
    "BookingMove",
    "BookingSeries",
    "Branch",
    "CalendarFeed",
    "CreditEntry",
    "Device",
    "Guardian",
    "InboxItem",
    "Instructor",
    "Invoice",
    "InvoiceCounter",
    "JournalEntry",
    "Lesson",
    "LessonNote",
    "LessonSignature",
    "LoginAttempt",
    "Membership",
    "Message",
    "MockTest",
    "MutationResult",
    "NoteRevision",
    "Notification",
    "NotificationPreference",
    "NotificationTemplate",
    "OutboxEvent",
    "Package",
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
    "StudentBalance",
    "StudentGuardian",
    "StudentInstructor",
    "StudentProgress",
    "SyncRecord",
    "Tenant",
    "TenantRev",
    "TestRecord",
    "TheoryAttempt",
    "TheoryQuestion",
    "Thread",
    "ThreadMember",
    "Trip",
    "TripSegment",
    "User",
    "UtcDateTime",
    "WebhookEvent",
    "utcnow",
]
