"""A lesson signature's strokes: the compact vector form, checked in depth.

A signature is drawn in a box of 0..1000 on both axes (the pad's width and height scaled to
it, so its shape does not depend on the screen that captured it). Each stroke is one pen-down
to pen-up, as a flat list of integers::

    [x0, y0, dx1, dy1, dx2, dy2, ...]

the first point absolute, every later point as the change from the point before. Every
point, once the deltas are added up, must lie inside the box. A signature is a list of such
strokes; an empty list is a typed-name confirmation (the keyboard alternative: the name typed
for the signer is the whole sign-off).

Bounds: at most `MAX_STROKES` strokes, `MAX_STROKE_POINTS` points in one stroke and
`MAX_POINTS` in all, and `MAX_BYTES` as compact JSON (`[[1,2,3,4],[5,6]]`, no spaces). A
typical signature is 5-15 strokes and 300-800 points: 2-5 KB.

`check_strokes` answers None or (reason, field), the field naming the place
(`strokes[2][7]`); the push refuses with the stable code `invalid_strokes`. Pure: no I/O.
"""

from __future__ import annotations

import json
from typing import Any

BOX = 1000
MAX_STROKES = 64
MAX_STROKE_POINTS = 1000
MAX_POINTS = 4000
MAX_BYTES = 32 * 1024


def compact_size(strokes: list[Any]) -> int:
    """The bytes of the strokes as compact JSON."""
    return len(json.dumps(strokes, separators=(",", ":")))


def check_strokes(strokes: Any) -> tuple[str, str] | None:
    """Why these strokes are refused (reason, field), or None when they are valid."""
    if not isinstance(strokes, list):
        return "strokes must be a list of strokes", "strokes"
    if len(strokes) > MAX_STROKES:
        return f"at most {MAX_STROKES} strokes", "strokes"
    total = 0
    for i, stroke in enumerate(strokes):
        where = f"strokes[{i}]"
        if not isinstance(stroke, list) or not stroke:
            return "a stroke is a non-empty list of integers", where
        if len(stroke) % 2:
            return "a stroke holds x,y pairs (an even count of integers)", where
        points = len(stroke) // 2
        if points > MAX_STROKE_POINTS:
            return f"at most {MAX_STROKE_POINTS} points in a stroke", where
        total += points
        if total > MAX_POINTS:
            return f"at most {MAX_POINTS} points in all", where
        x = y = 0
        for j, value in enumerate(stroke):
            if type(value) is not int:
                return "coordinates are integers", f"{where}[{j}]"
            if j % 2 == 0:
                x = value if j == 0 else x + value
                at = x
            else:
                y = value if j == 1 else y + value
                at = y
            if not 0 <= at <= BOX:
                return f"a point lies outside the 0..{BOX} box", f"{where}[{j}]"
    if compact_size(strokes) > MAX_BYTES:
        return f"the strokes are over {MAX_BYTES} bytes as compact JSON", "strokes"
    return None


def to_points(stroke: list[int]) -> list[tuple[int, int]]:
    """A checked stroke's absolute points."""
    out: list[tuple[int, int]] = []
    x = y = 0
    for i in range(0, len(stroke), 2):
        x = stroke[i] if i == 0 else x + stroke[i]
        y = stroke[i + 1] if i == 0 else y + stroke[i + 1]
        out.append((x, y))
    return out
