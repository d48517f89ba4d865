"""Bytes a GPS point costs on the wire, gzip-compressed, for candidate segment encodings.

Generates a realistic 1 Hz car track (town driving: accelerating, cruising, braking to stops
at lights, turns; a phone's GPS error, which drifts rather than jumps; reported speed and
accuracy with noise; timestamps with a few ms of jitter), cuts it into segments as the PWA
does, and prints gzip bytes per point of each encoding. The numbers chose the compact form
in sync/core/track.py (docs/protocol.md, "GPS tracks").

    .venv/bin/python -m scripts.gps_track_sizes [--points 3600] [--segment 120] [--seed 1]
"""

from __future__ import annotations

import argparse
import gzip
import itertools
import json
import math
import random
from collections.abc import Callable
from typing import Any

from sync.core.track import encode

Point = list[Any]


def car_track(n: int, seed: int, drift_m: float = 0.3, jitter: float = 0.05) -> list[Point]:
    """n fixes, one a second, of a car driving around a town. `drift_m` is the step of the
    GPS error's random walk (a phone's filtered fix moves a few decimetres a second around
    the truth), `jitter` the share of fixes whose timestamp is not exactly 1 s after the
    last (GNSS fixes come on the second; a missed fix leaves a 2 s gap)."""
    rng = random.Random(seed)
    lat, lon = 51.501234, -0.141234
    heading = rng.uniform(0, 360)
    speed = 0.0  # m/s
    target = 13.9
    stop_left = 0
    err_n = err_e = 0.0  # GPS error in metres: a slow random walk pulled back to zero
    acc = 4.0
    t = 1_767_225_600_000
    out: list[Point] = []
    for _ in range(n):
        if stop_left > 0:
            stop_left -= 1
            target = 0.0
            if stop_left == 0:
                target = rng.choice([8.3, 11.1, 13.9, 13.9, 16.7, 22.2])
        elif rng.random() < 1 / 90:  # a light or a junction about every minute and a half
            stop_left = rng.randint(5, 40)
        accel = max(-3.0, min(2.0, (target - speed) * 0.3))
        speed = max(0.0, speed + accel + rng.gauss(0, 0.15))
        if speed > 1 and rng.random() < 1 / 40:  # a turn
            heading += rng.choice([-90, 90, -45, 45]) * rng.uniform(0.5, 1)
        heading += rng.gauss(0, 1.5) if speed > 1 else 0
        dn = speed * math.cos(math.radians(heading))
        de = speed * math.sin(math.radians(heading))
        lat += dn / 111_320
        lon += de / (111_320 * math.cos(math.radians(lat)))
        err_n = 0.95 * err_n + rng.gauss(0, drift_m)
        err_e = 0.95 * err_e + rng.gauss(0, drift_m)
        if rng.random() < 0.2:  # phones revise the accuracy estimate every few seconds
            acc = max(3.0, min(30.0, acc + rng.gauss(0, 0.8)))
        t += 1000
        if rng.random() < jitter:
            t += rng.choice([1000, 1, -1, 2, 5, -3, 12])
        fix_lat = lat + err_n / 111_320
        fix_lon = lon + err_e / (111_320 * math.cos(math.radians(lat)))
        reported = max(0.0, speed * 3.6 + rng.gauss(0, 0.4))
        out.append([t, round(fix_lat, 6), round(fix_lon, 6), round(reported, 1), round(acc, 1)])
    return out


def _ints(points: list[Point]) -> list[list[int]]:
    return [
        [p[0], round(p[1] * 1e6), round(p[2] * 1e6), round(p[3] * 10), round(p[4] * 10)]
        for p in points
    ]


def _delta(xs: list[int]) -> list[int]:
    return [xs[0]] + [b - a for a, b in itertools.pairwise(xs)]


def rows_delta(points: list[Point]) -> Any:
    ints = _ints(points)
    cols = [_delta(list(c)) for c in zip(*ints, strict=True)]
    return [list(r) for r in zip(*cols, strict=True)]


def cols_delta(points: list[Point]) -> Any:
    """Every column as its first value and the differences."""
    cols = [_delta(list(c)) for c in zip(*_ints(points), strict=True)]
    return dict(zip(("t", "lat", "lon", "spd", "acc"), cols, strict=True))


def cols_delta_t_steps(points: list[Point]) -> Any:
    """Differences, with time as its deviation from 1 s steps (a 1 Hz clock)."""
    track = cols_delta(points)
    track["t"] = [track["t"][0]] + [d - 1000 for d in track["t"][1:]]
    return track


def cols_second_all(points: list[Point]) -> Any:
    """Second differences for time too (the chosen form does them for lat/lon only)."""
    track = encode(points)
    track["t"] = _second([p[0] for p in points])
    return track


def _second(xs: list[int]) -> list[int]:
    """First value, then the change of each difference (the first difference from 0)."""
    d = _delta(xs)
    return [d[0], *_delta([0, *d[1:]])[1:]]


def cols_second_tenths(points: list[Point]) -> Any:
    """The chosen shape, but speed and accuracy in tenths (as the list form has them)."""
    ints = _ints(points)
    track = cols_delta(points)
    track["lat"] = _second([p[1] for p in ints])
    track["lon"] = _second([p[2] for p in ints])
    return track


def cols_absolute(points: list[Point]) -> Any:
    cols = zip(*_ints(points), strict=True)
    return {k: list(c) for k, c in zip(("t", "lat", "lon", "spd", "acc"), cols, strict=True)}


ENCODINGS: dict[str, Callable[[list[Point]], Any]] = {
    "list form (today)": lambda p: p,
    "columns, absolute ints": cols_absolute,
    "rows, differences": rows_delta,
    "columns, differences": cols_delta,
    "columns, differences, t - 1 s": cols_delta_t_steps,
    "columns, 2nd diff lat/lon, tenths": cols_second_tenths,
    "columns, 2nd diff lat/lon (chosen)": encode,
    "chosen, 2nd diff for t too": cols_second_all,
}


def _json(value: Any) -> bytes:
    return json.dumps(value, separators=(",", ":")).encode()


def sizes(points: list[Point], segment: int) -> dict[str, tuple[float, float, float]]:
    """{encoding: (JSON bytes a point, gzip bytes a point with each segment compressed alone,
    gzip bytes a point with all segments in one compressed body)}."""
    out = {}
    for name, enc in ENCODINGS.items():
        segs = [enc(points[i : i + segment]) for i in range(0, len(points), segment)]
        raw = sum(len(_json(x)) for x in segs)
        alone = sum(len(gzip.compress(_json(x), 6)) for x in segs)
        together = len(gzip.compress(_json(segs), 6))
        n = len(points)
        out[name] = (raw / n, alone / n, together / n)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--points", type=int, default=3600)
    ap.add_argument("--segment", type=int, default=120)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--drift", type=float, default=0.3, help="GPS error walk, m a second")
    ap.add_argument("--jitter", type=float, default=0.05, help="share of irregular fixes")
    ap.add_argument(
        "--generator",
        choices=["town", "bench"],
        default="town",
        help="town: this script's drive; bench: bench/car_route.py's (white GPS noise of a "
        "few metres a fix, accuracy jumping every second)",
    )
    args = ap.parse_args()
    if args.generator == "bench":
        from bench.car_route import drive

        track = drive(args.points, 1_767_225_600_000, args.seed)
        about = "bench/car_route.py"
    else:
        track = car_track(args.points, args.seed, args.drift, args.jitter)
        about = f"drift {args.drift} m/s, jitter {args.jitter}"
    print(f"{args.points} points at 1 Hz, segments of {args.segment}, gzip level 6, {about}")
    print(f"{'encoding':36} {'JSON B/pt':>10} {'gzip, alone':>12} {'gzip, one body':>15}")
    for name, (raw, alone, together) in sizes(track, args.segment).items():
        print(f"{name:36} {raw:10.1f} {alone:12.2f} {together:15.2f}")


if __name__ == "__main__":
    main()
