"""Pull: the initial sync of 100,000 records in scope, and the incremental pull with
nothing new.

A school is made with 1 instructor, 100 students, 1,000 lessons and 98,899 lesson notes
(10% private): 100,000 synced records, all in the admin's scope and in the instructor's.
- initial pull: `GET /v1/sync/pull?limit=5000` from no cursor until has_more is false;
  records/s over the whole sync (client parsing included), and bytes on the wire with
  `Accept-Encoding: gzip` and with `identity` (the raw body as received, before any
  decompression);
- incremental pull: the final cursor pulled again and again (nothing changed): p50/p99.

Floor (bench.floor): the same 100k rows read in keyset pages of 5000 by bare asyncpg (and
encoded as the wire's JSON by orjson, for the bytes), and the empty incremental check as
two queries in one snapshot.

    .venv/bin/python -m bench.pull [--quick] [--profile] [--json out.json]
"""

from __future__ import annotations

import asyncio
import gzip
import time
import zlib
from typing import Any

import orjson

from bench import floor
from bench.common import (
    BenchDb,
    Client,
    Metric,
    Server,
    base_args,
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

RECORDS = 100_000
PAGE = 5000


async def initial_pull(client: Client, encoding: str) -> dict[str, Any]:
    """Pull the whole scope from no cursor; returns records, wire bytes, time, pages."""
    cursor = None
    wire = 0
    records = 0
    page_times: list[float] = []
    t0 = time.perf_counter()
    while True:
        params = {"limit": str(PAGE)}
        if cursor:
            params["cursor"] = cursor
        p0 = time.perf_counter()
        async with client.http.get(
            f"{client.base}/v1/sync/pull",
            params=params,
            headers={**client.headers, "Accept-Encoding": encoding},
        ) as resp:
            raw = await resp.read()
            if resp.status != 200:
                raise RuntimeError(f"pull: {resp.status} {raw[:300]!r}")
            content_encoding = resp.headers.get("Content-Encoding", "")
        wire += len(raw)
        body = decode(raw, content_encoding)
        page_times.append(time.perf_counter() - p0)
        records += len(body["changes"])
        cursor = body["cursor"]
        if not body["has_more"]:
            break
    wall = time.perf_counter() - t0
    return {
        "records": records,
        "wire_bytes": wire,
        "wall": wall,
        "rate": records / wall,
        "pages": len(page_times),
        "page_p50_ms": pct(page_times, 50) * 1000,
        "encoding": content_encoding or "identity",
        "cursor": cursor,
    }


def decode(raw: bytes, content_encoding: str) -> Any:
    if content_encoding == "gzip":
        raw = gzip.decompress(raw)
    elif content_encoding == "deflate":
        raw = zlib.decompress(raw)
    return orjson.loads(raw)


async def incremental(client: Client, cursor: str, n: int) -> list[float]:
    latencies = []
    for _ in range(n):
        t0 = time.perf_counter()
        async with client.http.get(
            f"{client.base}/v1/sync/pull",
            params={"cursor": cursor, "limit": "1000"},
            headers=client.headers,
        ) as resp:
            raw = await resp.read()
            if resp.status != 200:
                raise RuntimeError(f"pull: {resp.status} {raw[:300]!r}")
            body = decode(raw, resp.headers.get("Content-Encoding", ""))
        latencies.append(time.perf_counter() - t0)
        assert not body["changes"], "incremental pull should be empty"
    return latencies


async def run(args: Any) -> dict[str, Any]:
    runs = max(3, args.runs)
    n_incremental = 50 if args.quick else 200
    records = 20_000 if args.quick else RECORDS
    students, lessons_per = 100, 10
    notes = records - 1 - students - students * lessons_per
    say(
        f"\n### pull: initial sync of {records:,} records in scope (pages of {PAGE}), "
        f"incremental x {n_incremental}"
    )
    t_setup = time.perf_counter()
    db = await BenchDb("pull").create(seed=True)
    server: Server | None = None
    out: dict[str, Any] = {"profiles": {}}
    try:
        async with engine_store(db) as (sessions, store):
            school = await make_school(
                sessions,
                store,
                "pull",
                instructors=1,
                students_per_instructor=students,
                lessons_per_student=lessons_per,
                notes_per_lesson=0,
                total_notes=notes,
            )
        assert school.records() == records
        await db.vacuum_analyze()
        server = await Server(db).start()
        say(f"set-up: {time.perf_counter() - t_setup:.1f}s")
        async with new_session(auto_decompress=False) as http:
            admin = await Client(http, server.base, "pull", school.admin_email).login()
            inst = await Client(http, server.base, "pull", school.instructors[0].email).login()
            warm = await initial_pull(admin, "gzip")  # warm-up (caches, snapshots)
            assert warm["records"] == records, warm["records"]
            await initial_pull(inst, "gzip")
            cases = {
                "admin, gzip": (admin, "gzip"),
                "admin, identity": (admin, "identity"),
                "instructor, gzip": (inst, "gzip"),
            }
            measured: dict[str, list[dict[str, Any]]] = {k: [] for k in cases}
            inc: dict[str, list[list[float]]] = {"admin": [], "instructor": []}
            cursors: dict[str, str] = {}
            for r in range(runs):
                for name, (client, enc) in cases.items():
                    cpu0, pg0, load0 = process_cpu(server.pid), await postgres_pids_cpu(), loadavg()
                    res = await initial_pull(client, enc)
                    res["server_cpu_s"] = process_cpu(server.pid) - cpu0
                    res["postgres_cpu_s"] = await postgres_pids_cpu() - pg0
                    res["load"] = load0
                    assert res["records"] == records, res["records"]
                    cursors[name.split(",")[0]] = res.pop("cursor")
                    measured[name].append(res)
                    say(
                        f"run {r + 1} initial {name:18} {res['rate']:8,.0f} records/s "
                        f"({res['wall']:.1f}s, {res['pages']} pages, p50 page "
                        f"{res['page_p50_ms']:.0f} ms), {res['wire_bytes'] / 1e6:6.1f} MB on the "
                        f"wire ({res['encoding']}); cpu s: server {res['server_cpu_s']:.1f}, "
                        f"postgres {res['postgres_cpu_s']:.1f}; load {load0:.1f}"
                    )
                for who, client in (("admin", admin), ("instructor", inst)):
                    lat = await incremental(client, cursors[who], n_incremental)
                    inc[who].append(lat)
                    say(
                        f"run {r + 1} incremental {who:11} p50 {pct(lat, 50) * 1000:6.1f} ms  "
                        f"p99 {pct(lat, 99) * 1000:6.1f} ms"
                    )
            if args.profile:
                with profiled(server, "initial pull, admin, gzip", out["profiles"]):
                    await initial_pull(admin, "gzip")
                with profiled(server, "initial pull, admin, identity", out["profiles"]):
                    await initial_pull(admin, "identity")
                with profiled(server, "incremental pull, admin", out["profiles"]):
                    await incremental(admin, cursors["admin"], n_incremental * 2)
            # NDJSON streaming, once, for its bytes and rate (not a headline figure)
        errors = server.errors()
        await server.stop()
        server = None

        say("floor (bare asyncpg) ...")
        conn = await floor.connect(db.dsn)
        try:
            f_read, f_json, f_inc = [], [], []
            f_bytes = f_gzip = 0
            for _ in range(runs):
                t0 = time.perf_counter()
                n, _size = await floor.read_pages(conn, school.tenant_id, PAGE)
                f_read.append(n / (time.perf_counter() - t0))
                t0 = time.perf_counter()
                n, f_bytes = await floor.read_pages(conn, school.tenant_id, PAGE, encode=True)
                f_json.append(n / (time.perf_counter() - t0))
            # gzip size of the floor's JSON pages (level 6, like aiohttp's default)
            f_gzip = await _floor_gzip_bytes(conn, school.tenant_id)
            head = await conn.fetchval(
                "SELECT rev FROM tenant_revs WHERE tenant_id=$1", school.tenant_id
            )
            for _ in range(runs):
                lat = []
                for _ in range(n_incremental):
                    t0 = time.perf_counter()
                    await floor.incremental(conn, school.tenant_id, head)
                    lat.append(time.perf_counter() - t0)
                f_inc.append(lat)
        finally:
            await conn.close()
        f_read_med = sorted(f_read)[len(f_read) // 2]
        f_json_med = sorted(f_json)[len(f_json) // 2]
        f_inc_p50 = sorted(pct(v, 50) for v in f_inc)[len(f_inc) // 2] * 1000
        f_inc_p99 = sorted(pct(v, 99) for v in f_inc)[len(f_inc) // 2] * 1000
        say(
            f"floor read {f_read_med:,.0f} rows/s (fetch only), {f_json_med:,.0f} rows/s "
            f"(fetch + orjson); JSON {f_bytes / 1e6:.1f} MB, gzip {f_gzip / 1e6:.1f} MB; "
            f"incremental p50 {f_inc_p50:.2f} ms p99 {f_inc_p99:.2f} ms"
        )

        metrics = []
        for name, outs in measured.items():
            metrics.append(
                Metric(
                    f"initial pull {name}: records/s",
                    "rec/s",
                    [o["rate"] for o in outs],
                    f_read_med,
                )
            )
        metrics.append(
            Metric(
                "initial pull admin, gzip: wire",
                "MB",
                [o["wire_bytes"] / 1e6 for o in measured["admin, gzip"]],
                f_gzip / 1e6,
                higher_is_better=False,
                note="floor = the floor's JSON pages gzipped (level 6)",
            )
        )
        metrics.append(
            Metric(
                "initial pull admin, identity: wire",
                "MB",
                [o["wire_bytes"] / 1e6 for o in measured["admin, identity"]],
                f_bytes / 1e6,
                higher_is_better=False,
                note="floor = the same records as compact JSON",
            )
        )
        metrics.append(
            Metric(
                "initial pull admin, gzip vs floor+JSON: rec/s",
                "rec/s",
                [o["rate"] for o in measured["admin, gzip"]],
                f_json_med,
                note="floor = asyncpg fetch + orjson encoding, no gzip",
            )
        )
        for who in ("admin", "instructor"):
            metrics.append(
                Metric(
                    f"incremental pull (nothing new), {who}: p50",
                    "ms",
                    [pct(v, 50) * 1000 for v in inc[who]],
                    f_inc_p50,
                    higher_is_better=False,
                )
            )
            metrics.append(
                Metric(
                    f"incremental pull (nothing new), {who}: p99",
                    "ms",
                    [pct(v, 99) * 1000 for v in inc[who]],
                    f_inc_p99,
                    higher_is_better=False,
                )
            )
        print_metrics("pull (floor = bare asyncpg on the same rows)", metrics)
        if errors:
            say(f"server logged {len(errors)} error lines, first: {errors[0]}")
        out.update(
            metrics=[m.row() for m in metrics],
            initial=measured,
            floor={
                "read": f_read,
                "read_json": f_json,
                "json_bytes": f_bytes,
                "gzip_bytes": f_gzip,
            },
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


async def _floor_gzip_bytes(conn: Any, tenant_id: str) -> int:
    after, total = 0, 0
    while True:
        rows = await conn.fetch(floor.READ_PAGE, tenant_id, after, PAGE)
        if not rows:
            return total
        after = rows[-1]["srev"]
        changes = [
            {
                "entity": "lesson_note",
                "id": r["id"],
                "rev": r["rev"],
                "op": "put",
                "record": {k: r[k] for k in r.keys() if k != "srev"},
            }
            for r in rows
        ]
        total += len(gzip.compress(orjson.dumps({"changes": changes}, option=orjson.OPT_UTC_Z), 6))
        if len(rows) < PAGE:
            return total


def main() -> None:
    args = base_args(__doc__.split("\n")[0]).parse_args()
    info = print_machine()
    out = asyncio.run(run(args))
    save_json(args.json, "pull", {"machine": info, **out})


if __name__ == "__main__":
    main()
