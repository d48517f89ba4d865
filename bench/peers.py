"""The peers' workload: DriveSync measured as pouchdb-server and Kinto are.

The workload of ../shared/peers, optionally with the peers' own benchmarks run in the same
invocation so that ratios are taken on one machine state.

The record is a lesson note pushed as `put` of a NEW note with a client-generated UUID:
`lesson_id` (the school's one lesson), a body of about 400 bytes, `private` false and 3 tags.
Every run uses fresh schools (the peers use fresh collections / databases); the pushing
client is the school's admin. Per run:
- push: N = 20,000 new notes from one client, sequential requests of 25; records/s and
  p50/p95 per request;
- pull: all N from no cursor, `GET /v1/sync/pull?entities=lesson_note&limit=1000` until
  has_more is false (lesson notes only: the full scope would add the school's instructor,
  student and lesson); records/s;
- noop: 200 sequential pulls from the final cursor with nothing new; p50/p95/p99 ms;
- conc: 50 schools at once, each its own admin client, 200 new notes each in requests of 25
  (10,000 notes); aggregate records/s and p50/p95 per request.
DriveSync only (the peers' scripts have no such figures):
- single: 500 sequential requests of one new note each; p50/p95 ms;
- mixed: batches of 500 (250 new notes + 250 body patches of notes pushed above, with
  their rev as base_rev); mutations/s, beside bench.floor.push_set_based (500 patches of
  the same school's notes by bare asyncpg: the floor has no insert path, so it is a
  reference, not the same work).

A request that fails (HTTP error, e.g. 503 overloaded) is counted and resent as is (same
seqs: exactly-once makes that safe); every result must come back `applied`.

--with-pouch / --with-kinto start the peer with its setup script, and after each DriveSync
run (a "round") run the peer's own benchmark once (same sizes, fresh collections), so that
DriveSync and the peers are measured minutes apart under the same load (the machine is
shared); at the end the peers are stopped and DriveSync / peer is printed for every shared
figure, of the medians and round by round. --kinto-runs N limits Kinto to the first N
rounds (one Kinto run takes about 4 minutes).
With either, DriveSync uses the peers' throw-away PostgreSQL (127.0.0.1:55432, started by
pg_setup.sh and stopped again if this run started it); otherwise BENCH_PG_DSN or
127.0.0.1:5432 as every benchmark here.

    .venv/bin/python -m bench.peers [--runs N] [--quick] [--with-pouch] [--with-kinto]
                                    [--kinto-runs N] [--json out.json]
"""

from __future__ import annotations

import asyncio
import json
import os
import random
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp

from bench import common, floor
from bench.common import (
    BenchDb,
    Client,
    Metric,
    SchoolData,
    Server,
    base_args,
    check_results,
    engine_store,
    fmt,
    loadavg,
    make_school,
    median,
    new_session,
    pct,
    print_machine,
    print_metrics,
    process_cpu,
    profiled,
    save_json,
    say,
)

PEERS_DIR = Path(os.environ.get("BENCH_PEERS_DIR", str(common.ROOT.parent / "shared" / "peers")))
PEER_PG_PORT = 55432
PEER_PG_DSN = f"postgresql://postgres@127.0.0.1:{PEER_PG_PORT}/postgres"
PEER_PYTHON = Path("/tmp/peers/kinto/bin/python")  # made by kinto_setup.sh (has aiohttp)
PEERS = {
    "pouch": ("pouchdb-server", "pouch_setup.sh", "pouch_bench.py", 5985),
    "kinto": ("Kinto", "kinto_setup.sh", "kinto_bench.py", 8888),
}
MAX_ATTEMPTS = 5

# Figures shared with the peers' scripts (same keys as their JSON), and whether higher is
# better (throughput) or lower (latency).
SHARED = [
    ("push_rps", "push rec/s", True),
    ("pull_rps", "pull rec/s", True),
    ("noop_p50_ms", "noop p50 ms", False),
    ("noop_p95_ms", "noop p95 ms", False),
    ("conc_rps", "50 clients rec/s", True),
    ("conc_batch_p50_ms", "50 clients p50 ms", False),
    ("conc_batch_p95_ms", "50 clients p95 ms", False),
]

WORDS = (
    "mirror signal manoeuvre clutch control smooth gear change roundabout lane choice "
    "junction observation hazard perception parallel park bay reverse emergency stop "
    "dual carriageway slip road speed awareness independent driving sat nav following "
    "signs pedestrian crossing cyclist overtaking clearance meeting traffic hill start"
).split()
TAGS = ["progress", "homework", "mock-test", "junctions", "roundabouts", "parking", "motorway"]


@dataclass
class Sizes:
    """The workload's sizes (the peers' defaults, or smaller with --quick)."""

    n: int = 20_000
    chunk: int = 25
    page: int = 1000
    noop: int = 200
    clients: int = 50
    per_client: int = 200
    single: int = 500
    mixed_batches: int = 10
    mixed_size: int = 500

    @classmethod
    def for_args(cls, quick: bool) -> Sizes:
        if quick:
            return cls(n=2000, noop=50, per_client=50, single=100, mixed_batches=2)
        return cls()

    def peer_args(self) -> list[str]:
        return [
            f"--n={self.n}",
            f"--chunk={self.chunk}",
            f"--page={self.page}",
            f"--noop-reqs={self.noop}",
            f"--clients={self.clients}",
            f"--per-client={self.per_client}",
        ]


@dataclass
class RunSchools:
    """The fresh schools of one run: one for push/pull/noop/single/mixed, `clients` for conc."""

    solo: SchoolData
    conc: list[SchoolData]


@dataclass
class Writer:
    """A school's admin device and the lesson its new notes belong to."""

    client: Client
    lesson_id: str


# --------------------------------------------------------------------------------------
# Records and requests
# --------------------------------------------------------------------------------------
def note_data(rng: random.Random, lesson_id: str) -> dict[str, Any]:
    """A new lesson note: ~400 bytes of body, not private, 3 tags."""
    words: list[str] = []
    while len(" ".join(words)) < 400:
        words.append(rng.choice(WORDS))
    return {
        "lesson_id": lesson_id,
        "body": " ".join(words)[:400],
        "private": False,
        "tags": rng.sample(TAGS, 3),
    }


def new_notes(client: Client, lesson_id: str, n: int, rng: random.Random) -> list[dict[str, Any]]:
    """`n` put mutations of new notes with client-minted UUIDs (made before any timing)."""
    return [
        client.mutation(
            "lesson_note",
            str(uuid.UUID(int=rng.getrandbits(128), version=4)),
            "put",
            note_data(rng, lesson_id),
        )
        for _ in range(n)
    ]


def chunks(items: Sequence[dict[str, Any]], size: int) -> list[list[dict[str, Any]]]:
    return [list(items[i : i + size]) for i in range(0, len(items), size)]


async def push(
    client: Client, mutations: list[dict[str, Any]], errors: list[str]
) -> tuple[dict[str, Any], float]:
    """Push one request, resending it as is after a failure (same seqs: exactly-once makes
    that safe); returns the body and latency (seconds) of the request that succeeded. Every
    result must be `applied`."""
    for attempt in range(1, MAX_ATTEMPTS + 1):
        t0 = time.perf_counter()
        try:
            body, elapsed = await client.push(mutations)
        except (RuntimeError, aiohttp.ClientError, TimeoutError) as exc:
            errors.append(f"{time.perf_counter() - t0:.2f}s: {str(exc)[:160]}")
            if attempt == MAX_ATTEMPTS:
                raise
            await asyncio.sleep(0.1 * attempt)
            continue
        check_results(body)
        return body, elapsed
    raise AssertionError("unreachable")


async def push_all(
    client: Client, requests: list[list[dict[str, Any]]], errors: list[str]
) -> list[float]:
    """Push the requests one after the other; returns their latencies (seconds)."""
    return [(await push(client, req, errors))[1] for req in requests]


async def pull_page(client: Client, cursor: str | None, page: int) -> dict[str, Any]:
    params = {"limit": str(page), "entities": "lesson_note"}
    if cursor:
        params["cursor"] = cursor
    async with client.http.get(
        f"{client.base}/v1/sync/pull", params=params, headers=client.headers
    ) as resp:
        raw = await resp.read()
        if resp.status != 200:
            raise RuntimeError(f"pull: {resp.status} {raw[:300]!r}")
        body: dict[str, Any] = json.loads(raw)
        body["_encoding"] = resp.headers.get("Content-Encoding", "identity")
        return body


async def pull_all(client: Client, page: int) -> tuple[int, str, int, str]:
    """Pull every lesson note from no cursor; returns (records, cursor, requests, encoding)."""
    cursor: str | None = None
    records = requests = 0
    encoding = "identity"
    while True:
        body = await pull_page(client, cursor, page)
        requests += 1
        records += len(body["changes"])
        cursor, encoding = body["cursor"], body["_encoding"]
        if not body["has_more"]:
            assert cursor is not None
            return records, cursor, requests, encoding


async def noop_pulls(client: Client, cursor: str, n: int, page: int) -> list[float]:
    """`n` sequential pulls from `cursor` with nothing new; their latencies (seconds)."""
    latencies = []
    for _ in range(n):
        t0 = time.perf_counter()
        body = await pull_page(client, cursor, page)
        latencies.append(time.perf_counter() - t0)
        assert not body["changes"], "nothing changed, yet the pull brought changes"
    return latencies


# --------------------------------------------------------------------------------------
# One run
# --------------------------------------------------------------------------------------


async def phase_push(w: Writer, sizes: Sizes, seed: int) -> dict[str, Any]:
    muts = new_notes(w.client, w.lesson_id, sizes.n, random.Random(f"peers-push-{seed}"))
    errors: list[str] = []
    t0 = time.perf_counter()
    lat = await push_all(w.client, chunks(muts, sizes.chunk), errors)
    wall = time.perf_counter() - t0
    return {
        "push_rps": sizes.n / wall,
        "push_s": wall,
        "push_p50_ms": pct(lat, 50) * 1000,
        "push_p95_ms": pct(lat, 95) * 1000,
        # does a request get slower as the school fills up? p50 of the first and last tenth
        "push_first_p50_ms": pct(lat[: len(lat) // 10], 50) * 1000,
        "push_last_p50_ms": pct(lat[-(len(lat) // 10) :], 50) * 1000,
        "push_errors": errors,
        "_ids": [m["id"] for m in muts],
    }


async def phase_pull(client: Client, sizes: Sizes) -> dict[str, Any]:
    t0 = time.perf_counter()
    n, cursor, requests, encoding = await pull_all(client, sizes.page)
    wall = time.perf_counter() - t0
    assert n == sizes.n, (n, sizes.n)
    lat = await noop_pulls(client, cursor, sizes.noop, sizes.page)
    return {
        "pull_rps": n / wall,
        "pull_s": wall,
        "pull_requests": requests,
        "pull_encoding": encoding,
        "noop_p50_ms": pct(lat, 50) * 1000,
        "noop_p95_ms": pct(lat, 95) * 1000,
        "noop_p99_ms": pct(lat, 99) * 1000,
    }


async def phase_conc(writers: list[Writer], sizes: Sizes, seed: int) -> dict[str, Any]:
    plans = [
        chunks(
            new_notes(
                w.client, w.lesson_id, sizes.per_client, random.Random(f"peers-conc-{seed}-{j}")
            ),
            sizes.chunk,
        )
        for j, w in enumerate(writers)
    ]
    errors: list[str] = []
    latencies: list[float] = []

    async def one(client: Client, requests: list[list[dict[str, Any]]]) -> None:
        latencies.extend(await push_all(client, requests, errors))

    t0 = time.perf_counter()
    await asyncio.gather(*(one(w.client, p) for w, p in zip(writers, plans, strict=True)))
    wall = time.perf_counter() - t0
    return {
        "conc_rps": sizes.clients * sizes.per_client / wall,
        "conc_s": wall,
        "conc_batch_p50_ms": pct(latencies, 50) * 1000,
        "conc_batch_p95_ms": pct(latencies, 95) * 1000,
        "conc_errors": errors,
    }


async def phase_single(w: Writer, sizes: Sizes, seed: int) -> dict[str, Any]:
    muts = new_notes(w.client, w.lesson_id, sizes.single, random.Random(f"peers-single-{seed}"))
    errors: list[str] = []
    t0 = time.perf_counter()
    lat = await push_all(w.client, chunks(muts, 1), errors)
    wall = time.perf_counter() - t0
    return {
        "single_rps": sizes.single / wall,
        "single_p50_ms": pct(lat, 50) * 1000,
        "single_p95_ms": pct(lat, 95) * 1000,
        "single_errors": errors,
    }


async def note_revs(db: BenchDb, ids: list[str]) -> dict[str, int]:
    conn = await db.connect()
    try:
        rows = await conn.fetch(
            "SELECT id, rev FROM sync_records WHERE entity='lesson_note' AND id = ANY($1)", ids
        )
        return {r["id"]: int(r["rev"]) for r in rows}
    finally:
        await conn.close()


def mixed_batch(
    client: Client, lesson_id: str, revs: dict[str, int], targets: list[str], rng: random.Random
) -> list[dict[str, Any]]:
    """A new note then a body patch of an existing one (base_rev = its rev), by turns, in
    seq order."""
    batch: list[dict[str, Any]] = []
    for nid in targets:
        batch += new_notes(client, lesson_id, 1, rng)
        body = f"Revised ({client.seq + 1}): " + note_data(rng, lesson_id)["body"][:380]
        batch.append(client.mutation("lesson_note", nid, "patch", {"body": body}, revs[nid]))
    return batch


async def phase_mixed(
    w: Writer, db: BenchDb, pushed: list[str], sizes: Sizes, seed: int
) -> dict[str, Any]:
    targets = pushed[: sizes.mixed_size // 2]
    revs = await note_revs(db, targets)
    rng = random.Random(f"peers-mixed-{seed}")
    errors: list[str] = []
    latencies: list[float] = []
    t0 = time.perf_counter()
    for _ in range(sizes.mixed_batches):
        # made in the timed loop: each batch patches the revs the previous one returned
        muts = mixed_batch(w.client, w.lesson_id, revs, targets, rng)
        body, elapsed = await push(w.client, muts, errors)
        latencies.append(elapsed)
        rev_of = {r["seq"]: r["rev"] for r in body["results"]}
        revs.update({m["id"]: rev_of[m["seq"]] for m in muts if m["op"] == "patch"})
    wall = time.perf_counter() - t0
    return {
        "mixed_mps": sizes.mixed_batches * sizes.mixed_size / wall,
        "mixed_p50_ms": pct(latencies, 50) * 1000,
        "mixed_errors": errors,
    }


async def login(http: Any, server: Server, school: SchoolData) -> Writer:
    """The school's admin logs in (untimed set-up; retried if the busy server answers 503)."""
    client = Client(http, server.base, school.slug, school.admin_email)
    for attempt in range(1, MAX_ATTEMPTS + 1):
        try:
            await client.login()
            break
        except RuntimeError as exc:
            if " 503 " not in str(exc) or attempt == MAX_ATTEMPTS:
                raise
            await asyncio.sleep(attempt)
    return Writer(client, school.lesson_ids[0])


async def one_run(
    r: int, http: Any, server: Server, db: BenchDb, schools: RunSchools, sizes: Sizes
) -> dict[str, Any]:
    """Every phase on the run's fresh schools; prints one line per phase."""
    res: dict[str, Any] = {"load_before": loadavg()}
    solo = await login(http, server, schools.solo)
    conc = [await login(http, server, s) for s in schools.conc]

    cpu0 = process_cpu(server.pid)
    out = await phase_push(solo, sizes, r)
    pushed = out.pop("_ids")
    res["_pushed"] = pushed[: sizes.mixed_size]  # for the floor, after the server stops
    out["push_server_cores"] = (process_cpu(server.pid) - cpu0) / out["push_s"]
    res.update(out)
    say(
        f"run {r + 1} push   {res['push_rps']:8,.0f} rec/s  p50 {res['push_p50_ms']:6.1f} ms  "
        f"p95 {res['push_p95_ms']:6.1f} ms  (first/last tenth p50 {res['push_first_p50_ms']:.0f}/"
        f"{res['push_last_p50_ms']:.0f} ms; {res['push_s']:.1f}s; server "
        f"{res['push_server_cores']:.2f} cores; {len(res['push_errors'])} failed requests; "
        f"load {res['load_before']:.1f})"
    )
    res.update(await phase_pull(solo.client, sizes))
    say(
        f"run {r + 1} pull   {res['pull_rps']:8,.0f} rec/s  ({res['pull_s']:.1f}s, "
        f"{res['pull_requests']} requests, {res['pull_encoding']})"
    )
    say(
        f"run {r + 1} noop   p50 {res['noop_p50_ms']:.2f} ms  p95 {res['noop_p95_ms']:.2f} ms  "
        f"p99 {res['noop_p99_ms']:.2f} ms"
    )
    cpu0 = process_cpu(server.pid)
    out = await phase_conc(conc, sizes, r)
    out["conc_server_cores"] = (process_cpu(server.pid) - cpu0) / out["conc_s"]
    res.update(out)
    say(
        f"run {r + 1} conc   {res['conc_rps']:8,.0f} rec/s  p50 {res['conc_batch_p50_ms']:6.0f} "
        f"ms  p95 {res['conc_batch_p95_ms']:6.0f} ms  ({res['conc_s']:.1f}s; server "
        f"{res['conc_server_cores']:.2f} cores; {len(res['conc_errors'])} failed requests)"
    )
    res.update(await phase_single(solo, sizes, r))
    say(
        f"run {r + 1} single {res['single_rps']:8,.0f} req/s  p50 {res['single_p50_ms']:6.1f} ms  "
        f"p95 {res['single_p95_ms']:6.1f} ms  ({len(res['single_errors'])} failed requests)"
    )
    res.update(await phase_mixed(solo, db, pushed, sizes, r))
    res["load_after"] = loadavg()
    say(
        f"run {r + 1} mixed  {res['mixed_mps']:8,.0f} mut/s  p50 {res['mixed_p50_ms']:6.0f} ms "
        f"per batch of {sizes.mixed_size}  ({len(res['mixed_errors'])} failed requests; "
        f"load {res['load_after']:.1f})"
    )
    return res


# --------------------------------------------------------------------------------------
# Set-up, floor, the DriveSync side
# --------------------------------------------------------------------------------------
async def make_schools(db: BenchDb, runs: int, sizes: Sizes, extra: int) -> list[RunSchools]:
    """Fresh schools for every run (+ `extra` spare ones: warm-up, profile), each with an
    admin, one instructor, one student and one lesson."""
    shape = dict(
        instructors=1, students_per_instructor=1, lessons_per_student=1, notes_per_lesson=0
    )
    out: list[RunSchools] = []
    async with engine_store(db) as (sessions, store):
        for r in range(runs + extra):
            solo = await make_school(sessions, store, f"peers{r}", **shape)
            conc = [
                await make_school(sessions, store, f"peers{r}c{j}", **shape)
                for j in range(sizes.clients if r < runs else 0)
            ]
            out.append(RunSchools(solo, conc))
    return out


async def floor_mixed(db: BenchDb, school: SchoolData, notes: list[str], sizes: Sizes) -> float:
    """bench.floor.push_set_based: `mixed_batches` batches of patches of the same
    `mixed_size` notes of the school (those the run pushed first); mutations/s."""
    conn = await floor.connect(db.dsn)
    try:
        dev = floor.FloorDevice(school.tenant_id, school.admin_user_id)
        t0 = time.perf_counter()
        for n in range(sizes.mixed_batches):
            await floor.push_set_based(conn, dev, notes, f"floor {n}")
        return len(notes) * sizes.mixed_batches / (time.perf_counter() - t0)
    finally:
        await conn.close()


async def warm_up(http: Any, server: Server, school: SchoolData, sizes: Sizes) -> None:
    """Untimed: one push of a request and a pull, so the first run does not pay start-up."""
    w = await login(http, server, school)
    muts = new_notes(w.client, w.lesson_id, 100, random.Random("peers-warm"))
    await push_all(w.client, chunks(muts, sizes.chunk), [])
    await pull_all(w.client, sizes.page)


async def run_drivesync(
    args: Any, sizes: Sizes, after_round: Callable[[int], Awaitable[None]]
) -> dict[str, Any]:
    """Every round's DriveSync run on one server, `after_round(r)` (the peers) after each;
    then the floor once the server has stopped."""
    runs = args.runs
    say(
        f"\n### DriveSync, the peers' workload: push {sizes.n:,} new notes in requests of "
        f"{sizes.chunk}, pull in pages of {sizes.page} (entities=lesson_note), "
        f"{sizes.noop} empty pulls, {sizes.clients} schools x {sizes.per_client}; "
        f"{runs} run(s)"
    )
    t_setup = time.perf_counter()
    db = await BenchDb("peers").create(seed=True)
    server: Server | None = None
    out: dict[str, Any] = {"profiles": {}}
    try:
        all_schools = await make_schools(db, runs, sizes, extra=2 if args.profile else 1)
        await db.vacuum_analyze()
        server = await Server(db).start()
        say(
            f"set-up: {time.perf_counter() - t_setup:.1f}s "
            f"({sum(1 + len(s.conc) for s in all_schools)} schools)"
        )
        measured: list[dict[str, Any]] = []
        async with new_session(limit=sizes.clients + 10) as http:
            await warm_up(http, server, all_schools[runs].solo, sizes)
            for r in range(runs):
                say(f"\n-- round {r + 1} --")
                measured.append(await one_run(r, http, server, db, all_schools[r], sizes))
                await after_round(r)
            if args.profile:
                spare = await login(http, server, all_schools[runs + 1].solo)
                with profiled(server, "push of new notes, requests of 25", out["profiles"]):
                    await phase_push(spare, sizes, 99)
        errors = server.errors()
        await server.stop()
        server = None
        say("floor (bare asyncpg, set-based patches of 500) ...")
        floors = [
            await floor_mixed(db, all_schools[r].solo, m.pop("_pushed"), sizes)
            for r, m in enumerate(measured)
        ]
        say("floor mixed-batch reference: " + ", ".join(f"{f:,.0f}" for f in floors) + " mut/s")
        out.update(
            runs=measured,
            median={k: median(m[k] for m in measured) for k in numeric_keys(measured)},
            floor_patch_500_mps=floors,
            server_errors=errors[:20],
            sizes=vars(sizes),
        )
        print_metrics("DriveSync, peers' workload", drivesync_metrics(measured, median(floors)))
        if errors:
            say(f"server logged {len(errors)} error lines, first: {errors[0]}")
        return out
    except Exception:
        if server is not None:
            say(f"server log tail:\n{server.tail()}")
        raise
    finally:
        if server is not None:
            await server.stop()
        if not args.keep_db:
            await db.drop()


def numeric_keys(runs: list[dict[str, Any]]) -> list[str]:
    return [k for k, v in runs[0].items() if isinstance(v, int | float)]


def drivesync_metrics(runs: list[dict[str, Any]], floor_mps: float) -> list[Metric]:
    def m(key: str, name: str, unit: str, higher: bool = False, **kw: Any) -> Metric:
        return Metric(name, unit, [r[key] for r in runs], higher_is_better=higher, **kw)

    return [
        m("push_rps", "push: records/s", "rec/s", True),
        m("push_p50_ms", "push: p50 per request of 25", "ms"),
        m("push_p95_ms", "push: p95 per request of 25", "ms"),
        m("pull_rps", "pull from zero: records/s", "rec/s", True),
        m("noop_p50_ms", "noop pull: p50", "ms"),
        m("noop_p95_ms", "noop pull: p95", "ms"),
        m("noop_p99_ms", "noop pull: p99", "ms"),
        m("conc_rps", "50 schools at once: records/s", "rec/s", True),
        m("conc_batch_p50_ms", "50 schools: p50 per request", "ms"),
        m("conc_batch_p95_ms", "50 schools: p95 per request", "ms"),
        m("single_p50_ms", "one mutation per request: p50", "ms"),
        m("single_p95_ms", "one mutation per request: p95", "ms"),
        m(
            "mixed_mps",
            "batches of 500 (250 puts + 250 patches)",
            "mut/s",
            True,
            floor=floor_mps,
            note="floor = set-based asyncpg, 500 patches a batch (no inserts): a reference",
        ),
        m("mixed_p50_ms", "batches of 500: p50 per batch", "ms"),
    ]


# --------------------------------------------------------------------------------------
# The peers
# --------------------------------------------------------------------------------------
def port_open(port: int) -> bool:
    with socket.socket() as s:
        s.settimeout(0.5)
        return s.connect_ex(("127.0.0.1", port)) == 0


def setup(script: str, action: str) -> None:
    """Run one of the peers' setup scripts (start or stop), its output indented."""
    proc = subprocess.run(
        ["bash", str(PEERS_DIR / script), action],
        cwd=PEERS_DIR,
        capture_output=True,
        text=True,
        env={**os.environ, "PGPORT": str(PEER_PG_PORT)},
    )
    lines = (proc.stdout + proc.stderr).strip().splitlines()
    for line in [x for x in lines if "is ignored" not in x][-5:]:
        say(f"    {line}")
    if proc.returncode != 0:
        raise RuntimeError(f"{script} {action} failed ({proc.returncode})")


@dataclass
class Peer:
    """One peer server: started once, benchmarked one run per round, stopped at the end."""

    name: str
    rounds: int
    was_up: bool = False
    runs: list[dict[str, Any]] = field(default_factory=list)
    loads: list[list[float]] = field(default_factory=list)
    version: str | None = None

    @property
    def label(self) -> str:
        return PEERS[self.name][0]

    def start(self) -> None:
        self.was_up = port_open(PEERS[self.name][3])
        setup(PEERS[self.name][1], "start")

    def stop(self) -> None:
        if not self.was_up:
            setup(PEERS[self.name][1], "stop")

    def run_once(self, sizes: Sizes) -> None:
        """The peer's own benchmark, one run (fresh collections), its lines printed as they
        come; keeps the run's figures and the load it saw."""
        script = PEERS[self.name][2]
        say(f"{self.label}: {script} --schema lesson --runs 1")
        python = str(PEER_PYTHON) if PEER_PYTHON.exists() else sys.executable
        with tempfile.NamedTemporaryFile(suffix=".json", delete=False) as tmp:
            out_path = Path(tmp.name)
        try:
            cmd = [python, script, "--schema", "lesson", "--runs", "1", *sizes.peer_args()]
            proc = subprocess.Popen(
                [*cmd, "--out", str(out_path)], cwd=PEERS_DIR, stdout=subprocess.PIPE, text=True
            )
            assert proc.stdout is not None
            for line in proc.stdout:
                if line.startswith("run "):
                    say(f"  {self.label} {line.rstrip()}")
            if proc.wait() != 0:
                raise RuntimeError(f"{script} exited with {proc.returncode}")
            result = json.loads(out_path.read_text())
        finally:
            out_path.unlink(missing_ok=True)
        self.version = result.get("version")
        self.runs.append(result["runs"][0])
        self.loads.append(result["machine_before"]["loadavg_1_5_15"])

    def summary(self) -> dict[str, Any]:
        return {
            "server": self.label,
            "version": self.version,
            "runs": self.runs,
            "load_1_5_15_before_each_run": self.loads,
            "median": {k: median(r[k] for r in self.runs) for k in numeric_keys(self.runs)},
        }


def ratio_rows(ours: list[dict[str, Any]], peers: list[Peer]) -> list[dict[str, Any]]:
    """DriveSync / peer for every shared figure: of the medians, and round by round (the
    peer ran right after DriveSync in each round)."""
    rows = []
    for key, label, higher in SHARED:
        mine = median(r[key] for r in ours)
        row: dict[str, Any] = {"figure": label, "key": key, "higher_is_better": higher}
        row["drivesync"] = mine
        for peer in peers:
            if not peer.runs:
                continue
            theirs = median(r[key] for r in peer.runs)
            row[peer.name] = theirs
            row[f"{peer.name}_ratio"] = mine / theirs if theirs else None
            row[f"{peer.name}_ratio_by_round"] = [
                o[key] / t[key] if t[key] else None for o, t in zip(ours, peer.runs, strict=False)
            ]
        rows.append(row)
    return rows


def print_ratios(rows: list[dict[str, Any]], peers: list[Peer]) -> None:
    say("\n== DriveSync beside the peers (medians; ratio = DriveSync / peer) ==")
    say("(rec/s: above 1 means DriveSync is faster; ms: below 1 means DriveSync is faster)")
    head = f"{'figure':20} {'DriveSync':>10}"
    for peer in peers:
        head += f" {peer.label:>15} {'ratio':>7} {'by round':>20}"
    say(head)
    for row in rows:
        line = f"{row['figure']:20} {fmt(row['drivesync']):>10}"
        for peer in peers:
            ratio = row.get(f"{peer.name}_ratio")
            rounds = ", ".join(f"{x:.3g}" for x in row.get(f"{peer.name}_ratio_by_round", []) if x)
            line += f" {fmt(row.get(peer.name)):>15} {'-' if ratio is None else f'{ratio:.3g}':>7}"
            line += f" {rounds:>20}"
        say(line)


# --------------------------------------------------------------------------------------
# Main
# --------------------------------------------------------------------------------------
def main() -> None:
    parser = base_args(__doc__.split("\n")[0])
    parser._option_string_actions["--runs"].help = "rounds (3; 1 is allowed)"
    parser._option_string_actions["--quick"].help = "smaller sizes (N = 2,000; for a try-out)"
    parser.add_argument("--with-pouch", action="store_true", help="also run pouchdb-server's")
    parser.add_argument("--with-kinto", action="store_true", help="also run Kinto's")
    parser.add_argument(
        "--kinto-runs",
        type=int,
        help="rounds Kinto takes part in (default: all; one takes ~4 minutes)",
    )
    args = parser.parse_args()
    args.runs = max(1, args.runs)
    sizes = Sizes.for_args(args.quick)
    peers = [Peer("pouch", args.runs)] if args.with_pouch else []
    if args.with_kinto:
        peers.append(Peer("kinto", min(args.runs, args.kinto_runs or args.runs)))
    t0 = time.perf_counter()
    pg_was_up = True
    if peers:
        pg_was_up = port_open(PEER_PG_PORT)
        setup("pg_setup.sh", "start")
        common.PG_ADMIN_DSN = PEER_PG_DSN  # the peers' PostgreSQL, shared by all three

    async def after_round(r: int) -> None:
        for peer in peers:
            if r < peer.rounds:
                await asyncio.to_thread(peer.run_once, sizes)

    started: list[Peer] = []
    try:
        for peer in peers:
            peer.start()
            started.append(peer)
        info = print_machine()
        ours = asyncio.run(run_drivesync(args, sizes, after_round))
    finally:
        for peer in started:
            peer.stop()
        if peers and not pg_was_up:
            setup("pg_setup.sh", "stop")
    after = print_machine(info | {"load": loadavg()})
    ratios = ratio_rows(ours["runs"], peers)
    if peers:
        print_ratios(ratios, peers)
    say(f"[total {time.perf_counter() - t0:.0f}s]")
    save_json(
        args.json,
        "peers",
        {
            "machine": info,
            "load_after": after["load"],
            "pg_admin_dsn": common.PG_ADMIN_DSN,
            "wall_s": time.perf_counter() - t0,
            "drivesync": ours,
            "peers": {p.name: p.summary() for p in peers},
            "ratios": ratios if peers else [],
        },
    )


if __name__ == "__main__":
    main()
