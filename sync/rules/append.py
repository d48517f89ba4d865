"""Append-only entities (skill assessments, trip segments, theory attempts) and the
put-once mock test, with the derived records they update: student progress, trip distance
and duration, theory correctness, mock-test score and pass.

Derived records are kept cheap per batch: a trip's segment indexes and end points are read
once per batch (`TripState`) and extended in memory as segments arrive in order; progress is
recomputed once per student at the end of the batch (`finish_batch`), in three queries
whatever the number of assessments."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select

from schemas import Skill, SkillAssessment, StudentProgress, TheoryQuestion, Trip, TripSegment
from sync.core.command import Command, Outcome, Reject
from sync.core.derive import Assessed, extend_totals, progress, score_mock, trip_totals
from sync.core.entities import ENTITIES
from sync.core.geo import validate_point
from sync.core.track import TrackError, decode, is_compact, to_points
from sync.rules.batch import Context, load_row
from sync.rules.lww import check_visible, resolve_refs
from sync.rules.signature import apply_signature
from sync.store import WITHOUT_FRESH
from sync.tables import table_of

PROGRESS_NS = uuid.UUID("0b5a4f0e-7c1e-4f43-9a1d-3b2f6c8d9e10")


def progress_id(student_id: str) -> str:
    """Each student has one progress record with an id derived from theirs."""
    return str(uuid.uuid5(PROGRESS_NS, student_id))


def _same(row: Any, data: dict[str, Any]) -> bool:
    return all(getattr(row, k) == v for k, v in data.items())


async def apply_append(ctx: Context, m: Command) -> Outcome:
    """Put once; a resend of the same content is applied again as a no-op, anything else
    on an existing id is `immutable`."""
    if m.op != "put":
        raise Reject("immutable", f"{m.spec.name} is append-only: only put is allowed", "op")
    existing = await load_row(ctx, m.spec.name, m.id)
    if existing is not None:
        if _same(existing, {k: v for k, v in m.data.items() if k != "answers"}):
            return Outcome("applied", existing.rev, existing)
        raise Reject("immutable", f"this {m.spec.name} exists and cannot change", "id")
    missing = sorted(f for f in m.spec.required if m.data.get(f) is None)
    if missing:
        raise Reject("invalid", f"{missing[0]} is required", missing[0])
    handler = {
        "skill_assessment": _assessment,
        "trip_segment": _segment,
        "theory_attempt": _attempt,
        "mock_test": _mock_test,
        "lesson_signature": apply_signature,
    }[m.spec.name]
    return await handler(ctx, m)


def _added(ctx: Context, m: Command, row: Any) -> Outcome:
    return Outcome("applied", ctx.stamp(m.spec.name, row), row)


def _new(ctx: Context, m: Command, **values: Any) -> Any:
    row = table_of(m.spec.name)(
        tenant_id=ctx.txn.tenant_id, id=m.id, created_by=ctx.who.user_id, **values
    )
    row.field_hlc = {}
    row.deleted = False
    return row


async def _assessment(ctx: Context, m: Command) -> Outcome:
    d = m.data
    values = dict(d)
    await resolve_refs(ctx, m.spec, values)  # the lesson and the skill; student from lesson
    if d.get("student_id") not in (None, values["student_id"]):
        raise Reject("invalid", "student_id must be the lesson's student", "student_id")
    row = _new(
        ctx,
        m,
        lesson_id=values["lesson_id"],
        student_id=values["student_id"],
        skill_id=values["skill_id"],
        level=d["level"],
        comment=d.get("comment"),
        assessed_at=d.get("assessed_at") or ctx.txn.now,
    )
    check_visible(ctx, m.spec, row)
    ctx.progress_due.add(row.student_id)
    return _added(ctx, m, row)


async def finish_batch(ctx: Context) -> None:
    """Recompute what the batch's mutations made stale: each touched student's progress
    (latest level per skill, readiness), from all their assessments."""
    students = sorted(ctx.progress_due)
    ctx.progress_due.clear()
    if not students:
        return
    assessed: dict[str, list[Assessed]] = {s: [] for s in students}
    # The batch's new assessments are not written yet (sync.store.WriteTxn.fresh): the
    # query reads the others, and the new ones are added from memory (no INSERT first).
    rows = await ctx.session.execute(
        select(
            SkillAssessment.student_id,
            SkillAssessment.skill_id,
            SkillAssessment.level,
            SkillAssessment.assessed_at,
            SkillAssessment.rev,
        ).where(SkillAssessment.student_id.in_(students), SkillAssessment.deleted.is_(False)),
        execution_options={WITHOUT_FRESH: True},
    )
    for student_id, skill_id, level, assessed_at, rev in rows:
        assessed[student_id].append(Assessed(skill_id, level, assessed_at, rev))
    for new in ctx.txn.fresh_rows(SkillAssessment):
        if new.student_id in assessed and not new.deleted:
            assessed[new.student_id].append(
                Assessed(new.skill_id, new.level, new.assessed_at, new.rev)
            )
    # Readiness is over the skills taught now: a retired skill counts only for students
    # assessed in it (sync.core.derive.progress keeps every assessed skill).
    skills = list(
        await ctx.session.scalars(select(Skill.id).where(_live("skill"), Skill.active.is_(True)))
    )
    current = {
        row.student_id: row
        for row in await ctx.session.scalars(
            select(StudentProgress).where(StudentProgress.student_id.in_(students))
        )
    }
    for student_id in students:
        levels, readiness = progress(assessed[student_id], skills)
        row = current.get(student_id)
        if row is None:
            row = StudentProgress(
                tenant_id=ctx.txn.tenant_id,
                id=progress_id(student_id),
                student_id=student_id,
                field_hlc={},
                deleted=False,
            )
        elif row.levels == levels and row.readiness_pct == readiness:
            continue
        row.levels = levels
        row.readiness_pct = readiness
        ctx.stamp("student_progress", row)


def _live(entity: str) -> Any:
    return table_of(entity).deleted.is_(False)


@dataclass
class TripState:
    """What adding segments to a trip needs, read once per batch: every index taken, and
    the first live segment's start time and the last live segment's last point."""

    indexes: set[int]
    first: tuple[int, float] | None
    last: tuple[int, list[Any]] | None


async def _trip_state(ctx: Context, trip: Trip) -> TripState:
    state: TripState | None = ctx.trips_due.get(trip.id)
    if state is not None:
        return state
    # Segments of this batch not written yet are of other trips (a trip's state is read
    # before its first new segment, then kept in memory), unless the state was dropped
    # after an out-of-order segment: then they are written first, as for any read.
    options = (
        {WITHOUT_FRESH: True}
        if not any(s.trip_id == trip.id for s in ctx.txn.fresh_rows(TripSegment))
        else {}
    )
    rows = (
        await ctx.session.execute(
            select(TripSegment.index, TripSegment.deleted).where(TripSegment.trip_id == trip.id),
            execution_options=options,
        )
    ).all()
    live = [index for index, deleted in rows if not deleted]
    first = last = None
    if live:
        lo, hi = min(live), max(live)
        ends: dict[int, list[Any]] = dict(
            (
                await ctx.session.execute(
                    select(TripSegment.index, TripSegment.points).where(
                        TripSegment.trip_id == trip.id,
                        TripSegment.deleted.is_(False),
                        TripSegment.index.in_([lo, hi]),
                    ),
                    execution_options=options,
                )
            ).all()
        )
        # Stored rows hold either form (list before schema_version 2, compact since).
        lo_points: list[Any] = to_points(ends[lo])
        hi_points: list[Any] = to_points(ends[hi])
        first = (lo, float(min(p[0] for p in lo_points)))
        last = (hi, max(hi_points, key=lambda p: p[0]))
    state = TripState({index for index, _deleted in rows}, first, last)
    ctx.trips_due[trip.id] = state
    return state


def _checked_points(points: Any) -> list[Any]:
    """The segment's points in the list form, after checking them in depth in the form they
    came in; a fault is `invalid` naming the place (`points[3]`, `points.lat[3]`)."""
    if is_compact(points):
        try:
            return decode(points)
        except TrackError as exc:
            raise Reject("invalid", str(exc), exc.field) from None
    for i, point in enumerate(points):
        reason = validate_point(point)
        if reason:
            raise Reject("invalid", f"points[{i}]: {reason}", f"points[{i}]")
    return list(points)


async def _segment(ctx: Context, m: Command) -> Outcome:
    d = m.data
    # Stored as sent, in either form: a compact segment comes back to its writer exactly
    # (nothing to echo), and a list-form writer keeps reading exactly what it sent; the
    # records for each schema version are shaped on the way out (sync.records).
    plain = _checked_points(d["points"])
    trip = await load_row(ctx, "trip", d["trip_id"])
    if trip is None or trip.deleted:
        raise Reject("not_found", "trip_id names no trip", "trip_id")
    check_visible(ctx, ENTITIES["trip"], trip)
    state = await _trip_state(ctx, trip)
    index, points = d["index"], d["points"]
    if index in state.indexes:
        raise Reject("immutable", "this trip already has a segment with that index", "index")
    row = _new(ctx, m, trip_id=trip.id, student_id=trip.student_id, index=index, points=points)
    outcome = _added(ctx, m, row)  # the segment's rev comes before its trip's new totals
    state.indexes.add(index)
    newest = max(plain, key=lambda p: p[0])
    if state.last is None or state.first is None:
        trip.distance_m, trip.duration_s, trip.point_count = trip_totals([(index, plain)])
        state.first = (index, float(min(p[0] for p in plain)))
        state.last = (index, newest)
    elif index > state.last[0]:
        # The usual case, segments arriving in order: extend the totals with the hop from
        # the previous last point and the new points, instead of re-reading every segment
        # (which made long trips quadratic).
        trip.distance_m, trip.duration_s, trip.point_count = extend_totals(
            trip.distance_m, trip.point_count, state.first[1], state.last[1], plain
        )
        state.last = (index, newest)
    else:
        # Out of order: recompute from every live segment, this one included.
        segments = await ctx.session.execute(
            select(TripSegment.index, TripSegment.points).where(
                TripSegment.trip_id == trip.id, TripSegment.deleted.is_(False)
            )
        )
        trip.distance_m, trip.duration_s, trip.point_count = trip_totals(
            [(i, p) for i, p in segments]
        )
        del ctx.trips_due[trip.id]  # ends may have moved: read again when next needed
    ctx.stamp("trip", trip)
    return outcome


async def _question(ctx: Context, question_id: str) -> TheoryQuestion:
    question: TheoryQuestion | None = await load_row(ctx, "theory_question", question_id)
    if question is None or question.deleted:
        raise Reject(
            "not_found", "question_id names no question of this school's bank", "question_id"
        )
    return question


def _own_student(ctx: Context) -> str:
    if not ctx.who.student_id:
        raise Reject("forbidden", "only a student may record theory practice")
    return ctx.who.student_id


async def _attempt(ctx: Context, m: Command) -> Outcome:
    d = m.data
    student_id = _own_student(ctx)
    question = await _question(ctx, d["question_id"])
    chosen = d.get("chosen_option")
    if chosen is not None and chosen >= len(question.options):
        raise Reject(
            "invalid", "chosen_option is not one of the question's options", "chosen_option"
        )
    mode = d.get("mode") or "practice"
    if mode == "mock" and not d.get("mock_test_id"):
        raise Reject("invalid", "a mock attempt needs mock_test_id", "mock_test_id")
    row = _new(
        ctx,
        m,
        student_id=student_id,
        question_id=question.id,
        chosen_option=chosen,
        mode=mode,
        mock_test_id=d.get("mock_test_id"),
        answered_at=d["answered_at"],
        correct=chosen == question.correct_option,
    )
    return _added(ctx, m, row)


async def _mock_test(ctx: Context, m: Command) -> Outcome:
    d = m.data
    student_id = _own_student(ctx)
    if d["finished_at"] < d["started_at"]:
        raise Reject("invalid", "finished_at is before started_at", "finished_at")
    answers = d["answers"]
    ids = [a["question_id"] for a in answers]
    if len(set(ids)) != len(ids):
        raise Reject("invalid", "a question appears twice in answers", "answers")
    bank: dict[str, int] = {}
    for i, qid in enumerate(ids):
        question = await load_row(ctx, "theory_question", qid)
        if question is None or question.deleted:
            raise Reject(
                "not_found", "question not in this school's bank", f"answers[{i}].question_id"
            )
        bank[qid] = question.correct_option
    total, score, passed = score_mock(
        [(a["question_id"], a.get("chosen_option")) for a in answers],
        bank,
        ctx.tenant.pass_mark,
        ctx.tenant.pass_total,
    )
    row = _new(
        ctx,
        m,
        student_id=student_id,
        started_at=d["started_at"],
        finished_at=d["finished_at"],
        answers=answers,
        total=total,
        score=score,
        passed=passed,
    )
    outcome = _added(ctx, m, row)
    if passed:
        ctx.emit(
            "mock_test_passed",
            {"mock_test_id": m.id, "student_id": student_id, "score": score, "total": total},
            f"mock_test_passed:{m.id}",
        )
    return outcome
