"""Tests for sync.core.track: the compact GPS form round-trips, is checked in depth with
errors that name the field, and is what the PWA's codec produces for the same points."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sync.core.derive import trip_totals
from sync.core.geo import validate_point
from sync.core.track import SAFE_INT, TrackError, decode, encode, to_compact, to_points, validate

FIXTURE = Path(__file__).resolve().parents[3] / "clients/pwa/tests/fixtures/track.json"

T0 = 1_893_492_000_000


def drive(n: int = 5) -> list[list[Any]]:
    return [
        [T0 + 1000 * i, round(51.5 + 0.00012 * i, 6), round(-0.12 + 0.0002 * i, 6), 30.0, 4.0]
        for i in range(n)
    ]


def test_the_shape_is_integer_columns_with_differences() -> None:
    track = encode(
        [
            [T0, 51.5, -0.12, 30.4, 5.0],
            [T0 + 1000, 51.500012, -0.119980, 31.5, None],
            [T0 + 2000, 51.500024, -0.119960, None, 4.4],
            [T0 + 3000, 51.500040, -0.119950, 33.0, 4.6],
        ]
    )
    assert track == {
        "v": 1,
        "t": [T0, 1000, 1000, 1000],
        # 51.5° then steps of 12, 12, 16 (1e-6°): the steps' changes 12, 0, 4
        "lat": [51_500_000, 12, 0, 4],
        "lon": [-120_000, 20, 0, -10],
        # whole km/h and metres (31.5 rounds to even, 32); a null is skipped over
        "spd": [30, 2, None, 1],
        "acc": [5, None, -1, 1],
    }
    assert decode(track)[2] == [T0 + 2000, 51.500024, -0.11996, None, 4.0]


def test_speed_and_accuracy_columns_are_left_out_when_never_measured() -> None:
    track = encode([[T0, 1.0, 2.0], [T0 + 1000, 1.000001, 2.0, None, None]])
    assert set(track) == {"v", "t", "lat", "lon"}
    assert decode(track) == [[T0, 1.0, 2.0], [T0 + 1000, 1.000001, 2.0]]


points = st.lists(
    st.tuples(
        st.integers(0, 10**9),
        st.integers(-90_000_000, 90_000_000),
        st.integers(-180_000_000, 180_000_000),
        st.none() | st.integers(0, 400),
        st.none() | st.integers(0, 100_000),
    ),
    min_size=1,
    max_size=60,
)


@settings(max_examples=300, deadline=None)
@given(points)
def test_round_trip_is_exact_both_ways(
    raw: list[tuple[int, int, int, int | None, int | None]],
) -> None:
    t = T0
    listed = []
    for dt, lat, lon, spd, acc in raw:
        t += dt
        listed.append(
            [
                t,
                lat / 1e6,
                lon / 1e6,
                None if spd is None else float(spd),
                None if acc is None else float(acc),
            ]
        )
    track = encode(listed)
    assert all(
        isinstance(v, int) for k, col in track.items() if k != "v" for v in col if v is not None
    )
    back = decode(track)
    for sent, got in zip(listed, back, strict=True):
        assert got == sent[: len(got)]
        assert all(x is None for x in sent[len(got) :])
        assert validate_point(got) is None
    assert encode(back) == track  # the compact form is a fixed point: nothing to echo
    assert json.loads(json.dumps(track)) == track


def test_either_form_gives_the_same_totals() -> None:
    listed = drive(50)
    assert trip_totals([(0, listed)]) == trip_totals([(0, encode(listed))])
    assert to_points(listed) == listed and to_points(encode(listed)) == listed
    assert to_compact(encode(listed)) == encode(listed)


def _bad(**change: Any) -> dict[str, Any]:
    track = encode(drive())
    track.update(change)
    return {k: v for k, v in track.items() if v is not None}


@pytest.mark.parametrize(
    ("track", "field"),
    [
        (_bad(t=[T0, 1000, -1, 1000, 1000]), "points.t[2]"),  # time goes back
        (_bad(lat=[91_000_000, 0, 0, 0, 0]), "points.lat[0]"),
        (_bad(lat=[89_999_000, 900, 900, 0, 0]), "points.lat[2]"),  # climbs past the pole
        (_bad(lon=[-180_000_001, 0, 0, 0, 0]), "points.lon[0]"),
        (_bad(spd=[10, -20, 0, 0, 0]), "points.spd[1]"),  # negative speed
        (_bad(acc=[-1, 0, 0, 0, 0]), "points.acc[0]"),
        (_bad(lon=[0, 0, 0]), "points.lon"),  # column shorter than t
        (_bad(spd=[1, 0, 0, 0, 0, 0]), "points.spd"),
        (_bad(t=[T0, 1000.0, 1000, 1000, 1000]), "points.t[1]"),  # a float
        (_bad(lat=[51_500_000, True, 0, 0, 0]), "points.lat[1]"),
        (_bad(t=[T0, 2**60, 0, 0, 0]), "points.t[1]"),  # beyond JavaScript's exact integers
        (_bad(lat=[None, 0, 0, 0, 0]), "points.lat[0]"),  # only speed/accuracy may be null
        (_bad(t="1000"), "points.t"),
        (_bad(t=[SAFE_INT, SAFE_INT, 0, 0, 0]), "points.t[1]"),  # sums past 2**53 - 1
        (_bad(acc=[1] * 10**6), "points.acc"),  # refused by its size, before summing
        (_bad(v=2), "points.v"),
        (_bad(extra=[1]), "points.extra"),
        ({"v": 1, "lat": [0], "lon": [0]}, "points.t"),
        ({"v": 1, "t": [], "lat": [], "lon": []}, "points.t"),
        ({"v": 1, "t": [T0] + [1000] * 500, "lat": [0] * 501, "lon": [0] * 501}, "points.t"),
    ],
)
def test_invalid_tracks_name_the_field(track: dict[str, Any], field: str) -> None:
    with pytest.raises(TrackError) as err:
        validate(track)
    assert err.value.field == field, err.value


def test_limits_are_inclusive() -> None:
    n = 500
    track = {
        "v": 1,
        "t": [0] * n,
        "lat": [90_000_000] + [0] * (n - 1),
        "lon": [-180_000_000] + [0] * (n - 1),
    }
    assert len(decode(track)) == n  # equal times are allowed: monotonic, not strictly
    assert validate({"v": 1, "t": [SAFE_INT], "lat": [0], "lon": [0]})["t"] == [SAFE_INT]


def test_the_pwa_fixture_matches_this_encoder() -> None:
    """clients/pwa/tests/track.test.mjs checks its encoder against the same file: the two
    codecs agree on the form of the same points."""
    cases = json.loads(FIXTURE.read_text())
    assert len(cases) >= 3
    for case in cases:
        assert encode(case["points"]) == case["compact"], case["name"]
        assert decode(case["compact"]) == case["decoded"], case["name"]


json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**70), 2**70) | st.floats() | st.text(max_size=3),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=4), inner, max_size=4)
    ),
    max_leaves=12,
)
columns = st.lists(st.none() | st.integers(-(2**60), 2**60) | st.floats(), max_size=5)


@settings(max_examples=500, deadline=None)
@given(
    st.one_of(
        json_values,
        st.fixed_dictionaries(
            {"v": st.just(1), "t": columns, "lat": columns, "lon": columns},
            optional={"spd": columns, "acc": columns, "x": json_values},
        ),
    )
)
def test_anything_is_a_track_or_a_track_error(value: Any) -> None:
    """Whatever a client sends, validation answers a valid track or a TrackError naming a
    field under `points` (the push turns it into `invalid`), never another exception."""
    try:
        cols = validate(value)
    except TrackError as exc:
        assert exc.field.startswith("points")
        return
    assert decode(value) and len(cols["t"]) == len(decode(value))
