"""GPS maths for lesson trips.

A trip is uploaded as numbered segments (so a phone can send the route in
pieces while driving).  Each point is a JSON array::

    [t_ms, lat, lon, speed_kmh?, accuracy_m?]

where the last two are optional and may be ``null`` (schema_version 2 sends the same
points in a compact form: sync.core.track).  This module validates
points, joins segments back into one route and measures its length.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence
from typing import TypeGuard

__all__ = [
    "EARTH_RADIUS_M",
    "haversine_m",
    "join_segments",
    "track_distance_m",
    "validate_point",
]

#: IUGG mean Earth radius.  A sphere is within ~0.5% of the ellipsoid, which
#: is far below phone GPS error, so haversine is accurate enough here.
EARTH_RADIUS_M = 6_371_008.8

MAX_SPEED_KMH = 400.0
#: Times beyond JavaScript's exact integers (Number.MAX_SAFE_INTEGER) are no clock's.
MAX_T_MS = 2**53 - 1
MAX_ACCURACY_M = 100_000.0

Point = Sequence[float | None]


def haversine_m(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    """Great-circle distance in metres between two WGS84 points (degrees)."""
    phi1 = math.radians(lat1)
    phi2 = math.radians(lat2)
    dphi = math.radians(lat2 - lat1)
    dlmb = math.radians(lon2 - lon1)
    a = math.sin(dphi / 2) ** 2 + math.cos(phi1) * math.cos(phi2) * math.sin(dlmb / 2) ** 2
    # Rounding can push ``a`` a hair outside [0, 1] for (near-)antipodal
    # points, which would make asin/sqrt raise.
    a = min(1.0, max(0.0, a))
    return 2 * EARTH_RADIUS_M * math.asin(math.sqrt(a))


def _lat_lon(p: Point) -> tuple[float, float]:
    if len(p) < 3 or p[1] is None or p[2] is None:
        raise ValueError(f"point {p!r} has no latitude/longitude")
    return float(p[1]), float(p[2])


def _t(p: Point) -> float:
    if len(p) < 1 or p[0] is None:
        raise ValueError(f"point {p!r} has no timestamp")
    return float(p[0])


def track_distance_m(points: Sequence[Point]) -> float:
    """Sum of haversine distances between consecutive points, in metres.

    Points are assumed to be already ordered by time (see
    :func:`join_segments`); fewer than two points give 0.0.
    """
    total = 0.0
    for prev, cur in itertools.pairwise(points):
        lat1, lon1 = _lat_lon(prev)
        lat2, lon2 = _lat_lon(cur)
        total += haversine_m(lat1, lon1, lat2, lon2)
    return total


def join_segments(segments: Sequence[tuple[int, Sequence[Point]]]) -> list[Point]:
    """Flatten ``(segment_index, points)`` pairs into one ordered route.

    Points are ordered by segment index, then by timestamp, so a distance
    computed over the result includes the hop across each segment boundary
    (summing per-segment distances would silently drop those hops).  The
    sort is stable, so points with equal keys keep their upload order.  No
    de-duplication happens here: a segment uploaded twice must be collapsed
    by the caller before joining.
    """
    keyed = [(index, _t(p), p) for index, points in segments for p in points]
    keyed.sort(key=lambda item: (item[0], item[1]))
    return [p for _, _, p in keyed]


def _is_number(x: object) -> TypeGuard[int | float]:
    # bool is a subclass of int, but ``true`` in a GPS array is a client bug.
    return isinstance(x, (int, float)) and not isinstance(x, bool)


def _in_range(x: int | float, lo: float, hi: float) -> bool:
    # Ints are compared exactly (no float conversion, which would overflow
    # for absurdly large ints); floats must also be finite.
    if isinstance(x, float) and not math.isfinite(x):
        return False
    return lo <= x <= hi


def validate_point(p: Sequence[object]) -> str | None:
    """Return ``None`` if ``p`` is a valid GPS point, else a short reason."""
    if not isinstance(p, (list, tuple)):
        return "point must be a list"
    if not 3 <= len(p) <= 5:
        return "point must have 3 to 5 elements"
    t, lat, lon = p[0], p[1], p[2]
    if isinstance(t, bool) or not isinstance(t, int):
        return "t_ms must be an integer"
    if not 0 <= t <= MAX_T_MS:
        return "t_ms must be an integer from 0 to 2**53 - 1"
    if not _is_number(lat):
        return "lat must be a number"
    if not _in_range(lat, -90.0, 90.0):
        return "lat must be a finite number in [-90, 90]"
    if not _is_number(lon):
        return "lon must be a number"
    if not _in_range(lon, -180.0, 180.0):
        return "lon must be a finite number in [-180, 180]"
    optional = (("speed_kmh", MAX_SPEED_KMH), ("accuracy_m", MAX_ACCURACY_M))
    for (name, limit), value in zip(optional, p[3:], strict=False):
        if value is None:  # optional fields may be sent as null
            continue
        if not _is_number(value):
            return f"{name} must be a number or null"
        if not _in_range(value, 0.0, limit):
            return f"{name} must be a finite number in [0, {limit:g}]"
    return None
