"""Applying one mutation of a last-writer-wins entity (lesson, lesson_note, trip,
availability): authorization against the scope, create / patch / delete, field clocks,
the note body merge, and the side effects they cause."""

from __future__ import annotations

from typing import Any

from sqlalchemy import inspect, select

from schemas import Lesson, LessonNote, NoteRevision
from sync.entities import ENTITIES, scope_keys
from sync.mutation import Context, Mutation, Outcome, Reject
from sync.policy import (
    delete_beats_edits,
    edit_beats_delete,
    lesson_move_ok,
    lww,
    merge_note_body,
)
from sync.tables import table_of


async def load_row(ctx: Context, table: Any, rid: str) -> Any:
    """The current row of a record (tombstones included), or None.

    A push preloads its mutations' targets in one query per entity (`preload_targets`); the
    first look at each target takes that answer instead of a round trip. Later looks query
    again, so what earlier mutations of the batch did is always seen."""
    hit = ctx.preloaded.pop((table, rid), _UNSET)
    if hit is None:
        return None  # absent when the batch began, and nothing has looked it up since
    if hit is not _UNSET:
        state = inspect(hit)
        if state.persistent and not state.expired_attributes:
            return hit
    return await ctx.session.scalar(select(table).where(table.id == rid))


_UNSET: Any = object()


async def preload_targets(ctx: Context, raws: list[dict[str, Any]]) -> None:
    """Load the rows a batch of raw mutations targets, one query per entity and 1,000 ids,
    into `ctx.preloaded` (None for ids with no row yet). Malformed mutations are left for
    `parse_mutation` to reject."""
    wanted: dict[str, set[str]] = {}
    for raw in raws:
        entity, rid = raw.get("entity"), raw.get("id")
        if isinstance(entity, str) and entity in ENTITIES and isinstance(rid, str):
            if len(rid) == 36:
                wanted.setdefault(entity, set()).add(rid)
    for entity, ids in wanted.items():
        table = table_of(entity)
        ordered = sorted(ids)
        for start in range(0, len(ordered), 1000):
            chunk = ordered[start : start + 1000]
            found = {
                row.id: row
                for row in await ctx.session.scalars(select(table).where(table.id.in_(chunk)))
            }
            for rid in chunk:
                ctx.preloaded[(table, rid)] = found.get(rid)


def check_visible(ctx: Context, entity: str, row: Any) -> None:
    """The writer must be able to see the record they write (its current and new state)."""
    student_id, instructor_id, private = scope_keys(entity, row)
    if not ctx.scope.sees(entity, student_id, instructor_id, private):
        raise Reject("forbidden", f"this {entity} is outside your scope")
    if ctx.who.role == "instructor" and entity in ("lesson", "availability", "booking"):
        if row.instructor_id != ctx.who.instructor_id:
            raise Reject(
                "forbidden", f"this {entity} belongs to another instructor", "instructor_id"
            )


def check_nulls(spec_table: Any, data: dict[str, Any]) -> None:
    """An explicit null for a column that cannot be null is invalid."""
    cols = spec_table.__table__.c
    for name, value in data.items():
        if value is None and name in cols and not cols[name].nullable:
            raise Reject("invalid", f"{name} cannot be null", name)


async def _derive_parent(ctx: Context, m: Mutation, values: dict[str, Any]) -> None:
    """Fill fields copied from a parent: a note's and a trip's student from their lesson."""
    entity = m.spec.name
    if entity in ("lesson_note", "trip") and "lesson_id" in values:
        lesson = await load_row(ctx, Lesson, values["lesson_id"])
        if lesson is None or lesson.deleted:
            raise Reject("not_found", "lesson_id names no lesson", "lesson_id")
        values["student_id"] = lesson.student_id
        if entity == "trip":
            values["instructor_id"] = lesson.instructor_id


async def apply_lww(ctx: Context, m: Mutation) -> Outcome:
    """Create, patch or delete a record with field-level last-writer-wins."""
    table = table_of(m.spec.name)
    row = await load_row(ctx, table, m.id)
    if m.op == "delete":
        return await _delete(ctx, m, row)
    check_nulls(table, m.data)
    if row is None:
        if m.op == "patch":
            raise Reject("not_found", f"no {m.spec.name} with this id to patch", "id")
        return await _create(ctx, m)
    if row.deleted and not edit_beats_delete(m.hlc, row.deleted_hlc):
        raise Reject("deleted", f"this {m.spec.name} was deleted after your edit was made")
    check_visible(ctx, m.spec.name, row)
    data = dict(m.data)
    if "lesson_id" in data and data["lesson_id"] != getattr(row, "lesson_id", None):
        raise Reject("invalid", "lesson_id cannot change", "lesson_id")
    outcome_status = "applied"
    conflict_loser: dict[str, Any] | None = None
    if m.spec.name == "lesson_note" and "body" in data:
        incoming = data.pop("body")
        body_outcome = await _note_body(ctx, m, row, incoming)
        if body_outcome is None:
            data["body"] = incoming  # no base to merge against: plain last-writer-wins
        else:
            status, body, loser = body_outcome
            if body is not None:
                data["body"] = body
            if status != "applied":
                outcome_status = status
                conflict_loser = loser
    merge = lww(data, m.hlc, row.field_hlc or {})
    # The note body was decided by the merge above, not by clocks.
    if m.spec.name == "lesson_note" and "body" in data and "body" in merge.lost:
        merge.apply["body"] = merge.lost.pop("body")
        merge.clocks["body"] = m.hlc
    if m.spec.name == "lesson" and "status" in merge.apply:
        if not lesson_move_ok(row.status, merge.apply["status"]):
            raise Reject(
                "invalid_transition",
                f"a lesson cannot move from {row.status} to {merge.apply['status']}",
                "status",
            )
    before = {k: getattr(row, k) for k in merge.apply}
    for name, value in merge.apply.items():
        setattr(row, name, value)
    resurrected = bool(row.deleted)
    if resurrected:
        row.deleted = False
        row.deleted_hlc = None
    row.field_hlc = merge.clocks
    check_visible(ctx, m.spec.name, row)
    changed = resurrected or any(before[k] != getattr(row, k) for k in before)
    rev = row.rev
    if changed:
        rev = ctx.txn.stamp(m.spec.name, row)
        await after_write(ctx, m.spec.name, row, before)
    if merge.lost and outcome_status == "applied":
        outcome_status = "merged"
    return Outcome(
        outcome_status,
        rev,
        loser=conflict_loser,
        lost=merge.lost or None,
        include_record=outcome_status != "applied",
    )


async def _create(ctx: Context, m: Mutation) -> Outcome:
    values = dict(m.data)
    missing = sorted(f for f in m.spec.required if values.get(f) is None)
    if missing:
        raise Reject("invalid", f"{missing[0]} is required to create a {m.spec.name}", missing[0])
    await _derive_parent(ctx, m, values)
    if m.spec.name == "lesson":
        values.setdefault("status", "scheduled")
        if values["status"] not in (
            "scheduled",
            "in_progress",
            "completed",
            "no_show",
            "cancelled",
        ):
            raise Reject("invalid", "unknown status", "status")
        if values["scheduled_end"] <= values["scheduled_start"]:
            raise Reject("invalid", "scheduled_end must be after scheduled_start", "scheduled_end")
    if m.spec.name == "availability":
        values.setdefault("instructor_id", ctx.who.instructor_id)
        if values.get("instructor_id") is None:
            raise Reject("invalid", "instructor_id is required", "instructor_id")
        if values["end_time"] <= values["start_time"]:
            raise Reject("invalid", "end_time must be after start_time", "end_time")
    if m.spec.name == "lesson_note":
        values.setdefault("body", "")
        values.setdefault("private", False)
        values.setdefault("tags", [])
    row = table_of(m.spec.name)(
        tenant_id=ctx.txn.tenant_id, id=m.id, created_by=ctx.who.user_id, **values
    )
    row.field_hlc = {name: m.hlc for name in m.data}
    row.deleted = False
    check_visible(ctx, m.spec.name, row)
    await _check_refs(ctx, m.spec.name, row)
    rev = ctx.txn.stamp(m.spec.name, row)
    await after_write(ctx, m.spec.name, row, {})
    return Outcome("applied", rev)


async def _check_refs(ctx: Context, entity: str, row: Any) -> None:
    """Referenced records must exist in the school (clean errors rather than FK failures)."""
    from schemas import Instructor, Student

    refs = {
        "lesson": (("student_id", Student), ("instructor_id", Instructor)),
        "availability": (("instructor_id", Instructor),),
    }.get(entity, ())
    for name, table in refs:
        target = await load_row(ctx, table, getattr(row, name))
        if target is None or target.deleted:
            raise Reject("not_found", f"{name} names no {table.__tablename__[:-1]}", name)


async def _delete(ctx: Context, m: Mutation, row: Any) -> Outcome:
    if row is None:
        raise Reject("not_found", f"no {m.spec.name} with this id to delete", "id")
    if row.deleted:
        return Outcome("applied", row.rev, include_record=False)
    check_visible(ctx, m.spec.name, row)
    if not delete_beats_edits(m.hlc, row.field_hlc or {}):
        return Outcome("merged", row.rev, lost={"deleted": True})
    row.deleted = True
    row.deleted_hlc = m.hlc
    rev = ctx.txn.stamp(m.spec.name, row)
    return Outcome("applied", rev, include_record=False)


async def _note_body(
    ctx: Context, m: Mutation, row: LessonNote, incoming: str
) -> tuple[str, str | None, dict[str, Any] | None] | None:
    """Decide a note's body: (status, body to store or None, loser) or None for plain LWW."""
    if m.base_rev is None or m.base_rev >= row.rev:
        return None
    base = await ctx.session.scalar(
        select(NoteRevision.body)
        .where(NoteRevision.note_id == row.id, NoteRevision.rev <= m.base_rev)
        .order_by(NoteRevision.rev.desc())
        .limit(1)
    )
    outcome = merge_note_body(base, row.body, incoming)
    if outcome.conflict:
        return "conflict", None, {"body": incoming}
    if outcome.body is None:
        return "applied", None, None
    return ("merged" if outcome.merged else "applied"), outcome.body, None


async def after_write(ctx: Context, entity: str, row: Any, before: dict[str, Any]) -> None:
    """History and side effects of a committed field change."""
    if entity == "lesson_note" and (not before or before.get("body", row.body) != row.body):
        ctx.session.add(
            NoteRevision(tenant_id=ctx.txn.tenant_id, note_id=row.id, rev=row.rev, body=row.body)
        )
    if entity == "lesson" and "status" in before and before["status"] != row.status:
        if row.status == "completed":
            ctx.emit(
                "lesson_completed",
                {"lesson_id": row.id, "student_id": row.student_id},
                f"lesson_completed:{row.id}",
            )
        if row.booking_id and row.status in ("completed", "cancelled"):
            from schemas import Booking

            booking = await load_row(ctx, Booking, row.booking_id)
            target = "completed" if row.status == "completed" else "cancelled"
            if booking is not None and booking.status == "confirmed":
                booking.status = target
                ctx.txn.stamp("booking", booking)
                if target == "cancelled":  # told like any cancellation of the booking
                    payload = {
                        "booking_id": booking.id,
                        "student_id": booking.student_id,
                        "instructor_id": booking.instructor_id,
                        "status": "cancelled",
                        "by": ctx.who.role,
                    }
                    dedupe = f"booking_cancelled:{booking.id}:{booking.rev}"
                    ctx.emit("booking_cancelled", payload, dedupe)
