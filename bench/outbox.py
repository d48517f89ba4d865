"""Outbox throughput: `drivesync worker` processes draining notifications to local peers.

Set-up: the demo school on a bench PostgreSQL database (and, for comparison, on SQLite);
student1 and instructor1 each have a Web Push subscription at a local push service (an
aiohttp server answering 201, after reading the body) and mail goes to a local SMTP server
(aiosmtpd, counting messages). Each run inserts E `mock_test_passed` events in one
transaction; each expands into 4 deliveries (the student and their instructor, by push and
email, each encrypted/signed or rendered as a multipart email and logged in `notifications`).
The workers are real `drivesync worker` processes started before the events are inserted
(idle, polling every second); the time runs from the insert's commit until every event is
`done`.

Scenarios: 2 workers on PostgreSQL (the figure asked for), 1 worker on PostgreSQL, 1 worker
on SQLite. Floor: the same messages sent by the same channel objects straight to the peers
(no database, no outbox), with the same concurrency: what delivery costs without the queue.

    .venv/bin/python -m bench.outbox [--quick] [--runs N] [--events E] [--json out.json]
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

from aiohttp import web
from aiosmtpd.controller import Controller

from bench.common import (
    DRIVESYNC,
    ROOT,
    BenchDb,
    Metric,
    base_args,
    loadavg,
    print_machine,
    print_metrics,
    save_json,
    say,
)

sys.path.insert(0, str(ROOT))


class _Smtp(Controller):
    def _trigger_server(self) -> None:
        assert self.server is not None
        self.port = self.server.sockets[0].getsockname()[1]
        super()._trigger_server()


class Peers:
    """A counting SMTP server and a push service on 127.0.0.1."""

    def __init__(self) -> None:
        self.mails = 0
        self.pushes = 0
        self.smtp = _Smtp(self, hostname="127.0.0.1", port=0)
        self.runner: web.AppRunner | None = None
        self.push_base = ""

    async def handle_DATA(self, _server: Any, _session: Any, _envelope: Any) -> str:
        self.mails += 1
        return "250 OK"

    async def _push(self, request: web.Request) -> web.Response:
        await request.read()
        self.pushes += 1
        return web.Response(status=201, headers={"Location": f"/m/{self.pushes}"})

    async def start(self) -> Peers:
        self.smtp.start()
        app = web.Application()
        app.router.add_post("/push/{sid}", self._push)
        self.runner = web.AppRunner(app, access_log=None)
        await self.runner.setup()
        site = web.TCPSite(self.runner, "127.0.0.1", 0)
        await site.start()
        port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        self.push_base = f"http://127.0.0.1:{port}"
        return self

    @property
    def smtp_url(self) -> str:
        return f"smtp://127.0.0.1:{self.smtp.port}?starttls=off"

    async def stop(self) -> None:
        self.smtp.stop()
        if self.runner is not None:
            await self.runner.cleanup()


def _subscription() -> tuple[str, str]:
    """A browser's keys (p256dh, auth) for a subscription the peer does not decrypt."""
    import base64

    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec

    key = (
        ec.generate_private_key(ec.SECP256R1())
        .public_key()
        .public_bytes(serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint)
    )
    b64 = lambda b: base64.urlsafe_b64encode(b).rstrip(b"=").decode()  # noqa: E731
    return b64(key), b64(os.urandom(16))


async def setup_school(url: str, push_base: str) -> dict[str, str]:
    """Subscriptions for student1 and instructor1; returns ids for the events."""
    from sqlalchemy import select

    from schemas import PushSubscription, Student, Tenant, User
    from sync.database import make_engine, make_sessionmaker
    from sync.tenancy import ALL_TENANTS, bind_tenant

    engine = make_engine(url)
    try:
        sessions = make_sessionmaker(engine)
        async with sessions() as s, s.begin():
            bind_tenant(s, ALL_TENANTS)
            tenant = await s.scalar(select(Tenant.id).where(Tenant.slug == "demo"))
            student = await s.scalar(select(Student).where(Student.email == "student1@demo.test"))
            inst = await s.scalar(
                select(User.id).where(
                    User.email == "instructor1@demo.test", User.tenant_id == tenant
                )
            )
            assert tenant and student and inst
            for user_id in (student.user_id, inst):
                p256dh, auth = _subscription()
                s.add(
                    PushSubscription(
                        tenant_id=tenant,
                        id=str(uuid.uuid4()),
                        user_id=user_id,
                        endpoint=f"{push_base}/push/{uuid.uuid4().hex}",
                        p256dh=p256dh,
                        auth=auth,
                    )
                )
        return {"tenant": str(tenant), "student": student.id}
    finally:
        await engine.dispose()


async def insert_events(url: str, ids: dict[str, str], count: int) -> float:
    """Insert `count` events in one transaction; returns the commit time (monotonic)."""
    from sync.database import make_engine, make_sessionmaker
    from sync.tenancy import bind_tenant
    from workers.outbox import new_event

    engine = make_engine(url)
    try:
        sessions = make_sessionmaker(engine)
        async with sessions() as s:
            bind_tenant(s, ids["tenant"])
            async with s.begin():
                s.add_all(
                    new_event(
                        ids["tenant"],
                        "mock_test_passed",
                        {
                            "mock_test_id": str(uuid.uuid4()),
                            "student_id": ids["student"],
                            "score": 45,
                            "total": 50,
                        },
                        None,
                    )
                    for _ in range(count)
                )
        return time.monotonic()
    finally:
        await engine.dispose()


async def wait_done(url: str, count: int, limit_s: float = 600) -> float:
    """Poll until `count` events are done; returns when (monotonic)."""
    from sqlalchemy import func, select

    from schemas import OutboxEvent
    from sync.database import make_engine, make_sessionmaker, read_options
    from sync.tenancy import ALL_TENANTS, bind_tenant

    engine = make_engine(url)
    deadline = time.monotonic() + limit_s
    try:
        sessions = make_sessionmaker(engine)
        while time.monotonic() < deadline:
            async with sessions() as s:
                bind_tenant(s, ALL_TENANTS)
                await s.connection(execution_options=read_options(engine.dialect.name))
                done = await s.scalar(
                    select(func.count())
                    .select_from(OutboxEvent)
                    .where(OutboxEvent.status != "pending")
                )
            if (done or 0) >= count:
                return time.monotonic()
            await asyncio.sleep(0.05)
        raise RuntimeError(f"outbox not drained in {limit_s} s")
    finally:
        await engine.dispose()


def start_workers(env: dict[str, str], n: int, log_dir: Path) -> list[subprocess.Popen[bytes]]:
    procs = []
    for i in range(n):
        with open(log_dir / f"worker-{i}.log", "ab") as log:
            procs.append(
                subprocess.Popen(
                    [DRIVESYNC, "worker", "--id", f"bench-{i}"],
                    env=env,
                    cwd=str(ROOT),
                    stdout=log,
                    stderr=subprocess.STDOUT,
                )
            )
    return procs


async def stop_workers(procs: list[subprocess.Popen[bytes]]) -> None:
    for p in procs:
        p.send_signal(signal.SIGTERM)
    for p in procs:
        for _ in range(100):
            if p.poll() is not None:
                break
            await asyncio.sleep(0.1)
        else:
            p.kill()


async def scenario(
    url: str, env: dict[str, str], workers: int, events: int, runs: int, peers: Peers, log_dir: Path
) -> tuple[Metric, Metric]:
    from sqlalchemy import text

    from sync.database import make_engine

    ids = await setup_school(url, peers.push_base)
    msgs = Metric(f"{workers} worker(s): deliveries/s", "msg/s")
    evs = Metric(f"{workers} worker(s): events/s", "events/s")
    procs = start_workers(env, workers, log_dir)
    try:
        await asyncio.sleep(3)  # imports and first poll
        for run in range(runs):
            before = peers.mails + peers.pushes
            t0 = await insert_events(url, ids, events)
            t1 = await wait_done(url, events * (run + 1))
            sent = peers.mails + peers.pushes - before
            assert sent >= events * 4, f"only {sent} of {events * 4} deliveries reached the peers"
            msgs.runs.append(sent / (t1 - t0))
            evs.runs.append(events / (t1 - t0))
            say(f"  run {run + 1}: {sent} deliveries in {t1 - t0:.2f} s (load {loadavg():.1f})")
        engine = make_engine(url)
        async with engine.connect() as c:
            dup = (
                await c.execute(
                    text(
                        "SELECT count(*) FROM (SELECT idempotency_key FROM notifications "
                        "WHERE status = 'sent' GROUP BY idempotency_key HAVING count(*) > 1) d"
                    )
                )
            ).scalar()
        await engine.dispose()
        msgs.note = f"duplicate deliveries: {dup}"
    finally:
        await stop_workers(procs)
    return msgs, evs


async def floor(peers: Peers, events: int, runs: int, concurrency: int = 16) -> Metric:
    """The same deliveries by the channels alone (no database, no outbox)."""
    from server.vapid import new_vapid_keys
    from workers.notifications.channels import Message, PushTarget
    from workers.notifications.channels.email import EmailChannel
    from workers.notifications.channels.webpush import WebPushChannel
    from workers.notifications.recipients import Recipient
    from workers.notifications.templates import Renderer

    email = EmailChannel(peers.smtp_url, "DriveSync <no-reply@drivesync.local>", 10, 8)
    push = WebPushChannel(new_vapid_keys()[0], "mailto:bench@drivesync.local", 3600, 10)
    renderer = Renderer()
    ctx = {
        "school": {"name": "Demo"},
        "recipient": {"name": "Amelia"},
        "mock_test": {"student": "Amelia", "score": 45, "total": 50},
    }
    p256dh, auth = _subscription()
    metric = Metric("floor: channels alone, deliveries/s", "msg/s")
    sem = asyncio.Semaphore(concurrency)

    async def one(i: int, channel: str) -> None:
        async with sem:
            person = Recipient(f"u{i}", f"u{i}", "Amelia", "student1@demo.test", None, "student")
            msg = Message(
                f"k{i}:{channel}",
                "t",
                "mock_test_passed",
                person,
                renderer.render("mock_test_passed", channel, ctx),
                (PushTarget("s", f"{peers.push_base}/push/x", p256dh, auth),),
            )
            await (email if channel == "email" else push).send(msg)

    for _ in range(runs):
        t0 = time.monotonic()
        await asyncio.gather(
            *(one(i, ch) for i in range(events * 2) for ch in ("email", "webpush"))
        )
        metric.runs.append(events * 4 / (time.monotonic() - t0))
    await email.close()
    await push.close()
    return metric


async def main() -> None:
    parser = base_args("Outbox throughput with worker processes against local push and SMTP peers")
    parser.add_argument("--events", type=int, help="events per run (4 deliveries each)")
    args = parser.parse_args()
    runs = max(3, args.runs)
    events = args.events or (100 if args.quick else 500)
    info = print_machine()
    from server.vapid import new_vapid_keys

    peers = await Peers().start()
    vapid = new_vapid_keys()[0]
    results: dict[str, Any] = {"machine": info, "events_per_run": events}
    metrics: list[Metric] = []
    try:
        for label, workers in (("pg2", 2), ("pg1", 1)):
            db = await BenchDb(f"outbox_{label}").create(seed=True)
            try:
                env = {
                    **db.env,
                    "DRIVESYNC_SMTP_URL": peers.smtp_url,
                    "DRIVESYNC_VAPID_PRIVATE_KEY": vapid,
                    "DRIVESYNC_LOG_LEVEL": "WARNING",
                }
                say(f"\n{workers} worker(s) on PostgreSQL, {events} events x {runs} runs")
                metrics += await scenario(db.url, env, workers, events, runs, peers, db.var_dir)
            finally:
                if not args.keep_db:
                    await db.drop()
        tmp = Path(tempfile.mkdtemp(prefix="drivesync-bench-outbox-sqlite-"))
        url = f"sqlite+aiosqlite:///{tmp}/bench.sqlite3"
        env = {k: v for k, v in os.environ.items() if not k.startswith("DRIVESYNC_")}
        env.update(
            DRIVESYNC_DATABASE_URL=url,
            DRIVESYNC_VAR_DIR=str(tmp),
            DRIVESYNC_SMTP_URL=peers.smtp_url,
            DRIVESYNC_VAPID_PRIVATE_KEY=vapid,
            DRIVESYNC_LOG_LEVEL="WARNING",
            PYTHONPATH=str(ROOT),
            DRIVESYNC_SECRET_KEY="bench-secret-key-not-for-production-0123456789abcdef",
        )
        for cmd in ("migrate", "seed-demo"):
            subprocess.run(  # noqa: ASYNC221 - set-up, before anything is measured
                [DRIVESYNC, cmd], env=env, cwd=str(ROOT), check=True, capture_output=True
            )
        say(f"\n1 worker on SQLite, {events} events x {runs} runs")
        sqlite_msgs, sqlite_evs = await scenario(url, env, 1, events, runs, peers, tmp)
        sqlite_msgs.name, sqlite_evs.name = (
            "1 worker, SQLite: deliveries/s",
            "1 worker, SQLite: events/s",
        )
        metrics += [sqlite_msgs, sqlite_evs]
        metrics.append(await floor(peers, events, runs))
    finally:
        await peers.stop()
    print_metrics("Outbox throughput", metrics)
    results["metrics"] = [m.row() for m in metrics]
    save_json(args.json, "outbox", results)


if __name__ == "__main__":
    asyncio.run(main())
