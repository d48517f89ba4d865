"""Response models: every body the sync, info, checksum and admin endpoints send, key for
key. The handlers answer through them (server/http.py::reply) and schemas/json/ publishes
them, so a key the server starts sending without declaring it here fails the contract test
(tests/integration/test_contract.py) instead of reaching clients undocumented.

Optional keys are `Omitted`: left out of the body, never sent as null. Timestamps are ISO
8601 UTC strings ending in Z.
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any, Generic, Literal, TypeVar

from pydantic import BaseModel, Field

from schemas.accounts import ForgotPasswordResponse
from schemas.wire import (
    AvailabilityExceptionRecord,
    AvailabilityRecord,
    BookingHistoryRecord,
    BookingMoveRecord,
    BookingRecord,
    BookingSeriesRecord,
    CreditEntryRecord,
    GuardianRecord,
    GuardianStudentRecord,
    InboxItemRecord,
    InstructorRecord,
    InvoiceRecord,
    LessonNoteRecord,
    LessonRecord,
    LessonSignatureRecord,
    MessageRecord,
    MockTestRecord,
    Omitted,
    Outgoing,
    PackageRecord,
    PaymentRecord,
    PayoutRecord,
    RateCardRecord,
    SchoolInfo,
    ServiceRecord,
    SkillAssessmentRecord,
    SkillRecord,
    StudentBalanceRecord,
    StudentInstructorRecord,
    StudentProgressRecord,
    StudentRecord,
    TestRecordRecord,
    TheoryAttemptRecord,
    TheoryQuestionRecord,
    ThreadMemberRecord,
    ThreadRecord,
    TokenResponse,
    TripRecord,
    TripSegmentRecord,
)

# --- errors -------------------------------------------------------------------------------


class ErrorBody(Outgoing):
    code: str = Field(description="Stable code: invalid, forbidden, seq_gap, reset_required, …")
    message: str
    details: dict[str, Any] = Field(description="`field` names the offending field, if any.")


class ErrorResponse(Outgoing):
    """Every error answer: `{"error": {"code", "message", "details"}}`."""

    error: ErrorBody


# --- push ---------------------------------------------------------------------------------

MutationStatus = Literal["applied", "merged", "conflict", "rejected"]


class MutationResultBody(Outgoing):
    """The result of one mutation. `rev` is absent only when it was rejected (then `error`
    says why); `conflict` carries `loser` and `conflict_id`; `merged` may carry `lost`."""

    seq: int
    status: MutationStatus
    rev: int | Omitted = Field(default=None, description="The record's rev after the push.")
    record: dict[str, Any] | Omitted = Field(
        default=None,
        description="The committed record (as <entity>.record.json), when the server set or "
        "derived fields the client did not send, changed what it sent, or the status is not "
        "applied. Absent for an applied put (see `filled`) and for an applied patch the server "
        "did not complete: the data sent is then the record at `rev`.",
    )
    filled: dict[str, Any] | Omitted = Field(
        default=None,
        description="applied put without `record`: the fields the server filled in or changed "
        "(defaults, copied or derived fields); the record is the data sent plus these.",
    )
    updated_at: str | Omitted = Field(
        default=None,
        description="applied without `record`: when the record was committed (ISO 8601, UTC).",
    )
    lost: list[str] | Omitted = Field(
        default=None, description="merged: fields (sorted) that lost last-writer-wins."
    )
    loser: dict[str, Any] | Omitted = Field(
        default=None, description="conflict: the client's losing version."
    )
    conflict_id: str | Omitted = Field(
        default=None, description="conflict: the journal entry an admin resolves."
    )
    error: ErrorBody | Omitted = Field(default=None, description="rejected: why.")
    hlc_clamped: Literal[True] | Omitted = Field(
        default=None, description="The hlc lay too far in the future and was clamped."
    )
    duplicate: Literal[True] | Omitted = Field(
        default=None, description="A resent seq: the original result, nothing changed."
    )


class PushResponse(Outgoing):
    """`POST /v1/sync/push` answer."""

    results: list[MutationResultBody]
    acked_seq: int
    rev: int = Field(description="The tenant's rev after the batch.")


# --- pull ---------------------------------------------------------------------------------

R = TypeVar("R", bound=BaseModel)


class _Change(Outgoing, Generic[R]):
    id: str
    rev: int
    op: Literal["put", "delete"]
    record: R | Omitted = Field(default=None, description="Present when op is put.")


class LessonChange(_Change[LessonRecord]):
    entity: Literal["lesson"]


class LessonNoteChange(_Change[LessonNoteRecord]):
    entity: Literal["lesson_note"]


class SkillAssessmentChange(_Change[SkillAssessmentRecord]):
    entity: Literal["skill_assessment"]


class LessonSignatureChange(_Change[LessonSignatureRecord]):
    entity: Literal["lesson_signature"]


class StudentProgressChange(_Change[StudentProgressRecord]):
    entity: Literal["student_progress"]


class TripChange(_Change[TripRecord]):
    entity: Literal["trip"]


class TripSegmentChange(_Change[TripSegmentRecord]):
    entity: Literal["trip_segment"]


class TheoryQuestionChange(_Change[TheoryQuestionRecord]):
    entity: Literal["theory_question"]


class TheoryAttemptChange(_Change[TheoryAttemptRecord]):
    entity: Literal["theory_attempt"]


class MockTestChange(_Change[MockTestRecord]):
    entity: Literal["mock_test"]


class BookingChange(_Change[BookingRecord]):
    entity: Literal["booking"]


class BookingSeriesChange(_Change[BookingSeriesRecord]):
    entity: Literal["booking_series"]


class BookingMoveChange(_Change[BookingMoveRecord]):
    entity: Literal["booking_move"]


class BookingHistoryChange(_Change[BookingHistoryRecord]):
    entity: Literal["booking_history"]


class AvailabilityChange(_Change[AvailabilityRecord]):
    entity: Literal["availability"]


class AvailabilityExceptionChange(_Change[AvailabilityExceptionRecord]):
    entity: Literal["availability_exception"]


class StudentChange(_Change[StudentRecord]):
    entity: Literal["student"]


class InstructorChange(_Change[InstructorRecord]):
    entity: Literal["instructor"]


class StudentInstructorChange(_Change[StudentInstructorRecord]):
    entity: Literal["student_instructor"]


class SkillChange(_Change[SkillRecord]):
    entity: Literal["skill"]


class ServiceChange(_Change[ServiceRecord]):
    entity: Literal["service"]


class RateCardChange(_Change[RateCardRecord]):
    entity: Literal["rate_card"]


class PaymentChange(_Change[PaymentRecord]):
    entity: Literal["payment"]


class PackageChange(_Change[PackageRecord]):
    entity: Literal["package"]


class CreditEntryChange(_Change[CreditEntryRecord]):
    entity: Literal["credit_entry"]


class StudentBalanceChange(_Change[StudentBalanceRecord]):
    entity: Literal["student_balance"]


class InvoiceChange(_Change[InvoiceRecord]):
    entity: Literal["invoice"]


class PayoutChange(_Change[PayoutRecord]):
    entity: Literal["payout"]


class ThreadChange(_Change[ThreadRecord]):
    entity: Literal["thread"]


class ThreadMemberChange(_Change[ThreadMemberRecord]):
    entity: Literal["thread_member"]


class MessageChange(_Change[MessageRecord]):
    entity: Literal["message"]


class InboxItemChange(_Change[InboxItemRecord]):
    entity: Literal["inbox_item"]


class GuardianChange(_Change[GuardianRecord]):
    entity: Literal["guardian"]


class GuardianStudentChange(_Change[GuardianStudentRecord]):
    entity: Literal["guardian_student"]


class TestRecordChange(_Change[TestRecordRecord]):
    __test__ = False  # not a pytest class

    entity: Literal["test_record"]


# One change of a pull page; `entity` says which record it carries.
Change = Annotated[
    LessonChange
    | LessonNoteChange
    | SkillAssessmentChange
    | LessonSignatureChange
    | StudentProgressChange
    | TripChange
    | TripSegmentChange
    | TheoryQuestionChange
    | TheoryAttemptChange
    | MockTestChange
    | BookingChange
    | BookingSeriesChange
    | BookingMoveChange
    | BookingHistoryChange
    | AvailabilityChange
    | AvailabilityExceptionChange
    | StudentChange
    | InstructorChange
    | StudentInstructorChange
    | SkillChange
    | ServiceChange
    | RateCardChange
    | PaymentChange
    | PackageChange
    | CreditEntryChange
    | StudentBalanceChange
    | InvoiceChange
    | PayoutChange
    | InboxItemChange
    | GuardianChange
    | GuardianStudentChange
    | TestRecordChange
    | ThreadChange
    | ThreadMemberChange
    | MessageChange,
    Field(discriminator="entity"),
]


class PullResponse(Outgoing):
    """`GET /v1/sync/pull` answer."""

    changes: list[Change]
    cursor: str
    has_more: bool
    rev: int = Field(description="The tenant's rev of the snapshot the page was read at.")


# --- info and checksum --------------------------------------------------------------------


class PublishedLimits(Outgoing):
    max_mutations: int
    max_push_bytes: int
    max_pull_limit: int
    default_pull_limit: int


class SyncInfo(Outgoing):
    """`GET /v1/sync/info` answer."""

    protocol: int
    schema_versions: list[int]
    limits: PublishedLimits
    tombstone_horizon_days: int
    max_clock_skew_ms: int
    heartbeat_s: int


class EntityChecksum(Outgoing):
    count: int
    hash: Annotated[str, Field(pattern=r"^[0-9a-f]{64}$")] = Field(
        description="Lowercase hex SHA-256 of the lines `id:rev\\n` sorted by id."
    )


class ChecksumResponse(Outgoing):
    """`GET /v1/sync/checksum` answer; entities with no live records are absent."""

    rev: int
    cursor_rev: int | Omitted = Field(default=None, description="The rev of the cursor sent.")
    entities: dict[str, EntityChecksum]


# --- admin --------------------------------------------------------------------------------


class SchoolSettings(SchoolInfo):
    """`GET` / `PATCH /v1/admin/school` answer."""

    platform_fee_bps: int


class AssignResult(Outgoing):
    student_id: str
    instructor_ids: list[str]
    rev: int


class LeaveResult(Outgoing):
    student_id: str
    records_removed: int
    rev: int


JournalKind = Literal["rejected", "conflict", "lost_field"]


class JournalEntryBody(Outgoing):
    """One journal entry: a rejected mutation, a conflict or fields that lost LWW."""

    id: str
    kind: JournalKind
    status: Literal["open", "resolved", "replayed", "dismissed"]
    user_id: str
    client_id: str
    seq: int
    entity: str
    record_id: str
    code: str | None
    message: str | None
    mutation: dict[str, Any] = Field(description="The mutation as the client sent it.")
    record: dict[str, Any] | None = Field(description="The record it targeted, at the time.")
    loser: dict[str, Any] | None = Field(
        description="conflict: the client's version; lost_field: the fields that lost."
    )
    base: dict[str, Any] | None
    rev: int | None
    received_at: dt.datetime
    resolved_by: str | None
    resolved_at: dt.datetime | None
    resolution: dict[str, Any] | None


class JournalPage(Outgoing):
    """`GET /v1/admin/journal` (and `/conflicts`, `/rejections`) answer, newest first."""

    entries: list[JournalEntryBody]
    open: dict[JournalKind, int] = Field(description="Open entries per kind (all of them).")


class AuditEntryBody(Outgoing):
    """One line of the audit log: who (user and, while they are a member, their name, email
    and role), when, what (`action`: `sync.put|patch|delete` or `admin.*`; the entity and
    record), and `details` (a push's client_id, seq, status, hlc and the fields sent)."""

    id: str
    at: dt.datetime
    user_id: str | None
    user_name: str | None
    user_email: str | None
    role: str | None
    action: str
    entity: str | None
    record_id: str | None
    rev: int | None
    details: dict[str, Any]


class AuditPage(Outgoing):
    """`GET /v1/admin/audit` answer, newest first; `next` asks for the following page."""

    entries: list[AuditEntryBody]
    next: str | None


class MoneyReportPage(Outgoing):
    """`GET /v1/admin/money/{kind}` answer: one page of payments, refunds, payouts, invoices
    or balances, newest first. `columns` names the keys of every row (the CSV export's
    header); `count` and `totals` (integer cents per amount column; a balance's lessons and
    minutes left too) cover every row the filters match, not just this page; `next` asks for
    the following page."""

    kind: Literal["payments", "refunds", "payouts", "invoices", "balances"]
    columns: list[str]
    rows: list[dict[str, str | int | bool | None]]
    count: int
    totals: dict[str, int]
    next: str | None


class ResolveResult(Outgoing):
    id: str
    status: Literal["resolved"]
    keep: Literal["server", "client", "text"]
    rev: int | None = Field(description="The note's new rev, or null when nothing changed.")


class ReplayResult(Outgoing):
    id: str
    result: MutationResultBody


class DeviceHealth(Outgoing):
    id: str
    user_id: str
    client_id: str
    platform: str | None
    app_version: str | None
    acked_seq: int
    pending: int | None
    last_pull_rev: int | None
    lag_revs: int | None
    last_seen_at: dt.datetime
    last_push_at: dt.datetime | None
    clock_skew_ms: int | None


class DeviceList(Outgoing):
    """`GET /v1/admin/devices` answer."""

    rev: int
    devices: list[DeviceHealth]


# Published as schemas/json/<name>.json (serialization mode: what the server sends).
# --- calendar feed ------------------------------------------------------------------------


class CalendarFeedStatus(Outgoing):
    """`/v1/calendar/feed` answer: whether the user's iCalendar feed is on. `url` is only in
    the answer that made it (POST): the server keeps no copy of the secret in it."""

    enabled: bool
    created_at: dt.datetime | None
    fetched_at: dt.datetime | None
    url: str | None = None


class CreditAdjustment(Outgoing):
    """An admin's credit adjustment: the entries written and the student's new balance."""

    entries: list[CreditEntryRecord]
    balance: StudentBalanceRecord


RESPONSE_MODELS: dict[str, type[BaseModel]] = {
    "error": ErrorResponse,
    "token_response": TokenResponse,
    "password_forgot_response": ForgotPasswordResponse,
    "push_response": PushResponse,
    "pull_response": PullResponse,
    "sync_info": SyncInfo,
    "checksum_response": ChecksumResponse,
    "school_settings": SchoolSettings,
    "assign_response": AssignResult,
    "leave_response": LeaveResult,
    "journal_response": JournalPage,
    "journal_entry": JournalEntryBody,
    "resolve_response": ResolveResult,
    "replay_response": ReplayResult,
    "devices_response": DeviceList,
    "audit_response": AuditPage,
    "money_report": MoneyReportPage,
    "calendar_feed": CalendarFeedStatus,
    "credit_adjustment": CreditAdjustment,
}
