"""Conflict policies as pure functions: field-level last-writer-wins, delete vs update, the
lesson and booking state machines, and the lesson-note body merge. No I/O here; sync.rules.lww
loads rows, calls these, and writes what they decide."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from sync.core.textmerge import merge3

LESSON_MOVES: dict[str, frozenset[str]] = {
    "scheduled": frozenset({"in_progress", "no_show", "cancelled"}),
    "in_progress": frozenset({"completed", "no_show", "cancelled"}),
    "completed": frozenset(),
    "no_show": frozenset(),
    "cancelled": frozenset(),
}

# Booking status moves, by who may make them. Admins may make any listed move.
BOOKING_MOVES: dict[str, dict[str, frozenset[str]]] = {
    "student": {
        "requested": frozenset({"cancelled"}),
        "confirmed": frozenset({"cancelled"}),
    },
    "instructor": {
        "requested": frozenset({"confirmed", "declined", "cancelled"}),
        "confirmed": frozenset({"cancelled", "completed"}),
    },
    "admin": {
        "requested": frozenset({"confirmed", "declined", "cancelled"}),
        "confirmed": frozenset({"cancelled", "completed"}),
        "declined": frozenset({"requested"}),
        "cancelled": frozenset({"requested"}),
    },
}
LIVE_BOOKING = frozenset({"requested", "confirmed"})


@dataclass
class FieldMerge:
    """Outcome of last-writer-wins over the fields of one mutation."""

    apply: dict[str, Any] = field(default_factory=dict)
    lost: dict[str, Any] = field(default_factory=dict)
    clocks: dict[str, str] = field(default_factory=dict)


def lww(data: Mapping[str, Any], hlc: str, clocks: Mapping[str, str]) -> FieldMerge:
    """Each field of `data` is applied when `hlc` is newer than the stamp of the write that
    last set it; otherwise it loses (and is journaled). Stamps are total-ordered strings
    whose tail is the writer's node id, so ties between devices break deterministically."""
    out = FieldMerge(clocks=dict(clocks))
    for name, value in data.items():
        current = clocks.get(name)
        if current is None or hlc > current:
            out.apply[name] = value
            out.clocks[name] = hlc
        else:
            out.lost[name] = value
    return out


def latest_clock(clocks: Mapping[str, str]) -> str | None:
    """The newest stamp among a record's fields (when it was last edited)."""
    return max(clocks.values()) if clocks else None


def edit_beats_delete(edit_hlc: str, deleted_hlc: str | None) -> bool:
    """An edit resurrects a tombstone only if it was made after the delete."""
    return deleted_hlc is None or edit_hlc > deleted_hlc


def delete_beats_edits(delete_hlc: str, clocks: Mapping[str, str]) -> bool:
    """A delete wins unless the record was edited after it (by hlc)."""
    newest = latest_clock(clocks)
    return newest is None or delete_hlc > newest


def lesson_move_ok(current: str, target: str) -> bool:
    """Lessons move scheduled → in_progress → completed / no_show, or → cancelled."""
    return current == target or target in LESSON_MOVES.get(current, frozenset())


def booking_move_ok(role: str, current: str, target: str) -> bool:
    """Whether `role` may move a booking from `current` to `target`."""
    if current == target:
        return True
    table = (
        BOOKING_MOVES["admin" if role in ("owner", "admin") else role]
        if role in ("owner", "admin", "student", "instructor")
        else {}
    )
    return target in table.get(current, frozenset())


@dataclass(frozen=True)
class NoteOutcome:
    """What happens to a note's body: `body` is the text to store (None: keep current);
    `merged` when both sides' edits were combined; `conflict` when they overlap."""

    body: str | None
    merged: bool = False
    conflict: bool = False


def merge_note_body(base: str | None, current: str, incoming: str) -> NoteOutcome:
    """Three-way merge of an offline edit (`incoming`, started from `base`) into the body
    committed since (`current`). Without a base (unknown or compacted history) the incoming
    text replaces the current one only if nobody else changed it."""
    if incoming == current:
        return NoteOutcome(None)
    if base is None:
        return NoteOutcome(None, conflict=True)
    if current == base:
        return NoteOutcome(incoming)
    result = merge3(base, current, incoming)
    if result.conflict or result.text is None:
        return NoteOutcome(None, conflict=True)
    return NoteOutcome(result.text, merged=result.text != incoming)
