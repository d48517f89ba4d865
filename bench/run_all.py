"""Run every benchmark in turn (push, pull, gps, live, then the in-process round-trip
count and profile) and print one summary table.

    .venv/bin/python -m bench.run_all [--quick] [--profile] [--json bench-results.json]
    .venv/bin/python -m bench.run_all --only push,pull

Each benchmark makes, migrates and seeds its own database, runs the real server as a
separate process, and drops the database at the end. Budget: about 5 minutes per benchmark
on the 2-core machine (--quick: about a minute each).
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

from bench import gps, live, pull, push, roundtrips
from bench.common import Metric, base_args, print_machine, print_metrics, save_json, say

MODULES = {"push": push, "pull": pull, "gps": gps, "live": live, "roundtrips": roundtrips}


def main() -> None:
    parser = base_args(__doc__.split("\n")[0])
    push.add_args(parser)
    parser.add_argument("--only", help="comma-separated subset of " + ",".join(MODULES))
    args = parser.parse_args()
    info = print_machine()
    chosen = args.only.split(",") if args.only else list(MODULES)
    summary: list[Metric] = []
    for name in chosen:
        t0 = time.perf_counter()
        out: dict[str, Any] = asyncio.run(MODULES[name].run(args))
        say(f"[{name} took {time.perf_counter() - t0:.0f}s]")
        save_json(args.json, name, {"machine": info, **out})
        for row in out.get("metrics", []):
            m = Metric(row["name"], row["unit"], row["runs"], row["floor"])
            m.note = row.get("note", "")
            summary.append(m)
    print_machine(info)
    print_metrics("summary: medians and ratio to the floor (server / floor)", summary)


if __name__ == "__main__":
    main()
