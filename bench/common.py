"""Shared machinery of the benchmarks: the machine's description, a throw-away PostgreSQL
database (created, migrated and seeded with the real CLI, dropped at the end), the real
server run as a separate process, data set-up through the engine's own store
(`Store.write` + `txn.stamp`, so every row is indexed in `sync_records` exactly as the
engine does it), a wire-level client, statistics and a py-spy profiler.

Nothing here is a test: pytest never collects bench/ (no test_ prefix, outside testpaths).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import datetime as dt
import json
import os
import platform
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections import Counter
from collections.abc import AsyncIterator, Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import asyncpg
import orjson

ROOT = Path(__file__).resolve().parent.parent
VENV_BIN = Path(sys.executable).parent
DRIVESYNC = str(VENV_BIN / "drivesync")
PG_ADMIN_DSN = os.environ.get("BENCH_PG_DSN", "postgresql://postgres@127.0.0.1:5432/postgres")
SECRET = "bench-secret-key-not-for-production-0123456789abcdef"
PASSWORD = "bench-password-1"
RUN_TAG = uuid.uuid4().hex[:6]
# py-spy is pip-installable; it is looked up on PATH, beside this Python, or in BENCH_PYSPY.
PYSPY_CANDIDATES = [
    os.environ.get("BENCH_PYSPY", ""),
    str(VENV_BIN / "py-spy"),
    "/tmp/benchtools/bin/py-spy",
    shutil.which("py-spy") or "",
]


# --------------------------------------------------------------------------------------
# Output
# --------------------------------------------------------------------------------------
def say(*parts: object) -> None:
    print(*parts, flush=True)


def machine() -> dict[str, Any]:
    """What the figures were measured on."""
    cpu = "unknown"
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    mem_kb = 0
    with contextlib.suppress(OSError):
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal"):
                mem_kb = int(line.split()[1])
    pg = "unknown"
    with contextlib.suppress(Exception), ThreadPoolExecutor(1) as pool:
        # In a thread of its own: machine() is also called from inside a running loop.
        pg = pool.submit(lambda: asyncio.run(_pg_version())).result(timeout=10)
    import aiohttp as _aiohttp
    import sqlalchemy

    commit = "unknown"
    with contextlib.suppress(Exception):
        commit = subprocess.run(
            ["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "-C", str(ROOT), "status", "--porcelain", "--untracked-files=no"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
        if dirty:
            commit += " (+ uncommitted changes)"
    return {
        "commit": commit,
        "load": loadavg(),
        "nproc": os.cpu_count(),
        "cpu": cpu,
        "ram_gib": round(mem_kb / 1024 / 1024, 1),
        "kernel": platform.release(),
        "postgresql": pg,
        "python": platform.python_version(),
        "aiohttp": _aiohttp.__version__,
        "sqlalchemy": sqlalchemy.__version__,
        "asyncpg": asyncpg.__version__,
    }


async def _pg_version() -> str:
    conn = await asyncpg.connect(PG_ADMIN_DSN, timeout=5)
    try:
        return str(await conn.fetchval("SHOW server_version"))
    finally:
        await conn.close()


def print_machine(info: dict[str, Any] | None = None) -> dict[str, Any]:
    info = info or machine()
    say(
        f"machine: {info['nproc']} cpu ({info['cpu']}), {info['ram_gib']} GiB RAM, "
        f"PostgreSQL {info['postgresql']}, Python {info['python']} "
        f"(aiohttp {info['aiohttp']}, SQLAlchemy {info['sqlalchemy']}, asyncpg {info['asyncpg']}); "
        f"code at {info['commit']}; load average {info['load']}"
    )
    return info


def pct(values: Sequence[float], p: float) -> float:
    """The p-th percentile (nearest rank) of `values`."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    k = max(0, min(len(ordered) - 1, round(p / 100 * len(ordered) + 0.5) - 1))
    return ordered[k]


def median(values: Iterable[float]) -> float:
    return statistics.median(list(values))


@dataclass
class Metric:
    """One figure measured over several runs (higher_is_better decides the floor ratio)."""

    name: str
    unit: str
    runs: list[float] = field(default_factory=list)
    floor: float | None = None
    higher_is_better: bool = True
    note: str = ""

    @property
    def median(self) -> float:
        return median(self.runs) if self.runs else float("nan")

    @property
    def ratio(self) -> float | None:
        """Server figure as a fraction of the floor's (throughput) or as a multiple of it
        (latency, size): always 'server / floor'."""
        if self.floor in (None, 0) or not self.runs or self.median <= 0 or self.floor < 0:
            return None
        return self.median / self.floor  # type: ignore[operator]

    def row(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "unit": self.unit,
            "runs": self.runs,
            "median": self.median,
            "floor": self.floor,
            "ratio": self.ratio,
            "note": self.note,
        }


def fmt(value: float | None) -> str:
    if value is None:
        return "-"
    if value != value:  # nan
        return "nan"
    if abs(value) >= 1000:
        return f"{value:,.0f}"
    if abs(value) >= 100:
        return f"{value:.0f}"
    if abs(value) >= 10:
        return f"{value:.1f}"
    if abs(value) >= 1:
        return f"{value:.2f}"
    return f"{value:.3f}"


def print_metrics(title: str, metrics: Sequence[Metric]) -> None:
    say(f"\n== {title} ==")
    say(f"{'figure':44} {'unit':10} {'runs':34} {'median':>10} {'floor':>10} {'ratio':>8}")
    for m in metrics:
        runs = ", ".join(fmt(r) for r in m.runs)
        ratio = m.ratio
        ratio_text = "-" if ratio is None else f"{ratio:.3g}x"
        say(
            f"{m.name:44} {m.unit:10} {runs:34} {fmt(m.median):>10} {fmt(m.floor):>10} "
            f"{ratio_text:>8}"
        )
        if m.note:
            say(f"    ({m.note})")


def save_json(path: str | None, name: str, payload: dict[str, Any]) -> None:
    if not path:
        return
    target = Path(path)
    data: dict[str, Any] = {}
    if target.exists():
        data = json.loads(target.read_text())
    data[name] = payload
    target.write_text(json.dumps(data, indent=2, default=str))


def base_args(description: str) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--quick", action="store_true", help="smaller sizes, 3 short runs")
    parser.add_argument("--runs", type=int, default=3, help="runs per figure (>= 3)")
    parser.add_argument(
        "--profile",
        action="store_true",
        help="after the runs, run once more under py-spy and print where the server's time goes",
    )
    parser.add_argument("--json", help="also write the figures to this JSON file")
    parser.add_argument("--keep-db", action="store_true", help="do not drop the database")
    return parser


# --------------------------------------------------------------------------------------
# Database and server
# --------------------------------------------------------------------------------------
def _bench_env(db_url: str, var_dir: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("DRIVESYNC_")}
    env.update(
        DRIVESYNC_DATABASE_URL=db_url,
        DRIVESYNC_SECRET_KEY=SECRET,
        DRIVESYNC_VAR_DIR=str(var_dir),
        DRIVESYNC_ACCESS_TOKEN_TTL_S="3600",
        PYTHONPATH=str(ROOT),
    )
    return env


class BenchDb:
    """A PostgreSQL database of our own: CREATE DATABASE, `drivesync migrate`,
    `drivesync seed-demo`; dropped by `drop()`."""

    def __init__(self, label: str) -> None:
        self.name = f"bench_{label}_{RUN_TAG}"
        admin = PG_ADMIN_DSN.rsplit("/", 1)[0]
        self.dsn = f"{admin}/{self.name}"
        self.url = self.dsn.replace("postgresql://", "postgresql+asyncpg://", 1)
        self.var_dir = Path(tempfile.mkdtemp(prefix=f"drivesync-{self.name}-"))

    @property
    def env(self) -> dict[str, str]:
        return _bench_env(self.url, self.var_dir)

    async def create(self, seed: bool = True) -> BenchDb:
        conn = await asyncpg.connect(PG_ADMIN_DSN)
        try:
            await conn.execute(f"DROP DATABASE IF EXISTS {self.name} WITH (FORCE)")
            await conn.execute(f"CREATE DATABASE {self.name}")
        finally:
            await conn.close()
        await self._cli("migrate")
        if seed:
            await self._cli("seed-demo")
        return self

    async def _cli(self, *args: str) -> None:
        proc = await asyncio.create_subprocess_exec(
            DRIVESYNC,
            *args,
            env=self.env,
            cwd=str(ROOT),
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
        )
        out, _ = await proc.communicate()
        if proc.returncode != 0:
            raise RuntimeError(f"drivesync {' '.join(args)} failed:\n{out.decode()}")

    async def drop(self) -> None:
        conn = await asyncpg.connect(PG_ADMIN_DSN)
        try:
            await conn.execute(f"DROP DATABASE IF EXISTS {self.name} WITH (FORCE)")
        finally:
            await conn.close()
        shutil.rmtree(self.var_dir, ignore_errors=True)

    async def connect(self) -> asyncpg.Connection:
        return await asyncpg.connect(self.dsn)

    async def vacuum_analyze(self) -> None:
        conn = await self.connect()
        try:
            await conn.execute("VACUUM ANALYZE")
        finally:
            await conn.close()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def rss_kib(pid: int) -> dict[str, int]:
    """VmRSS (now) and VmHWM (peak) of a process, in KiB."""
    out = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(("VmRSS", "VmHWM")):
            out[line.split(":")[0]] = int(line.split()[1])
    return out


class Server:
    """`drivesync serve --port P` as a separate process on the bench database."""

    def __init__(self, db: BenchDb, extra_env: dict[str, str] | None = None) -> None:
        self.db = db
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.extra_env = extra_env or {}
        self.proc: subprocess.Popen[bytes] | None = None
        self.log_path = db.var_dir / f"server-{self.port}.log"

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    async def start(self) -> Server:
        env = {**self.db.env, "DRIVESYNC_LOG_LEVEL": "WARNING", **self.extra_env}
        log = open(self.log_path, "ab")  # noqa: ASYNC230
        self.proc = subprocess.Popen(  # noqa: ASYNC220
            [DRIVESYNC, "serve", "--port", str(self.port)],
            env=env,
            cwd=str(ROOT),
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        log.close()
        deadline = time.monotonic() + 30
        async with aiohttp.ClientSession() as http:
            while time.monotonic() < deadline:
                if self.proc.poll() is not None:
                    raise RuntimeError(f"server exited:\n{self.log_path.read_text()[-3000:]}")
                with contextlib.suppress(aiohttp.ClientError):
                    async with http.get(f"{self.base}/readyz") as resp:
                        if resp.status == 200:
                            return self
                await asyncio.sleep(0.1)
        raise RuntimeError("server did not become ready in 30 s")

    def rss(self) -> dict[str, int]:
        return rss_kib(self.pid)

    def tail(self, chars: int = 4000) -> str:
        if not self.log_path.exists():
            return ""
        return self.log_path.read_text(errors="replace")[-chars:]

    async def stop(self) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.send_signal(signal.SIGINT)
        for _ in range(100):
            if self.proc.poll() is not None:
                break
            await asyncio.sleep(0.1)
        else:
            self.proc.kill()
            self.proc.wait()

    def errors(self) -> list[str]:
        """Error lines the server logged (it runs at WARNING)."""
        text = self.log_path.read_text(errors="replace") if self.log_path.exists() else ""
        return [line for line in text.splitlines() if " ERROR " in line or "Traceback" in line]


@contextlib.asynccontextmanager
async def engine_store(db: BenchDb) -> AsyncIterator[tuple[Any, Any]]:
    """The engine's own sessions and store on the bench database (for set-up only)."""
    sys.path.insert(0, str(ROOT))
    from sync.database import make_engine, make_sessionmaker
    from sync.store import Store

    engine = make_engine(db.url)
    try:
        sessions = make_sessionmaker(engine)
        yield sessions, Store(sessions, engine.dialect.name)
    finally:
        await engine.dispose()


# --------------------------------------------------------------------------------------
# Data set-up through the store (rows stamped and indexed exactly as the engine does)
# --------------------------------------------------------------------------------------
NOTE_TEXTS = [
    "Good cockpit drill and mirror checks before moving off. "
    "Keep working on smooth clutch control.",
    "Roundabouts improving: lane choice correct, but signal off earlier when leaving.",
    "Emerging at T-junctions: creep and peep was good; needs more commitment on clear roads.",
    "Parallel park done twice, second attempt within the kerb distance. Practise observation.",
    "Dual carriageway joining speed was too low; build up speed on the slip road.",
    "Independent driving following signs for 20 minutes with no major faults.",
]


@dataclass
class InstructorData:
    email: str
    user_id: str
    instructor_id: str
    student_ids: list[str] = field(default_factory=list)
    lesson_ids: list[str] = field(default_factory=list)
    note_ids: list[str] = field(default_factory=list)


@dataclass
class SchoolData:
    slug: str
    tenant_id: str
    admin_email: str
    admin_user_id: str
    instructors: list[InstructorData]

    @property
    def note_ids(self) -> list[str]:
        return [n for i in self.instructors for n in i.note_ids]

    @property
    def lesson_ids(self) -> list[str]:
        return [n for i in self.instructors for n in i.lesson_ids]

    def records(self) -> int:
        """Synced records of the school (what an admin's initial sync brings)."""
        return sum(
            1 + len(i.student_ids) + len(i.lesson_ids) + len(i.note_ids) for i in self.instructors
        )


_PW_HASH: str | None = None


def password_hash() -> str:
    """One real Argon2 hash, reused for every bench user (hashing is set-up cost only)."""
    global _PW_HASH
    if _PW_HASH is None:
        from server.auth.passwords import hash_password

        _PW_HASH = hash_password(PASSWORD)
    return _PW_HASH


async def make_school(
    sessions: Any,
    store: Any,
    slug: str,
    *,
    instructors: int,
    students_per_instructor: int,
    lessons_per_student: int,
    notes_per_lesson: int,
    total_notes: int | None = None,
    chunk: int = 5000,
) -> SchoolData:
    """A school with an admin, instructors (users), their students, completed lessons and
    lesson notes; every synced row goes through `txn.stamp`. With `total_notes`, that many
    notes are spread round-robin over all lessons instead of `notes_per_lesson` each."""
    from schemas import (
        Instructor,
        Lesson,
        LessonNote,
        Membership,
        Student,
        StudentInstructor,
        Tenant,
        TenantRev,
        User,
    )
    from sync.tenancy import ALL_TENANTS, bind_tenant

    tenant_id = str(uuid.uuid4())
    async with sessions() as session, session.begin():
        bind_tenant(session, ALL_TENANTS)
        session.add(Tenant(id=tenant_id, slug=slug, name=f"Bench school {slug}"))
        await session.flush()
        session.add(TenantRev(tenant_id=tenant_id, rev=0, horizon_rev=0))
    pw = password_hash()
    domain = f"{slug}.bench"
    school = SchoolData(slug, tenant_id, f"admin@{domain}", str(uuid.uuid4()), [])
    async with store.write(tenant_id) as txn:
        s = txn.session
        users = [
            User(
                tenant_id=tenant_id,
                id=school.admin_user_id,
                email=school.admin_email,
                name="Office",
                password_hash=pw,
            )
        ]
        members = [Membership(tenant_id=tenant_id, user_id=school.admin_user_id, role="admin")]
        for n in range(instructors):
            inst = InstructorData(f"instructor{n}@{domain}", str(uuid.uuid4()), str(uuid.uuid4()))
            school.instructors.append(inst)
            users.append(
                User(
                    tenant_id=tenant_id,
                    id=inst.user_id,
                    email=inst.email,
                    name=f"Instructor {n}",
                    password_hash=pw,
                )
            )
            members.append(Membership(tenant_id=tenant_id, user_id=inst.user_id, role="instructor"))
        s.add_all(users)
        await s.flush()
        s.add_all(members)
        for n, inst in enumerate(school.instructors):
            txn.stamp(
                "instructor",
                Instructor(
                    tenant_id=tenant_id,
                    id=inst.instructor_id,
                    user_id=inst.user_id,
                    name=f"Instructor {n}",
                    email=inst.email,
                ),
            )
        await s.flush()
        for n, inst in enumerate(school.instructors):
            for k in range(students_per_instructor):
                student_id = str(uuid.uuid4())
                inst.student_ids.append(student_id)
                txn.stamp(
                    "student",
                    Student(
                        tenant_id=tenant_id,
                        id=student_id,
                        name=f"Student {n}.{k}",
                        email=f"student{n}-{k}@{domain}",
                    ),
                )
        await s.flush()
        for inst in school.instructors:
            for student_id in inst.student_ids:
                s.add(
                    StudentInstructor(
                        tenant_id=tenant_id,
                        student_id=student_id,
                        instructor_id=inst.instructor_id,
                        is_primary=True,
                    )
                )
    # Lessons then notes, in chunks of `chunk` rows per transaction.
    start0 = dt.datetime(2026, 1, 5, 9, tzinfo=dt.UTC)
    pending: list[tuple[str, Any]] = []

    async def flush_pending() -> None:
        if not pending:
            return
        async with store.write(tenant_id) as txn:
            for entity, row in pending:
                txn.stamp(entity, row)
        pending.clear()

    n = 0
    for inst in school.instructors:
        for student_id in inst.student_ids:
            for _k in range(lessons_per_student):
                lesson_id = str(uuid.uuid4())
                inst.lesson_ids.append(lesson_id)
                start = start0 + dt.timedelta(hours=n)
                n += 1
                pending.append(
                    (
                        "lesson",
                        Lesson(
                            tenant_id=tenant_id,
                            id=lesson_id,
                            instructor_id=inst.instructor_id,
                            student_id=student_id,
                            scheduled_start=start,
                            scheduled_end=start + dt.timedelta(hours=1),
                            status="completed",
                            started_at=start,
                            ended_at=start + dt.timedelta(hours=1),
                            attended=True,
                            field_hlc={},
                            deleted=False,
                        ),
                    )
                )
                if len(pending) >= chunk:
                    await flush_pending()
    await flush_pending()
    plan: list[tuple[InstructorData, str, str]] = []  # (instructor, lesson, student)
    for inst in school.instructors:
        for idx, lesson_id in enumerate(inst.lesson_ids):
            plan.append((inst, lesson_id, inst.student_ids[idx // lessons_per_student]))
    if total_notes is None:
        notes = [p for p in plan for _k in range(notes_per_lesson)]
    else:
        notes = [plan[i % len(plan)] for i in range(total_notes)]
    for m, (inst, lesson_id, student_id) in enumerate(notes, start=1):
        note_id = str(uuid.uuid4())
        inst.note_ids.append(note_id)
        pending.append(
            (
                "lesson_note",
                LessonNote(
                    tenant_id=tenant_id,
                    id=note_id,
                    lesson_id=lesson_id,
                    student_id=student_id,
                    body=NOTE_TEXTS[m % len(NOTE_TEXTS)],
                    private=m % 10 == 0,
                    tags=["progress"] if m % 10 else ["private"],
                    field_hlc={},
                    deleted=False,
                ),
            )
        )
        if len(pending) >= chunk:
            await flush_pending()
    await flush_pending()
    return school


# --------------------------------------------------------------------------------------
# Wire client
# --------------------------------------------------------------------------------------
def new_session(limit: int = 0, **kw: Any) -> aiohttp.ClientSession:
    return aiohttp.ClientSession(
        connector=aiohttp.TCPConnector(limit=limit, force_close=False),
        timeout=aiohttp.ClientTimeout(total=600),
        json_serialize=lambda v: orjson.dumps(v).decode(),
        **kw,
    )


class Client:
    """One device of one user, speaking only the wire protocol."""

    def __init__(
        self,
        http: aiohttp.ClientSession,
        base: str,
        tenant: str,
        email: str,
        password: str = PASSWORD,
    ) -> None:
        self.http = http
        self.password = password
        self.base = base
        self.tenant = tenant
        self.email = email
        self.client_id = str(uuid.uuid4())
        self.seq = 0
        self.last_ms = 0
        self.counter = 0
        self.token = ""
        self.user: dict[str, Any] = {}

    async def login(self) -> Client:
        async with self.http.post(
            f"{self.base}/v1/auth/login",
            json={"tenant": self.tenant, "email": self.email, "password": self.password},
        ) as resp:
            body = await resp.json()
            if resp.status != 200:
                raise RuntimeError(f"login {self.email}: {resp.status} {body}")
        self.token = body["access_token"]
        self.user = body["user"]
        return self

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}

    def hlc(self) -> str:
        now = int(time.time() * 1000)
        if now > self.last_ms:
            self.last_ms, self.counter = now, 0
        else:
            self.counter += 1
            if self.counter > 9999:
                self.last_ms, self.counter = self.last_ms + 1, 0
        return f"{self.last_ms:013d}-{self.counter:04d}-{self.client_id}"

    def mutation(
        self, entity: str, rid: str, op: str, data: dict[str, Any], base_rev: int | None = None
    ) -> dict[str, Any]:
        self.seq += 1
        m: dict[str, Any] = {
            "seq": self.seq,
            "entity": entity,
            "id": rid,
            "op": op,
            "hlc": self.hlc(),
            "data": data,
        }
        if base_rev is not None:
            m["base_rev"] = base_rev
        return m

    async def push(self, mutations: list[dict[str, Any]]) -> tuple[dict[str, Any], float]:
        """Push one batch; returns (body, seconds)."""
        payload = orjson.dumps(
            {"client_id": self.client_id, "schema_version": 1, "mutations": mutations}
        )
        t0 = time.perf_counter()
        async with self.http.post(
            f"{self.base}/v1/sync/push",
            data=payload,
            headers={**self.headers, "Content-Type": "application/json"},
        ) as resp:
            raw = await resp.read()
            elapsed = time.perf_counter() - t0
            if resp.status != 200:
                raise RuntimeError(f"push: {resp.status} {raw[:500]!r}")
        return orjson.loads(raw), elapsed


def check_results(body: dict[str, Any], accepted: Iterable[str] = ("applied",)) -> None:
    bad = [r for r in body["results"] if r["status"] not in accepted]
    if bad:
        raise RuntimeError(f"{len(bad)} mutations not applied, e.g. {bad[0]}")


# --------------------------------------------------------------------------------------
# Profiling (py-spy, sampling the server process from outside)
# --------------------------------------------------------------------------------------
def pyspy_path() -> str | None:
    for candidate in PYSPY_CANDIDATES:
        if candidate and Path(candidate).exists():
            return candidate
    return None


class Profiler:
    """`py-spy record --format raw` on a pid; `summary()` says where the time went."""

    def __init__(self, pid: int, label: str, rate: int = 200) -> None:
        self.pid = pid
        self.label = label
        self.rate = rate
        self.out = Path(tempfile.gettempdir()) / f"bench-profile-{label}-{RUN_TAG}.txt"
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> bool:
        exe = pyspy_path()
        if exe is None:
            say("py-spy not found (pip install py-spy, or set BENCH_PYSPY): no profile")
            return False
        self.proc = subprocess.Popen(
            [
                exe,
                "record",
                "--pid",
                str(self.pid),
                "--format",
                "raw",
                "--full-filenames",
                "--rate",
                str(self.rate),
                "--output",
                str(self.out),
                "--nonblocking",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        time.sleep(1.0)
        return True

    def stop(self) -> None:
        if self.proc is None:
            return
        self.proc.send_signal(signal.SIGINT)
        try:
            self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.proc.kill()

    def summary(self, top: int = 25) -> dict[str, Any]:
        if not self.out.exists():
            return {}
        return summarize_profile(self.out.read_text(), top)


_FRAME = re.compile(r"^(?P<func>.*?) \((?P<file>[^():]+?)(?::(?P<line>\d+))?\)$")


def _where(path: str) -> str:
    """A short owner name for a source file: package for libraries, module for ours."""
    path = path.replace("\\", "/")
    if "site-packages/" in path:
        rest = path.split("site-packages/", 1)[1]
        return rest.split("/", 1)[0].removesuffix(".py")
    root = str(ROOT) + "/"
    if path.startswith(root) or not path.startswith("/"):
        rel = path.removeprefix(root)
        return rel.removesuffix(".py").replace("/", ".")
    # the standard library
    name = path.rsplit("/lib/python", 1)[-1]
    parts = name.split("/")
    mod = parts[1] if len(parts) > 1 else parts[0]
    return "stdlib:" + mod.removesuffix(".py")


# py-spy samples wall time of a runnable thread: on a busy 2-core machine a process that
# writes to a local socket is often pre-empted right there (the peer it woke takes the CPU),
# so those samples mean "waiting for a CPU", not work. They get a layer of their own.
SEND = "socket send + waiting for a CPU (peer woken)"
POLL = "event loop poll (epoll)"
LAYERS: list[tuple[str, Callable[[str, str], bool]]] = [
    (SEND, lambda w, f: w == "stdlib:asyncio" and f.endswith("_SelectorSocketTransport.write")),
    (POLL, lambda w, f: w == "stdlib:selectors"),
    ("gzip (zlib)", lambda w, f: w == "aiohttp" and "compress" in f),
    ("DB driver (asyncpg)", lambda w, f: w == "asyncpg"),
    ("SQLAlchemy", lambda w, f: w == "sqlalchemy"),
    ("pydantic", lambda w, f: w in ("pydantic", "pydantic_core")),
    ("JSON (std json)", lambda w, f: w == "stdlib:json"),
    ("aiohttp (HTTP, WebSocket)", lambda w, f: w in ("aiohttp", "multidict", "yarl")),
    ("JWT / hashing", lambda w, f: w in ("jwt", "stdlib:hmac", "stdlib:hashlib", "argon2")),
    ("asyncio event loop", lambda w, f: w.startswith("stdlib:asyncio")),
]


def summarize_profile(raw: str, top: int = 25) -> dict[str, Any]:
    """Self time per function, inclusive time per function of ours, time per layer.

    A sample's layer is decided by its innermost frame that belongs to a known library
    (so time in `json.encoder` called by SQLAlchemy counts as JSON, and ORM code calling the
    driver counts as the driver); samples whose innermost frames are all ours count as
    'DriveSync code', and the rest as 'other stdlib'."""
    self_time: Counter[str] = Counter()
    incl: Counter[str] = Counter()
    layers: Counter[str] = Counter()
    total = 0
    for line in raw.splitlines():
        line = line.strip()
        if not line:
            continue
        stack_text, _, count_text = line.rpartition(" ")
        try:
            count = int(count_text)
        except ValueError:
            continue
        frames = []
        for item in stack_text.split(";"):
            m = _FRAME.match(item.strip())
            if m:
                frames.append((m.group("func"), _where(m.group("file"))))
        if not frames:
            continue
        # drop the thread header py-spy may put first
        total += count
        func, where = frames[-1]
        self_time[f"{where}.{func}"] += count
        seen: set[str] = set()
        for func, where in frames:
            if where.split(".")[0] in ("sync", "server", "schemas"):
                key = f"{where}.{func}"
                if key not in seen:
                    seen.add(key)
                    incl[key] += count
        layer = None
        leaf_func, leaf_where = frames[-1]
        for name, test in LAYERS[:2]:
            if test(leaf_where, leaf_func):
                layer = name
        for func, where in reversed(frames if layer is None else []):
            for name, test in LAYERS[2:]:
                if test(where, func):
                    layer = name
                    break
            if layer:
                break
            if where.split(".")[0] in ("sync", "server", "schemas"):
                layer = "DriveSync code (sync/, server/, schemas/)"
                break
        layers[layer or "other stdlib"] += count
    waiting = layers[SEND] + layers[POLL]
    work = total - waiting
    return {
        "samples": total,
        "work_samples": work,
        "work_layers": [(k, v / work) for k, v in layers.most_common() if k not in (SEND, POLL)]
        if work
        else [],
        "layers": [(k, v / total) for k, v in layers.most_common()] if total else [],
        "self": [(k, v / total) for k, v in self_time.most_common(top)] if total else [],
        "inclusive": [(k, v / total) for k, v in incl.most_common(top)] if total else [],
    }


def print_profile(label: str, summary: dict[str, Any]) -> None:
    if not summary:
        return
    say(f"\n-- profile of the server: {label} ({summary['samples']} samples) --")
    say("time by layer (innermost known library of each sample):")
    for name, share in summary["layers"]:
        say(f"  {share * 100:5.1f}%  {name}")
    say(f"the {summary['work_samples']} samples of work (without send/poll), by layer:")
    for name, share in summary["work_layers"]:
        say(f"  {share * 100:5.1f}%  {name}")
    say("top functions by own time:")
    for name, share in summary["self"][:15]:
        say(f"  {share * 100:5.1f}%  {name}")
    say("top DriveSync functions by inclusive time:")
    for name, share in summary["inclusive"][:15]:
        say(f"  {share * 100:5.1f}%  {name}")


@contextlib.contextmanager
def profiled(server: Server, label: str, results: dict[str, Any]) -> Any:
    prof = Profiler(server.pid, label)
    started = prof.start()
    try:
        yield
    finally:
        if started:
            prof.stop()
            summary = prof.summary()
            results[label] = summary
            print_profile(label, summary)


async def postgres_pids_cpu() -> float:
    """CPU seconds used so far by all PostgreSQL backends (for 'where did the time go')."""
    total = 0.0
    tick = os.sysconf("SC_CLK_TCK")
    for proc in Path("/proc").iterdir():  # noqa: ASYNC240 - /proc reads do not block
        if not proc.name.isdigit():
            continue
        with contextlib.suppress(OSError):
            if not (proc / "comm").read_text().startswith("postgres"):
                continue
            fields = (proc / "stat").read_text().rsplit(")", 1)[1].split()
            total += (int(fields[11]) + int(fields[12])) / tick
    return total


def process_cpu(pid: int) -> float:
    """CPU seconds (user + system) used so far by one process."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def loadavg() -> float:
    """The 1-minute load average (other work on the machine skews every figure)."""
    return float(Path("/proc/loadavg").read_text().split()[0])


def self_cpu() -> float:
    t = os.times()
    return t.user + t.system
