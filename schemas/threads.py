"""Messaging: conversations (`thread`), their messages (`message`, append-only) and each
member's read mark (`thread_member`), all synced party records (sync.core.scope,
Visibility.PARTY).

A thread is between one non-staff party (`party_user_id`: the user id of a student or a
guardian; null for a staff-only thread) and one staff side (`instructor_id`; null for "the
office", every admin). Its messages and members copy those two keys from it, so each is
read by the same people: the party, that instructor (not the students who follow them),
and admins. The keys never change after the thread is created (sync.rules.messaging)."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import CheckConstraint, ForeignKeyConstraint, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from schemas.base import Base, UtcDateTime, id_type
from schemas.synced import SyncedMixin

THREAD_KINDS = ("direct", "lesson")
# The longest message body accepted (sync.rules.messaging refuses longer ones as
# `message_too_long`; the wire model's own bound is wider, so the code is this one).
MESSAGE_MAX_CHARS = 4000


def _thread_fk() -> ForeignKeyConstraint:
    return ForeignKeyConstraint(["tenant_id", "thread_id"], ["threads.tenant_id", "threads.id"])


class Thread(SyncedMixin, Base):
    """A conversation: its subject, what it is about (`kind`: direct, or about a lesson,
    `lesson_id`), its two sides (`party_user_id` and `party_role`, `instructor_id`) and the
    learner it concerns (`student_id`, for display)."""

    __tablename__ = "threads"

    subject: Mapped[str] = mapped_column(String(200), default="")
    kind: Mapped[str] = mapped_column(String(16), default="direct")
    lesson_id: Mapped[str | None] = mapped_column(id_type())
    party_user_id: Mapped[str | None] = mapped_column(id_type())
    party_role: Mapped[str | None] = mapped_column(String(16))
    instructor_id: Mapped[str | None] = mapped_column(id_type())
    student_id: Mapped[str | None] = mapped_column(id_type())

    __table_args__ = (
        CheckConstraint("kind IN ('direct', 'lesson')", name="kind"),
        Index("ix_threads_lesson", "lesson_id", "tenant_id"),
    )


class ThreadMember(SyncedMixin, Base):
    """One member's read mark in a thread: written only by that member, for themselves;
    `last_read_at` only moves forward. Its id is derived from the thread and the user
    (sync.rules.messaging.member_id), so two devices of one member write the same record."""

    __tablename__ = "thread_members"

    thread_id: Mapped[str] = mapped_column(id_type())
    user_id: Mapped[str] = mapped_column(id_type())
    last_read_at: Mapped[dt.datetime | None] = mapped_column(UtcDateTime)
    party_user_id: Mapped[str | None] = mapped_column(id_type())
    instructor_id: Mapped[str | None] = mapped_column(id_type())

    __table_args__ = (
        _thread_fk(),
        Index("ix_thread_members_thread", "thread_id", "user_id", "tenant_id", unique=True),
    )


class Message(SyncedMixin, Base):
    """One message, append-only: written (offline too) by someone who sees its thread.
    `sent_at` is the writer's clock; `received_at` is when the server took it, which is what
    read marks and the unread email compare with."""

    __tablename__ = "messages"

    thread_id: Mapped[str] = mapped_column(id_type())
    body: Mapped[str] = mapped_column(Text)
    sent_at: Mapped[dt.datetime] = mapped_column(UtcDateTime)
    received_at: Mapped[dt.datetime] = mapped_column(UtcDateTime)
    author_id: Mapped[str] = mapped_column(id_type())
    author_role: Mapped[str] = mapped_column(String(16))
    author_name: Mapped[str] = mapped_column(String(200), default="")
    party_user_id: Mapped[str | None] = mapped_column(id_type())
    instructor_id: Mapped[str | None] = mapped_column(id_type())

    __table_args__ = (
        _thread_fk(),
        Index("ix_messages_thread", "thread_id", "tenant_id"),
        Index("ix_messages_received", "received_at"),
    )
