"""What school admins do to the sync state: reassign a student and let a student leave
(both through sync.assignments, shared with pushed people records), review the journal
(list, resolve conflicts, replay rejected mutations) and see devices' health."""

from __future__ import annotations

from typing import Any, get_args

from sqlalchemy import func, select, update

from schemas import Device, Instructor, JournalEntry, LessonNote, Student, Tenant, TenantRev
from schemas.response import JournalEntryBody, JournalKind
from schemas.wire import SchoolInfo
from sync import assignments, money_reports
from sync.access import load_scope, principal_for
from sync.assignments import server_hlc
from sync.audit_log import AuditQuery, read_page
from sync.core.command import Reject
from sync.core.principal import Principal
from sync.errors import Invalid, NotFound
from sync.push import PushService
from sync.records import wire_value
from sync.store import Store

# The journal's filter values, as published in its response model.
JOURNAL_KINDS = frozenset(get_args(JournalKind))
JOURNAL_STATUSES = frozenset(get_args(JournalEntryBody.model_fields["status"].annotation))


def _entry(row: JournalEntry) -> dict[str, Any]:
    return {
        "id": row.id,
        "kind": row.kind,
        "status": row.status,
        "user_id": row.user_id,
        "client_id": row.client_id,
        "seq": row.seq,
        "entity": row.entity,
        "record_id": row.record_id,
        "code": row.code,
        "message": row.message,
        "mutation": row.mutation,
        "record": row.record,
        "loser": row.loser,
        "base": row.base,
        "rev": row.rev,
        "received_at": wire_value(row.received_at),
        "resolved_by": row.resolved_by,
        "resolved_at": wire_value(row.resolved_at),
        "resolution": row.resolution,
    }


def audit(
    txn: Any, who: Principal, action: str, entity: str, record_id: str, details: dict[str, Any]
) -> None:
    """One audit-log line for an admin action, in the action's transaction."""
    import uuid

    from schemas import AuditEntry

    txn.session.add(
        AuditEntry(
            tenant_id=who.tenant_id,
            id=str(uuid.uuid4()),
            at=txn.now,
            user_id=who.user_id,
            action=action,
            entity=entity,
            record_id=record_id,
            rev=txn.rev,
            details=details,
        )
    )


# School settings an admin may change. Timezone and currency are fixed once a school has
# data: availability records carry the timezone and prices the currency, so changing either
# would mean re-stamping them (not built).
SCHOOL_EDITABLE = (
    "name",
    "locale",
    "brand_color",
    "logo_url",
    "pass_mark",
    "pass_total",
    "platform_fee_bps",
    "cancel_cutoff_hours",
    "late_fee_cents",
)
# What admins read: what every device gets with its tokens, plus the platform fee.
SCHOOL_FIELDS = (*SchoolInfo.model_fields, "platform_fee_bps")


class AdminService:
    """Admin operations; every method takes the acting admin's principal."""

    def __init__(self, store: Store, push: PushService) -> None:
        self.store = store
        self.push = push

    async def school(self, who: Principal) -> dict[str, Any]:
        async with self.store.read(who.tenant_id) as s:
            tenant = await s.scalar(select(Tenant).where(Tenant.id == who.tenant_id))
            assert tenant is not None
            return {name: getattr(tenant, name) for name in SCHOOL_FIELDS}

    async def update_school(self, who: Principal, changes: dict[str, Any]) -> dict[str, Any]:
        """Change school settings (names in SCHOOL_EDITABLE). Devices learn of them with
        their next token refresh; mock tests are scored with the mark in force when they
        arrive."""
        async with self.store.write(who.tenant_id) as txn:
            tenant = await txn.session.scalar(select(Tenant).where(Tenant.id == who.tenant_id))
            assert tenant is not None
            mark = changes.get("pass_mark", tenant.pass_mark)
            total = changes.get("pass_total", tenant.pass_total)
            if mark > total:
                field = "pass_mark" if "pass_mark" in changes else "pass_total"
                raise Invalid(
                    f"the pass mark ({mark}) cannot exceed the number of questions ({total})",
                    {"field": field},
                )
            before = {name: getattr(tenant, name) for name in changes}
            for name, value in changes.items():
                setattr(tenant, name, value)
            if changes:
                audit(
                    txn, who, "admin.school", "tenant", tenant.id, {"from": before, "to": changes}
                )
            return {name: getattr(tenant, name) for name in SCHOOL_FIELDS}

    async def assign(
        self, who: Principal, student_id: str, instructor_ids: list[str], primary: str | None = None
    ) -> dict[str, Any]:
        """Replace a student's instructors. The next pull of an instructor who lost the
        student deletes the student's records; one who gained them receives them. The same
        writes as a pushed `student_instructor` (sync.assignments)."""
        async with self.store.write(who.tenant_id) as txn:
            s = txn.session
            student = await s.scalar(select(Student).where(Student.id == student_id))
            if student is None or student.deleted:
                raise NotFound("no such student")
            found = set(
                await s.scalars(
                    select(Instructor.id).where(
                        Instructor.id.in_(instructor_ids),
                        Instructor.deleted.is_(False),
                        Instructor.active.is_(True),
                    )
                )
            )
            missing = sorted(set(instructor_ids) - found)
            if missing:
                raise Invalid(f"no active instructor {missing[0]}", {"field": "instructor_ids"})
            before = await assignments.replace(
                txn, student_id, instructor_ids, primary, who.user_id
            )
            audit(
                txn,
                who,
                "admin.assign",
                "student",
                student_id,
                {"from": sorted(before), "to": sorted(set(instructor_ids))},
            )
        return {
            "student_id": student_id,
            "instructor_ids": sorted(set(instructor_ids)),
            "rev": txn.rev,
        }

    async def student_leaves(self, who: Principal, student_id: str) -> dict[str, Any]:
        """A student leaves the school: their records leave every replica on its next pull,
        and their devices are signed out (sync.assignments.student_leaves). Rows stay in
        the database (legal retention of lesson and payment records)."""
        async with self.store.write(who.tenant_id) as txn:
            student = await txn.session.scalar(select(Student).where(Student.id == student_id))
            if student is None:
                raise NotFound("no such student")
            removed = await assignments.student_leaves(txn, student)
            audit(txn, who, "admin.leave", "student", student_id, {"records": removed})
        return {"student_id": student_id, "records_removed": removed, "rev": txn.rev}

    async def journal(
        self,
        who: Principal,
        kind: str | None,
        status: str | None,
        limit: int = 100,
        before: str | None = None,
    ) -> dict[str, Any]:
        """Journal entries, newest first."""
        async with self.store.read(who.tenant_id) as s:
            q = select(JournalEntry).order_by(
                JournalEntry.received_at.desc(), JournalEntry.id.desc()
            )
            if kind:
                q = q.where(JournalEntry.kind == kind)
            if status:
                q = q.where(JournalEntry.status == status)
            rows = list(await s.scalars(q.limit(min(max(limit, 1), 500))))
            counts = dict(
                (
                    await s.execute(
                        select(JournalEntry.kind, func.count())
                        .where(JournalEntry.status == "open")
                        .group_by(JournalEntry.kind)
                    )
                ).all()
            )
        return {"entries": [_entry(r) for r in rows], "open": counts}

    async def audit(self, who: Principal, query: AuditQuery) -> dict[str, Any]:
        """A page of the audit log (sync.audit_log), newest first."""
        async with self.store.read(who.tenant_id) as s:
            timezone = await s.scalar(select(Tenant.timezone).where(Tenant.id == who.tenant_id))
            return await read_page(s, query, timezone or "UTC")

    async def money(self, who: Principal, query: money_reports.MoneyQuery) -> dict[str, Any]:
        """A page of one money report (sync.money_reports), newest first."""
        async with self.store.read(who.tenant_id) as s:
            timezone = await s.scalar(select(Tenant.timezone).where(Tenant.id == who.tenant_id))
            return await money_reports.read_page(s, query, who.tenant_id, timezone or "UTC")

    async def money_csv(self, who: Principal, query: money_reports.MoneyQuery) -> str:
        """Every row of one money report the filters match, as CSV text."""
        async with self.store.read(who.tenant_id) as s:
            timezone = await s.scalar(select(Tenant.timezone).where(Tenant.id == who.tenant_id))
            return await money_reports.export_csv(s, query, who.tenant_id, timezone or "UTC")

    async def entry(self, who: Principal, entry_id: str) -> dict[str, Any]:
        async with self.store.read(who.tenant_id) as s:
            row = await s.scalar(select(JournalEntry).where(JournalEntry.id == entry_id))
            if row is None:
                raise NotFound("no such journal entry")
            return _entry(row)

    async def resolve(
        self, who: Principal, entry_id: str, keep: str, text: str | None
    ) -> dict[str, Any]:
        """Resolve a conflict: keep the server's version, the client's, or a new text."""
        if keep not in ("server", "client", "text"):
            raise Invalid("keep must be server, client or text", {"field": "keep"})
        async with self.store.write(who.tenant_id) as txn:
            s = txn.session
            row = await s.scalar(select(JournalEntry).where(JournalEntry.id == entry_id))
            if row is None:
                raise NotFound("no such journal entry")
            if row.status != "open":
                raise Invalid(f"this entry is already {row.status}", {"field": "id"})
            rev = None
            if keep != "server":
                if row.entity != "lesson_note":
                    raise Invalid(
                        "only note conflicts take a client or new text", {"field": "keep"}
                    )
                body = text if keep == "text" else (row.loser or {}).get("body")
                if not isinstance(body, str) or len(body) > 20_000:
                    raise Invalid("text must be a string up to 20000 characters", {"field": "text"})
                note = await s.scalar(select(LessonNote).where(LessonNote.id == row.record_id))
                if note is None or note.deleted:
                    raise NotFound("the note no longer exists")
                if note.body != body:
                    from schemas import NoteRevision

                    note.body = body
                    note.field_hlc = {**(note.field_hlc or {}), "body": server_hlc()}
                    rev = txn.stamp("lesson_note", note)
                    s.add(
                        NoteRevision(tenant_id=who.tenant_id, note_id=note.id, rev=rev, body=body)
                    )
            row.status = "resolved"
            row.resolved_by = who.user_id
            row.resolved_at = txn.now
            row.resolution = {"keep": keep, "rev": rev}
            audit(
                txn,
                who,
                "admin.resolve",
                row.entity,
                row.record_id,
                {"entry": entry_id, "keep": keep},
            )
        return {"id": entry_id, "status": "resolved", "keep": keep, "rev": rev}

    async def replay(self, who: Principal, entry_id: str) -> dict[str, Any]:
        """Run a rejected mutation again, as the user who sent it (after a fix such as new
        availability). Applied → the entry is marked replayed; rejected again → it stays open
        and the new reason is returned."""
        async with self.store.read(who.tenant_id) as s:
            row = await s.scalar(select(JournalEntry).where(JournalEntry.id == entry_id))
            if row is None:
                raise NotFound("no such journal entry")
            if row.kind != "rejected" or row.status != "open":
                raise Invalid("only open rejected entries can be replayed", {"field": "id"})
            author = await principal_for(s, who.tenant_id, row.user_id)
            mutation = dict(row.mutation)
        result = await self.push.apply_detached(author, row.client_id, mutation)
        if result["status"] != "rejected":
            async with self.store.write(who.tenant_id) as txn:
                await txn.session.execute(
                    update(JournalEntry)
                    .where(JournalEntry.id == entry_id)
                    .values(
                        status="replayed",
                        resolved_by=who.user_id,
                        resolved_at=txn.now,
                        resolution={"result": result},
                    )
                )
        return {"id": entry_id, "result": result}

    async def devices(self, who: Principal) -> dict[str, Any]:
        """Every device's sync health: last seen, acked seq, pending, lag in revs."""
        async with self.store.read(who.tenant_id) as s:
            head = await s.scalar(select(TenantRev.rev)) or 0
            rows = list(await s.scalars(select(Device).order_by(Device.last_seen_at.desc())))
        return {
            "rev": head,
            "devices": [
                {
                    "id": d.id,
                    "user_id": d.user_id,
                    "client_id": d.client_id,
                    "platform": d.platform,
                    "app_version": d.app_version,
                    "acked_seq": d.acked_seq,
                    "pending": d.pending,
                    "last_pull_rev": d.last_pull_rev,
                    "lag_revs": head - d.last_pull_rev if d.last_pull_rev is not None else None,
                    "last_seen_at": wire_value(d.last_seen_at),
                    "last_push_at": wire_value(d.last_push_at),
                    "clock_skew_ms": d.skew_ms,
                }
                for d in rows
            ],
        }

    async def scope_of(self, who: Principal) -> Any:
        async with self.store.read(who.tenant_id) as s:
            return await load_scope(s, who)


__all__ = ["AdminService", "Reject"]
