"""Notices of new messages (sync.rules.messaging).

- `message_received` (queued by the push that took the message): web push (and SMS or
  WhatsApp, if the recipient chose them) to the thread's other side at once: its student or
  guardian, its instructor or, for a thread with the office, the school's admins; never the
  author. The recipient's open app has already been poked by the live channel (the commit
  names the thread's party keys), so the push is for a closed app.
- `message_unread` (written by the scheduler, `unread_rows`): the email, when a message is
  still unread `message_email_delay_min` minutes after the server took it. One per thread and
  window of that length (the dedupe key holds the window's number), not one per message: a
  window's row is due `delay` after its first message, and tells of every message of the
  window. A recipient whose read mark (`thread_member.last_read_at`) is at or past every
  message of the window written by someone else is not mailed; the office counts as having
  read a message once any admin has. Nobody left: skipped (`stale`).

Recipients are built from their user (no `student_id`): a student's messages are never
copied to their guardians (events._copy_guardians), and neither event is kept in the inbox
(dispatcher.NOT_INBOXED): Messages has its own unread counts.

The email is the `message_received` preference's email channel: a user chooses channels for
"new message" once (preferences.DELIVERED_AS), push at once, email only when unread.
"""

from __future__ import annotations

import datetime as dt
import math
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from schemas import Message, Thread, ThreadMember, User
from workers.config import WorkerConfig
from workers.notifications.recipients import Expansion, Facts, Recipient, local_text

# How long after its window a message is still looked at by a tick (a worker that was down
# for longer sends no unread email for it: the recipient has had the push, and the app).
CATCH_UP = dt.timedelta(hours=1)
EXCERPT = 280
EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)


def _excerpt(body: str) -> str:
    flat = " ".join(body.split())
    return flat if len(flat) <= EXCERPT else flat[: EXCERPT - 1].rstrip() + "…"


async def _user(f: Facts, user_id: str | None, role: str) -> Recipient | None:
    user: User | None = await f._get(User, user_id)
    if user is None or not user.is_active:
        return None
    return Recipient(user.id, user.id, user.name, user.email, user.phone, role)


async def _sides(f: Facts, thread: Thread) -> tuple[list[Recipient], list[Recipient]]:
    """(the party's side, the staff side) of a thread, as recipients."""
    party = await _user(f, thread.party_user_id, thread.party_role or "student")
    if thread.instructor_id is not None:
        teacher = await f.instructor(thread.instructor_id)
        staff = [teacher] if teacher is not None else []
    else:
        staff = await f.admins()
    return ([party] if party is not None else []), staff


def _thread_facts(thread: Thread) -> dict[str, Any]:
    return {"id": thread.id, "subject": thread.subject or "(no subject)"}


async def _received(f: Facts, p: dict[str, Any]) -> Expansion:
    message: Message | None = await f._get(Message, p.get("message_id"))
    thread: Thread | None = await f._get(Thread, p.get("thread_id"))
    if message is None or thread is None or message.deleted or thread.deleted:
        return Expansion(stale="message not found")
    party, staff = await _sides(f, thread)
    people = [r for r in (*party, *staff) if r.user_id != message.author_id]
    context = {
        "thread": _thread_facts(thread),
        "message": {
            "author": message.author_name or "Someone",
            "body": _excerpt(message.body),
            "at": local_text(message.received_at, f.tz),
        },
    }
    return Expansion(people, context)


async def _unread(f: Facts, p: dict[str, Any]) -> Expansion:
    thread: Thread | None = await f._get(Thread, p.get("thread_id"))
    if thread is None or thread.deleted:
        return Expansion(stale="thread not found")
    since = dt.datetime.fromisoformat(p["since"])
    until = dt.datetime.fromisoformat(p["until"])
    messages = list(
        await f.s.scalars(
            select(Message)
            .where(
                Message.thread_id == thread.id,
                Message.deleted.is_(False),
                Message.received_at >= since,
                Message.received_at < until,
            )
            .order_by(Message.received_at, Message.id)
        )
    )
    if not messages:
        return Expansion(stale="no message in the window")
    marks: dict[str, dt.datetime | None] = dict(
        (
            await f.s.execute(
                select(ThreadMember.user_id, ThreadMember.last_read_at).where(
                    ThreadMember.thread_id == thread.id
                )
            )
        ).all()
    )
    party, staff = await _sides(f, thread)
    office = thread.instructor_id is None

    def unread_by(readers: list[str]) -> list[Message]:
        """The window's messages by others that none of `readers` has read."""
        out = []
        for m in messages:
            if m.author_id in readers:
                continue
            seen = [marks.get(r) for r in readers]
            if not any(s is not None and s >= m.received_at for s in seen):
                out.append(m)
        return out

    people: list[Recipient] = []
    staff_ids = [r.user_id for r in staff if r.user_id]
    for r in party:
        if unread_by([r.user_id or ""]):
            people.append(r)
    if office:
        if unread_by(staff_ids):  # the office has read it once any admin has
            people += staff
    else:
        people += [r for r in staff if unread_by([r.user_id or ""])]
    if not people:
        return Expansion(stale="read")
    context = {
        "thread": _thread_facts(thread),
        "messages": [
            {
                "author": m.author_name or "Someone",
                "body": _excerpt(m.body),
                "at": local_text(m.received_at, f.tz),
            }
            for m in messages[-5:]
        ],
        "count": len(messages),
    }
    return Expansion(people, context)


EXPANDERS = {"message_received": _received, "message_unread": _unread}


def window_of(received_at: dt.datetime, delay: dt.timedelta) -> int:
    """The number of the delay-long window a message falls in (windows start at the epoch)."""
    return math.floor((received_at - EPOCH) / delay)


async def unread_rows(
    session: AsyncSession, config: WorkerConfig, now: dt.datetime
) -> list[dict[str, Any]]:
    """Outbox values of the unread-message emails of messages taken lately: one per thread
    and window, due `delay` after the window's first message (the dispatcher decides then
    who, if anyone, has still not read it)."""
    if config.message_email_delay_min <= 0:
        return []  # switched off
    delay = dt.timedelta(minutes=config.message_email_delay_min)
    rows = await session.execute(
        select(Message.tenant_id, Message.thread_id, Message.received_at).where(
            Message.received_at > now - delay - CATCH_UP,
            Message.received_at <= now,
            Message.deleted.is_(False),
        )
    )
    first: dict[tuple[str, str, int], dt.datetime] = {}
    for tenant_id, thread_id, received_at in rows.all():
        key = (tenant_id, thread_id, window_of(received_at, delay))
        first[key] = min(first.get(key, received_at), received_at)
    out = []
    for (tenant_id, thread_id, window), at in sorted(first.items()):
        start = EPOCH + window * delay
        out.append(
            {
                "tenant_id": tenant_id,
                "event_type": "message_unread",
                "payload": {
                    "thread_id": thread_id,
                    "since": start.isoformat(),
                    "until": (start + delay).isoformat(),
                },
                "dedupe_key": f"message_unread:{thread_id}:{window}",
                "available_at": at + delay,
            }
        )
    return out
