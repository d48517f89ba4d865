"""Driving tests (`test_record`): last-writer-wins records written by staff (an instructor
only for the students assigned to them: the LWW rule's scope check), checked as a whole
after the fields merge, so two offline edits cannot combine into a record that makes no
sense. A refused write is rolled back with its batch's savepoint (sync.push).

| code | refused when |
|---|---|
| `test_score_kind` | a `score` on a practical test or `faults` on a theory test |
| `test_not_taken` | a score or faults on a test still `booked` |
| `test_in_future` | a result (`passed`/`failed`) for a test dated after today (school's day) |
"""

from __future__ import annotations

import datetime as dt
from typing import Any
from zoneinfo import ZoneInfo

from sync.core.command import Command, Outcome, Reject
from sync.rules.batch import Context
from sync.rules.lww import apply_lww


def check_test(row: Any, today: dt.date) -> None:
    """Refuse a test record whose fields do not fit together (codes in the docstring)."""
    if row.kind == "practical" and row.score is not None:
        raise Reject("test_score_kind", "a practical test has faults, not a score", "score")
    if row.kind == "theory" and row.faults is not None:
        raise Reject("test_score_kind", "a theory test has a score, not faults", "faults")
    if row.result == "booked" and (row.score is not None or row.faults is not None):
        field = "score" if row.score is not None else "faults"
        raise Reject("test_not_taken", "a booked test has no result yet", field)
    if row.result != "booked" and row.date > today:
        raise Reject("test_in_future", "a test cannot have a result before its date", "result")


async def apply_test_record(ctx: Context, m: Command) -> Outcome:
    outcome = await apply_lww(ctx, m)
    row = outcome.row
    if m.op != "delete" and row is not None and not row.deleted:
        today = ctx.txn.now.astimezone(ZoneInfo(ctx.tenant.timezone)).date()
        check_test(row, today)
    return outcome
