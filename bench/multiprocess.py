"""One server process against two: `drivesync serve --processes 1` vs `--processes 2`.

The same workload on each, the two alternating run by run (1, 2, 1, 2, ...) so that drift in
the machine's load falls on both alike:
- push: 50 schools at once, each its own admin device pushing 200 new lesson notes in
  requests of 25 (10,000 notes a run: the peers' "50 schools at once"); records/s over the
  wall time, p50/p99 per request;
- no-change pull, one client: 200 sequential pulls from a final cursor; p50/p99;
- no-change pull, 50 clients: the 50 admins each pulling from their final cursor 40 times,
  all at once (2,000 requests); requests/s, p50/p99.

The server's CPU is the parent's plus its workers' (read from /proc). The machine has 2 cores
shared by the server processes, PostgreSQL and this load generator: a second server
process can only use what the other two leave, so read the CPU columns with the figures.

    .venv/bin/python -m bench.multiprocess [--quick] [--runs N] [--json out.json]
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import subprocess
import time
import uuid
from pathlib import Path
from typing import Any

import aiohttp

from bench.common import (
    DRIVESYNC,
    NOTE_TEXTS,
    ROOT,
    BenchDb,
    Client,
    Metric,
    SchoolData,
    Server,
    base_args,
    check_results,
    engine_store,
    loadavg,
    make_school,
    new_session,
    pct,
    postgres_pids_cpu,
    print_machine,
    print_metrics,
    process_cpu,
    save_json,
    say,
    self_cpu,
)
from bench.peers import Writer, login, pull_page

SCHOOLS = 50
CHUNK = 25
PAGE = 1000
MAX_ATTEMPTS = 5


def new_notes(client: Client, lesson_id: str, n: int, rng: random.Random) -> list[dict[str, Any]]:
    """`n` put mutations of new lesson notes (~400 bytes of body), made before any timing."""
    return [
        client.mutation(
            "lesson_note",
            str(uuid.UUID(int=rng.getrandbits(128), version=4)),
            "put",
            {
                "lesson_id": lesson_id,
                "body": " ".join(rng.sample(NOTE_TEXTS, 4))[:400],
                "private": False,
                "tags": ["progress"],
            },
        )
        for _ in range(n)
    ]


def chunks(items: list[dict[str, Any]], size: int) -> list[list[dict[str, Any]]]:
    return [items[i : i + size] for i in range(0, len(items), size)]


async def push_all(
    client: Client, requests: list[list[dict[str, Any]]], errors: list[str]
) -> list[float]:
    """Push the requests one after the other, resending a failed one as is (same seqs:
    exactly-once makes that safe); every result must be `applied`. Latencies in seconds."""
    latencies = []
    for mutations in requests:
        for attempt in range(1, MAX_ATTEMPTS + 1):
            try:
                body, elapsed = await client.push(mutations)
            except (RuntimeError, aiohttp.ClientError, TimeoutError) as exc:
                errors.append(str(exc)[:160])
                if attempt == MAX_ATTEMPTS:
                    raise
                await asyncio.sleep(0.1 * attempt)
                continue
            check_results(body)
            latencies.append(elapsed)
            break
    return latencies


async def pull(client: Client, cursor: str | None) -> dict[str, Any]:
    """One page of lesson notes (bench.peers' request)."""
    return await pull_page(client, cursor, PAGE)


async def final_cursor(client: Client) -> str:
    cursor = None
    while True:
        body = await pull(client, cursor)
        cursor = body["cursor"]
        if not body["has_more"]:
            return str(cursor)


async def noop_pulls(client: Client, cursor: str, n: int) -> list[float]:
    """`n` sequential pulls from `cursor` with nothing new; their latencies (seconds)."""
    latencies = []
    for _ in range(n):
        t0 = time.perf_counter()
        body = await pull(client, cursor)
        latencies.append(time.perf_counter() - t0)
        assert not body["changes"], "nothing changed, yet the pull brought changes"
    return latencies


class ProcessesServer(Server):
    """`drivesync serve --port P --processes N`; ready once N workers listen and the
    database answers."""

    def __init__(self, db: BenchDb, processes: int) -> None:
        super().__init__(db)
        self.processes = processes

    def pids(self) -> list[int]:
        """The processes doing the work: the workers, or the server itself when N = 1."""
        return [self.pid, *children(self.pid)]

    def cpu(self) -> float:
        total = 0.0
        for pid in self.pids():
            with contextlib.suppress(OSError):
                total += process_cpu(pid)
        return total

    async def start(self) -> ProcessesServer:
        env = {**self.db.env, "DRIVESYNC_LOG_LEVEL": "WARNING"}
        with self.log_path.open("ab") as log:
            self.proc = subprocess.Popen(  # noqa: ASYNC220
                [DRIVESYNC, "serve", "--port", str(self.port), "--processes", str(self.processes)],
                env=env,
                cwd=str(ROOT),
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        workers = self.processes if self.processes > 1 else 0
        deadline = time.monotonic() + 60
        async with aiohttp.ClientSession() as http:
            while time.monotonic() < deadline:
                if self.proc.poll() is not None:
                    raise RuntimeError(f"server exited:\n{self.tail()}")
                if len(children(self.pid)) == workers and listeners(self.port) >= max(1, workers):
                    with contextlib.suppress(aiohttp.ClientError):
                        async with http.get(f"{self.base}/readyz") as resp:
                            if resp.status == 200:
                                return self
                await asyncio.sleep(0.1)
        raise RuntimeError(f"server not ready in 60 s:\n{self.tail()}")


def children(pid: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            with contextlib.suppress(OSError):
                if int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1]) == pid:
                    found.append(int(entry.name))
    return found


def listeners(port: int) -> int:
    """Listening IPv4 sockets on `port` (one per worker with SO_REUSEPORT)."""
    rows = Path("/proc/net/tcp").read_text().splitlines()[1:]
    return sum(
        1 for r in rows if int(r.split()[1].split(":")[1], 16) == port and r.split()[3] == "0A"
    )


async def make_schools(db: BenchDb) -> list[SchoolData]:
    shape = dict(
        instructors=1, students_per_instructor=1, lessons_per_student=1, notes_per_lesson=0
    )
    async with engine_store(db) as (sessions, store):
        return [await make_school(sessions, store, f"mp{j}", **shape) for j in range(SCHOOLS)]


async def push_phase(writers: list[Writer], per_client: int, seed: str) -> dict[str, Any]:
    plans = [
        chunks(new_notes(w.client, w.lesson_id, per_client, random.Random(f"mp-{seed}-{j}")), CHUNK)
        for j, w in enumerate(writers)
    ]
    errors: list[str] = []
    latencies: list[float] = []

    async def one(w: Writer, requests: list[list[dict[str, Any]]]) -> None:
        latencies.extend(await push_all(w.client, requests, errors))

    t0 = time.perf_counter()
    await asyncio.gather(*(one(w, p) for w, p in zip(writers, plans, strict=True)))
    wall = time.perf_counter() - t0
    return {
        "rate": len(writers) * per_client / wall,
        "p50": pct(latencies, 50) * 1000,
        "p99": pct(latencies, 99) * 1000,
        "wall": wall,
        "errors": errors,
    }


async def one_run(
    server: ProcessesServer, schools: list[SchoolData], sizes: dict[str, int], seed: str
) -> dict[str, Any]:
    out: dict[str, Any] = {"load": loadavg()}
    async with new_session(limit=SCHOOLS + 10) as http:
        writers = [await login(http, server, s) for s in schools]
        # untimed warm-up: every worker's pool and caches, every device row
        await asyncio.gather(
            *(
                push_all(w.client, [new_notes(w.client, w.lesson_id, 1, random.Random(j))], [])
                for j, w in enumerate(writers)
            )
        )

        cpu = server.cpu(), await postgres_pids_cpu(), self_cpu()
        push = await push_phase(writers, sizes["per_client"], seed)
        wall = push["wall"]
        push["cores"] = {
            "server": (server.cpu() - cpu[0]) / wall,
            "postgres": (await postgres_pids_cpu() - cpu[1]) / wall,
            "client": (self_cpu() - cpu[2]) / wall,
        }
        requests = len(writers) * -(-sizes["per_client"] // CHUNK)
        push["server_ms"] = push["cores"]["server"] * wall / requests * 1000
        out["push"] = push

        cursors = [await final_cursor(w.client) for w in writers]
        lat = await noop_pulls(writers[0].client, cursors[0], sizes["noop"])
        out["noop1"] = {"p50": pct(lat, 50) * 1000, "p99": pct(lat, 99) * 1000}

        cpu = server.cpu(), await postgres_pids_cpu(), self_cpu()
        t0 = time.perf_counter()
        lats = await asyncio.gather(
            *(
                noop_pulls(w.client, c, sizes["noop_each"])
                for w, c in zip(writers, cursors, strict=True)
            )
        )
        wall = time.perf_counter() - t0
        flat = [x for part in lats for x in part]
        server_s = server.cpu() - cpu[0]
        out["noop50"] = {
            "rps": len(flat) / wall,
            "server_ms": server_s / len(flat) * 1000,
            "p50": pct(flat, 50) * 1000,
            "p99": pct(flat, 99) * 1000,
            "cores": {
                "server": server_s / wall,
                "postgres": (await postgres_pids_cpu() - cpu[1]) / wall,
                "client": (self_cpu() - cpu[2]) / wall,
            },
        }
    return out


def report(r: int, n: int, out: dict[str, Any]) -> None:
    p, a, b = out["push"], out["noop1"], out["noop50"]
    pc, bc = p["cores"], b["cores"]
    say(
        f"run {r + 1} {n} proc  push {p['rate']:7,.0f} rec/s p50 {p['p50']:5.0f} ms "
        f"p99 {p['p99']:5.0f} ms (server cpu {p['server_ms']:.1f} ms/request; cores: server "
        f"{pc['server']:.2f}, postgres "
        f"{pc['postgres']:.2f}, client {pc['client']:.2f}; {len(p['errors'])} failed)  | "
        f"noop x1 p50 {a['p50']:.2f} p99 {a['p99']:.2f} ms  | noop x{SCHOOLS} "
        f"{b['rps']:6,.0f} req/s p50 {b['p50']:5.1f} p99 {b['p99']:5.1f} ms (server cpu "
        f"{b['server_ms']:.1f} ms/request; cores: server "
        f"{bc['server']:.2f}, postgres {bc['postgres']:.2f}, client {bc['client']:.2f})  "
        f"load {out['load']:.1f}"
    )


async def run(args: Any) -> dict[str, Any]:
    runs = 1 if args.quick else max(3, args.runs)
    sizes = (
        {"per_client": 50, "noop": 50, "noop_each": 10}
        if args.quick
        else {"per_client": 200, "noop": 200, "noop_each": 40}
    )
    counts = (1, 2)
    say(
        f"\n### 1 vs 2 server processes: {SCHOOLS} schools x {sizes['per_client']} new notes "
        f"in requests of {CHUNK}; {sizes['noop']} no-change pulls (1 client); "
        f"{SCHOOLS} clients x {sizes['noop_each']} no-change pulls; {runs} run(s), alternating"
    )
    t_setup = time.perf_counter()
    db = await BenchDb("multiprocess").create(seed=True)
    measured: dict[int, list[dict[str, Any]]] = {n: [] for n in counts}
    errors: dict[int, list[str]] = {n: [] for n in counts}
    try:
        schools = await make_schools(db)
        await db.vacuum_analyze()
        say(f"set-up: {time.perf_counter() - t_setup:.1f}s")
        for r in range(runs):
            for n in counts if r % 2 == 0 else tuple(reversed(counts)):
                server = await ProcessesServer(db, n).start()
                try:
                    out = await one_run(server, schools, sizes, f"{r}-{n}")
                finally:
                    errors[n] += server.errors()
                    await server.stop()
                measured[n].append(out)
                report(r, n, out)
    finally:
        if not args.keep_db:
            await db.drop()

    metrics: list[Metric] = []
    rows = [
        ("push, 50 schools at once: records/s", "rec/s", ("push", "rate"), True),
        ("push: p50 per request of 25", "ms", ("push", "p50"), False),
        ("push: p99 per request of 25", "ms", ("push", "p99"), False),
        ("push: server CPU per request of 25", "ms", ("push", "server_ms"), False),
        ("no-change pull, 1 client: p50", "ms", ("noop1", "p50"), False),
        ("no-change pull, 1 client: p99", "ms", ("noop1", "p99"), False),
        ("no-change pull, 50 clients: requests/s", "req/s", ("noop50", "rps"), True),
        ("no-change pull, 50 clients: p50", "ms", ("noop50", "p50"), False),
        ("no-change pull, 50 clients: p99", "ms", ("noop50", "p99"), False),
        ("no-change pull: server CPU per request", "ms", ("noop50", "server_ms"), False),
    ]
    for name, unit, (part, key), higher in rows:
        one = Metric(f"{name} (1 proc)", unit, [o[part][key] for o in measured[1]])
        two = Metric(
            f"{name} (2 proc)",
            unit,
            [o[part][key] for o in measured[2]],
            floor=one.median,
            higher_is_better=higher,
        )
        metrics += [one, two]
    print_metrics("1 vs 2 server processes (ratio = 2 processes / 1 process)", metrics)
    for n, lines in errors.items():
        if lines:
            say(f"{n} process(es): the server logged {len(lines)} error lines, first: {lines[0]}")
    return {
        "metrics": [m.row() for m in metrics],
        "runs": {str(n): v for n, v in measured.items()},
        "server_errors": {str(n): v[:20] for n, v in errors.items()},
    }


def main() -> None:
    parser = base_args(__doc__.split("\n")[0])
    args = parser.parse_args()
    info = print_machine()
    results = asyncio.run(run(args))
    save_json(args.json, "multiprocess", {"machine": info, **results})


if __name__ == "__main__":
    main()
