"""Append-only entities (skill assessments, trip segments, theory attempts) and the
put-once mock test, with the derived records they update: student progress, trip distance
and duration, theory correctness, mock-test score and pass."""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import func, select

from schemas import (
    Lesson,
    MockTest,
    Skill,
    SkillAssessment,
    StudentProgress,
    TheoryAttempt,
    TheoryQuestion,
    Trip,
    TripSegment,
)
from sync.apply import check_visible, load_row
from sync.derive import Assessed, extend_totals, progress, score_mock, trip_totals
from sync.geo import validate_point
from sync.mutation import Context, Mutation, Outcome, Reject
from sync.tables import table_of

PROGRESS_NS = uuid.UUID("0b5a4f0e-7c1e-4f43-9a1d-3b2f6c8d9e10")


def progress_id(student_id: str) -> str:
    """Each student has one progress record with an id derived from theirs."""
    return str(uuid.uuid5(PROGRESS_NS, student_id))


def _same(row: Any, data: dict[str, Any]) -> bool:
    return all(getattr(row, k) == v for k, v in data.items())


async def apply_append(ctx: Context, m: Mutation) -> Outcome:
    """Put once; a resend of the same content is applied again as a no-op, anything else
    on an existing id is `immutable`."""
    if m.op != "put":
        raise Reject("immutable", f"{m.spec.name} is append-only: only put is allowed", "op")
    existing = await load_row(ctx, table_of(m.spec.name), m.id)
    if existing is not None:
        if _same(existing, {k: v for k, v in m.data.items() if k != "answers"}):
            return Outcome("applied", existing.rev)
        raise Reject("immutable", f"this {m.spec.name} exists and cannot change", "id")
    missing = sorted(f for f in m.spec.required if m.data.get(f) is None)
    if missing:
        raise Reject("invalid", f"{missing[0]} is required", missing[0])
    handler = {
        "skill_assessment": _assessment,
        "trip_segment": _segment,
        "theory_attempt": _attempt,
        "mock_test": _mock_test,
    }[m.spec.name]
    return await handler(ctx, m)


def _new(ctx: Context, m: Mutation, table: Any, **values: Any) -> Any:
    row = table(tenant_id=ctx.txn.tenant_id, id=m.id, created_by=ctx.who.user_id, **values)
    row.field_hlc = {}
    row.deleted = False
    return row


async def _assessment(ctx: Context, m: Mutation) -> Outcome:
    d = m.data
    lesson = await load_row(ctx, Lesson, d["lesson_id"])
    if lesson is None or lesson.deleted:
        raise Reject("not_found", "lesson_id names no lesson", "lesson_id")
    if d.get("student_id") not in (None, lesson.student_id):
        raise Reject("invalid", "student_id must be the lesson's student", "student_id")
    skill = await load_row(ctx, Skill, d["skill_id"])
    if skill is None or skill.deleted:
        raise Reject("not_found", "skill_id names no skill of this school", "skill_id")
    row = _new(
        ctx,
        m,
        SkillAssessment,
        lesson_id=lesson.id,
        student_id=lesson.student_id,
        skill_id=skill.id,
        level=d["level"],
        comment=d.get("comment"),
        assessed_at=d.get("assessed_at") or ctx.txn.now,
    )
    check_visible(ctx, "skill_assessment", row)
    rev = ctx.txn.stamp("skill_assessment", row)
    await ctx.session.flush()
    await refresh_progress(ctx, lesson.student_id)
    return Outcome("applied", rev)


async def refresh_progress(ctx: Context, student_id: str) -> None:
    """Recompute a student's progress from all their assessments."""
    rows = await ctx.session.execute(
        select(
            SkillAssessment.skill_id,
            SkillAssessment.level,
            SkillAssessment.assessed_at,
            SkillAssessment.rev,
        ).where(SkillAssessment.student_id == student_id, SkillAssessment.deleted.is_(False))
    )
    skills = await ctx.session.scalars(select(Skill.id).where(Skill.deleted.is_(False)))
    levels, readiness = progress([Assessed(*r) for r in rows], list(skills))
    row = await ctx.session.scalar(
        select(StudentProgress).where(StudentProgress.student_id == student_id)
    )
    if row is None:
        row = StudentProgress(
            tenant_id=ctx.txn.tenant_id,
            id=progress_id(student_id),
            student_id=student_id,
            field_hlc={},
            deleted=False,
        )
    elif row.levels == levels and row.readiness_pct == readiness:
        return
    row.levels = levels
    row.readiness_pct = readiness
    ctx.txn.stamp("student_progress", row)


async def _segment(ctx: Context, m: Mutation) -> Outcome:
    d = m.data
    for i, point in enumerate(d["points"]):
        reason = validate_point(point)
        if reason:
            raise Reject("invalid", f"points[{i}]: {reason}", f"points[{i}]")
    trip = await load_row(ctx, Trip, d["trip_id"])
    if trip is None or trip.deleted:
        raise Reject("not_found", "trip_id names no trip", "trip_id")
    check_visible(ctx, "trip", trip)
    taken = await ctx.session.scalar(
        select(TripSegment.id).where(
            TripSegment.trip_id == trip.id, TripSegment.index == d["index"]
        )
    )
    if taken:
        raise Reject("immutable", "this trip already has a segment with that index", "index")
    row = _new(
        ctx,
        m,
        TripSegment,
        trip_id=trip.id,
        student_id=trip.student_id,
        index=d["index"],
        points=d["points"],
    )
    live = (TripSegment.trip_id == trip.id, TripSegment.deleted.is_(False))
    bounds = (
        await ctx.session.execute(
            select(func.min(TripSegment.index), func.max(TripSegment.index)).where(*live)
        )
    ).one()
    rev = ctx.txn.stamp("trip_segment", row)
    await ctx.session.flush()
    if bounds[1] is not None and d["index"] > bounds[1]:
        # The usual case, segments arriving in order: extend the totals with the hop from
        # the previous last point and the new points, instead of re-reading every segment
        # (which made long trips quadratic).
        ends = dict(
            (
                await ctx.session.execute(
                    select(TripSegment.index, TripSegment.points).where(
                        *live, TripSegment.index.in_([bounds[0], bounds[1]])
                    )
                )
            ).all()
        )
        first_t = min(p[0] for p in ends[bounds[0]])
        previous_last = max(ends[bounds[1]], key=lambda p: p[0])
        trip.distance_m, trip.duration_s, trip.point_count = extend_totals(
            trip.distance_m, trip.point_count, first_t, previous_last, d["points"]
        )
    else:
        segments = await ctx.session.execute(
            select(TripSegment.index, TripSegment.points).where(*live)
        )
        trip.distance_m, trip.duration_s, trip.point_count = trip_totals(
            [(i, p) for i, p in segments]
        )
    ctx.txn.stamp("trip", trip)
    return Outcome("applied", rev)


async def _question(ctx: Context, question_id: str) -> TheoryQuestion:
    question: TheoryQuestion | None = await load_row(ctx, TheoryQuestion, question_id)
    if question is None or question.deleted:
        raise Reject(
            "not_found", "question_id names no question of this school's bank", "question_id"
        )
    return question


def _own_student(ctx: Context) -> str:
    if not ctx.who.student_id:
        raise Reject("forbidden", "only a student may record theory practice")
    return ctx.who.student_id


async def _attempt(ctx: Context, m: Mutation) -> Outcome:
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
        TheoryAttempt,
        student_id=student_id,
        question_id=question.id,
        chosen_option=chosen,
        mode=mode,
        mock_test_id=d.get("mock_test_id"),
        answered_at=d["answered_at"],
        correct=chosen == question.correct_option,
    )
    rev = ctx.txn.stamp("theory_attempt", row)
    return Outcome("applied", rev)


async def _mock_test(ctx: Context, m: Mutation) -> Outcome:
    d = m.data
    student_id = _own_student(ctx)
    if d["finished_at"] < d["started_at"]:
        raise Reject("invalid", "finished_at is before started_at", "finished_at")
    answers = d["answers"]
    ids = [a["question_id"] for a in answers]
    if len(set(ids)) != len(ids):
        raise Reject("invalid", "a question appears twice in answers", "answers")
    bank = dict(
        (
            await ctx.session.execute(
                select(TheoryQuestion.id, TheoryQuestion.correct_option).where(
                    TheoryQuestion.id.in_(ids), TheoryQuestion.deleted.is_(False)
                )
            )
        ).all()
    )
    for i, qid in enumerate(ids):
        if qid not in bank:
            raise Reject(
                "not_found", "question not in this school's bank", f"answers[{i}].question_id"
            )
    total, score, passed = score_mock(
        [(a["question_id"], a.get("chosen_option")) for a in answers],
        bank,
        ctx.tenant.pass_mark,
        ctx.tenant.pass_total,
    )
    row = _new(
        ctx,
        m,
        MockTest,
        student_id=student_id,
        started_at=d["started_at"],
        finished_at=d["finished_at"],
        answers=answers,
        total=total,
        score=score,
        passed=passed,
    )
    rev = ctx.txn.stamp("mock_test", row)
    if passed:
        ctx.emit(
            "mock_test_passed",
            {"mock_test_id": m.id, "student_id": student_id, "score": score, "total": total},
            f"mock_test_passed:{m.id}",
        )
    return Outcome("applied", rev)
