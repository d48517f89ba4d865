"""The outbox under faults: two workers racing for the same rows, a worker killed between
send and acknowledgement, quiet hours across a DST change, opt-out."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
from collections import Counter
from pathlib import Path
from typing import Any

from sqlalchemy import select

from schemas import (
    Membership,
    Notification,
    NotificationPreference,
    OutboxEvent,
    Student,
    Tenant,
    User,
)
from sync.tenancy import ALL_TENANTS, bind_tenant
from tests.conftest import Db
from tests.helpers import uid
from tests.workers.conftest import dispatcher, worker_config
from tests.workers.peers import SmtpPeer
from workers import outbox
from workers.dispatcher import Dispatcher
from workers.outbox import new_event


async def _demo(db: Db) -> dict[str, str]:
    async with db.sessions() as s:
        bind_tenant(s, ALL_TENANTS)
        tenant = await s.scalar(select(Tenant.id).where(Tenant.slug == "demo"))
        student = await s.scalar(select(Student).where(Student.email == "student1@demo.test"))
        admin = await s.scalar(
            select(User.id)
            .join(Membership, Membership.user_id == User.id)
            .where(Membership.role == "admin", User.tenant_id == tenant)
        )
        inst = await s.scalar(
            select(User.id).where(User.email == "instructor1@demo.test", User.tenant_id == tenant)
        )
    assert tenant and student and admin and inst and student.user_id
    return {
        "tenant": tenant,
        "student": student.id,
        "student_user": student.user_id,
        "admin": admin,
        "instructor_user": inst,
    }


async def _add(db: Db, tenant: str, *rows: Any) -> None:
    async with db.sessions() as s, s.begin():
        bind_tenant(s, tenant)
        s.add_all(rows)


async def _outbox(db: Db) -> list[OutboxEvent]:
    async with db.sessions() as s:
        bind_tenant(s, ALL_TENANTS)
        return list((await s.scalars(select(OutboxEvent).order_by(OutboxEvent.created_at))).all())


def _conflict(tenant: str) -> OutboxEvent:
    return new_event(
        tenant,
        "conflict_stored",
        {"conflict_id": uid(), "entity": "lesson_note", "record_id": uid()},
        None,
    )


async def test_two_claimers_never_take_the_same_row(db: Db) -> None:
    ids = await _demo(db)
    await _add(db, ids["tenant"], *(_conflict(ids["tenant"]) for _ in range(30)))
    a, b = await asyncio.gather(
        outbox.claim(db.sessions, db.dialect, "a", 30, 60),
        outbox.claim(db.sessions, db.dialect, "b", 30, 60),
    )
    assert not {c.id for c in a} & {c.id for c in b}
    assert len(a) + len(b) == 30
    again = await outbox.claim(db.sessions, db.dialect, "c", 30, 60)
    assert again == []  # all leased


async def test_two_workers_race_and_each_delivery_happens_once(
    db: Db, tmp_path: Path, closing: list[Dispatcher]
) -> None:
    ids = await _demo(db)
    await _add(db, ids["tenant"], *(_conflict(ids["tenant"]) for _ in range(40)))
    config = worker_config(db, tmp_path, batch_size=4, concurrency=4)
    one, two = dispatcher(db, config, "w1"), dispatcher(db, config, "w2")
    closing += [one, two]
    counts = await asyncio.gather(one.run(once=True), two.run(once=True))
    assert sum(counts) == 40
    if db.dialect == "postgresql":
        assert min(counts) > 0  # SKIP LOCKED lets both work at once
    assert {e.status for e in await _outbox(db)} == {"done"}
    sink = tmp_path / "var" / "outbox-sink"
    keys = Counter(
        json.loads(line)["key"]
        for f in ("webpush.jsonl", "email.jsonl")
        for line in (sink / f).read_text().splitlines()
    )
    assert len(keys) == 80 and set(keys.values()) == {1}  # 40 events x admin x (push, email)
    async with db.sessions() as s:
        bind_tenant(s, ALL_TENANTS)
        sent = Counter(
            (
                await s.scalars(
                    select(Notification.idempotency_key).where(Notification.status == "sent")
                )
            ).all()
        )
    assert len(sent) == 80 and set(sent.values()) == {1}


class WorkerKilled(BaseException):
    """Stands for SIGKILL: nothing after it runs, not even except-Exception handlers."""


class DiesBeforeAck(Dispatcher):
    """Sends, then dies before the transaction that logs the sends and settles the event."""

    async def _commit(self, c: Any, tally: Any, values: dict[str, Any]) -> bool:
        raise WorkerKilled


async def test_worker_killed_between_send_and_ack_sends_once_more_at_most(
    db: Db, tmp_path: Path, smtp: SmtpPeer, closing: list[Dispatcher]
) -> None:
    ids = await _demo(db)
    tenant = ids["tenant"]
    only_email = NotificationPreference(
        tenant_id=tenant, user_id=ids["admin"], event_type="conflict_stored", channels=["email"]
    )
    await _add(db, tenant, only_email, _conflict(tenant))
    # A lease long enough to outlast the doomed try on a loaded machine (0.5 s did not,
    # with the suite on both cores), short enough to wait out.
    config = worker_config(db, tmp_path, smtp_url=smtp.url, lease_s=2.0)
    from workers.run import build_channels

    doomed = DiesBeforeAck(config, db.sessions, db.dialect, "doomed", build_channels(config))
    survivor = dispatcher(db, config, "survivor")
    closing += [doomed, survivor]
    [claimed] = await outbox.claim(db.sessions, db.dialect, "doomed", 10, config.lease_s)
    try:
        await doomed.process(claimed)
        raise AssertionError("the worker should have died")
    except WorkerKilled:
        pass
    assert len(smtp.messages) == 1  # it went out; nobody recorded it
    assert await survivor.run(once=True) == 0  # still leased by the dead worker
    await asyncio.sleep(2.1)  # the lease runs out
    assert await survivor.run(once=True) == 1
    assert await survivor.run(once=True) == 0
    assert len(smtp.messages) == 2  # once more, and no more
    assert smtp.messages[0]["Message-ID"] == smtp.messages[1]["Message-ID"]  # receivers can dedupe
    [event] = await _outbox(db)
    assert event.status == "done" and event.attempts == 2


async def test_quiet_hours_defer_across_dst_and_opt_out_skips(
    db: Db, tmp_path: Path, smtp: SmtpPeer, closing: list[Dispatcher]
) -> None:
    ids = await _demo(db)
    tenant = ids["tenant"]
    quiet = NotificationPreference(
        tenant_id=tenant,
        user_id=ids["student_user"],
        event_type="*",
        channels=[],
        quiet_start="22:00",
        quiet_end="07:00",
    )
    out = NotificationPreference(
        tenant_id=tenant,
        user_id=ids["instructor_user"],
        event_type="mock_test_passed",
        channels=["email"],
        opted_out=True,
    )
    event = new_event(
        tenant,
        "mock_test_passed",
        {"mock_test_id": uid(), "student_id": ids["student"], "score": 45, "total": 50},
        None,
    )
    await _add(db, tenant, quiet, out, event)
    # 23:00 in London the night the clocks go forward (28 Mar 2027, 01:00 GMT → 02:00 BST).
    now = [dt.datetime(2027, 3, 27, 23, 0, tzinfo=dt.UTC)]
    config = worker_config(db, tmp_path, smtp_url=smtp.url)
    d = dispatcher(db, config, clock=lambda: now[0])
    closing.append(d)
    await d.run(once=True)
    [row] = await _outbox(db)
    assert row.status == "pending" and row.attempts == 0  # a deferral is not a failed try
    assert row.available_at == dt.datetime(2027, 3, 28, 6, 0, tzinfo=dt.UTC)  # 07:00 BST
    assert [m["To"] for m in smtp.messages] == [
        "Amelia Clarke <student1@demo.test>"
    ]  # email is silent
    # The morning comes.
    now[0] = dt.datetime(2027, 3, 28, 6, 0, tzinfo=dt.UTC)
    async with db.sessions() as s, s.begin():
        bind_tenant(s, tenant)
        (await s.scalar(select(OutboxEvent))).available_at = dt.datetime.now(dt.UTC)  # type: ignore[union-attr]
    await d.run(once=True)
    [row] = await _outbox(db)
    assert row.status == "done"
    async with db.sessions() as s:
        bind_tenant(s, tenant)
        log = [
            (n.user_id, n.channel, n.status)
            for n in await s.scalars(select(Notification).order_by(Notification.created_at))
        ]
    student, inst = ids["student_user"], ids["instructor_user"]
    assert Counter(log) == Counter(
        [
            (student, "email", "sent"),
            (student, "webpush", "deferred"),
            (student, "webpush", "sent"),
            (inst, "email", "skipped"),
        ]
    )
    assert len(smtp.messages) == 1
