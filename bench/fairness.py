"""One busy school, and everyone else: issue 8's fairness target.

School A has 50 instructors, each with one device; school B has one. Measured, on one
`drivesync serve` process:

1. B alone: one new note per request, `--probe` requests in a row (p50 / p99);
2. A's single device alone: requests of 25 new notes (the single-device p50);
3. all 50 devices of A at once, each pushing `--requests` requests of 25 new notes, while B
   keeps pushing one note per request: A's request p99 (target: at most 10 times the single-device
   p50 of step 2) and B's p50 / p99 during it (target: p99 within 20 % of step 1).

Every result must come back `applied`; a request that fails is resent as is (same seqs).

    .venv/bin/python -m bench.fairness [--quick] [--requests 10] [--probe 200]
"""

from __future__ import annotations

import asyncio
import random
import time
from typing import Any

from bench.common import (
    BenchDb,
    Client,
    Server,
    base_args,
    engine_store,
    loadavg,
    make_school,
    new_session,
    pct,
    print_machine,
    save_json,
    say,
)
from bench.peers import chunks, new_notes, push


async def _probe(client: Client, lesson_id: str, stop: asyncio.Event | None, n: int) -> list[float]:
    """One new note per request: `n` requests, or until `stop` is set (at least one)."""
    rng = random.Random(f"probe-{client.client_id}")
    errors: list[str] = []
    latencies: list[float] = []
    while True:
        muts = new_notes(client, lesson_id, 1, rng)
        latencies.append((await push(client, muts, errors))[1])
        if stop is None and len(latencies) >= n:
            return latencies
        if stop is not None and stop.is_set():
            return latencies


async def _device(client: Client, lesson_id: str, requests: int, seed: str) -> list[float]:
    rng = random.Random(seed)
    plan = chunks(new_notes(client, lesson_id, requests * 25, rng), 25)
    errors: list[str] = []
    return [(await push(client, req, errors))[1] for req in plan]


def _ms(values: list[float], p: float) -> float:
    return pct(values, p) * 1000


async def run(args: Any) -> dict[str, Any]:
    requests = 4 if args.quick else args.requests
    probe_n = 50 if args.quick else args.probe
    say(
        f"\n### fairness: 50 devices of school A x {requests} requests of 25 new notes, "
        f"while school B pushes one note per request"
    )
    db = await BenchDb("fair").create(seed=True)
    server: Server | None = None
    out: dict[str, Any] = {}
    try:
        async with engine_store(db) as (sessions, store):
            shape = dict(students_per_instructor=1, lessons_per_student=1, notes_per_lesson=0)
            busy = await make_school(sessions, store, "fairbusy", instructors=50, **shape)
            other = await make_school(sessions, store, "fairother", instructors=1, **shape)
        # 51 sign-ins at once: past a school's default burst of 20 (a login flood guard).
        server = await Server(db, {"DRIVESYNC_LOGIN_SCHOOL_BURST": "100"}).start()
        async with new_session() as http:
            devices = [Client(http, server.base, busy.slug, i.email) for i in busy.instructors]
            prober = Client(http, server.base, other.slug, other.instructors[0].email)
            everyone = [*devices, prober]
            for k in range(0, len(everyone), 8):  # the password pool takes 16 waiting at most
                await asyncio.gather(*(c.login() for c in everyone[k : k + 8]))
            lessons = [i.lesson_ids[0] for i in busy.instructors]
            other_lesson = other.instructors[0].lesson_ids[0]
            # Warm-up, untimed: every device's row, prepared statements.
            await asyncio.gather(
                *(
                    _device(c, lesson, 1, f"warm-{k}")
                    for k, (c, lesson) in enumerate(zip(devices, lessons, strict=True))
                )
            )
            await _probe(prober, other_lesson, None, 5)

            alone = await _probe(prober, other_lesson, None, probe_n)
            say(
                f"B alone, 1 note a request:       p50 {_ms(alone, 50):7.1f} ms  "
                f"p99 {_ms(alone, 99):7.1f} ms  ({len(alone)} requests; load {loadavg():.1f})"
            )
            single = await _device(devices[0], lessons[0], requests * 2, "single")
            say(
                f"A, one device, 25 a request:     p50 {_ms(single, 50):7.1f} ms  "
                f"p99 {_ms(single, 99):7.1f} ms  ({len(single)} requests)"
            )
            stop = asyncio.Event()
            during_task = asyncio.create_task(_probe(prober, other_lesson, stop, 0))
            t0 = time.perf_counter()
            per_device = await asyncio.gather(
                *(
                    _device(c, lesson, requests, f"busy-{k}")
                    for k, (c, lesson) in enumerate(zip(devices, lessons, strict=True))
                )
            )
            wall = time.perf_counter() - t0
            stop.set()
            during = await during_task
            busy_lat = [x for lat in per_device for x in lat]
            rate = len(busy_lat) * 25 / wall
            say(
                f"A, 50 devices at once:           p50 {_ms(busy_lat, 50):7.1f} ms  "
                f"p99 {_ms(busy_lat, 99):7.1f} ms  ({rate:,.0f} notes/s, {wall:.1f} s)"
            )
            say(
                f"B meanwhile, 1 note a request:   p50 {_ms(during, 50):7.1f} ms  "
                f"p99 {_ms(during, 99):7.1f} ms  ({len(during)} requests; load {loadavg():.1f})"
            )
            ratio_a = _ms(busy_lat, 99) / _ms(single, 50)
            ratio_b = _ms(during, 99) / _ms(alone, 99)
            say(
                f"targets: A's p99 / single p50 = {ratio_a:.1f} (<= 10); "
                f"B's p99 during / alone = {ratio_b:.2f} (<= 1.20)"
            )
            out = {
                "b_alone_ms": {"p50": _ms(alone, 50), "p99": _ms(alone, 99)},
                "a_single_ms": {"p50": _ms(single, 50), "p99": _ms(single, 99)},
                "a_busy_ms": {"p50": _ms(busy_lat, 50), "p99": _ms(busy_lat, 99)},
                "a_busy_notes_per_s": rate,
                "b_during_ms": {"p50": _ms(during, 50), "p99": _ms(during, 99)},
                "a_p99_over_single_p50": ratio_a,
                "b_p99_during_over_alone": ratio_b,
            }
        errors = server.errors()
        if errors:
            say(f"server logged {len(errors)} errors, e.g. {errors[0]}")
    finally:
        if server is not None:
            await server.stop()
        await db.drop()
    return out


def main() -> None:
    parser = base_args(__doc__.split("\n")[0])
    parser.add_argument("--requests", type=int, default=10, help="requests per busy device")
    parser.add_argument("--probe", type=int, default=200, help="requests of B alone")
    args = parser.parse_args()
    print_machine()
    results = asyncio.run(run(args))
    save_json(args.json, "fairness", results)


if __name__ == "__main__":
    main()
