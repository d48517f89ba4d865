"""Tests for sync.core.geo: haversine, route joining and GPS point validation."""

from __future__ import annotations

import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sync.core.geo import haversine_m, join_segments, track_distance_m, validate_point

SETTINGS = settings(max_examples=200, deadline=None)

lats = st.floats(-90, 90, allow_nan=False)
lons = st.floats(-180, 180, allow_nan=False)
HALF_CIRCUMFERENCE = math.pi * 6_371_008.8


def test_london_paris() -> None:
    d = haversine_m(51.5074, -0.1278, 48.8566, 2.3522)
    assert abs(d - 343_500) < 1_000


def test_zero_and_antipodal() -> None:
    assert haversine_m(10.0, 20.0, 10.0, 20.0) == 0.0
    assert haversine_m(0.0, 0.0, 0.0, 180.0) == pytest.approx(HALF_CIRCUMFERENCE)
    assert haversine_m(90.0, 0.0, -90.0, 0.0) == pytest.approx(HALF_CIRCUMFERENCE)


@SETTINGS
@given(lats, lons, lats, lons)
def test_haversine_symmetric_nonnegative_bounded(
    lat1: float, lon1: float, lat2: float, lon2: float
) -> None:
    d = haversine_m(lat1, lon1, lat2, lon2)
    assert 0.0 <= d <= HALF_CIRCUMFERENCE + 1e-6
    assert d == pytest.approx(haversine_m(lat2, lon2, lat1, lon1), abs=1e-6)


@SETTINGS
@given(lats, lons, lats, lons, lats, lons)
def test_triangle_inequality(
    lat1: float, lon1: float, lat2: float, lon2: float, lat3: float, lon3: float
) -> None:
    ab = haversine_m(lat1, lon1, lat2, lon2)
    bc = haversine_m(lat2, lon2, lat3, lon3)
    ac = haversine_m(lat1, lon1, lat3, lon3)
    # Slack: near antipodal points asin() is ill-conditioned, so a distance of 20,000 km
    # carries about R * sqrt(machine epsilon) = 0.1 m of rounding (found by hypothesis).
    assert ac <= ab + bc + 1.0


def test_track_distance() -> None:
    assert track_distance_m([]) == 0.0
    assert track_distance_m([[0, 51.5, -0.1]]) == 0.0
    pts = [[0, 0.0, 0.0], [1000, 0.0, 1.0, 50.0], [2000, 0.0, 2.0, None, 5.0]]
    one_degree = haversine_m(0.0, 0.0, 0.0, 1.0)
    assert track_distance_m(pts) == pytest.approx(2 * one_degree)
    assert one_degree == pytest.approx(111_195, abs=5)
    with pytest.raises(ValueError):
        track_distance_m([[0, 0.0, 0.0], [1, None, 0.0]])


def test_join_segments_orders_by_index_then_time() -> None:
    seg0 = [[2000, 0.0, 1.0], [1000, 0.0, 0.0]]
    seg1 = [[3000, 0.0, 2.0], [4000, 0.0, 3.0]]
    joined = join_segments([(1, seg1), (0, seg0)])
    assert [p[0] for p in joined] == [1000, 2000, 3000, 4000]
    # Distance includes the hop across the segment boundary (lon 1 -> 2).
    per_segment = track_distance_m(sorted(seg0)) + track_distance_m(seg1)
    one_degree = haversine_m(0.0, 0.0, 0.0, 1.0)
    assert track_distance_m(joined) == pytest.approx(per_segment + one_degree)
    assert track_distance_m(joined) == pytest.approx(3 * one_degree)
    assert join_segments([]) == []


def test_join_segments_index_beats_time() -> None:
    # Segment order is authoritative even if a device clock jumped back.
    joined = join_segments([(0, [[5000, 0.0, 0.0]]), (1, [[100, 0.0, 1.0]])])
    assert [p[0] for p in joined] == [5000, 100]


@pytest.mark.parametrize(
    "point",
    [
        [0, 0, 0],
        [1_763_779_200_000, 51.5074, -0.1278],
        [1, -90, -180, 0, 0],
        [1, 90.0, 180.0, 400, 100_000],
        [1, 1.0, 1.0, None, None],
        [1, 1.0, 1.0, None],
        (1, 1.0, 1.0, 30.5, 4.0),
    ],
)
def test_valid_points(point: list[object]) -> None:
    assert validate_point(point) is None


@pytest.mark.parametrize(
    "point",
    [
        "1,2,3",
        {"t": 1},
        [],
        [1, 2],
        [1, 2, 3, 4, 5, 6],
        [-1, 0, 0],
        [1.0, 0, 0],
        [True, 0, 0],
        [None, 0, 0],
        [1, None, 0],
        [1, 0, None],
        [1, True, 0],
        [1, "51.5", 0],
        [1, 90.0001, 0],
        [1, -90.5, 0],
        [1, 0, 180.5],
        [1, 0, -181],
        [1, math.nan, 0],
        [1, 0, math.inf],
        [1, 0, 0, -0.1],
        [1, 0, 0, 400.1],
        [1, 0, 0, math.nan],
        [1, 0, 0, False],
        [1, 0, 0, None, -1],
        [1, 0, 0, None, 100_001],
        [1, 0, 0, None, math.inf],
        [1, 10**400, 0],
        [2**53, 0, 0],  # past JavaScript's exact integers
    ],
)
def test_invalid_points(point: object) -> None:
    reason = validate_point(point)  # type: ignore[arg-type]
    assert isinstance(reason, str) and reason


@SETTINGS
@given(
    st.integers(0, 2**53 - 1),
    lats,
    lons,
    st.one_of(st.none(), st.floats(0, 400)),
    st.one_of(st.none(), st.floats(0, 100_000)),
)
def test_generated_valid_points(
    t: int, lat: float, lon: float, speed: float | None, acc: float | None
) -> None:
    assert validate_point([t, lat, lon, speed, acc]) is None


def test_extend_totals_equals_full_recompute() -> None:
    from sync.core.derive import extend_totals, trip_totals

    t0 = 1_800_000_000_000
    segs = [
        (i, [[t0 + (i * 5 + k) * 1000, 51.5 + (i * 5 + k) * 0.001, -0.1, 30, 5] for k in range(5)])
        for i in range(4)
    ]
    distance, duration, count = trip_totals(segs[:1])
    for i in range(1, 4):
        prev_last = segs[i - 1][1][-1]
        distance, duration, count = extend_totals(distance, count, t0, prev_last, segs[i][1])
    full = trip_totals(segs)
    assert abs(distance - full[0]) < 0.5 and (duration, count) == full[1:]
