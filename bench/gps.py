"""GPS: 1,000,000 points pushed as trip segments of 500 points (2,000 segments).

Shape: 250 trips (one per lesson) of 8 segments each, i.e. 4,000 points per trip (about 67
minutes at one fix a second), pushed by the instructor trip after trip in batches of 50
segments (about 1.1 MB a request, under the 2 MiB limit). Figures: points/s over the run and
p50/p99 latency per batch. Each run uses 250 fresh trips (segments are append-only).

A second figure shows how the cost of a segment grows with the length of its trip: one trip
of 100 segments (50,000 points) pushed in batches of 25, per-batch latency of the first and
the last batch (the engine recomputes a trip's totals from all of its segments on every
segment it appends).

Floor (bench.floor.gps_batch): the same segments inserted with their index rows, stored
results and the trips' totals updated incrementally, by bare asyncpg.

    .venv/bin/python -m bench.gps [--quick] [--profile] [--json out.json]
"""

from __future__ import annotations

import asyncio
import math
import random
import time
import uuid
from typing import Any

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
)

POINTS = 500
SEGMENTS_PER_TRIP = 8
PER_BATCH = 50
LONG_BATCH = 25  # the long trip's batches (more points on the growth curve)


def route(
    rng: random.Random, t0_ms: int, count: int, start: tuple[float, float] | None = None
) -> list[list[Any]]:
    """A plausible wandering route, one fix a second: [t_ms, lat, lon, speed_kmh, acc_m]."""
    lat, lon = start or (51.4545 + rng.uniform(-0.02, 0.02), -2.5879 + rng.uniform(-0.02, 0.02))
    heading = rng.uniform(0, 2 * math.pi)
    out = []
    t = t0_ms
    for _ in range(count):
        heading += rng.uniform(-0.2, 0.2)
        speed = rng.uniform(15, 50)
        step = speed / 3.6 / 111_000
        lat += math.cos(heading) * step
        lon += math.sin(heading) * step * 1.6
        out.append([t, round(lat, 6), round(lon, 6), round(speed, 1), round(rng.uniform(3, 12), 1)])
        t += 1000
    return out


def make_segments(
    trips: list[dict[str, Any]], per_trip: int, rng: random.Random
) -> list[dict[str, Any]]:
    """Segment puts for `trips`, trip after trip, index order."""
    segs = []
    for trip in trips:
        t0 = int(time.time() * 1000) - 3_600_000
        last: tuple[float, float] | None = None
        for index in range(per_trip):
            points = route(rng, t0 + index * POINTS * 1000, POINTS, last)
            last = (points[-1][1], points[-1][2])
            segs.append(
                {
                    "id": str(uuid.uuid4()),
                    "trip_id": trip["id"],
                    "student_id": trip["student_id"],
                    "index": index,
                    "points": points,
                }
            )
    return segs


async def create_trips(
    client: Client, school: SchoolData, lesson_student: dict[str, str], n: int
) -> list[dict[str, Any]]:
    """`n` trips over the school's lessons, created by push (untimed)."""
    lessons = school.lesson_ids
    trips = [{"id": str(uuid.uuid4()), "lesson_id": lessons[k % len(lessons)]} for k in range(n)]
    for start in range(0, n, 500):
        chunk = trips[start : start + 500]
        muts = [
            client.mutation(
                "trip",
                t["id"],
                "put",
                {
                    "lesson_id": t["lesson_id"],
                    "started_at": "2026-01-05T09:00:00Z",
                    "ended_at": "2026-01-05T10:10:00Z",
                },
            )
            for t in chunk
        ]
        body, _ = await client.push(muts)
        check_results(body)
    for t in trips:
        t["student_id"] = lesson_student[t["lesson_id"]]
    return trips


async def push_segments(
    client: Client, segs: list[dict[str, Any]], server: Server, per_batch: int = PER_BATCH
) -> dict[str, Any]:
    latencies = []
    cpu0, pg0, load0 = process_cpu(server.pid), await postgres_pids_cpu(), loadavg()
    t0 = time.perf_counter()
    for start in range(0, len(segs), per_batch):
        chunk = segs[start : start + per_batch]
        muts = [
            client.mutation(
                "trip_segment",
                s["id"],
                "put",
                {"trip_id": s["trip_id"], "index": s["index"], "points": s["points"]},
            )
            for s in chunk
        ]
        body, elapsed = await client.push(muts)
        check_results(body)
        latencies.append(elapsed)
    wall = time.perf_counter() - t0
    points = len(segs) * POINTS
    return {
        "rate": points / wall,
        "wall": wall,
        "p50": pct(latencies, 50) * 1000,
        "p99": pct(latencies, 99) * 1000,
        "latencies": [x * 1000 for x in latencies],
        "server_cpu_s": process_cpu(server.pid) - cpu0,
        "postgres_cpu_s": await postgres_pids_cpu() - pg0,
        "load": load0,
    }


async def run(args: Any) -> dict[str, Any]:
    runs = max(3, args.runs)
    n_trips = 25 if args.quick else 250
    long_segments = 50 if args.quick else 100
    say(
        f"\n### gps: {n_trips * SEGMENTS_PER_TRIP * POINTS:,} points = "
        f"{n_trips * SEGMENTS_PER_TRIP} segments of {POINTS} ({n_trips} trips x "
        f"{SEGMENTS_PER_TRIP}), batches of {PER_BATCH} segments; one trip of {long_segments} "
        f"segments"
    )
    t_setup = time.perf_counter()
    db = await BenchDb("gps").create(seed=True)
    server: Server | None = None
    out: dict[str, Any] = {"profiles": {}}
    rng = random.Random(3)
    try:
        async with engine_store(db) as (sessions, store):
            school = await make_school(
                sessions,
                store,
                "gps",
                instructors=1,
                students_per_instructor=25,
                lessons_per_student=10,
                notes_per_lesson=0,
            )
        inst = school.instructors[0]
        lesson_student = {lid: inst.student_ids[k // 10] for k, lid in enumerate(inst.lesson_ids)}
        server = await Server(db).start()
        async with new_session() as http:
            client = await Client(http, server.base, "gps", inst.email).login()
            extra = 1 + (1 if args.profile else 0)
            all_trips = await create_trips(
                client, school, lesson_student, n_trips * (runs + extra) + 2
            )
            batches = []
            for r in range(runs + extra):
                trips = all_trips[r * n_trips : (r + 1) * n_trips]
                batches.append(make_segments(trips, SEGMENTS_PER_TRIP, rng))
            long_trip = all_trips[-2]
            floor_trips = all_trips[n_trips * runs : n_trips * (runs + 1)]
            long_segs = make_segments([long_trip], long_segments, rng)
            say(f"set-up: {time.perf_counter() - t_setup:.1f}s")
            # warm-up: a few segments on the spare trip
            await push_segments(client, make_segments([all_trips[-1]], 2, rng), server)
            measured = []
            for r in range(runs):
                res = await push_segments(client, batches[r], server)
                measured.append(res)
                say(
                    f"run {r + 1} {res['rate']:9,.0f} points/s ({res['wall']:.1f}s; p50 "
                    f"{res['p50']:.0f} ms p99 {res['p99']:.0f} ms per batch of {PER_BATCH}; cpu s:"
                    f" server {res['server_cpu_s']:.1f}, postgres {res['postgres_cpu_s']:.1f};"
                    f" load {res['load']:.1f})"
                )
            long = await push_segments(client, long_segs, server, LONG_BATCH)
            lat = long["latencies"]
            say(
                f"one trip of {long_segments} segments: batch latencies (ms) "
                + ", ".join(f"{x:.0f}" for x in lat)
                + f" -> last/first = {lat[-1] / lat[0]:.1f}x"
            )
            if args.profile:
                with profiled(server, "gps segments", out["profiles"]):
                    await push_segments(client, batches[runs + 1][: len(batches[0]) // 2], server)
        errors = server.errors()
        await server.stop()
        server = None

        say("floor (bare asyncpg) ...")
        conn = await floor.connect(db.dsn)
        try:
            segs = batches[runs]  # fresh segments on the floor's own trips
            trips_state = {
                t["id"]: {"distance": 0.0, "count": 0, "student_id": t["student_id"]}
                for t in floor_trips
            }
            dev = floor.FloorDevice(school.tenant_id, inst.user_id)
            f_lat = []
            t0 = time.perf_counter()
            for start in range(0, len(segs), PER_BATCH):
                chunk = segs[start : start + PER_BATCH]
                b0 = time.perf_counter()
                await floor.gps_batch(
                    conn,
                    dev,
                    [
                        (s["id"], s["trip_id"], s["student_id"], s["index"], s["points"])
                        for s in chunk
                    ],
                    trips_state,
                )
                f_lat.append(time.perf_counter() - b0)
            f_wall = time.perf_counter() - t0
        finally:
            await conn.close()
        f_rate = len(segs) * POINTS / f_wall
        say(
            f"floor {f_rate:,.0f} points/s, p50 {pct(f_lat, 50) * 1000:.0f} ms "
            f"p99 {pct(f_lat, 99) * 1000:.0f} ms per batch"
        )
        metrics = [
            Metric("gps: points/s", "points/s", [m["rate"] for m in measured], f_rate),
            Metric(
                "gps: p50 per batch of 50 segments",
                "ms",
                [m["p50"] for m in measured],
                pct(f_lat, 50) * 1000,
                higher_is_better=False,
            ),
            Metric(
                "gps: p99 per batch of 50 segments",
                "ms",
                [m["p99"] for m in measured],
                pct(f_lat, 99) * 1000,
                higher_is_better=False,
            ),
        ]
        print_metrics("gps (floor = bare asyncpg on the same segments)", metrics)
        if errors:
            say(f"server logged {len(errors)} error lines, first: {errors[0]}")
        out.update(
            metrics=[m.row() for m in metrics],
            runs=[{k: v for k, v in m.items() if k != "latencies"} for m in measured],
            long_trip={"segments": long_segments, "batch_ms": lat},
            server_errors=errors[:20],
        )
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


def main() -> None:
    args = base_args(__doc__.split("\n")[0]).parse_args()
    info = print_machine()
    out = asyncio.run(run(args))
    save_json(args.json, "gps", {"machine": info, **out})


if __name__ == "__main__":
    main()
