"""The compact form of a trip segment's GPS points (protocol schema_version 2).

A segment's points travel as integer columns (chosen by measuring: docs/protocol.md, "GPS
tracks", and scripts/gps_track_sizes.py)::

    {"v": 1,
     "t":   [t0, dt1, dt2, ...],        # ms since the epoch; then the change from the last
     "lat": [lat0, c1, c2, ...],        # 1e-6 degree (about 11 cm); then second differences
     "lon": [lon0, c1, c2, ...],        # 1e-6 degree; second differences
     "spd": [spd0, d1, ...],            # optional: km/h; then the change; null = no reading
     "acc": [acc0, d1, ...]}            # optional: metres; then the change; null = no reading

`t`, `spd` and `acc` hold their first value as is and each later one as the difference from
the one before. `lat` and `lon` hold the change of that difference (a car keeps its heading
and speed from one second to the next, so these are small): with `step` starting at 0,
`step += c[i]; x[i] = x[i-1] + step`. In `spd` and `acc` a null is a point without that
reading; the next reading's difference is taken from the last one present. A column that is
all null is left out.

At 1 Hz that is 3-4 bytes a point after gzip against 11-12 for the list form
`[t_ms, lat, lon, speed_kmh?, accuracy_m?]` (45 bytes a point before gzip). Every value is
an integer, so a segment decodes and encodes back to exactly the same object: a server that
stores what a client sent has nothing to echo.

`validate` checks a compact object completely and names the offending field
(`points.lat[3]`); `decode` turns a valid one into list-form points, `encode` the reverse.
Pure: no I/O, no SQLAlchemy.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

__all__ = [
    "FORMAT_VERSION",
    "MAX_POINTS",
    "TrackError",
    "decode",
    "encode",
    "is_compact",
    "to_compact",
    "to_points",
    "validate",
]

FORMAT_VERSION = 1
MAX_POINTS = 500
#: Integers JavaScript holds exactly (Number.MAX_SAFE_INTEGER): the PWA decodes these too.
SAFE_INT = 2**53 - 1

# Units of each column: value on the wire = round(value in the list form * scale).
_DEG = 1_000_000
# Speed and accuracy in whole km/h and metres: a phone's speed is good to about 0.5 km/h
# and its accuracy is an estimate, so tenths only carried noise (0.8 bytes a point).
_SPD_UNIT = 1
_ACC_UNIT = 1
# Limits after decoding, in wire units (the list form's limits in sync.core.geo, scaled).
_LAT_MAX = 90 * _DEG
_LON_MAX = 180 * _DEG
_SPD_MAX = 400 * _SPD_UNIT  # 400 km/h
_ACC_MAX = 100_000 * _ACC_UNIT  # 100 km

_REQUIRED = ("t", "lat", "lon")
_OPTIONAL = ("spd", "acc")
_SECOND = ("lat", "lon")  # columns sent as second differences
_KEYS = frozenset({"v", *_REQUIRED, *_OPTIONAL})

Point = list[float | int | None]


class TrackError(ValueError):
    """A compact track that breaks the format; `field` names where (`points.t[4]`)."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message


def is_compact(points: object) -> bool:
    """Whether `points` is in the compact (object) form rather than the list form."""
    return isinstance(points, Mapping)


def _int(x: object) -> bool:
    # bool is an int in Python, but `true` in a track is a client bug.
    return isinstance(x, int) and not isinstance(x, bool)


def _column(track: Mapping[str, Any], name: str) -> list[int | None]:
    """The column's absolute values: a list of safe integers (nulls allowed in the optional
    columns) summed once (`t`, `spd`, `acc`) or twice (`lat`, `lon`). The caller checks the
    values' ranges."""
    nullable = name in _OPTIONAL
    second = name in _SECOND
    col = track[name]
    where = f"points.{name}"
    if not isinstance(col, list):
        raise TrackError(where, "must be a list of integers")
    out: list[int | None] = []
    last: int | None = None  # the last value present: the next delta's base
    step = 0  # lat/lon: the last difference, which the next value changes
    for i, d in enumerate(col):
        if d is None and nullable:
            out.append(None)
            continue
        if not _int(d):
            kind = "integers or null" if nullable else "integers"
            raise TrackError(f"{where}[{i}]", f"must be {kind}")
        if not -SAFE_INT <= d <= SAFE_INT:
            raise TrackError(f"{where}[{i}]", "must be within ±(2**53 - 1)")
        if last is None:
            last = d
        elif second:
            step += d
            last += step
        else:
            last += d
        out.append(last)
    return out


def _check_range(name: str, values: Sequence[int | None], lo: int, hi: int, unit: str) -> None:
    for i, v in enumerate(values):
        if v is not None and not lo <= v <= hi:
            raise TrackError(f"points.{name}[{i}]", f"decodes to {v}, outside [{lo}, {hi}] {unit}")


def validate(track: object) -> dict[str, list[int | None]]:
    """Check a compact track; return its columns as absolute values (wire units).

    Raises TrackError naming the field on the first problem found."""
    if not isinstance(track, Mapping):
        raise TrackError("points", "must be a list of points or a compact track object")
    unknown = sorted(str(k) for k in track if k not in _KEYS)
    if unknown:
        raise TrackError(f"points.{unknown[0]}", "is not a field of a compact track")
    if track.get("v") != FORMAT_VERSION or not _int(track.get("v")):
        raise TrackError("points.v", f"must be {FORMAT_VERSION} (the compact track version)")
    for name in _REQUIRED:
        if name not in track:
            raise TrackError(f"points.{name}", "is required")
    # Sizes first, so an oversized column is refused before any work is done on it.
    present = [name for name in (*_REQUIRED, *_OPTIONAL) if name in track]
    for name in present:
        if not isinstance(track[name], list):
            raise TrackError(f"points.{name}", "must be a list of integers")
    n = len(track["t"])
    if not 1 <= n <= MAX_POINTS:
        raise TrackError("points.t", f"must hold 1 to {MAX_POINTS} points, not {n}")
    for name in present:
        if len(track[name]) != n:
            raise TrackError(f"points.{name}", f"has {len(track[name])} values, points.t has {n}")
    cols = {name: _column(track, name) for name in present}
    times = cols["t"]
    for i, t in enumerate(times):
        assert t is not None  # not nullable
        if not 0 <= t <= SAFE_INT:
            raise TrackError(f"points.t[{i}]", "decodes to a time outside 0 to 2**53 - 1")
        if i and t < (times[i - 1] or 0):
            raise TrackError(f"points.t[{i}]", "times must not go backwards")
    _check_range("lat", cols["lat"], -_LAT_MAX, _LAT_MAX, "1e-6 degrees")
    _check_range("lon", cols["lon"], -_LON_MAX, _LON_MAX, "1e-6 degrees")
    if "spd" in cols:
        _check_range("spd", cols["spd"], 0, _SPD_MAX, "km/h")
    if "acc" in cols:
        _check_range("acc", cols["acc"], 0, _ACC_MAX, "m")
    return cols


def _scaled(value: int | None, scale: int) -> float | None:
    # An exact integer divided by a power of ten gives the double nearest the decimal,
    # the same one JSON's "51.123456" parses to.
    return None if value is None else value / scale


def decode(track: Mapping[str, Any]) -> list[Point]:
    """List-form points `[t_ms, lat, lon, speed_kmh?, accuracy_m?]` of a compact track
    (validated here). Points carry speed and accuracy only when the track has the column."""
    cols = validate(track)
    spd, acc = cols.get("spd"), cols.get("acc")
    points: list[Point] = []
    for i, t in enumerate(cols["t"]):
        p: Point = [t, _scaled(cols["lat"][i], _DEG), _scaled(cols["lon"][i], _DEG)]
        if spd is not None or acc is not None:
            p.append(_scaled(spd[i], _SPD_UNIT) if spd is not None else None)
        if acc is not None:
            p.append(_scaled(acc[i], _ACC_UNIT))
        points.append(p)
    return points


def _quantise(x: float | int | None, scale: int) -> int | None:
    if x is None:
        return None
    return round(x * scale)


def _deltas(values: Sequence[int | None]) -> list[int | None]:
    out: list[int | None] = []
    prev: int | None = None
    for v in values:
        if v is None:
            out.append(None)
            continue
        out.append(v if prev is None else v - prev)
        prev = v
    return out


def _second_differences(values: Sequence[int]) -> list[int]:
    out: list[int] = []
    prev_step = 0
    for i, v in enumerate(values):
        if i == 0:
            out.append(v)
            continue
        step = v - values[i - 1]
        out.append(step - prev_step)
        prev_step = step
    return out


def encode(points: Sequence[Sequence[float | int | None]]) -> dict[str, Any]:
    """The compact form of list-form points (already valid: sync.core.geo.validate_point),
    in the order given. Positions are rounded to 1e-6 degree, speed and accuracy to whole
    km/h and metres;
    an all-null (or absent) speed or accuracy column is left out."""
    t = [int(p[0]) for p in points]  # type: ignore[arg-type]
    lat = [round(float(p[1]) * _DEG) for p in points]  # type: ignore[arg-type]
    lon = [round(float(p[2]) * _DEG) for p in points]  # type: ignore[arg-type]
    spd = [_quantise(p[3] if len(p) > 3 else None, _SPD_UNIT) for p in points]
    acc = [_quantise(p[4] if len(p) > 4 else None, _ACC_UNIT) for p in points]
    track: dict[str, Any] = {
        "v": FORMAT_VERSION,
        "t": _deltas(t),
        "lat": _second_differences(lat),
        "lon": _second_differences(lon),
    }
    if any(v is not None for v in spd):
        track["spd"] = _deltas(spd)
    if any(v is not None for v in acc):
        track["acc"] = _deltas(acc)
    return track


def to_points(points: Any) -> list[Point]:
    """List-form points of a segment's `points` in either form (stored rows hold both: list
    form from before schema_version 2, compact since)."""
    if is_compact(points):
        return decode(points)
    return [list(p) for p in points]


def to_compact(points: Any) -> dict[str, Any]:
    """Compact form of a segment's `points` in either form; a compact one is returned as is."""
    if is_compact(points):
        return dict(points)
    return encode(points)
