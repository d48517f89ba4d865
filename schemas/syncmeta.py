"""The sync bookkeeping: the per-tenant revision counter, the change index every pull reads,
per-device mutation results (exactly-once), the conflicts and rejections journal, scope
snapshots for cursors, and the audit log."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import (
    Boolean,
    CheckConstraint,
    ForeignKey,
    Index,
    String,
    Text,
)
from sqlalchemy.orm import Mapped, mapped_column

from schemas.base import Base, JsonDoc, RevInt, UtcDateTime, id_type, utcnow


class TenantRev(Base):
    """One counter row per tenant. A writer bumps it as the first statement of its
    transaction and so holds its row lock until COMMIT: commits in a tenant are serialised
    in rev order, and a reader that sees rev N sees every rev below it. `horizon_rev` is the
    oldest rev a cursor may resume from: tombstones below it have been compacted away."""

    __tablename__ = "tenant_revs"

    tenant_id: Mapped[str] = mapped_column(id_type(), ForeignKey("tenants.id"), primary_key=True)
    rev: Mapped[int] = mapped_column(RevInt, default=0)
    horizon_rev: Mapped[int] = mapped_column(RevInt, default=0)


class SyncRecord(Base):
    """The change index: one row per synced record at its latest rev (so pulls are coalesced
    by construction), with the keys scope rules need — the student and instructor a record
    belongs to and whether it is private — so a pull filters by scope without joins."""

    __tablename__ = "sync_records"

    tenant_id: Mapped[str] = mapped_column(id_type(), ForeignKey("tenants.id"), primary_key=True)
    entity: Mapped[str] = mapped_column(String(32), primary_key=True)
    id: Mapped[str] = mapped_column(id_type(), primary_key=True)
    rev: Mapped[int] = mapped_column(RevInt)
    deleted: Mapped[bool] = mapped_column(Boolean, default=False)
    student_id: Mapped[str | None] = mapped_column(id_type())
    instructor_id: Mapped[str | None] = mapped_column(id_type())
    private: Mapped[bool] = mapped_column(Boolean, default=False)
    # The one user a party record is addressed to (Visibility.PARTY: a message thread's
    # student or guardian, an inbox item's owner); None for every other record.
    user_id: Mapped[str | None] = mapped_column(id_type())
    updated_at: Mapped[dt.datetime] = mapped_column(UtcDateTime, default=utcnow)
    # The client_id whose push wrote this version and was answered with it (None: written
    # by the server, an admin or a rule): a pull with `skip_own` leaves it out for them.
    origin: Mapped[str | None] = mapped_column(String(36))

    __table_args__ = (
        Index("ux_sync_records_rev", "tenant_id", "rev", unique=True),
        Index("ix_sync_records_student", "tenant_id", "student_id", "rev"),
        Index("ix_sync_records_instructor", "tenant_id", "instructor_id", "rev"),
        Index("ix_sync_records_user", "tenant_id", "user_id", "rev"),
    )


class MutationResult(Base):
    """The stored result of one processed mutation of one device, replayed verbatim (with
    `duplicate: true`) when the device resends it."""

    __tablename__ = "mutation_results"

    tenant_id: Mapped[str] = mapped_column(id_type(), primary_key=True)
    device_id: Mapped[str] = mapped_column(id_type(), primary_key=True)
    seq: Mapped[int] = mapped_column(RevInt, primary_key=True)
    result: Mapped[dict[str, Any]] = mapped_column(JsonDoc)
    created_at: Mapped[dt.datetime] = mapped_column(UtcDateTime, default=utcnow)


class JournalEntry(Base):
    """The journal of everything a push did not apply as sent: rejected mutations,
    conflicts (both versions kept) and fields that lost last-writer-wins. Admins list,
    resolve and replay entries; nothing a client sent is silently lost."""

    __tablename__ = "conflicts"

    tenant_id: Mapped[str] = mapped_column(id_type(), ForeignKey("tenants.id"), primary_key=True)
    id: Mapped[str] = mapped_column(id_type(), primary_key=True)
    kind: Mapped[str] = mapped_column(String(16))
    status: Mapped[str] = mapped_column(String(16), default="open")
    user_id: Mapped[str] = mapped_column(id_type())
    client_id: Mapped[str] = mapped_column(id_type())
    seq: Mapped[int] = mapped_column(RevInt)
    entity: Mapped[str] = mapped_column(String(32))
    record_id: Mapped[str] = mapped_column(String(100))
    mutation: Mapped[dict[str, Any]] = mapped_column(JsonDoc)
    code: Mapped[str | None] = mapped_column(String(64))
    message: Mapped[str | None] = mapped_column(Text)
    record: Mapped[dict[str, Any] | None] = mapped_column(JsonDoc)
    loser: Mapped[dict[str, Any] | None] = mapped_column(JsonDoc)
    base: Mapped[dict[str, Any] | None] = mapped_column(JsonDoc)
    rev: Mapped[int | None] = mapped_column(RevInt)
    received_at: Mapped[dt.datetime] = mapped_column(UtcDateTime, default=utcnow)
    resolved_by: Mapped[str | None] = mapped_column(id_type())
    resolved_at: Mapped[dt.datetime | None] = mapped_column(UtcDateTime)
    resolution: Mapped[dict[str, Any] | None] = mapped_column(JsonDoc)

    __table_args__ = (
        CheckConstraint("kind IN ('rejected', 'conflict', 'lost_field')", name="kind"),
        CheckConstraint("status IN ('open', 'resolved', 'replayed', 'dismissed')", name="status"),
        Index("ix_conflicts_open", "status", "tenant_id", "received_at"),
    )


class ScopeSnapshot(Base):
    """The members of a scope (students and instructors a user could see) under its
    fingerprint. A cursor carries only the fingerprint; when the user's scope has changed
    since, the pull diffs the snapshot against the current scope."""

    __tablename__ = "scope_snapshots"

    tenant_id: Mapped[str] = mapped_column(id_type(), ForeignKey("tenants.id"), primary_key=True)
    fingerprint: Mapped[str] = mapped_column(String(64), primary_key=True)
    student_ids: Mapped[list[str]] = mapped_column(JsonDoc)
    instructor_ids: Mapped[list[str]] = mapped_column(JsonDoc)
    created_at: Mapped[dt.datetime] = mapped_column(UtcDateTime, default=utcnow)


class AuditEntry(Base):
    """Who changed what, when: one row per committed change (sync or admin)."""

    __tablename__ = "audit_log"

    tenant_id: Mapped[str] = mapped_column(id_type(), ForeignKey("tenants.id"), primary_key=True)
    id: Mapped[str] = mapped_column(id_type(), primary_key=True)
    at: Mapped[dt.datetime] = mapped_column(UtcDateTime, default=utcnow)
    user_id: Mapped[str | None] = mapped_column(id_type())
    action: Mapped[str] = mapped_column(String(32))
    entity: Mapped[str | None] = mapped_column(String(32))
    record_id: Mapped[str | None] = mapped_column(String(100))
    rev: Mapped[int | None] = mapped_column(RevInt)
    details: Mapped[dict[str, Any]] = mapped_column(JsonDoc, default=dict)

    __table_args__ = (
        Index("ix_audit_log_record", "record_id", "entity", "tenant_id"),
        # The admins' viewer reads a school's newest lines first (sync.audit_log): a range
        # of one school, so the school leads, as in the change index.
        Index("ix_audit_log_at", "tenant_id", "at"),
    )
