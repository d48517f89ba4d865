"""Three-way merge of lesson-note text.

An instructor's phone and an admin's desktop can both edit the same note
offline, starting from the same base.  When both edits reach the server we
try to merge them instead of letting last-writer-wins throw one away.

Notes are usually a single paragraph, so a line-based merge (like ``diff3``)
would call almost every concurrent edit a conflict.  We therefore merge at
token granularity: words, whitespace runs and single punctuation marks.  Two
people editing different words of the same sentence merge cleanly; editing
the same words differently, or edits that touch each other, is a conflict
and the caller falls back to its conflict policy.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from difflib import SequenceMatcher

__all__ = ["MergeResult", "merge3", "tokenize"]

# Alternatives cover every character (word chars, whitespace, everything
# else), so joining the tokens always reproduces the input exactly.
_TOKEN_RE = re.compile(r"\w+|\s+|[^\w\s]")


@dataclass(frozen=True)
class MergeResult:
    """Outcome of :func:`merge3`: merged text, or ``None`` with a conflict."""

    text: str | None
    conflict: bool


# One side's change against base: replace base tokens [start, end) with
# ``new``.  An insertion has start == end; a deletion has an empty ``new``.
@dataclass(frozen=True)
class _Change:
    start: int
    end: int
    new: tuple[str, ...]
    side: int  # 0 = ours, 1 = theirs


def tokenize(text: str) -> list[str]:
    """Split ``text`` into word, whitespace-run and punctuation tokens.

    ``"".join(tokenize(s)) == s`` always holds.
    """
    return _TOKEN_RE.findall(text)


def _changes(base: Sequence[str], side: Sequence[str], tag: int) -> list[_Change]:
    # autojunk=False: the heuristic would treat frequent tokens such as " "
    # as junk in texts over 200 tokens and produce much worse alignments.
    matcher = SequenceMatcher(None, base, side, autojunk=False)
    return [
        _Change(i1, i2, tuple(side[j1:j2]), tag)
        for op, i1, i2, j1, j2 in matcher.get_opcodes()
        if op != "equal"
    ]


def _apply(base: Sequence[str], lo: int, hi: int, changes: Sequence[_Change]) -> list[str]:
    """Return one side's version of ``base[lo:hi]`` given its changes there."""
    out: list[str] = []
    pos = lo
    for change in changes:  # already sorted, non-overlapping within a side
        out.extend(base[pos : change.start])
        out.extend(change.new)
        pos = change.end
    out.extend(base[pos:hi])
    return out


def _merge_tokens(
    base: Sequence[str], ours: Sequence[str], theirs: Sequence[str]
) -> list[str] | None:
    """Token-level three-way merge; ``None`` means conflict."""
    changes = _changes(base, ours, 0) + _changes(base, theirs, 1)
    changes.sort(key=lambda c: (c.start, c.end, c.side))

    # Group changes into clusters whose base spans overlap *or touch*.
    # Touching counts on purpose: "replace A" next to "replace B" from the
    # other side, or two insertions at one position, have no safe order, so
    # when the two sides disagree there we report a conflict rather than
    # guess.  Changes from a single side never overlap each other.
    clusters: list[list[_Change]] = []
    cluster_end = -1
    for change in changes:
        if clusters and change.start <= cluster_end:
            clusters[-1].append(change)
            cluster_end = max(cluster_end, change.end)
        else:
            clusters.append([change])
            cluster_end = change.end

    out: list[str] = []
    pos = 0
    for cluster in clusters:
        lo = cluster[0].start
        hi = max(c.end for c in cluster)
        out.extend(base[pos:lo])
        mine = [c for c in cluster if c.side == 0]
        other = [c for c in cluster if c.side == 1]
        ours_text = _apply(base, lo, hi, mine)
        theirs_text = _apply(base, lo, hi, other)
        if not mine:
            out.extend(theirs_text)
        elif not other or ours_text == theirs_text:
            # One-sided change, or both sides made the same change: take it
            # once.
            out.extend(ours_text)
        else:
            return None
        pos = hi
    out.extend(base[pos:])
    return out


def merge3(base: str, ours: str, theirs: str) -> MergeResult:
    """Merge two concurrent edits ``ours`` and ``theirs`` of ``base``.

    Regions changed on one side take that side; regions changed identically
    on both sides are taken once; overlapping or adjacent differing changes
    (including different insertions at the same spot) are a conflict, and
    then ``text`` is ``None``.
    """
    # Fast paths: exact answers for the common cases, and they avoid a diff.
    if ours == theirs or theirs == base:
        return MergeResult(ours, False)
    if ours == base:
        return MergeResult(theirs, False)
    merged = _merge_tokens(tokenize(base), tokenize(ours), tokenize(theirs))
    if merged is None:
        return MergeResult(None, True)
    return MergeResult("".join(merged), False)
