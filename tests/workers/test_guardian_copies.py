"""Guardians receive copies of what their learner is told (issue 13), on both databases:
by default the kinds a parent needs (a confirmed lesson here), by email through the local
SMTP server and in their inbox; a kind they turned off (or one outside the defaults that
they never chose) sends them nothing and keeps nothing."""

from __future__ import annotations

import asyncio
import time
import uuid
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from schemas import Guardian, InboxItem, Notification, Student, StudentGuardian
from server.admin_cli import create_user
from server.app import create_app
from sync.tenancy import ALL_TENANTS, bind_tenant
from tests.conftest import Db, bearer, login, make_settings
from tests.workers.conftest import book_and_confirm
from tests.workers.peers import SmtpPeer
from workers.notifications import preferences

PASSWORD = "a-guardian-password-1"


@pytest.fixture
async def mail_client(db: Db, tmp_path: Path, aiohttp_client: Any, smtp: SmtpPeer) -> Any:
    settings = make_settings(
        db, tmp_path, smtp_url=smtp.url, run_dispatcher=True, worker_scheduler_interval_s=0
    )
    return await aiohttp_client(create_app(settings))


async def _guardian_of_student1(db: Db) -> str:
    """A guardian account following student1 (the user id)."""
    user_id = await create_user(
        db.sessions, db.store, "demo", "parent@demo.test", "Pat Clarke", "guardian", PASSWORD
    )
    async with db.sessions() as session, session.begin():
        bind_tenant(session, ALL_TENANTS)
        student = (
            await session.scalars(select(Student).where(Student.email == "student1@demo.test"))
        ).one()
        guardian = Guardian(
            tenant_id=student.tenant_id,
            id=str(uuid.uuid4()),
            user_id=user_id,
            name="Pat Clarke",
            email="parent@demo.test",
        )
        session.add(guardian)
        await session.flush()
        session.add(
            StudentGuardian(
                tenant_id=student.tenant_id, student_id=student.id, guardian_id=guardian.id
            )
        )
    return user_id


async def _settled(
    db: Db, event_type: str, events: int = 1, within: float = 15.0
) -> list[Notification]:
    """The delivery lines of an event type once `events` of its events sent an email."""
    deadline = time.monotonic() + within
    while True:
        async with db.sessions() as session:
            bind_tenant(session, ALL_TENANTS)
            lines = list(
                await session.scalars(
                    select(Notification).where(Notification.event_type == event_type)
                )
            )
        if (
            len({n.outbox_id for n in lines if n.channel == "email" and n.status == "sent"})
            >= events
        ):
            return lines
        if time.monotonic() > deadline:
            raise AssertionError(f"no {event_type} email sent after {within}s")
        await asyncio.sleep(0.05)


async def _inbox_kinds(db: Db, user_id: str) -> list[str]:
    async with db.sessions() as session:
        bind_tenant(session, ALL_TENANTS)
        return list(
            await session.scalars(select(InboxItem.kind).where(InboxItem.user_id == user_id))
        )


async def test_a_guardian_gets_a_copy_of_the_kinds_they_keep(
    mail_client: Any, db: Db, smtp: SmtpPeer
) -> None:
    guardian = await _guardian_of_student1(db)
    await book_and_confirm(mail_client, days=14, hour=10)
    await _settled(db, "booking_confirmed")
    copies = [
        m for m in smtp.to("parent@demo.test") if m["X-DriveSync-Event"] == "booking_confirmed"
    ]
    assert len(copies) == 1, [m["Subject"] for m in smtp.to("parent@demo.test")]
    assert await _inbox_kinds(db, guardian) == ["booking_confirmed"]

    # The guardian turns confirmations off: the next one sends them nothing, keeps nothing.
    tokens = await login(mail_client, "parent@demo.test", password=PASSWORD)
    resp = await mail_client.put(
        "/v1/me/notification-preferences",
        json={"events": {"booking_confirmed": {"channels": []}}},
        headers=bearer(tokens),
    )
    assert resp.status == 200, await resp.text()
    smtp_before = len(smtp.to("parent@demo.test"))
    await book_and_confirm(mail_client, days=15, hour=10)
    await _settled(db, "booking_confirmed", events=2)  # the student's second mail went
    assert len(smtp.to("parent@demo.test")) == smtp_before
    assert await _inbox_kinds(db, guardian) == ["booking_confirmed"]
    # The student's own copy went both times.
    student = [
        m for m in smtp.to("student1@demo.test") if m["X-DriveSync-Event"] == "booking_confirmed"
    ]
    assert len(student) == 2


def test_guardians_get_the_parent_kinds_until_they_choose() -> None:
    none: dict[str, Any] = {}
    assert preferences.resolve(none, "booking_confirmed", False, "guardian").channels
    assert preferences.resolve(none, "mock_test_passed", False, "guardian").channels == ()
    assert preferences.resolve(none, "mock_test_passed", False, "student").channels
