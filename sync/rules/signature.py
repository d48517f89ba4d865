"""A lesson's sign-off (`lesson_signature`, APPEND: put once, never changed).

The student signs on the instructor's device, often offline, so the record names the signer
as the lesson's student (`student_id`, copied from the lesson: the scope key), the name typed
for them (`signed_by`) and the user whose device captured it (`captured_by`, the writer).
Checks, each with a stable code: the strokes' form (`invalid_strokes`, sync.core.signature),
the lesson started or finished (`lesson_not_signable`), the instructor's own lesson
(`forbidden`), and at most one signature per lesson (`already_signed`: a second device that
signed the same lesson offline is refused when it syncs; the unique key on
(lesson_id, tenant_id) holds it even between processes).
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from schemas import LessonSignature
from sync.core.command import Command, Outcome, Reject
from sync.core.entities import ENTITIES
from sync.core.signature import check_strokes
from sync.rules.batch import Context, load_row
from sync.rules.lww import check_visible
from sync.tables import table_of

SIGNABLE = frozenset({"in_progress", "completed"})


async def apply_signature(ctx: Context, m: Command) -> Outcome:
    d = m.data
    fault = check_strokes(d["strokes"])
    if fault is not None:
        raise Reject("invalid_strokes", fault[0], fault[1])
    lesson: Any = await load_row(ctx, "lesson", d["lesson_id"])
    if lesson is None or lesson.deleted:
        raise Reject("not_found", "lesson_id names no lesson", "lesson_id")
    check_visible(ctx, ENTITIES["lesson"], lesson)  # an instructor signs off their own lessons
    if lesson.status not in SIGNABLE:
        raise Reject(
            "lesson_not_signable",
            f"a lesson is signed once started or finished; this one is {lesson.status}",
            "lesson_id",
            status=lesson.status,
        )
    # Reads the batch's own new signatures too (written before a read of their table).
    other = await ctx.session.scalar(
        select(LessonSignature.id).where(
            LessonSignature.lesson_id == lesson.id, LessonSignature.id != m.id
        )
    )
    if other is not None:
        raise Reject(
            "already_signed", "this lesson is already signed", "lesson_id", signature_id=other
        )
    row = table_of(m.spec.name)(
        tenant_id=ctx.txn.tenant_id,
        id=m.id,
        created_by=ctx.who.user_id,
        lesson_id=lesson.id,
        student_id=lesson.student_id,
        signed_by=d["signed_by"],
        captured_by=ctx.who.user_id,
        signed_at=d["signed_at"],
        strokes=d["strokes"],
    )
    row.field_hlc = {}
    row.deleted = False
    check_visible(ctx, m.spec, row)
    return Outcome("applied", ctx.stamp(m.spec.name, row), row)
