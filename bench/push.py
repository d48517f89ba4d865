"""Push throughput: lesson-note body patches in batches of 500.

Scenarios (each run ≥ 3 times; every run and the median are printed):
- one client: one instructor's device pushing B batches in a row;
- 50 clients, one tenant: 50 instructors of one school pushing at once (writers of a tenant
  serialise on its rev lock, so this measures queueing too);
- 50 clients, 50 tenants: one instructor in each of 50 schools pushing at once.

Figures: mutations/s over the wall time of the run, and p50/p99 latency per batch (from
sending the request to the whole response read). Each patch carries the rev the client last
saw as base_rev (no concurrent editor, so the body is plain last-writer-wins, as for a
normal offline edit), changes the body (so a note revision is written too) and must come
back `applied`.

Floor: the same batches (same notes, same concurrency, 20 connections like the server's
pool) written by bench.floor.push_set_based; the single-client case also by
push_row_by_row (the engine's statement pattern without ORM/validation/HTTP).

    .venv/bin/python -m bench.push [--quick] [--profile] [--json out.json]
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

import asyncpg

from bench import floor
from bench.common import (
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
    profiled,
    save_json,
    say,
    self_cpu,
)

BATCH = 500


class NoteWriter:
    """A client patching its own 500 notes, batch after batch, tracking their revs. A batch
    that fails (HTTP error) is kept and resent as is, as a real client does."""

    def __init__(self, client: Client, note_ids: list[str], revs: dict[str, int]) -> None:
        self.client = client
        self.note_ids = note_ids[:BATCH]
        self.revs = revs
        self.round = 0
        self.pending: list[dict[str, Any]] | None = None

    def batch(self, size: int = BATCH) -> list[dict[str, Any]]:
        self.round += 1
        c = self.client
        return [
            c.mutation(
                "lesson_note",
                nid,
                "patch",
                {
                    "body": f"Round {self.round} ({c.seq + 1}): mirrors and signals checked "
                    "before every manoeuvre; clutch control smoother; keep practising "
                    "roundabouts on busier roads."
                },
                base_rev=self.revs.get(nid),
            )
            for nid in self.note_ids[:size]
        ]

    async def push(self, size: int = BATCH) -> float:
        """Push the pending batch (or a new one); returns its latency in seconds."""
        mutations = self.pending or self.batch(size)
        self.pending = mutations
        body, elapsed = await self.client.push(mutations)
        check_results(body)
        self.pending = None
        for m, r in zip(mutations, body["results"], strict=True):
            self.revs[m["id"]] = r["rev"]
        return elapsed


async def _revs(db: BenchDb, ids: list[str]) -> dict[str, int]:
    conn = await asyncpg.connect(db.dsn)
    try:
        rows = await conn.fetch(
            "SELECT id, rev FROM sync_records WHERE entity='lesson_note' AND id = ANY($1)", ids
        )
        return {r["id"]: r["rev"] for r in rows}
    finally:
        await conn.close()


async def _scenario(
    writers: list[NoteWriter], batches: int, server: Server, size: int = BATCH
) -> dict[str, Any]:
    """All writers push `batches` batches each, concurrently; returns rate and latencies.
    Failed requests are counted (and their batch resent) rather than aborting the run."""
    latencies: list[float] = []
    errors: list[str] = []
    applied = 0

    async def one(w: NoteWriter) -> None:
        nonlocal applied
        done = 0
        attempts = 0
        while done < batches and attempts < batches + 3:
            attempts += 1
            t0 = time.perf_counter()
            try:
                latencies.append(await w.push(size))
            except RuntimeError as exc:
                errors.append(f"{time.perf_counter() - t0:.1f}s: {str(exc)[:160]}")
                continue
            done += 1
            applied += size

    cpu_server, cpu_pg, cpu_self = process_cpu(server.pid), await postgres_pids_cpu(), self_cpu()
    load0 = loadavg()
    t0 = time.perf_counter()
    await asyncio.gather(*(one(w) for w in writers))
    wall = time.perf_counter() - t0
    server_cpu = process_cpu(server.pid) - cpu_server
    cpu = {
        "server_us_per_mutation": server_cpu / max(1, applied) * 1e6,
        "load_before": load0,
        "load_after": loadavg(),
        "server": server_cpu / wall,
        "postgres": (await postgres_pids_cpu() - cpu_pg) / wall,
        "client": (self_cpu() - cpu_self) / wall,
    }
    return {
        "rate": applied / wall,
        "p50": pct(latencies, 50) * 1000,
        "p99": pct(latencies, 99) * 1000,
        "wall": wall,
        "cpu": cpu,
        "errors": errors,
    }


async def _floor_scenario(
    db: BenchDb,
    devices: list[tuple[floor.FloorDevice, list[str]]],
    batches: int,
    row_by_row: bool = False,
) -> dict[str, float]:
    pool = await floor.pool(db.dsn, min(20, len(devices)))
    latencies: list[float] = []
    fn = floor.push_row_by_row if row_by_row else floor.push_set_based

    async def one(dev: floor.FloorDevice, notes: list[str]) -> None:
        for n in range(batches):
            async with pool.acquire() as conn:
                t0 = time.perf_counter()
                await fn(conn, dev, notes, f"floor {n}")
                latencies.append(time.perf_counter() - t0)

    try:
        t0 = time.perf_counter()
        await asyncio.gather(*(one(d, n) for d, n in devices))
        wall = time.perf_counter() - t0
    finally:
        await pool.close()
    total = sum(len(n) for _d, n in devices) * batches
    return {
        "rate": total / wall,
        "p50": pct(latencies, 50) * 1000,
        "p99": pct(latencies, 99) * 1000,
    }


def add_args(parser: Any) -> None:
    parser.add_argument("--clients", type=int, default=50, help="concurrent clients (50)")
    parser.add_argument("--single-only", action="store_true", help="only the 1-client case")


async def run(args: Any) -> dict[str, Any]:
    quick = args.quick
    runs = max(3, args.runs)
    single_batches = 4 if quick else 10
    multi_batches = 1
    # --quick: 50 clients still, but batches of 100 (a full run takes minutes at ~400 mut/s)
    multi_size = 100 if quick else BATCH
    n_clients = args.clients
    say(
        f"\n### push: batches of {BATCH} lesson-note patches "
        f"(1 client x {single_batches} batches; {n_clients} clients x {multi_batches})"
    )
    t_setup = time.perf_counter()
    db = await BenchDb("push").create(seed=True)
    server: Server | None = None
    results: dict[str, Any] = {"profiles": {}}
    try:
        async with engine_store(db) as (sessions, store):
            # 5 students x 10 lessons x 10 notes = 500 notes per instructor.
            shape = dict(students_per_instructor=5, lessons_per_student=10, notes_per_lesson=10)
            one_school = await make_school(
                sessions, store, "pushone", instructors=n_clients, **shape
            )
            schools: list[SchoolData] = []
            for k in range(n_clients):
                schools.append(
                    await make_school(sessions, store, f"pushm{k}", instructors=1, **shape)
                )
        await db.vacuum_analyze()
        server = await Server(db).start()
        say(
            f"set-up: {time.perf_counter() - t_setup:.1f}s "
            f"({one_school.records() + sum(s.records() for s in schools):,} records)"
        )
        async with new_session() as http:
            one_tenant = [
                Client(http, server.base, one_school.slug, inst.email)
                for inst in one_school.instructors
            ]
            many_tenants = [
                Client(http, server.base, s.slug, s.instructors[0].email) for s in schools
            ]
            await asyncio.gather(*(c.login() for c in one_tenant + many_tenants))
            all_ids = one_school.note_ids + [n for s in schools for n in s.note_ids]
            revs = await _revs(db, all_ids)
            w_one = [
                NoteWriter(c, i.note_ids, revs)
                for c, i in zip(one_tenant, one_school.instructors, strict=True)
            ]
            w_many = [
                NoteWriter(c, s.instructors[0].note_ids, revs)
                for c, s in zip(many_tenants, schools, strict=True)
            ]
            # warm-up, untimed: device rows for every client, one full batch for the first
            await asyncio.gather(*(w.push(1) for w in w_one + w_many))
            await w_one[0].push()
            await w_many[0].push()

            scenarios = {
                "1 client": ([w_one[0]], single_batches, BATCH),
                f"{n_clients} clients, 1 tenant": (w_one, multi_batches, multi_size),
                f"{n_clients} clients, {n_clients} tenants": (w_many, multi_batches, multi_size),
            }
            if args.single_only:
                scenarios = {"1 client": scenarios["1 client"]}
            measured: dict[str, list[dict[str, Any]]] = {k: [] for k in scenarios}
            for r in range(runs):
                for name, (writers, batches, size) in scenarios.items():
                    out = await _scenario(writers, batches, server, size)
                    measured[name].append(out)
                    cpu = out["cpu"]
                    say(
                        f"run {r + 1} {name:26} {out['rate']:8,.0f} mut/s  "
                        f"p50 {out['p50']:7.0f} ms  p99 {out['p99']:7.0f} ms  "
                        f"({out['wall']:.1f}s; cpu cores: server {cpu['server']:.2f}, "
                        f"postgres {cpu['postgres']:.2f}, client {cpu['client']:.2f}; server "
                        f"{cpu['server_us_per_mutation']:.0f} us cpu/mutation; load "
                        f"{cpu['load_before']:.1f})"
                    )
                    if out["errors"]:
                        say(f"    {len(out['errors'])} failed requests, e.g. {out['errors'][0]}")
            if args.profile:
                for name in [k for k in scenarios if k == "1 client" or "tenants" in k]:
                    writers, batches, size = scenarios[name]
                    with profiled(server, f"push, {name}", results["profiles"]):
                        await _scenario(
                            writers, max(batches, 4 if len(writers) == 1 else 1), server, size
                        )
        errors = server.errors()
        await server.stop()
        server = None

        # The floor, on the same rows, after the server runs.
        say("floor (bare asyncpg) ...")
        f_one = [
            (floor.FloorDevice(one_school.tenant_id, i.user_id), i.note_ids[:multi_size])
            for i in one_school.instructors
        ]
        f_many = [
            (
                floor.FloorDevice(s.tenant_id, s.instructors[0].user_id),
                s.instructors[0].note_ids[:multi_size],
            )
            for s in schools
        ]
        f_single = [
            (
                floor.FloorDevice(one_school.tenant_id, one_school.instructors[0].user_id),
                one_school.instructors[0].note_ids[:BATCH],
            )
        ]
        floors = {
            "1 client": await _floor_scenario(db, f_single, single_batches),
            f"{n_clients} clients, 1 tenant": await _floor_scenario(db, f_one, multi_batches),
            f"{n_clients} clients, {n_clients} tenants": await _floor_scenario(
                db, f_many, multi_batches
            ),
        }
        row_floor = await _floor_scenario(db, f_single, single_batches, row_by_row=True)
        for name, f in floors.items():
            say(
                f"floor {name:26} {f['rate']:8,.0f} mut/s  p50 {f['p50']:7.0f} ms  "
                f"p99 {f['p99']:7.0f} ms"
            )
        say(
            f"floor 1 client, row by row     {row_floor['rate']:8,.0f} mut/s  "
            f"p50 {row_floor['p50']:7.0f} ms  p99 {row_floor['p99']:7.0f} ms"
        )

        metrics: list[Metric] = []
        for name, outs in measured.items():
            f = floors[name]
            metrics.append(
                Metric(f"{name}: mutations/s", "mut/s", [o["rate"] for o in outs], f["rate"])
            )
            metrics.append(
                Metric(
                    f"{name}: p50 per batch",
                    "ms",
                    [o["p50"] for o in outs],
                    f["p50"],
                    higher_is_better=False,
                )
            )
            metrics.append(
                Metric(
                    f"{name}: p99 per batch",
                    "ms",
                    [o["p99"] for o in outs],
                    f["p99"],
                    higher_is_better=False,
                )
            )
        metrics.append(
            Metric(
                "1 client vs row-by-row floor: mutations/s",
                "mut/s",
                [o["rate"] for o in measured["1 client"]],
                row_floor["rate"],
                note="floor = the engine's statement pattern, no ORM/HTTP",
            )
        )
        print_metrics("push (floor = set-based asyncpg, same rows)", metrics)
        if errors:
            say(f"server logged {len(errors)} error lines, first: {errors[0]}")
        results.update(
            metrics=[m.row() for m in metrics],
            cpu={k: [o["cpu"] for o in v] for k, v in measured.items()},
            request_errors={k: [o["errors"] for o in v] for k, v in measured.items()},
            row_floor=row_floor,
            server_errors=errors[:20],
        )
        return results
    except Exception:
        if server is not None:
            say(f"server log tail:\n{server.tail()}")
        raise
    finally:
        if server is not None:
            await server.stop()
        if not args.keep_db:
            await db.drop()


def main() -> None:
    parser = base_args(__doc__.split("\n")[0])
    add_args(parser)
    args = parser.parse_args()
    info = print_machine()
    results = asyncio.run(run(args))
    save_json(args.json, "push", {"machine": info, **results})


if __name__ == "__main__":
    main()
