"""Live: one client process holding 1,000 WebSocket connections to the server; poke latency
after a commit and the server's memory.

The connections are spread over the demo school's 9 users (admin, 2 instructors, 6
students), about 111 devices each. A round is one push by the admin of 6 note patches, one
per student, so the commit concerns every connection. Latency of a poke = the time the client
process reads it minus the time the push's response was read (both on the client's clock; a
poke can arrive before the response, giving a negative figure). Rounds are 0.3 s apart;
p50/p99 are over every (connection, round). RSS of the server process: before the
connections, with 1,000 open, and its peak.

Variant "admin only" (same thing, every connection the admin's) isolates the per-connection
work done for students' connections (their scope is reloaded on every poke that concerns
their own records).

Floor: a bare aiohttp WebSocket server (this module with --floor-server) that LISTENs on a
channel and sends every connection a poke for each NOTIFY; triggered by `pg_notify` from
asyncpg. Same client, same 1,000 connections.

    .venv/bin/python -m bench.live [--quick] [--profile] [--json out.json]
"""

from __future__ import annotations

import argparse
import asyncio
import subprocess
import sys
import time
from typing import Any

import aiohttp
import asyncpg
import orjson

from bench.common import (
    ROOT,
    BenchDb,
    Client,
    Metric,
    Server,
    base_args,
    free_port,
    loadavg,
    new_session,
    pct,
    print_machine,
    print_metrics,
    process_cpu,
    profiled,
    rss_kib,
    save_json,
    say,
)

DEMO_PASSWORD = "drive-demo-1"
DEMO_USERS = ["admin", "instructor1", "instructor2"] + [f"student{i}" for i in range(1, 7)]
FLOOR_CHANNEL = "bench_floor"


class Watcher:
    """One WebSocket connection and the pokes it received: (client time, rev)."""

    def __init__(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        self.ws = ws
        self.pokes: list[tuple[float, int]] = []
        self.task: asyncio.Task[None] | None = None

    async def listen(self) -> None:
        async for msg in self.ws:
            if msg.type != aiohttp.WSMsgType.TEXT:
                continue
            data = orjson.loads(msg.data)
            if data.get("type") == "poke":
                self.pokes.append((time.perf_counter(), int(data["rev"])))

    def first_at_or_after(self, rev: int) -> float | None:
        for t, r in self.pokes:
            if r >= rev:
                return t
        return None


async def connect_all(
    http: aiohttp.ClientSession, url: str, tokens: list[str | None], n: int
) -> list[Watcher]:
    """`n` connections (tokens round-robin), each having received `ready`."""
    watchers: list[Watcher] = []
    sem = asyncio.Semaphore(50)

    async def one(k: int) -> None:
        token = tokens[k % len(tokens)]
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        async with sem:
            ws = await http.ws_connect(url, headers=headers, heartbeat=None, autoping=True)
            msg = await ws.receive(timeout=60)
            data = orjson.loads(msg.data)
            if data.get("type") != "ready":
                raise RuntimeError(f"expected ready, got {data}")
        w = Watcher(ws)
        w.task = asyncio.create_task(w.listen())
        watchers.append(w)

    await asyncio.gather(*(one(k) for k in range(n)))
    return watchers


async def close_all(watchers: list[Watcher]) -> None:
    await asyncio.gather(*(w.ws.close() for w in watchers), return_exceptions=True)
    for w in watchers:
        if w.task:
            w.task.cancel()


async def rounds(watchers: list[Watcher], trigger: Any, n: int, gap: float = 0.3) -> dict[str, Any]:
    """`n` commits; latency of each connection's poke after each commit's response."""
    lat_resp: list[float] = []
    lat_send: list[float] = []
    missing = 0
    for _ in range(n):
        t_send = time.perf_counter()
        rev = await trigger()
        t_resp = time.perf_counter()
        deadline = t_resp + 15
        while time.perf_counter() < deadline:
            if all(w.first_at_or_after(rev) is not None for w in watchers):
                break
            await asyncio.sleep(0.005)
        for w in watchers:
            t = w.first_at_or_after(rev)
            if t is None:
                missing += 1
            else:
                lat_resp.append((t - t_resp) * 1000)
                lat_send.append((t - t_send) * 1000)
        await asyncio.sleep(gap)
    return {
        "p50": pct(lat_resp, 50),
        "p99": pct(lat_resp, 99),
        "p50_from_send": pct(lat_send, 50),
        "p99_from_send": pct(lat_send, 99),
        "max": max(lat_resp) if lat_resp else float("nan"),
        "missing": missing,
        "count": len(lat_resp),
    }


async def demo_notes(admin: Client) -> list[dict[str, Any]]:
    """One non-private note per demo student (id, rev), from the admin's pull."""
    chosen: dict[str, dict[str, Any]] = {}
    cursor = None
    while True:
        params = {"limit": "1000", "entities": "lesson_note"}
        if cursor:
            params["cursor"] = cursor
        async with admin.http.get(
            f"{admin.base}/v1/sync/pull", params=params, headers=admin.headers
        ) as resp:
            body = await resp.json()
        for ch in body["changes"]:
            rec = ch.get("record")
            if rec and not rec["private"]:
                chosen.setdefault(rec["student_id"], {"id": rec["id"], "rev": rec["rev"]})
        cursor = body["cursor"]
        if not body["has_more"]:
            return list(chosen.values())


async def floor_server(port: int, dsn: str) -> None:
    """The bare fan-out: LISTEN, and poke every connection on each NOTIFY."""
    from aiohttp import web

    sockets: set[web.WebSocketResponse] = set()
    sending: set[asyncio.Future[None]] = set()

    async def live(request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse()
        await ws.prepare(request)
        await ws.send_str('{"type":"ready","rev":0}')
        sockets.add(ws)
        try:
            async for _msg in ws:
                pass
        finally:
            sockets.discard(ws)
        return ws

    def on_notify(_c: Any, _pid: int, _ch: str, payload: str) -> None:
        text = f'{{"type":"poke","rev":{int(payload)}}}'
        for ws in list(sockets):
            fut = asyncio.ensure_future(ws.send_str(text))
            sending.add(fut)
            fut.add_done_callback(sending.discard)

    conn = await asyncpg.connect(dsn)
    await conn.add_listener(FLOOR_CHANNEL, on_notify)
    app = web.Application()
    app.router.add_get("/live", live)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    print("ready", flush=True)
    await asyncio.Event().wait()


async def run(args: Any) -> dict[str, Any]:
    runs = max(3, args.runs)
    n_conn = getattr(args, "connections", 0) or (200 if args.quick else 1000)
    n_rounds = 5 if args.quick else 20
    say(
        f"\n### live: {n_conn} WebSocket connections in one client process, {n_rounds} commits "
        "per run"
    )
    db = await BenchDb("live").create(seed=True)
    server: Server | None = None
    out: dict[str, Any] = {"profiles": {}}
    try:
        server = await Server(db).start()
        rss_idle = server.rss()
        async with new_session() as http:
            users = [
                await Client(http, server.base, "demo", f"{u}@demo.test", DEMO_PASSWORD).login()
                for u in DEMO_USERS
            ]
            admin = users[0]
            notes = await demo_notes(admin)
            assert len(notes) == 6, notes
            n_commit = [0]

            async def commit() -> int:
                n_commit[0] += 1
                muts = [
                    admin.mutation(
                        "lesson_note",
                        n["id"],
                        "patch",
                        {"body": f"Live round {n_commit[0]}: good progress."},
                        base_rev=n["rev"],
                    )
                    for n in notes
                ]
                body, _ = await admin.push(muts)
                for n, r in zip(notes, body["results"], strict=True):
                    if r["status"] != "applied":
                        raise RuntimeError(f"push: {r}")
                    n["rev"] = r["rev"]
                return int(body["rev"])

            url = f"{server.base.replace('http', 'ws')}/v1/sync/live"
            variants = {"mixed roles": [u.token for u in users], "admin only": [admin.token]}
            measured: dict[str, list[dict[str, Any]]] = {k: [] for k in variants}
            rss: dict[str, Any] = {"idle": rss_idle}
            for name, tokens in variants.items():
                t0 = time.perf_counter()
                cpu0 = process_cpu(server.pid)
                watchers = await connect_all(http, url, tokens, n_conn)
                connect_s = time.perf_counter() - t0
                rss[f"{name}: {n_conn} open"] = server.rss()
                say(
                    f"{name}: {n_conn} connections open in {connect_s:.1f}s (server cpu "
                    f"{process_cpu(server.pid) - cpu0:.1f}s); server RSS "
                    f"{rss_idle['VmRSS'] / 1024:.0f} -> {server.rss()['VmRSS'] / 1024:.0f} MiB"
                )
                await rounds(watchers, commit, 2)  # warm-up
                for r in range(runs):
                    load0, cpu0 = loadavg(), process_cpu(server.pid)
                    res = await rounds(watchers, commit, n_rounds)
                    res["server_cpu_per_commit_ms"] = (
                        (process_cpu(server.pid) - cpu0) / n_rounds * 1000
                    )
                    res["load"] = load0
                    measured[name].append(res)
                    say(
                        f"run {r + 1} {name:12} poke p50 {res['p50']:7.1f} ms  p99 "
                        f"{res['p99']:7.1f} ms  (from the push's send: p50 "
                        f"{res['p50_from_send']:.1f} p99 {res['p99_from_send']:.1f}; missing "
                        f"{res['missing']}; server cpu {res['server_cpu_per_commit_ms']:.0f} "
                        f"ms/commit; load {load0:.1f})"
                    )
                if args.profile:
                    with profiled(server, f"live pokes, {name}", out["profiles"]):
                        await rounds(watchers, commit, n_rounds)
                rss[f"{name}: after rounds"] = server.rss()
                await close_all(watchers)
                await asyncio.sleep(0.5)
        errors = server.errors()
        await server.stop()
        server = None

        say("floor (bare aiohttp WebSocket fan-out of NOTIFY) ...")
        port = free_port()
        proc = subprocess.Popen(  # noqa: ASYNC220 - the floor server, long-lived
            [
                sys.executable,
                "-m",
                "bench.live",
                "--floor-server",
                "--port",
                str(port),
                "--dsn",
                db.dsn,
            ],
            cwd=str(ROOT),
            stdout=subprocess.PIPE,
        )
        try:
            assert proc.stdout is not None
            proc.stdout.readline()
            f_rss_idle = rss_kib(proc.pid)
            conn = await asyncpg.connect(db.dsn)
            counter = [0]

            async def notify() -> int:
                counter[0] += 1
                await conn.execute("SELECT pg_notify($1, $2)", FLOOR_CHANNEL, str(counter[0]))
                return counter[0]

            async with new_session() as http:
                watchers = await connect_all(http, f"ws://127.0.0.1:{port}/live", [None], n_conn)
                f_rss = rss_kib(proc.pid)
                await rounds(watchers, notify, 2)
                f_runs = [await rounds(watchers, notify, n_rounds) for _ in range(runs)]
                await close_all(watchers)
            await conn.close()
        finally:
            proc.terminate()
            proc.wait()
        f_p50 = sorted(r["p50"] for r in f_runs)[len(f_runs) // 2]
        f_p99 = sorted(r["p99"] for r in f_runs)[len(f_runs) // 2]
        f_s50 = sorted(r["p50_from_send"] for r in f_runs)[len(f_runs) // 2]
        f_s99 = sorted(r["p99_from_send"] for r in f_runs)[len(f_runs) // 2]
        say(
            f"floor poke p50 {f_p50:.1f} ms p99 {f_p99:.1f} ms; RSS "
            f"{f_rss_idle['VmRSS'] / 1024:.0f} -> {f_rss['VmRSS'] / 1024:.0f} MiB"
        )

        metrics = []
        for name, outs in measured.items():
            metrics.append(
                Metric(
                    f"live {name}: poke p50",
                    "ms",
                    [o["p50"] for o in outs],
                    f_p50,
                    higher_is_better=False,
                )
            )
            metrics.append(
                Metric(
                    f"live {name}: poke p99",
                    "ms",
                    [o["p99"] for o in outs],
                    f_p99,
                    higher_is_better=False,
                    note="after the push's response; < 0: poke came first",
                )
            )
            metrics.append(
                Metric(
                    f"live {name}: poke p50 after push sent",
                    "ms",
                    [o["p50_from_send"] for o in outs],
                    f_s50,
                    higher_is_better=False,
                )
            )
            metrics.append(
                Metric(
                    f"live {name}: poke p99 after push sent",
                    "ms",
                    [o["p99_from_send"] for o in outs],
                    f_s99,
                    higher_is_better=False,
                )
            )
        open_key = f"mixed roles: {n_conn} open"
        metrics.append(
            Metric(
                f"server RSS with {n_conn} connections",
                "MiB",
                [rss[open_key]["VmRSS"] / 1024] * 1,
                f_rss["VmRSS"] / 1024,
                higher_is_better=False,
                note=f"idle {rss_idle['VmRSS'] / 1024:.0f} MiB; peak "
                f"{max(v['VmHWM'] for v in rss.values()) / 1024:.0f} MiB; "
                f"floor idle {f_rss_idle['VmRSS'] / 1024:.0f} MiB",
            )
        )
        print_metrics("live (floor = bare aiohttp fan-out of NOTIFY)", metrics)
        if errors:
            say(f"server logged {len(errors)} error lines, first: {errors[0]}")
        out.update(
            metrics=[m.row() for m in metrics],
            rss=rss,
            runs=measured,
            floor={"runs": f_runs, "rss": f_rss, "rss_idle": f_rss_idle},
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
    if "--floor-server" in sys.argv:
        p = argparse.ArgumentParser()
        p.add_argument("--floor-server", action="store_true")
        p.add_argument("--port", type=int, required=True)
        p.add_argument("--dsn", required=True)
        a = p.parse_args()
        asyncio.run(floor_server(a.port, a.dsn))
        return
    parser = base_args(__doc__.split("\n")[0])
    parser.add_argument(
        "--connections", type=int, default=0, help="WebSocket connections (1,000; 200 quick)"
    )
    args = parser.parse_args()
    info = print_machine()
    out = asyncio.run(run(args))
    save_json(args.json, "live", {"machine": info, **out})


if __name__ == "__main__":
    main()
