"""What bench/car.py needs beside the browser: the server on a fresh copy of the demo school
(SQLite file or PostgreSQL database), a direct wire client (never through the emulated link)
to seed a term of lessons and to read back what the server holds, and the correctness
checks run after each scenario: every GPS point once and in order, no duplicate records.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import gzip
import itertools
import json
import shutil
import subprocess
import tempfile
import time
import urllib.error
import urllib.request
import uuid
from collections import Counter
from pathlib import Path
from typing import Any

from bench.car_route import drive
from bench.common import DRIVESYNC, ROOT, BenchDb, Server, _bench_env

PASSWORD = "drive-demo-1"  # the demo school's (server/seed.py)
DEMO = "demo"


class SqliteDb:
    """A demo school in a SQLite file of its own, made by the real CLI."""

    def __init__(self) -> None:
        self.var_dir = Path(tempfile.mkdtemp(prefix="drivesync-car-"))
        self.url = f"sqlite+aiosqlite:///{self.var_dir / 'car.sqlite3'}"

    @property
    def env(self) -> dict[str, str]:
        return _bench_env(self.url, self.var_dir)

    async def create(self) -> SqliteDb:  # async like BenchDb.create; runs before any load
        for step in ("migrate", "seed-demo"):
            subprocess.run(  # noqa: ASYNC221
                [DRIVESYNC, step], env=self.env, cwd=str(ROOT), check=True, capture_output=True
            )
        return self

    async def drop(self) -> None:
        shutil.rmtree(self.var_dir, ignore_errors=True)


def start_server(database: str, token_ttl_s: int) -> tuple[Server, Any]:
    """The real server (`drivesync serve`, a process of its own) on a fresh demo school."""
    db: Any = SqliteDb() if database == "sqlite" else BenchDb("car")
    asyncio.run(db.create())
    # The server's default token lifetime, not the other benchmarks' hour: a phone that was
    # offline longer than this refreshes its token when it comes back.
    server = Server(db, extra_env={"DRIVESYNC_ACCESS_TOKEN_TTL_S": str(token_ttl_s)})
    asyncio.run(server.start())
    return server, db


def stop_server(server: Server, db: Any, keep: bool) -> None:
    asyncio.run(server.stop())
    if not keep:
        asyncio.run(db.drop())


class Direct:
    """One user speaking the wire protocol straight to the server (not through the link)."""

    def __init__(self, base: str, email: str) -> None:
        self.base = base.rstrip("/")
        body = self.call(
            "POST", "/v1/auth/login", {"tenant": DEMO, "email": email, "password": PASSWORD}
        )
        self.token = body["access_token"]
        self.user = body["user"]
        self.client_id = str(uuid.uuid4())
        self.seq = 0
        self.counter = 0

    def call(self, method: str, path: str, body: Any = None) -> Any:
        data = json.dumps(body).encode() if body is not None else None
        req = urllib.request.Request(self.base + path, data=data, method=method)
        req.add_header("Content-Type", "application/json")
        req.add_header("Accept-Encoding", "gzip")
        if getattr(self, "token", None):
            req.add_header("Authorization", f"Bearer {self.token}")
        try:
            with urllib.request.urlopen(req, timeout=120) as resp:
                raw = resp.read()
                if resp.headers.get("Content-Encoding") == "gzip":
                    raw = gzip.decompress(raw)
        except urllib.error.HTTPError as exc:
            raise RuntimeError(f"{method} {path}: {exc.code} {exc.read()[:300]!r}") from None
        return json.loads(raw) if raw else None

    def pull_all(self) -> list[dict[str, Any]]:
        """Everything this user may see, from scratch, in the list form of GPS points
        (schema_version 1)."""
        changes: list[dict[str, Any]] = []
        cursor = ""
        while True:
            q = "/v1/sync/pull?limit=5000&schema_version=1" + (
                f"&cursor={cursor}" if cursor else ""
            )
            page = self.call("GET", q)
            changes += page["changes"]
            cursor = page["cursor"]
            if not page["has_more"]:
                return changes

    def push(self, mutations: list[dict[str, Any]]) -> None:
        for i in range(0, len(mutations), 200):
            batch = mutations[i : i + 200]
            body = self.call(
                "POST",
                "/v1/sync/push",
                {"client_id": self.client_id, "schema_version": 1, "mutations": batch},
            )
            bad = [r for r in body["results"] if r["status"] != "applied"]
            if bad:
                raise RuntimeError(f"seeding: {len(bad)} mutations not applied, e.g. {bad[0]}")

    def mutation(self, entity: str, rid: str, op: str, data: dict[str, Any]) -> dict[str, Any]:
        self.seq += 1
        self.counter += 1
        hlc = f"{int(time.time() * 1000):013d}-{self.counter % 10000:04d}-{self.client_id}"
        return {"seq": self.seq, "entity": entity, "id": rid, "op": op, "hlc": hlc, "data": data}


def records(changes: list[dict[str, Any]], entity: str) -> list[dict[str, Any]]:
    return [c["record"] for c in changes if c["entity"] == entity and c.get("op") != "delete"]


def _iso(t: dt.datetime) -> str:
    return t.isoformat().replace("+00:00", "Z")


def seed_term(instructor: Direct, student_id: str, lessons: int, skill_ids: list[str]) -> list[str]:
    """`lessons` past lessons of an hour for one student, as the instructor's phone would
    have pushed them: started, attended, a note, 8 assessments, a 3,600-point trip.
    Returns the lessons' ids, oldest first."""
    made = []
    iid = instructor.user["instructor_id"]
    today = dt.datetime.now(dt.UTC).replace(hour=9, minute=0, second=0, microsecond=0)
    for n in range(lessons):
        start = today - dt.timedelta(days=7 + 3 * (lessons - n))
        end = start + dt.timedelta(hours=1)
        lesson_id, note_id, trip_id = (str(uuid.uuid4()) for _ in range(3))
        m = instructor.mutation
        batch = [
            m(
                "lesson",
                lesson_id,
                "put",
                {
                    "instructor_id": iid,
                    "student_id": student_id,
                    "scheduled_start": _iso(start),
                    "scheduled_end": _iso(end),
                },
            ),
            m(
                "lesson",
                lesson_id,
                "patch",
                {"status": "in_progress", "started_at": _iso(start), "attended": True},
            ),
            m(
                "lesson_note",
                note_id,
                "put",
                {
                    "lesson_id": lesson_id,
                    "private": False,
                    "tags": [],
                    "body": f"Lesson {n + 1} of the term: " + NOTE,
                },
            ),
        ]
        for k, skill in enumerate(skill_ids[:8]):
            batch.append(
                m(
                    "skill_assessment",
                    str(uuid.uuid4()),
                    "put",
                    {
                        "lesson_id": lesson_id,
                        "skill_id": skill,
                        "level": 1 + (n + k) % 5,
                        "assessed_at": _iso(end),
                    },
                )
            )
        batch.append(m("trip", trip_id, "put", {"lesson_id": lesson_id, "started_at": _iso(start)}))
        fixes = drive(3600, int(start.timestamp() * 1000), seed=100 + n)
        for index in range(0, len(fixes) // 120):
            points = fixes[index * 120 : (index + 1) * 120]
            batch.append(
                m(
                    "trip_segment",
                    str(uuid.uuid4()),
                    "put",
                    {"trip_id": trip_id, "index": index, "points": points},
                )
            )
        batch.append(m("trip", trip_id, "patch", {"ended_at": _iso(end)}))
        batch.append(
            m("lesson", lesson_id, "patch", {"status": "completed", "ended_at": _iso(end)})
        )
        instructor.push(batch)
        made.append(lesson_id)
    return made


NOTE = (
    "Mirror checks before every signal, smooth clutch on the hill start. Roundabouts: "
    "lane choice good, signal off earlier when leaving. Next time: dual carriageways."
)


# --------------------------------------------------------------------------------------
# Correctness checks (each returns a list of failures; empty = PASS)
# --------------------------------------------------------------------------------------
def no_duplicates(changes: list[dict[str, Any]]) -> list[str]:
    seen = Counter((c["entity"], c["id"]) for c in changes)
    twice = [k for k, n in seen.items() if n > 1]
    fails = [f"{len(twice)} records pulled more than once, e.g. {twice[0]}"] if twice else []
    segments = Counter((s["trip_id"], s["index"]) for s in records(changes, "trip_segment"))
    doubled = [k for k, n in segments.items() if n > 1]
    if doubled:
        fails.append(f"{len(doubled)} trip segment indexes held twice, e.g. {doubled[0]}")
    return fails


def trip_points(changes: list[dict[str, Any]], trip_id: str) -> tuple[list[Any], list[str]]:
    """A trip's points, its segments joined in index order; failures if indexes have gaps."""
    segs = sorted(
        (s for s in records(changes, "trip_segment") if s["trip_id"] == trip_id),
        key=lambda s: s["index"],
    )
    fails = []
    if [s["index"] for s in segs] != list(range(len(segs))):
        fails.append(f"trip {trip_id}: segment indexes {[s['index'] for s in segs][:10]}…")
    points = [p for s in segs for p in s["points"]]
    stamps = [p[0] for p in points]
    if any(b <= a for a, b in itertools.pairwise(stamps)):
        fails.append(f"trip {trip_id}: point times not strictly increasing (repeat or disorder)")
    return points, fails


def check_lesson(
    changes: list[dict[str, Any]], lesson_id: str, note: str, fixes: list[list[Any]]
) -> list[str]:
    """The lesson recorded in the browser, as the server holds it."""
    fails = no_duplicates(changes)
    lesson = next((r for r in records(changes, "lesson") if r["id"] == lesson_id), None)
    if lesson is None or (lesson["status"], lesson["attended"]) != ("completed", True):
        fails.append(f"lesson {lesson_id}: {lesson and (lesson['status'], lesson['attended'])}")
    notes = [r["body"] for r in records(changes, "lesson_note") if r["lesson_id"] == lesson_id]
    if notes != [note]:
        fails.append(f"notes of the lesson: {notes!r}")
    marks = [r for r in records(changes, "skill_assessment") if r["lesson_id"] == lesson_id]
    if len(marks) != 8 or len({r["skill_id"] for r in marks}) != 8:
        fails.append(f"{len(marks)} assessments (expected 8 distinct skills)")
    trips = [r for r in records(changes, "trip") if r["lesson_id"] == lesson_id]
    if len(trips) != 1:
        return [*fails, f"{len(trips)} trips for the lesson"]
    points, bad = trip_points(changes, trips[0]["id"])
    fails += bad
    if [p[0] for p in points] != [f[0] for f in fixes]:
        fails.append(f"trip holds {len(points)} points, {len(fixes)} recorded (or out of order)")
    elif any(
        abs(p[1] - f[1]) > 1e-6 or abs(p[2] - f[2]) > 1e-6
        for p, f in zip(points, fixes, strict=True)
    ):
        fails.append("trip points differ from the fixes recorded")
    if not trips[0].get("ended_at") or not trips[0].get("distance_m"):
        fails.append(f"trip not ended or no distance: {trips[0]}")
    return fails


def check_student(changes: list[dict[str, Any]], min_full_trips: int) -> list[str]:
    """A student's whole view: no duplicates, every trip's points once and in order, and
    at least `min_full_trips` trips of 3,600 points."""
    fails = no_duplicates(changes)
    full = 0
    for trip in records(changes, "trip"):
        points, bad = trip_points(changes, trip["id"])
        fails += bad
        full += len(points) == 3600
    if full < min_full_trips:
        fails.append(f"{full} trips of 3,600 points, expected at least {min_full_trips}")
    return fails
