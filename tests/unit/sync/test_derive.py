"""Tests for sync.core.derive: the fields the server computes itself (student progress, trip
totals, mock-test pass marks and scores). Pure functions: no database."""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Sequence

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sync.core.derive import (
    Assessed,
    extend_totals,
    pass_threshold,
    progress,
    score_mock,
    trip_totals,
)
from sync.core.geo import EARTH_RADIUS_M

T0 = dt.datetime(2025, 11, 22, 9, 0, tzinfo=dt.UTC)
SETTINGS = settings(max_examples=100, deadline=None)


def at(minutes: int) -> dt.datetime:
    return T0 + dt.timedelta(minutes=minutes)


# --- progress ---------------------------------------------------------------------------------


def test_progress_latest_by_assessment_time_not_by_rev() -> None:
    # Assessed later but synced earlier (lower rev): it is still the student's latest level.
    levels, _ = progress(
        [Assessed("s1", 4, at(60), rev=10), Assessed("s1", 2, at(0), rev=20)], ["s1"]
    )
    assert levels == {"s1": 4}


def test_progress_same_time_broken_by_rev() -> None:
    same = at(5)
    for order in ([0, 1], [1, 0]):
        items = [Assessed("s1", 2, same, rev=7), Assessed("s1", 5, same, rev=8)]
        levels, _ = progress([items[i] for i in order], ["s1"])
        assert levels == {"s1": 5}


def test_progress_readiness_over_the_whole_catalogue() -> None:
    catalogue = ["s1", "s2", "s3", "s4"]
    levels, readiness = progress(
        [Assessed("s1", 5, at(0), 1), Assessed("s2", 3, at(0), 2)], catalogue
    )
    # Unassessed skills are absent from levels but count as 0: (5 + 3 + 0 + 0) / 20 = 40 %.
    assert levels == {"s1": 5, "s2": 3}
    assert readiness == 40


def test_progress_uses_latest_level_for_readiness() -> None:
    # A skill that regressed from 5 to 1 counts as 1: (1 + 5) / 10 = 60 %.
    _, readiness = progress(
        [
            Assessed("s1", 5, at(0), 1),
            Assessed("s1", 1, at(10), 2),
            Assessed("s2", 5, at(0), 3),
        ],
        ["s1", "s2"],
    )
    assert readiness == 60


def test_progress_nothing_assessed() -> None:
    assert progress([], ["s1", "s2"]) == ({}, 0)


def test_progress_empty_catalogue() -> None:
    assert progress([], []) == ({}, 0)


def test_progress_every_skill_at_five_is_ready() -> None:
    skills = [f"s{i}" for i in range(26)]
    _, readiness = progress([Assessed(s, 5, at(i), i) for i, s in enumerate(skills)], skills)
    assert readiness == 100


def test_progress_not_ready_while_a_skill_is_below_five() -> None:
    skills = [f"s{i:02d}" for i in range(40)]
    assessed = [Assessed(s, 4 if i == 0 else 5, at(i), i) for i, s in enumerate(skills)]
    _, readiness = progress(assessed, skills)
    assert readiness < 100


assessments = st.lists(
    st.builds(
        Assessed,
        skill_id=st.sampled_from(["s1", "s2", "s3", "s4"]),
        level=st.integers(1, 5),
        assessed_at=st.integers(0, 5).map(at),
        rev=st.integers(1, 10**6),
    ),
    max_size=20,
    unique_by=lambda a: a.rev,  # revs are unique per tenant
)


@SETTINGS
@given(assessments, st.permutations(range(20)), st.lists(st.sampled_from(["s1", "s5"])))
def test_progress_properties(items: list[Assessed], perm: Sequence[int], extra: list[str]) -> None:
    catalogue = ["s1", "s2", "s3", "s4", *extra]
    levels, readiness = progress(items, catalogue)
    # the order rows arrive in does not matter
    shuffled = [items[i] for i in perm if i < len(items)]
    assert progress(shuffled, catalogue) == (levels, readiness)
    # each level is that of the newest assessment of its skill
    for skill, level in levels.items():
        mine = [a for a in items if a.skill_id == skill]
        newest = max(mine, key=lambda a: (a.assessed_at, a.rev))
        assert level == newest.level
    assert set(levels) == {a.skill_id for a in items}
    # readiness is the mean over the catalogue, to the nearest percent
    distinct = set(catalogue)
    exact = 100 * sum(levels.get(s, 0) for s in distinct) / (5 * len(distinct))
    assert abs(readiness - exact) <= 0.5
    assert 0 <= readiness <= 100


# --- trip totals ------------------------------------------------------------------------------

ONE_DEGREE_M = EARTH_RADIUS_M * math.pi / 180  # along a meridian


def test_trip_totals_hand_checked() -> None:
    points = [[0, 0.0, 0.0], [30_000, 0.5, 0.0], [60_000, 1.0, 0.0]]
    distance, duration, count = trip_totals([(0, points)])
    assert distance == pytest.approx(round(ONE_DEGREE_M, 1), abs=0.05)  # ≈ 111 195.1 m
    assert 111_100 < distance < 111_300
    assert duration == 60
    assert count == 3


def test_trip_totals_empty_and_single_point() -> None:
    assert trip_totals([]) == (0.0, 0, 0)
    assert trip_totals([(0, [[1000, 51.5, -0.1]])]) == (0.0, 0, 1)


def test_trip_totals_include_the_hop_between_segments_in_index_order() -> None:
    seg0 = [[0, 0.0, 0.0], [1000, 0.0, 0.0]]
    seg1 = [[2000, 1.0, 0.0], [3000, 1.0, 0.0]]
    # The only movement is the hop from segment 0's end to segment 1's start.
    forward = trip_totals([(0, seg0), (1, seg1)])
    assert forward == trip_totals([(1, seg1), (0, seg0)])  # upload order does not matter
    assert forward[0] == pytest.approx(ONE_DEGREE_M, abs=0.1)
    assert forward[1:] == (3, 4)


def _track(
    starts: Sequence[int], lengths: Sequence[int], dlat: Sequence[float], dlon: Sequence[float]
) -> list[list[list[float | None]]]:
    """Segments of a drive around London: strictly increasing times, small moves."""
    segments: list[list[list[float | None]]] = []
    t, lat, lon, k = 1_763_779_200_000, 51.5, -0.12, 0
    for gap, n in zip(starts, lengths, strict=True):
        t += gap
        seg: list[list[float | None]] = []
        for _ in range(n):
            t += 1000
            lat += dlat[k % len(dlat)]
            lon += dlon[k % len(dlon)]
            k += 1
            seg.append([t, lat, lon, 30.0, 5.0])
        segments.append(seg)
    return segments


@SETTINGS
@given(
    st.lists(st.integers(0, 60_000), min_size=1, max_size=8),
    st.data(),
)
def test_extend_totals_matches_trip_totals(starts: list[int], data: st.DataObject) -> None:
    lengths = data.draw(st.lists(st.integers(1, 12), min_size=len(starts), max_size=len(starts)))
    step = st.floats(-0.001, 0.001, allow_nan=False)
    dlat = data.draw(st.lists(step, min_size=1, max_size=5))
    dlon = data.draw(st.lists(step, min_size=1, max_size=5))
    segments = _track(starts, lengths, dlat, dlon)
    # Appended one by one as sync.rules.append does: totals of the first, then extend.
    distance, duration, count = trip_totals([(0, segments[0])])
    first_t = min(float(p[0] or 0) for p in segments[0])
    last = max(segments[0], key=lambda p: p[0] or 0)
    for seg in segments[1:]:
        distance, duration, count = extend_totals(distance, count, first_t, last, seg)
        last = max(seg, key=lambda p: p[0] or 0)
    whole = trip_totals(list(enumerate(segments)))
    # each step rounds to 0.1 m: at most 0.05 m drift per segment, plus the final rounding
    assert distance == pytest.approx(whole[0], abs=0.05 * len(segments) + 1e-6)
    assert (duration, count) == whole[1:]
    assert count == sum(lengths)


def test_extend_totals_sorts_the_new_segment_by_time() -> None:
    prev = [0, 0.0, 0.0]
    shuffled = [[3000, 1.0, 0.0], [2000, 0.5, 0.0]]  # uploaded out of time order
    distance, duration, count = extend_totals(0.0, 1, 0.0, prev, shuffled)
    assert distance == pytest.approx(ONE_DEGREE_M, abs=0.1)  # 0 → 0.5 → 1.0, no zig-zag
    assert (duration, count) == (3, 3)


# --- mock tests -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("total", "needed"),
    [
        (50, 43),  # the school's mark
        (25, 22),  # 21.5 rounded up
        (100, 86),  # exactly 86 %, not pushed up by float error
        (10, 9),  # 8.6 → 9
        (1, 1),
        (0, 0),
        (-3, 0),
    ],
)
def test_pass_threshold(total: int, needed: int) -> None:
    assert pass_threshold(total) == needed


@SETTINGS
@given(
    st.integers(1, 5000),
    st.integers(1, 500).flatmap(lambda pt: st.tuples(st.integers(0, pt), st.just(pt))),
)
def test_pass_threshold_is_the_least_score_reaching_the_mark(
    total: int, mark: tuple[int, int]
) -> None:
    pass_mark, pass_total = mark
    needed = pass_threshold(total, pass_mark, pass_total)
    # needed / total ≥ pass_mark / pass_total, and one fewer would not be (integer maths)
    assert needed * pass_total >= pass_mark * total
    assert needed == 0 or (needed - 1) * pass_total < pass_mark * total


def test_score_mock_counts_unanswered_questions() -> None:
    correct = {f"q{i}": i % 4 for i in range(50)}
    # 25 right answers and 25 left blank: 25 of 50, a fail (25 of 25 would have passed).
    answers = [(f"q{i}", i % 4 if i < 25 else None) for i in range(50)]
    assert score_mock(answers, correct) == (50, 25, False)


def test_score_mock_mixed() -> None:
    correct = {"q1": 0, "q2": 1, "q3": 1}
    answers = [("q1", 0), ("q2", None), ("q3", 2), ("unknown", 1)]
    # option 0 is an answer, not a blank; a question not in the bank scores nothing
    total, score, passed = score_mock(answers, correct)
    assert (total, score) == (4, 1)
    assert not passed


@pytest.mark.parametrize(("right", "passed"), [(43, True), (42, False), (50, True)])
def test_score_mock_pass_mark_of_fifty(right: int, passed: bool) -> None:
    correct = {f"q{i}": 1 for i in range(50)}
    answers = [(f"q{i}", 1 if i < right else 2) for i in range(50)]
    assert score_mock(answers, correct) == (50, right, passed)


@pytest.mark.parametrize(("right", "passed"), [(22, True), (21, False)])
def test_score_mock_shorter_test_scales_the_mark(right: int, passed: bool) -> None:
    correct = {f"q{i}": 3 for i in range(25)}
    answers = [(f"q{i}", 3 if i < right else None) for i in range(25)]
    assert score_mock(answers, correct) == (25, right, passed)


def test_score_mock_school_mark() -> None:
    correct = {f"q{i}": 0 for i in range(10)}
    answers = [(f"q{i}", 0 if i < 7 else 1) for i in range(10)]
    assert score_mock(answers, correct, pass_mark=7, pass_total=10)[2]
    assert not score_mock(answers, correct, pass_mark=8, pass_total=10)[2]
