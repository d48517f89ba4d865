"""Last-writer-wins entities (lesson, lesson_note, trip, availability): authorization against
the scope, create / patch / delete, field clocks, the note body merge, the lesson state
machine, and the side effects they cause. What differs between these entities is read from
their registry entries (sync.core.entities), not from their names."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from schemas import NoteRevision
from sync.core.command import Command, Outcome, Reject
from sync.core.entities import EntitySpec, dependents
from sync.core.policy import (
    delete_beats_edits,
    edit_beats_delete,
    lesson_move_ok,
    lww,
    merge_note_body,
)
from sync.rules.batch import Context, load_row
from sync.rules.booking_follow import booking_follows
from sync.tables import table_of

LESSON_STATUSES = frozenset({"scheduled", "in_progress", "completed", "no_show", "cancelled"})


def check_visible(ctx: Context, spec: EntitySpec, row: Any) -> None:
    """The writer must be able to see the record they write (its current and new state),
    and an instructor writes only their own diary."""
    if not ctx.scope.sees(spec.name, *spec.keys.of(row)):
        raise Reject("forbidden", f"this {spec.name} is outside your scope")
    if ctx.who.role == "instructor" and spec.instructor_owned:
        if row.instructor_id != ctx.who.instructor_id:
            raise Reject(
                "forbidden", f"this {spec.name} belongs to another instructor", "instructor_id"
            )


def check_nulls(spec: EntitySpec, data: dict[str, Any]) -> None:
    """An explicit null for a column that cannot be null is invalid."""
    cols = table_of(spec.name).__table__.c
    for name, value in data.items():
        if value is None and name in cols and not cols[name].nullable:
            raise Reject("invalid", f"{name} cannot be null", name)


def check_order(spec: EntitySpec, values: dict[str, Any]) -> None:
    """Pairs of fields the entity orders (start before end) must be in order when a record
    is created (patches are last-writer-wins per field and are not re-checked)."""
    for first, second in spec.after:
        a, b = values.get(first), values.get(second)
        if a is not None and b is not None and b <= a:
            raise Reject("invalid", f"{second} must be after {first}", second)


async def resolve_refs(ctx: Context, spec: EntitySpec, values: dict[str, Any]) -> None:
    """The records a new record names must exist in the school (clean errors rather than
    foreign-key failures); fields copied from a parent are filled in."""
    for ref in spec.refs:
        if ref.many is not None or values.get(ref.field) is None:
            continue
        parent = await load_row(ctx, ref.entity, values[ref.field])
        if parent is None or parent.deleted:
            raise Reject("not_found", f"{ref.field} names no {ref.entity}", ref.field)
        for target, source in ref.copy:
            values[target] = getattr(parent, source)


async def apply_lww(ctx: Context, m: Command) -> Outcome:
    """Create, patch or delete a record with field-level last-writer-wins."""
    spec = m.spec
    row = await load_row(ctx, spec.name, m.id)
    if m.op == "delete":
        return _delete(ctx, m, row)
    check_nulls(spec, m.data)
    if row is None:
        if m.op == "patch":
            raise Reject("not_found", f"no {spec.name} with this id to patch", "id")
        return await _create(ctx, m)
    if row.deleted and not edit_beats_delete(m.hlc, row.deleted_hlc):
        raise Reject("deleted", f"this {spec.name} was deleted after your edit was made")
    check_visible(ctx, spec, row)
    data = dict(m.data)
    for ref in spec.refs:
        if ref.copy and ref.field in data and data[ref.field] != getattr(row, ref.field):
            raise Reject("invalid", f"{ref.field} cannot change", ref.field)
    key = spec.reach_key
    if key is not None and key in data and data[key] != getattr(row, key):
        raise Reject(
            "cannot_move",
            f"a {spec.name} cannot move to another {key.removesuffix('_id')}: delete it and"
            " create one for the other",
            key,
        )
    status = "applied"
    loser: dict[str, Any] | None = None
    text = spec.merged_text
    if text is not None and text in data:
        incoming = data.pop(text)
        decided = await _merge_text(ctx, m, row, text, incoming)
        if decided is None:
            data[text] = incoming  # no base to merge against: plain last-writer-wins
        else:
            status, merged, loser = decided
            if merged is not None:
                data[text] = merged
    merge = lww(data, m.hlc, row.field_hlc or {})
    # The merged text was decided by the three-way merge above, not by clocks.
    if text is not None and text in data and text in merge.lost:
        merge.apply[text] = merge.lost.pop(text)
        merge.clocks[text] = m.hlc
    state = spec.state_field
    if state is not None and state in merge.apply:
        if not lesson_move_ok(getattr(row, state), merge.apply[state]):
            raise Reject(
                "invalid_transition",
                f"a {spec.name} cannot move from {getattr(row, state)} to {merge.apply[state]}",
                state,
            )
    before = {k: getattr(row, k) for k in merge.apply}
    for name, value in merge.apply.items():
        setattr(row, name, value)
    resurrected = bool(row.deleted)
    if resurrected:
        row.deleted = False
        row.deleted_hlc = None
    row.field_hlc = merge.clocks
    check_visible(ctx, spec, row)
    changed = resurrected or any(before[k] != getattr(row, k) for k in before)
    rev = row.rev
    if changed:
        rev = ctx.stamp(spec.name, row)
        await after_write(ctx, spec, row, before)
    if merge.lost and status == "applied":
        status = "merged"
    return Outcome(
        status,  # type: ignore[arg-type]
        rev,
        row,
        loser=loser,
        lost=merge.lost or None,
        include_record=status != "applied",
    )


async def _create(ctx: Context, m: Command) -> Outcome:
    spec = m.spec
    values = {**spec.defaults, **m.data}
    if spec.name == "availability":  # an instructor's own slot needs no instructor_id
        values.setdefault("instructor_id", ctx.who.instructor_id)
    missing = sorted(f for f in (*spec.required, *_ref_fields(spec)) if values.get(f) is None)
    if missing:
        raise Reject("invalid", f"{missing[0]} is required to create a {spec.name}", missing[0])
    await resolve_refs(ctx, spec, values)
    if spec.state_field is not None and values[spec.state_field] not in LESSON_STATUSES:
        raise Reject("invalid", "unknown status", spec.state_field)
    check_order(spec, values)
    row = table_of(spec.name)(
        tenant_id=ctx.txn.tenant_id, id=m.id, created_by=ctx.who.user_id, **values
    )
    row.field_hlc = {name: m.hlc for name in m.data}
    row.deleted = False
    check_visible(ctx, spec, row)
    rev = ctx.stamp(spec.name, row)
    await after_write(ctx, spec, row, {})
    return Outcome("applied", rev, row)


def _ref_fields(spec: EntitySpec) -> tuple[str, ...]:
    """References a new record of an LWW entity must carry (its parents)."""
    return tuple(r.field for r in spec.refs if r.many is None)


def _delete(ctx: Context, m: Command, row: Any) -> Outcome:
    if row is None:
        raise Reject("not_found", f"no {m.spec.name} with this id to delete", "id")
    if row.deleted:
        return Outcome("applied", row.rev, include_record=False)
    check_visible(ctx, m.spec, row)
    if not delete_beats_edits(m.hlc, row.field_hlc or {}):
        return Outcome("merged", row.rev, row, lost={"deleted": True})
    row.deleted = True
    row.deleted_hlc = m.hlc
    rev = ctx.stamp(m.spec.name, row)
    return Outcome("applied", rev, include_record=False)


async def _merge_text(
    ctx: Context, m: Command, row: Any, text: str, incoming: str
) -> tuple[str, str | None, dict[str, Any] | None] | None:
    """Decide a merged text field: (status, text to store or None, loser) or None for
    plain last-writer-wins (no base revision to merge against)."""
    if m.base_rev is None or m.base_rev >= row.rev:
        return None
    base = await ctx.session.scalar(
        select(NoteRevision.body)
        .where(NoteRevision.note_id == row.id, NoteRevision.rev <= m.base_rev)
        .order_by(NoteRevision.rev.desc())
        .limit(1)
    )
    outcome = merge_note_body(base, getattr(row, text), incoming)
    if outcome.conflict:
        return "conflict", None, {text: incoming}
    if outcome.body is None:
        return "applied", None, None
    return ("merged" if outcome.merged else "applied"), outcome.body, None


async def after_write(ctx: Context, spec: EntitySpec, row: Any, before: dict[str, Any]) -> None:
    """History and side effects of a committed field change."""
    text = spec.merged_text
    if text is not None and (not before or before.get(text, getattr(row, text)) != row.body):
        # Only notes merge text; their history is what a later merge's base comes from.
        # Written with the batch's bookkeeping rows (one multi-row INSERT after the flush
        # that inserts the note); a later merge's base is always a rev from before the batch.
        ctx.deferred.append(
            (
                NoteRevision,
                {
                    "tenant_id": ctx.txn.tenant_id,
                    "note_id": row.id,
                    "rev": row.rev,
                    "body": row.body,
                },
            )
        )
    state = spec.state_field
    if state is not None and state in before and before[state] != getattr(row, state):
        await _lesson_moved(ctx, row)
    changed = {k for k, v in before.items() if v != getattr(row, k)}
    if changed:
        await _carry(ctx, spec, row, changed)


async def _carry(ctx: Context, spec: EntitySpec, row: Any, changed: set[str]) -> None:
    """Fields children copied from this record follow it when they change (a lesson given
    to another instructor takes its trip along). Never a reach key (see
    EntitySpec.reach_key), so the children's readers stay the same."""
    for child_spec, ref in dependents(spec.name):
        pairs = [(target, source) for target, source in ref.copy if source in changed]
        if not pairs:
            continue
        table = table_of(child_spec.name)
        children = await ctx.session.scalars(
            select(table).where(getattr(table, ref.field) == row.id)
        )
        for child in children:
            moved = {t for t, s in pairs if getattr(child, t) != getattr(row, s)}
            if not moved:
                continue
            for target, source in pairs:
                setattr(child, target, getattr(row, source))
            ctx.stamp(child_spec.name, child)
            await _carry(ctx, child_spec, child, moved)


async def _lesson_moved(ctx: Context, row: Any) -> None:
    """A lesson's status changed: tell the student it is done, and carry its booking along."""
    if row.status == "completed":
        ctx.emit(
            "lesson_completed",
            {"lesson_id": row.id, "student_id": row.student_id},
            f"lesson_completed:{row.id}",
        )
    if row.booking_id and row.status in ("completed", "cancelled"):
        booking = await load_row(ctx, "booking", row.booking_id)
        target = "completed" if row.status == "completed" else "cancelled"
        if booking is not None and booking.status == "confirmed":
            # The lesson's status stamp is when the change was made (staff: never a fee).
            await booking_follows(ctx, booking, target, (row.field_hlc or {}).get("status"))
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
