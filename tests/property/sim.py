"""The machinery behind tests/property/test_convergence.py: a simulated offline-first client
(outbox, optimistic view, base revs), a server that can be restarted on the same database,
an independent model of who may read what, and the invariants checked during and after a
history. It speaks only the wire protocol (PROTOCOL.md); nothing here reads server internals.

A `World` is built once per backend and test function: a "warm" copy of the demo database
on which every simulated user has done its initial sync (so each history starts with
installed, synced devices), the users' access tokens, and their replicas and cursors. Each
history (`Run`) then gets its own copy of the warm database, so histories are independent
and hypothesis can replay and shrink them. Ids, client ids and hlc stamps are derived from
the history alone, so a history always runs the same way.
"""

from __future__ import annotations

import asyncio
import copy
import datetime as dt
import hashlib
import json
import shutil
import time
import uuid
from collections import defaultdict
from collections.abc import Awaitable, Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from aiohttp.test_utils import TestClient, TestServer

from server.app import create_app
from server.config import Settings
from sync.core.entities import ENTITIES as REGISTRY
from tests.conftest import RUN_ID, TEST_SECRET, Templates, _pg_admin, _pg_sa_url, login
from tests.helpers import Device, held_record

Key = tuple[str, str]  # (entity, id)
Record = dict[str, Any]

NS = uuid.UUID("a3c2f0de-5b8e-4a53-9d0b-7e51c2d4f901")


@dataclass(frozen=True)
class Member:
    """One simulated installation: a short name, the user it signs in as."""

    name: str
    email: str
    tenant: str


# Two tenants, every role, and two devices for some users (instructor1, student1).
ROSTER: tuple[Member, ...] = (
    Member("A", "admin@demo.test", "demo"),
    Member("I1", "instructor1@demo.test", "demo"),
    Member("I1b", "instructor1@demo.test", "demo"),
    Member("I2", "instructor2@demo.test", "demo"),
    Member("S1", "student1@demo.test", "demo"),
    Member("S1b", "student1@demo.test", "demo"),
    Member("S4", "student4@demo.test", "demo"),
    Member("RA", "admin@rival.test", "rival"),
    Member("RI", "instructor1@rival.test", "rival"),
    Member("RS", "student1@rival.test", "rival"),
)
TENANTS = ("demo", "rival")
ADMIN_EMAIL = {"demo": "admin@demo.test", "rival": "admin@rival.test"}
OTHER = {"demo": "rival", "rival": "demo"}

VOCAB = (
    "mirror",
    "clutch",
    "signal",
    "speed",
    "good",
    "poor",
    "roundabout",
    "junction",
    "steady",
    "late",
)
LESSON_STATUSES = ("in_progress", "completed", "no_show", "cancelled", "scheduled")

# Protocol scope rules, written down independently of the server (PROTOCOL.md, "scope").
CATALOGUE = frozenset({"skill", "service", "rate_card", "theory_question", "package"})
ENTITIES = frozenset(
    {
        "lesson",
        "lesson_note",
        "skill_assessment",
        "student_progress",
        "trip",
        "trip_segment",
        "theory_attempt",
        "mock_test",
        "lesson_signature",  # issue 13 (not generated: the scope rules still hold)
        "booking",
        "booking_series",
        "booking_move",
        "booking_history",  # admins only: may_read lets owners and admins read everything
        "availability",
        "availability_exception",
        "student",
        "instructor",
        "student_instructor",
        "skill",
        "service",
        "rate_card",
        "theory_question",
        "payment",
        "invoice",  # issue 12: read like payments
        "package",  # issue 12: the catalogue's packages
        "credit_entry",  # issue 12: a student's ledger, read like their records
        "student_balance",
        "payout",  # issue 12: an instructor's own, and admins'
        "inbox_item",  # personal: its owner's alone, admins included
        "guardian",  # issue 13: admins only
        "guardian_student",  # issue 13: read by admins and the guardian
        "test_record",  # issue 13: a student's driving tests
    }
)
BY_STUDENT = frozenset(
    {
        "guardian_student",
        "test_record",
        "student_instructor",  # a student's assignments: read like their records
        "lesson",
        "lesson_note",
        "skill_assessment",
        "lesson_signature",
        "student_progress",
        "trip",
        "trip_segment",
        "booking",
        "booking_series",
        "booking_move",
        "theory_attempt",
        "mock_test",
        "payment",
        "invoice",
        "credit_entry",
        "student_balance",
    }
)
# Instructors read their students' theory attempts and mock tests too (issue 13).
STUDENT_ONLY_READ = frozenset({"payment", "invoice"})
# A guardian's links to learners: their own and the office's, nobody else's.
GUARDIAN_ONLY_READ = frozenset({"guardian_student"})
APPEND_ONLY = frozenset(
    {"skill_assessment", "trip_segment", "theory_attempt", "mock_test", "lesson_signature"}
)
STATUSES = frozenset({"applied", "merged", "conflict", "rejected"})


class Violation(AssertionError):
    """An invariant of the protocol did not hold."""


def check(cond: object, message: str) -> None:
    if not cond:
        raise Violation(message)


def canon(value: Any) -> str:
    """Canonical JSON: tells 1 from 1.0 from true, unlike ==."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"))


def iso(ms: int) -> str:
    stamp = dt.datetime.fromtimestamp(ms // 1000, dt.UTC)
    return stamp.isoformat().replace("+00:00", "Z")


def replica_checksum(replica: dict[Key, Record]) -> dict[str, dict[str, Any]]:
    """What a client computes from its replica: per entity, the count of live records and
    the SHA-256 hex of the lines `id:rev\\n` sorted by id."""
    grouped: dict[str, list[tuple[str, int]]] = defaultdict(list)
    for (entity, rid), record in replica.items():
        grouped[entity].append((rid, record["rev"]))
    out: dict[str, dict[str, Any]] = {}
    for entity, items in grouped.items():
        text = "".join(f"{rid}:{rev}\n" for rid, rev in sorted(items))
        out[entity] = {"count": len(items), "hash": hashlib.sha256(text.encode()).hexdigest()}
    return out


# ---------------------------------------------------------------------------------------
# The world: warm database, tokens, initial replicas
# ---------------------------------------------------------------------------------------


@dataclass
class Synced:
    """A user's state after the initial sync on the warm database."""

    tokens: dict[str, Any]
    replica: dict[Key, Record]
    cursor: str


class World:
    """Per backend: the warm database every history copies, and what the users know.
    (Not a dataclass: hypothesis would print every replica with a failing example.)"""

    def __init__(
        self, kind: str, root: Path, warm: str, users: dict[str, Synced], heads: dict[str, int]
    ) -> None:
        self.kind = kind
        self.root = root
        self.warm = warm  # sqlite: file path; pg: database name
        self.users = users  # by email
        self.heads = heads  # tenant → rev after warm-up
        self.counter = 0
        # PostgreSQL copies take ~0.3 s: one worker thread makes the next copy (and drops
        # used ones) while a history runs.
        self._worker: ThreadPoolExecutor | None = None
        self._next: Future[str] | None = None

    @staticmethod
    def settings(url: str, root: Path) -> Settings:
        # As tests.conftest.make_settings, with tokens that outlive a nightly-sized run.
        return Settings(
            database_url=url,
            secret_key=TEST_SECRET,
            var_dir=root / "var",
            access_token_ttl_s=86_400,
        )

    @classmethod
    async def build(cls, kind: str, templates: Templates, root: Path) -> World:
        if kind == "sqlite":
            warm = str(root / "warm.sqlite3")
            shutil.copy(templates.sqlite_demo, warm)
            url = f"sqlite+aiosqlite:///{warm}"
        else:
            warm = f"dst_{RUN_ID}_conv_{uuid.uuid4().hex[:8]}"
            await _pg_admin(f"CREATE DATABASE {warm} TEMPLATE {templates.pg_demo}")
            url = _pg_sa_url(warm)
        client = TestClient(TestServer(create_app(cls.settings(url, root))))
        await client.start_server()
        users: dict[str, Synced] = {}
        heads: dict[str, int] = {}
        try:
            for member in ROSTER:
                if member.email in users:
                    continue
                device = Device(client, member.email, member.tenant)
                device.tokens = await login(client, member.email, member.tenant)
                device.user = device.tokens["user"]
                await device.pull(limit=5000)
                assert device.cursor
                users[member.email] = Synced(device.tokens, device.replica, device.cursor)
                page = await device.pull_page()
                heads[member.tenant] = page["rev"]
        finally:
            await client.close()
        return cls(kind, root, warm, users, heads)

    def __repr__(self) -> str:  # hypothesis prints the fixture with a failing example
        return f"World({self.kind!r}, warm={self.warm!r})"

    def _pg_copy(self) -> Future[str]:
        self.counter += 1
        name = f"dst_{RUN_ID}_h{self.counter}_{uuid.uuid4().hex[:6]}"

        def create() -> str:
            asyncio.run(_pg_admin(f"CREATE DATABASE {name} TEMPLATE {self.warm}"))
            return name

        if self._worker is None:
            self._worker = ThreadPoolExecutor(1, thread_name_prefix="pg-copies")
        return self._worker.submit(create)

    def _pg_drop(self, name: str) -> Future[None]:
        assert self._worker is not None
        return self._worker.submit(
            asyncio.run, _pg_admin(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
        )

    async def close(self) -> None:
        if self.kind != "pg":
            return
        if self._next is not None:
            self._pg_drop(await asyncio.wrap_future(self._next))
        if self._worker is not None:
            self._worker.shutdown(wait=True)
        await _pg_admin(f"DROP DATABASE IF EXISTS {self.warm} WITH (FORCE)")

    async def fresh_database(self) -> tuple[str, Callable[[], Awaitable[None]]]:
        """A private copy of the warm database for one history: (url, async cleanup)."""
        if self.kind == "sqlite":
            self.counter += 1
            path = self.root / f"history-{self.counter}.sqlite3"
            shutil.copy(self.warm, path)

            def unlink() -> None:
                for extra in ("", "-wal", "-shm", "-journal"):
                    Path(f"{path}{extra}").unlink(missing_ok=True)

            async def drop_file() -> None:
                await asyncio.to_thread(unlink)

            return f"sqlite+aiosqlite:///{path}", drop_file
        name = await asyncio.wrap_future(self._next or self._pg_copy())
        self._next = self._pg_copy()

        async def drop_db() -> None:
            self._pg_drop(name)

        return _pg_sa_url(name), drop_db


class Server:
    """The app under test on one database URL; `restart` builds a fresh app on it."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.client: TestClient[Any, Any] | None = None
        self.starts = 0

    async def start(self) -> TestClient[Any, Any]:
        self.client = TestClient(TestServer(create_app(self.settings)))
        await self.client.start_server()
        self.starts += 1
        return self.client

    async def stop(self) -> None:
        if self.client is not None:
            await self.client.close()
            self.client = None


# ---------------------------------------------------------------------------------------
# The simulated device
# ---------------------------------------------------------------------------------------


class SimDevice(Device):
    """A careful offline-first client on top of tests.helpers.Device.

    `replica` holds only what the server confirmed (pull changes, result records); the
    outbox holds every mutation not yet acknowledged *to this device* — one whose response
    was lost stays there and is resent. The user sees `view()`: the replica with the outbox
    applied on top, so a rejected mutation simply disappears from the view when dropped.
    `base_rev` of an edit is the confirmed rev of the record under the first pending edit of
    that record, kept for later edits while any of them is pending."""

    def __init__(self, run: Run, index: int, member: Member, synced: Synced, skew: int) -> None:
        assert run.server.client is not None
        super().__init__(run.server.client, member.email, member.tenant)
        self.run = run
        self.index = index
        self.name = member.name
        self.client_id = str(uuid.uuid5(NS, f"client-{index}"))
        self.skew_ms = skew
        self.tokens = synced.tokens
        self.user = synced.tokens["user"]
        self.replica = dict(synced.replica)  # records are replaced, never changed in place
        self.cursor = synced.cursor
        self.outbox: list[dict[str, Any]] = []
        self.pending_base: dict[Key, int | None] = {}
        self.rejected: dict[int, dict[str, Any]] = {}
        self.acked_seq = 0  # as last told by a response this device processed
        self.has_more = False

    @property
    def role(self) -> str:
        return str(self.user["role"])

    @property
    def staff(self) -> bool:
        return self.role in ("owner", "admin", "instructor")

    # -- local edits --------------------------------------------------------------------

    def view(self, entity: str) -> dict[str, Record]:
        """The records of one entity as the user sees them (replica + pending edits)."""
        out = {rid: dict(rec) for (ent, rid), rec in self.replica.items() if ent == entity}
        for m in self.outbox:
            if m["entity"] != entity:
                continue
            rid = m["id"]
            if m["op"] == "delete":
                out.pop(rid, None)
            elif m["op"] == "put":
                out[rid] = {**out.get(rid, {}), "id": rid, **m["data"]}
            elif rid in out:
                out[rid] = {**out[rid], **m["data"]}
        return out

    def edit(
        self,
        entity: str,
        rid: str,
        op: str,
        data: dict[str, Any] | None = None,
        expect_reject: str | None = None,
    ) -> dict[str, Any]:
        """Make an offline change: stamp it (seq, hlc, base_rev) and queue it."""
        key = (entity, rid)
        base: int | None
        if any((m["entity"], m["id"]) == key for m in self.outbox):
            base = self.pending_base.get(key)
        else:
            confirmed = self.replica.get(key)
            base = confirmed["rev"] if confirmed and op != "put" else None
            self.pending_base[key] = base
        stamp = self.hlc(self.run.now_ms + self.skew_ms)
        m = self.mutation(entity, rid, op, data, base_rev=base, hlc=stamp)
        self.outbox.append(m)
        self.run.sent[(self.client_id, m["seq"])] = (self, copy.deepcopy(m))
        if expect_reject:
            self.run.expect_reject[(self.client_id, m["seq"])] = expect_reject
        return m

    def _forget_pending(self) -> None:
        pending = {(m["entity"], m["id"]) for m in self.outbox}
        self.pending_base = {k: v for k, v in self.pending_base.items() if k in pending}

    # -- push -----------------------------------------------------------------------------

    async def push_outbox(
        self, batch: int | None = None, drop: bool = False, reverse: bool = False
    ) -> None:
        """Send the oldest `batch` queued mutations (all when None). With `drop` the server
        processes the request but its response never reaches the device."""
        mutations = self.outbox[:batch] if batch else list(self.outbox)
        if not mutations:
            return
        wire = list(reversed(mutations)) if reverse else mutations
        resp = await self.push_raw(copy.deepcopy(wire))
        text = await resp.text()
        check(resp.status == 200, f"{self.name}: push answered {resp.status}: {text}")
        body = json.loads(text)
        self.run.observe_push(self, mutations, body)
        if drop:
            return
        self.absorb(body)

    def absorb(self, body: dict[str, Any]) -> None:
        """Process a push response: drop acknowledged mutations, keep the server's records,
        remember why rejected ones were refused."""
        by_seq = {m["seq"]: m for m in self.outbox}
        for result in body["results"]:
            m = by_seq.pop(result["seq"], None)
            if m is None:
                continue
            if result["status"] == "rejected":
                self.rejected[result["seq"]] = result["error"]
                continue
            key = (m["entity"], m["id"])
            # An acknowledged create comes back as only what the server filled in.
            record = held_record(m, result)
            # A resent mutation's result is history: its record may be older than what a
            # pull has brought since. It still counts when the replica has nothing newer:
            # pulls with skip_own never send this device's own writes, so when the first
            # answer was lost the duplicate is the only way the record arrives.
            if result.get("duplicate"):
                held = self.replica.get(key)
                if record is not None and (held is None or held["rev"] < record["rev"]):
                    self.replica[key] = record
                elif (
                    m["op"] == "delete"
                    and result["status"] == "applied"
                    and held is not None
                    and held["rev"] < result["rev"]
                ):
                    self.replica.pop(key)
                continue
            if record is not None:
                self.replica[key] = record
            elif m["op"] == "delete" and result["status"] == "applied":
                # Our delete is committed: a pull will not say so if the replica is being
                # rebuilt from scratch (tombstones older than that are skipped).
                self.replica.pop((m["entity"], m["id"]), None)
        self.outbox = [m for m in self.outbox if m["seq"] in by_seq]
        self.acked_seq = body["acked_seq"]
        self._forget_pending()

    # -- pull -----------------------------------------------------------------------------

    async def pull_once(self, limit: int, drop: bool = False) -> dict[str, Any]:
        """Pull one page; with `drop` the page is lost on the way (the cursor stays)."""
        params: dict[str, Any] = {"limit": limit}
        if self.cursor:
            # Left out: what this device wrote and was answered with (it holds it already,
            # rebuilt from the answer), so a wrong `filled` would show as divergence.
            params.update(cursor=self.cursor, client_id=self.client_id, skip_own="true")
        resp = await self.client.get("/v1/sync/pull", params=params, headers=self.headers)
        text = await resp.text()
        check(resp.status == 200, f"{self.name}: pull answered {resp.status}: {text}")
        page: dict[str, Any] = json.loads(text)
        self.run.observe_pull(self, page)
        if drop:
            return page
        for change in page["changes"]:
            key = (change["entity"], change["id"])
            if change["op"] == "delete":
                self.replica.pop(key, None)
            else:
                self.replica[key] = change["record"]
        self.cursor = page["cursor"]
        self.has_more = bool(page["has_more"])
        if not self.has_more:
            self.run.check_replica_scope(self)
        return page

    async def pull_all(self, limit: int) -> None:
        for _ in range(10_000):
            page = await self.pull_once(limit)
            if not page["has_more"]:
                return
        raise Violation(f"{self.name}: pull never finished")

    def reset(self) -> None:
        """Re-sync from scratch (as after 410 reset_required): the outbox stays."""
        self.replica = {}
        self.cursor = None
        self.has_more = False


# ---------------------------------------------------------------------------------------
# One history
# ---------------------------------------------------------------------------------------


@dataclass
class Who:
    """A user as the scope model sees them."""

    tenant: str
    role: str
    student_id: str | None
    instructor_id: str | None
    user_id: str | None = None


@dataclass
class Run:
    """One history against its own copy of the warm database."""

    world: World
    server: Server
    skews: tuple[int, ...]
    devices: list[SimDevice] = field(default_factory=list)
    cast: list[SimDevice] = field(default_factory=list)
    now_ms: int = 0
    ids: int = 0
    head: dict[str, int] = field(default_factory=dict)
    # (client_id, seq) → (device, mutation as first queued)
    sent: dict[tuple[str, int], tuple[SimDevice, dict[str, Any]]] = field(default_factory=dict)
    # (client_id, seq) → every result the server gave for it, lost responses included
    results: dict[tuple[str, int], list[dict[str, Any]]] = field(
        default_factory=lambda: defaultdict(list)
    )
    server_acked: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    expect_reject: dict[tuple[str, int], str] = field(default_factory=dict)
    # Scope model: tenant → student id → instructor ids; and what is known of every record.
    assigned: dict[str, dict[str, set[str]]] = field(default_factory=dict)
    known: dict[str, dict[Key, Record]] = field(default_factory=dict)
    stats: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    hot: list[str] = field(default_factory=list)
    focus: bool = False

    async def start(self) -> None:
        await self.server.start()
        self.now_ms = int(time.time() * 1000) - 3_600_000
        self.head = dict(self.world.heads)
        self.hot = [
            self.world.users[email].tokens["user"]["student_id"]
            for email in ("student1@demo.test", "student1@rival.test", "student4@demo.test")
        ]
        for tenant in TENANTS:
            admin = self.world.users[ADMIN_EMAIL[tenant]]
            self.known[tenant] = dict(admin.replica)
            self.assigned[tenant] = {
                rid: set(rec["instructor_ids"])
                for (entity, rid), rec in admin.replica.items()
                if entity == "student"
            }
        for i, member in enumerate(ROSTER):
            synced = self.world.users[member.email]
            self.devices.append(SimDevice(self, i, member, synced, self.skews[i]))

    def new_id(self) -> str:
        self.ids += 1
        return str(uuid.uuid5(NS, f"record-{self.ids}"))

    async def restart(self) -> None:
        await self.server.stop()
        client = await self.server.start()
        for device in self.devices:
            device.client = client

    def who(self, device: Device) -> Who:
        user = device.user
        return Who(
            device.tenant,
            user["role"],
            user.get("student_id"),
            user.get("instructor_id"),
            user.get("id"),
        )

    def admin_headers(self, tenant: str) -> dict[str, str]:
        tokens = self.world.users[ADMIN_EMAIL[tenant]].tokens
        return {"Authorization": f"Bearer {tokens['access_token']}"}

    def remember(self, tenant: str, entity: str, record: Record) -> None:
        self.known[tenant][(entity, record["id"])] = record

    # -- the scope model ------------------------------------------------------------------

    def instructors_of(self, tenant: str, student_id: str) -> set[str]:
        return self.assigned[tenant].get(student_id, set())

    def students_of(self, tenant: str, instructor_id: str | None) -> set[str]:
        return {s for s, ins in self.assigned[tenant].items() if instructor_id in ins}

    def student_of(self, tenant: str, entity: str, record: Record) -> str | None:
        """The student a record belongs to (segments via their trip)."""
        if entity == "student":
            return str(record["id"])
        if entity == "trip_segment":
            trip = self.known[tenant].get(("trip", record["trip_id"]))
            return trip["student_id"] if trip else None
        value = record.get("student_id")
        return str(value) if value else None

    @staticmethod
    def as_read_by(who: Who, entity: str, record: Record) -> Record:
        """The record as the user is sent it: a student (or guardian) never gets the fields
        only staff read (an instructor's payout set-up, a time off's reason)."""
        if who.role in ("owner", "admin", "instructor"):
            return record
        hidden = REGISTRY[entity].staff_only
        return {f: v for f, v in record.items() if f not in hidden} if hidden else record

    def may_read(self, who: Who, entity: str, record: Record) -> bool:
        """PROTOCOL.md's scope rules, applied to one record of the user's tenant."""
        if entity == "inbox_item":
            return bool(record["user_id"] == who.user_id)
        if who.role in ("owner", "admin") or entity in CATALOGUE:
            return True
        if entity == "payout":  # its instructor's alone (and admins')
            return who.role == "instructor" and record["instructor_id"] == who.instructor_id
        if entity in ("instructor", "availability", "availability_exception"):
            iid = record["id"] if entity == "instructor" else record["instructor_id"]
            if who.role == "instructor":
                return bool(iid == who.instructor_id)
            return who.student_id is not None and iid in self.instructors_of(
                who.tenant, who.student_id
            )
        if entity in GUARDIAN_ONLY_READ:
            return False  # the simulation's users are staff and students
        if entity == "student" or entity in BY_STUDENT:
            sid = self.student_of(who.tenant, entity, record)
            if who.role == "instructor":
                return entity not in STUDENT_ONLY_READ and sid in self.students_of(
                    who.tenant, who.instructor_id
                )
            if who.role == "student":
                return sid == who.student_id and not (
                    entity == "lesson_note" and record.get("private")
                )
        return False

    def check_replica_scope(self, device: SimDevice) -> None:
        """After a complete pull: nothing outside the user's scope, nothing of the other
        school, no private note on a student's device."""
        who = self.who(device)
        foreign = self.known[OTHER[device.tenant]]
        for key, record in device.replica.items():
            check(
                key not in foreign,
                f"{device.name}: replica holds {key} of the other school ({OTHER[device.tenant]})",
            )
            if who.role == "student" and key[0] == "lesson_note":
                check(not record["private"], f"{device.name}: private note {key[1]} on a student")
            check(
                self.may_read(who, key[0], record),
                f"{device.name} ({who.role}) holds {key} outside its scope: {record}",
            )

    # -- observing the wire -------------------------------------------------------------

    def observe_push(
        self, device: SimDevice, mutations: list[dict[str, Any]], body: dict[str, Any]
    ) -> None:
        """Checks on every push response, including those the device never gets."""
        tenant = device.tenant
        sent_seqs = sorted(m["seq"] for m in mutations)
        got = [r["seq"] for r in body["results"]]
        check(got == sent_seqs, f"{device.name}: results for seqs {got}, sent {sent_seqs}")
        acked = max(self.server_acked[device.client_id], sent_seqs[-1])
        check(
            body["acked_seq"] == acked,
            f"{device.name}: acked_seq {body['acked_seq']}, expected {acked}",
        )
        self.server_acked[device.client_id] = body["acked_seq"]
        all_dup = True
        # Records a mutation of this push deleted: results are built after the batch, so an
        # earlier mutation's result on such a record (a conflict) has no record to carry.
        deleted_here = {
            (
                self.sent[(device.client_id, r["seq"])][1]["entity"],
                self.sent[(device.client_id, r["seq"])][1]["id"],
            )
            for r in body["results"]
            if not r.get("duplicate")
            and r["status"] == "applied"
            and self.sent[(device.client_id, r["seq"])][1]["op"] == "delete"
        }
        for result in body["results"]:
            key = (device.client_id, result["seq"])
            history = self.results[key]
            history.append(result)
            if result.get("duplicate"):
                check(result["duplicate"] is True, f"duplicate flag {result['duplicate']!r}")
                check(
                    any(not r.get("duplicate") for r in history[:-1]),
                    f"{device.name} seq {result['seq']}: duplicate result before any original",
                )
                continue
            all_dup = False
            _dev, m = self.sent[key]
            self.stats[f"{m['entity']}:{m['op']}:{result['status']}"] += 1
            self._check_fresh_result(device, key, result, (m["entity"], m["id"]) in deleted_here)
        if all_dup:
            self.stats["push:all-duplicate"] += 1
            check(
                body["rev"] == self.head[tenant],
                f"{device.name}: a resend moved the rev from {self.head[tenant]} to {body['rev']}",
            )
        check(body["rev"] >= self.head[tenant], f"push rev {body['rev']} went backwards")
        self.head[tenant] = body["rev"]

    def _check_fresh_result(
        self,
        device: SimDevice,
        key: tuple[str, int],
        result: dict[str, Any],
        deleted_later: bool = False,
    ) -> None:
        _dev, m = self.sent[key]
        status = result["status"]
        where = f"{device.name} seq {key[1]} ({m['op']} {m['entity']} {m['id']})"
        check(status in STATUSES, f"{where}: unknown status {status!r}")
        if status == "rejected":
            error = result.get("error") or {}
            check(error.get("code") and "message" in error, f"{where}: rejected without reason")
            self.stats[f"rejected:{error['code']}"] += 1
        else:
            check(isinstance(result.get("rev"), int), f"{where}: {status} without a rev")
        if status == "conflict":
            check(result.get("conflict_id"), f"{where}: conflict without conflict_id")
            check("loser" in result, f"{where}: conflict lacks loser")
            check("record" in result or deleted_later, f"{where}: conflict lacks record")
        expected = self.expect_reject.get(key)
        if expected:
            check(status == "rejected", f"{where}: {expected}, but the server said {result}")
        record = result.get("record")
        if record is not None:
            check(record.get("id") == m["id"], f"{where}: result record is another record")
            who = self.who(device)
            check(
                self.may_read(who, m["entity"], record),
                f"{where}: the {status} result hands {device.name} ({who.role}) a "
                f"{m['entity']} outside its scope: {record}",
            )
            self.remember(device.tenant, m["entity"], record)

    def observe_pull(self, device: SimDevice, page: dict[str, Any]) -> None:
        tenant = device.tenant
        where = f"{device.name} pull"
        check(page["changes"] or not page["has_more"], f"{where}: empty page with has_more")
        keys = [(c["entity"], c["id"]) for c in page["changes"]]
        check(len(keys) == len(set(keys)), f"{where}: a record twice on one page")
        check(
            page["rev"] == self.head[tenant],
            f"{where}: rev {page['rev']}, the school is at {self.head[tenant]}",
        )
        foreign = self.known[OTHER[tenant]]
        for change in page["changes"]:
            key = (change["entity"], change["id"])
            check(key not in foreign, f"{where}: {key} belongs to the other school")
            if change["op"] == "put":
                record = change["record"]
                check(
                    record["id"] == change["id"] and record["rev"] == change["rev"],
                    f"{where}: change and record disagree: {change}",
                )
                self.remember(tenant, change["entity"], record)
                if device.role == "student" and change["entity"] == "lesson_note":
                    check(not record["private"], f"{where}: private note sent to a student")
            else:
                check(change["op"] == "delete", f"{where}: unknown op {change['op']!r}")

    # -- admin actions --------------------------------------------------------------------

    async def reassign(self, tenant: str, student_id: str, instructor_ids: list[str]) -> None:
        assert self.server.client is not None
        resp = await self.server.client.put(
            f"/v1/admin/students/{student_id}/instructors",
            json={"instructor_ids": instructor_ids},
            headers=self.admin_headers(tenant),
        )
        text = await resp.text()
        check(resp.status == 200, f"reassign answered {resp.status}: {text}")
        body = json.loads(text)
        check(body["rev"] > self.head[tenant], "reassign did not move the rev")
        self.head[tenant] = body["rev"]
        before = {d.index: self.scope_members(d) for d in self.devices if d.tenant == tenant}
        self.assigned[tenant][student_id] = set(instructor_ids)
        for device in self.devices:
            if device.tenant == tenant and device.has_more:
                if self.scope_members(device) != before[device.index]:
                    # The interleaving that once stranded records (fixed in b1c4fe4).
                    self.stats["scope changed mid-pull"] += 1

    def scope_members(self, device: SimDevice) -> set[str]:
        """The students (instructors) an instructor's (a student's) scope is made of."""
        who = self.who(device)
        if who.role == "instructor":
            return self.students_of(who.tenant, who.instructor_id)
        if who.role == "student" and who.student_id:
            return self.instructors_of(who.tenant, who.student_id)
        return set()

    # -- quiescence -----------------------------------------------------------------------

    async def quiesce(self, active: list[SimDevice]) -> None:
        """Every device pushes until its outbox is empty, then pulls until has_more is
        false (pushes never depend on pulls, so one round of each reaches quiescence)."""
        for device in active:
            for _ in range(100):
                if not device.outbox:
                    break
                await device.push_outbox()
            check(not device.outbox, f"{device.name}: outbox never drained")
        for device in active:
            await device.pull_all(limit=1000)

    async def server_view(self, device: Device) -> dict[Key, Record]:
        """The server's view of a user's scope: a fresh installation's initial sync. The
        catalogue (skills, services, theory bank: most of the data, read by everyone,
        written by no history) is taken from the warm-up's initial sync instead of being
        pulled again; the checksums, which cover it, show it is still the server's."""
        synced = self.world.users[device.email]
        assert self.server.client is not None
        fresh = Device(self.server.client, device.email, device.tenant)
        fresh.tokens, fresh.user = synced.tokens, synced.tokens["user"]
        await fresh.pull(limit=5000, entities=",".join(sorted(ENTITIES - CATALOGUE)))
        catalogue = {k: r for k, r in synced.replica.items() if k[0] in CATALOGUE}
        return {**fresh.replica, **catalogue}

    async def get(self, path: str, tenant: str, headers: dict[str, str] | None = None) -> Any:
        assert self.server.client is not None
        resp = await self.server.client.get(path, headers=headers or self.admin_headers(tenant))
        text = await resp.text()
        check(resp.status == 200, f"GET {path} answered {resp.status}: {text}")
        return json.loads(text)

    async def verify(self, active: list[SimDevice]) -> None:
        """The invariants at quiescence (see the test module's docstring)."""
        views: dict[str, dict[Key, Record]] = {}
        admins = [d for d in self.devices if d.email in ADMIN_EMAIL.values()]
        for device in [*admins, *active]:
            if device.email not in views:
                views[device.email] = await self.server_view(device)
        admin_view = {t: views[ADMIN_EMAIL[t]] for t in TENANTS}
        for tenant in TENANTS:
            self.known[tenant].update(admin_view[tenant])

        # (4) the two schools share no record.
        shared = set(admin_view["demo"]) & set(admin_view["rival"])
        check(not shared, f"records in both schools: {sorted(shared)[:5]}")

        # The server's view of each user is exactly the protocol's scope over the school.
        for device in active:
            who = self.who(device)
            expected = {
                k: self.as_read_by(who, k[0], r)
                for k, r in admin_view[device.tenant].items()
                if self.may_read(who, k[0], r)
            }
            view = views[device.email]
            self._same(view, expected, f"server view of {device.email} vs the scope rules")

        checked: set[str] = set()
        for device in active:
            # (1) replica == the server's view of the user's scope.
            check(not device.outbox and not device.has_more, f"{device.name} not quiescent")
            self._same(device.replica, views[device.email], f"{device.name}'s replica")
            # (4, 5) no record of the other school; no private note on a student's device.
            self.check_replica_scope(device)
            # (2) the server's checksum matches the one computed from the replica (once per
            # user: the replicas of one user's devices are equal by now).
            if device.email in checked:
                continue
            checked.add(device.email)
            body = await self.get(
                f"/v1/sync/checksum?cursor={device.cursor}", device.tenant, device.headers
            )
            mine = replica_checksum(device.replica)
            check(body["rev"] == self.head[device.tenant], f"checksum rev {body['rev']}")
            diff = sorted(
                e
                for e in set(mine) | set(body["entities"])
                if mine.get(e) != body["entities"].get(e)
            )
            check(not diff, f"{device.name}: checksum differs for {diff}")

        await self._verify_exactly_once(active, admin_view)

    def _same(self, got: dict[Key, Record], want: dict[Key, Record], what: str) -> None:
        missing = sorted(set(want) - set(got))
        extra = sorted(set(got) - set(want))
        changed = sorted(k for k in set(got) & set(want) if canon(got[k]) != canon(want[k]))
        if missing or extra or changed:
            lines = [f"{what} differs:"]
            lines += [f"  missing {k}: {want[k]}" for k in missing[:5]]
            lines += [f"  extra {k}: {got[k]}" for k in extra[:5]]
            lines += [f"  differs {k}:\n    has  {got[k]}\n    want {want[k]}" for k in changed[:5]]
            raise Violation("\n".join(lines))

    async def _verify_exactly_once(
        self, active: list[SimDevice], admin_view: dict[str, dict[Key, Record]]
    ) -> None:
        journals: dict[str, dict[str, list[dict[str, Any]]]] = {}
        devices: dict[str, dict[str, Any]] = {}
        for tenant in TENANTS:
            entries = (await self.get("/v1/admin/journal?limit=500", tenant))["entries"]
            check(len(entries) < 500, "journal too long to check in one page")
            journals[tenant] = defaultdict(list)
            for entry in entries:
                journals[tenant][entry["kind"]].append(entry)
            for d in (await self.get("/v1/admin/devices", tenant))["devices"]:
                devices[d["client_id"]] = d
        applied_ids: dict[Key, bool] = defaultdict(bool)
        for (client_id, seq), (device, m) in self.sent.items():
            where = f"{device.name} seq {seq} ({m['op']} {m['entity']} {m['id']})"
            history = self.results.get((client_id, seq), [])
            # (3) exactly one original result; every resend got it again, marked duplicate.
            originals = [r for r in history if not r.get("duplicate")]
            check(len(originals) == 1, f"{where}: {len(originals)} original results {history}")
            first = originals[0]
            for again in history:
                if again is first:
                    continue
                copy_ = {k: v for k, v in again.items() if k != "duplicate"}
                check(canon(copy_) == canon(first), f"{where}: resend got {again}, not {first}")
            status = first["status"]
            applied_ids[(m["entity"], m["id"])] |= status != "rejected"
            entries = journals[device.tenant]
            if status == "rejected":
                mine = [
                    e
                    for e in entries["rejected"]
                    if e["client_id"] == client_id and e["seq"] == seq
                ]
                check(len(mine) == 1, f"{where}: {len(mine)} journal entries for its rejection")
                check(
                    mine[0]["code"] == first["error"]["code"]
                    and mine[0]["user_id"] == device.user["id"],
                    f"{where}: journal entry {mine[0]} does not match {first}",
                )
                check(
                    device.rejected.get(seq) == first["error"],
                    f"{where}: the device did not keep the rejection's reason",
                )
            if status == "conflict":
                ids = {e["id"] for e in entries["conflict"]}
                check(first["conflict_id"] in ids, f"{where}: conflict not in the journal")
            if first.get("lost"):
                lost = [
                    e
                    for e in entries["lost_field"]
                    if e["client_id"] == client_id and e["seq"] == seq
                ]
                check(len(lost) == 1, f"{where}: lost fields {first['lost']} not journaled")
            # Appends applied are there exactly as sent.
            if m["entity"] in APPEND_ONLY and status != "rejected":
                record = admin_view[device.tenant].get((m["entity"], m["id"]))
                check(record is not None, f"{where}: applied but absent")
                assert record is not None
                for name, value in m["data"].items():
                    check(
                        record.get(name) == value,
                        f"{where}: {name} is {record.get(name)!r}, sent {value!r}",
                    )
        # A record that only rejected mutations touched exists nowhere.
        for (entity, rid), applied in applied_ids.items():
            if applied:
                continue
            for tenant in TENANTS:
                check(
                    (entity, rid) not in admin_view[tenant]
                    or (entity, rid) in self.world.users[ADMIN_EMAIL[tenant]].replica,
                    f"{entity} {rid}: every mutation was rejected, yet it exists in {tenant}",
                )
        # (6) each device's acked seq is the last seq it sent, on the device and the server.
        for device in active:
            if device.seq == 0:
                continue
            check(
                device.acked_seq == device.seq,
                f"{device.name}: acked_seq {device.acked_seq}, last seq {device.seq}",
            )
            row = devices.get(device.client_id)
            check(
                row is not None and row["acked_seq"] == device.seq,
                f"{device.name}: server reports {row and row['acked_seq']}, last seq {device.seq}",
            )
