"""Messaging (the MESSAGING policy): threads, their messages and each member's read mark.

- **Who may talk to whom** follows the school (`not_allowed_party`): a student with their
  assigned instructors and the office; a guardian with their learners' instructors and the
  office; an instructor with their own students, those students' guardians and the office;
  admins with anyone (a thread with an instructor on the staff side still needs that
  instructor to teach the learner). A thread with neither side (no party, no instructor)
  would be the office talking to itself and is refused too. Guardians are linked to
  learners by the `student_guardians` table, read here as it is.
- **A thread's keys never change** (`party_immutable`): its party, its instructor and what
  it is about (kind, lesson, learner). The change index keeps one row per record, under its
  current keys, so a reader who lost access would never hear that the thread left them.
  Its subject may be edited by whoever opened it, or an admin (last writer wins).
- **A message is append-only**: put once (a resend of the same content is a no-op, anything
  else `immutable`), never patched or deleted; its body is 1 to 4,000 characters
  (`message_too_long`, the limit in the details). It copies the thread's keys, carries its
  author (id, role, name) and the moment the server took it (`received_at`), and emits
  `message_received` (web push to the other side; the email if still unread later is the
  scheduler's, workers/notifications/messages.py).
- **A read mark** (`thread_member`) is written only by its member, for themselves, at the id
  `member_id(thread, user)` (two devices of one member write one record); `last_read_at`
  only moves forward: an older value is ignored (the answer carries the stored one), and a
  value in the future is taken as now.
"""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

from sqlalchemy import select

from schemas import (
    Guardian,
    Instructor,
    Membership,
    Message,
    Student,
    StudentGuardian,
    StudentInstructor,
    Thread,
    ThreadMember,
    User,
)
from schemas.threads import MESSAGE_MAX_CHARS
from sync.core.command import Command, Outcome, Reject
from sync.core.entities import ENTITIES
from sync.core.policy import lww
from sync.rules.batch import Context, load_row
from sync.rules.lww import check_nulls, check_visible

THREAD = ENTITIES["thread"]
LESSON = ENTITIES["lesson"]

# The namespace of read-mark ids: uuid5(MEMBER_NS, f"{thread_id}:{user_id}").
MEMBER_NS = uuid.UUID("6f1d3c2a-8b4e-4c1f-9a7d-2e5b8c0d4f13")

# Fields of a thread fixed at creation.
FIXED = ("party_user_id", "instructor_id", "kind", "lesson_id", "student_id")


def member_id(thread_id: str, user_id: str) -> str:
    """The id of `user_id`'s read mark in a thread (the PWA derives it the same way)."""
    return str(uuid.uuid5(MEMBER_NS, f"{thread_id}:{user_id}"))


async def apply_messaging(ctx: Context, m: Command) -> Outcome:
    """Apply a pushed thread, message or read mark."""
    if m.op == "delete":
        raise Reject("immutable", f"a {m.spec.name} cannot be deleted", "op")
    check_nulls(m.spec, m.data)
    if m.spec.name == "thread":
        return await _thread(ctx, m)
    if m.spec.name == "message":
        return await _message(ctx, m)
    return await _member(ctx, m)


# --- threads --------------------------------------------------------------------------------


def _refuse(message: str, field: str) -> Reject:
    return Reject("not_allowed_party", message, field)


async def _thread(ctx: Context, m: Command) -> Outcome:
    row: Thread | None = await load_row(ctx, "thread", m.id)
    if row is not None:
        return _edit_thread(ctx, m, row)
    if m.op == "patch":
        raise Reject("not_found", "no thread with this id to patch", "id")
    who, d = ctx.who, dict(m.data)
    kind = d.get("kind", "direct")
    party: str | None = d.get("party_user_id")
    instructor: str | None = d.get("instructor_id")
    student: str | None = d.get("student_id")
    if who.role in ("student", "guardian"):
        if party not in (None, who.user_id):
            raise _refuse(
                "a student or guardian is the party of their own threads", "party_user_id"
            )
        party = who.user_id
    elif who.role == "instructor":
        if instructor not in (None, who.instructor_id):
            raise _refuse("an instructor opens threads as themselves", "instructor_id")
        instructor = who.instructor_id
    lesson_id = d.get("lesson_id")
    if kind == "lesson":
        if lesson_id is None:
            raise Reject("invalid", "a lesson thread names its lesson", "lesson_id")
        lesson = await load_row(ctx, "lesson", lesson_id)
        if lesson is None or lesson.deleted:
            raise Reject("not_found", "lesson_id names no lesson", "lesson_id")
        if not ctx.scope.sees("lesson", *LESSON.keys.of(lesson)):
            raise Reject("forbidden", "this lesson is outside your scope", "lesson_id")
        # A lesson thread's sides are the lesson's: its instructor, and its student (or,
        # opened by a guardian, that guardian).
        for name, value in (("instructor_id", instructor), ("student_id", student)):
            if value not in (None, getattr(lesson, name)):
                raise Reject("invalid", f"a lesson thread's {name} is the lesson's", name)
        instructor, student = lesson.instructor_id, lesson.student_id
        if party is None and who.is_staff:
            party = await ctx.session.scalar(
                select(Student.user_id).where(Student.id == lesson.student_id)
            )
    elif lesson_id is not None:
        raise Reject("invalid", "only a lesson thread names a lesson", "lesson_id")
    party_role, student = await _check_parties(ctx, party, instructor, student)
    row = Thread(
        tenant_id=ctx.txn.tenant_id,
        id=m.id,
        created_by=who.user_id,
        subject=d.get("subject", ""),
        kind=kind,
        lesson_id=lesson_id,
        party_user_id=party,
        party_role=party_role,
        instructor_id=instructor,
        student_id=student,
        field_hlc={name: m.hlc for name in m.data},
        deleted=False,
    )
    check_visible(ctx, THREAD, row)
    return Outcome("applied", ctx.stamp("thread", row), row)


async def _check_parties(
    ctx: Context, party: str | None, instructor: str | None, student: str | None
) -> tuple[str | None, str | None]:
    """Whether the school lets these two sides talk; returns the party's role and the
    learner the thread concerns (filled in when the party makes it plain)."""
    if party is None and instructor is None:
        raise _refuse("a thread needs a student or guardian, or an instructor", "party_user_id")
    s = ctx.session
    if instructor is not None:
        active = await s.scalar(
            select(Instructor.active).where(
                Instructor.id == instructor, Instructor.deleted.is_(False)
            )
        )
        if active is None:
            raise Reject("not_found", "instructor_id names no instructor", "instructor_id")
        if not active:
            raise _refuse("this instructor is inactive: write to the office", "instructor_id")
    if party is None:
        if student is not None:
            raise Reject("invalid", "a staff-only thread concerns no learner", "student_id")
        return None, None  # an instructor and the office
    role = await s.scalar(select(Membership.role).where(Membership.user_id == party))
    learners: set[str]
    if role == "student":
        own = await s.scalar(
            select(Student.id).where(
                Student.user_id == party, Student.deleted.is_(False), Student.left_at.is_(None)
            )
        )
        if own is None:
            raise _refuse("this student has left the school", "party_user_id")
        if student not in (None, own):
            raise Reject("invalid", "a student's thread concerns that student", "student_id")
        student, learners = own, {own}
    elif role == "guardian":
        guardian = await s.scalar(select(Guardian.id).where(Guardian.user_id == party))
        wards = set(
            await s.scalars(
                select(StudentGuardian.student_id).where(StudentGuardian.guardian_id == guardian)
            )
            if guardian is not None
            else ()
        )
        if student is not None and student not in wards:
            raise _refuse("this guardian does not follow that learner", "student_id")
        if student is None and len(wards) == 1:
            student = next(iter(wards))
        learners = {student} if student is not None else wards
    else:
        raise _refuse("a thread's party is a student or a guardian of the school", "party_user_id")
    if instructor is not None:
        teaches = await s.scalar(
            select(StudentInstructor.student_id).where(
                StudentInstructor.instructor_id == instructor,
                StudentInstructor.student_id.in_(sorted(learners)),
            )
        )
        if teaches is None:
            raise _refuse(
                "this instructor does not teach the learner: write to the office instead",
                "instructor_id",
            )
    return role, student


def _edit_thread(ctx: Context, m: Command, row: Thread) -> Outcome:
    check_visible(ctx, THREAD, row)
    for name in FIXED:
        if name in m.data and m.data[name] != getattr(row, name):
            raise Reject(
                "party_immutable",
                f"a thread's {name} cannot change: open another thread",
                name,
            )
    if "subject" not in m.data or m.data["subject"] == row.subject:
        return Outcome("applied", row.rev, row)
    if ctx.who.user_id != row.created_by and not ctx.who.is_admin:
        raise Reject("forbidden", "only whoever opened a thread renames it", "subject")
    merge = lww({"subject": m.data["subject"]}, m.hlc, row.field_hlc or {})
    if not merge.apply:
        return Outcome("merged", row.rev, row, lost=merge.lost, include_record=True)
    row.subject = merge.apply["subject"]
    row.field_hlc = merge.clocks
    return Outcome("applied", ctx.stamp("thread", row), row)


# --- messages -------------------------------------------------------------------------------


async def _thread_of(ctx: Context, thread_id: Any) -> Thread:
    thread: Thread | None = await load_row(ctx, "thread", thread_id)
    if thread is None or thread.deleted:
        raise Reject("not_found", "thread_id names no thread", "thread_id")
    check_visible(ctx, THREAD, thread)
    return thread


async def _author_name(ctx: Context) -> str:
    key = ("user_name", ctx.who.user_id)
    if key not in ctx.loaded:
        ctx.loaded[key] = await ctx.session.scalar(
            select(User.name).where(User.id == ctx.who.user_id)
        )
    return str(ctx.loaded[key] or "")


async def _message(ctx: Context, m: Command) -> Outcome:
    d = m.data
    existing: Message | None = await load_row(ctx, "message", m.id)
    if existing is not None:
        same = all(getattr(existing, k) == v for k, v in d.items() if k != "sent_at")
        if m.op == "put" and same and existing.author_id == ctx.who.user_id:
            return Outcome("applied", existing.rev, existing)  # a resend
        raise Reject("immutable", "a message cannot change once sent", "id")
    if m.op == "patch":
        raise Reject("not_found", "no message with this id", "id")
    for name in ("thread_id", "body"):
        if d.get(name) is None:
            raise Reject("invalid", f"{name} is required to send a message", name)
    body: str = d["body"]
    if not body.strip():
        raise Reject("invalid", "a message says something", "body")
    if len(body) > MESSAGE_MAX_CHARS:
        raise Reject(
            "message_too_long",
            f"a message holds at most {MESSAGE_MAX_CHARS} characters",
            "body",
            max=MESSAGE_MAX_CHARS,
            length=len(body),
        )
    thread = await _thread_of(ctx, d["thread_id"])
    now = ctx.txn.now
    row = Message(
        tenant_id=ctx.txn.tenant_id,
        id=m.id,
        created_by=ctx.who.user_id,
        thread_id=thread.id,
        body=body,
        sent_at=d.get("sent_at") or now,
        received_at=now,
        author_id=ctx.who.user_id,
        author_role="admin" if ctx.who.is_admin else ctx.who.role,
        author_name=await _author_name(ctx),
        party_user_id=thread.party_user_id,
        instructor_id=thread.instructor_id,
        field_hlc={},
        deleted=False,
    )
    rev = ctx.stamp("message", row)
    ctx.emit(
        "message_received",
        {"message_id": row.id, "thread_id": thread.id, "author_id": row.author_id},
        f"message_received:{row.id}",
    )
    return Outcome("applied", rev, row)


# --- read marks -----------------------------------------------------------------------------


async def _member(ctx: Context, m: Command) -> Outcome:
    d, me = m.data, ctx.who.user_id
    if d.get("user_id") not in (None, me):
        raise Reject("forbidden", "a read mark is written by its member only", "user_id")
    row: ThreadMember | None = await load_row(ctx, "thread_member", m.id)
    if row is None:
        if m.op == "patch":
            raise Reject("not_found", "no read mark with this id", "id")
        for name in ("thread_id", "last_read_at"):
            if d.get(name) is None:
                raise Reject("invalid", f"{name} is required", name)
        thread = await _thread_of(ctx, d["thread_id"])
        if m.id != member_id(thread.id, me):
            raise Reject("invalid", "a read mark's id is uuid5(MEMBER_NS, thread_id:user_id)", "id")
        row = ThreadMember(
            tenant_id=ctx.txn.tenant_id,
            id=m.id,
            created_by=me,
            thread_id=thread.id,
            user_id=me,
            last_read_at=min(d["last_read_at"], ctx.txn.now),
            party_user_id=thread.party_user_id,
            instructor_id=thread.instructor_id,
            field_hlc={},
            deleted=False,
        )
        return Outcome("applied", ctx.stamp("thread_member", row), row)
    if row.user_id != me:
        raise Reject("forbidden", "a read mark is written by its member only", "user_id")
    if d.get("thread_id") not in (None, row.thread_id):
        raise Reject("invalid", "thread_id cannot change", "thread_id")
    await _thread_of(ctx, row.thread_id)  # still allowed to read it
    seen: dt.datetime | None = d.get("last_read_at")
    if seen is None:
        return Outcome("applied", row.rev, row)
    seen = min(seen, ctx.txn.now)
    if row.last_read_at is not None and seen <= row.last_read_at:
        # Never backwards: an older mark (another device's, sent late) is ignored, and the
        # answer carries the stored one.
        return Outcome("applied", row.rev, row, include_record=True)
    row.last_read_at = seen
    return Outcome("applied", ctx.stamp("thread_member", row), row)
