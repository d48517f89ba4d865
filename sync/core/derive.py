"""Fields the server derives and never takes from a client: student progress from
assessments, trip distance and duration from GPS segments, theory correctness and mock-test
score and pass from the bank. Pure functions; the push service feeds them rows."""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sync.core.geo import join_segments, track_distance_m
from sync.core.track import to_points


@dataclass(frozen=True)
class Assessed:
    """One assessment as progress needs it."""

    skill_id: str
    level: int
    assessed_at: dt.datetime
    rev: int


def progress(
    assessments: Iterable[Assessed], skill_ids: Sequence[str]
) -> tuple[dict[str, int], int]:
    """Latest level per skill (by assessment time, then rev) and readiness: the mean of
    latest levels over the whole catalogue as a percentage of level 5, so an unassessed
    skill counts as 0 and readiness reaches 100 only when every skill is at 5."""
    latest: dict[str, Assessed] = {}
    for a in assessments:
        seen = latest.get(a.skill_id)
        if seen is None or (a.assessed_at, a.rev) > (seen.assessed_at, seen.rev):
            latest[a.skill_id] = a
    levels = {skill: a.level for skill, a in sorted(latest.items())}
    catalogue = set(skill_ids) | set(levels)
    if not catalogue:
        return levels, 0
    total = sum(levels.get(s, 0) for s in catalogue)
    readiness = round(100 * total / (5 * len(catalogue)))
    if readiness == 100 and total < 5 * len(catalogue):
        readiness = 99  # rounding must not call a learner ready with a skill still below 5
    return levels, max(0, min(100, readiness))


def trip_totals(segments: Sequence[tuple[int, Any]]) -> tuple[float, int, int]:
    """(distance_m, duration_s, point_count) of a trip across all its segments, whose
    points may be in either form (list or compact, sync.core.track)."""
    points = join_segments([(index, to_points(points)) for index, points in segments])
    if not points:
        return 0.0, 0, 0
    distance = track_distance_m(points)
    t0, t1 = points[0][0], points[-1][0]
    assert t0 is not None and t1 is not None
    duration = max(0, round((float(t1) - float(t0)) / 1000))
    return round(distance, 1), duration, len(points)


def extend_totals(
    distance_m: float,
    point_count: int,
    first_t: float,
    previous_last: Sequence[float | None],
    new_points: Any,
) -> tuple[float, int, int]:
    """Totals after appending a segment that comes after every existing one: the old
    distance plus the hop from the previous last point and the new segment's own track
    (its points in either form)."""
    ordered = sorted(to_points(new_points), key=lambda p: p[0] or 0)
    added = track_distance_m([previous_last, *ordered])
    last_t = ordered[-1][0]
    assert last_t is not None
    duration = max(0, round((float(last_t) - float(first_t)) / 1000))
    return round(distance_m + added, 1), duration, point_count + len(ordered)


def pass_threshold(total: int, pass_mark: int = 43, pass_total: int = 50) -> int:
    """Correct answers needed to pass a test of `total` questions: the school's mark
    scaled to the test's length, rounded up (43 of 50 → 86 %; 25 questions → 22)."""
    if total <= 0:
        return 0
    if total == pass_total:
        return pass_mark
    return math.ceil(total * pass_mark / pass_total - 1e-9)


def score_mock(
    answers: Sequence[tuple[str, int | None]],
    correct_options: Mapping[str, int],
    pass_mark: int = 43,
    pass_total: int = 50,
) -> tuple[int, int, bool]:
    """(total, score, passed) of a mock test: every listed question counts, an unanswered
    one (None) or one not in the bank scores nothing."""
    total = len(answers)
    score = sum(
        1
        for question_id, chosen in answers
        if chosen is not None and correct_options.get(question_id) == chosen
    )
    return total, score, score >= pass_threshold(total, pass_mark, pass_total)
