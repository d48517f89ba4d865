"""The school's cancellation policy, as pure functions: when a cancellation counts as made,
and whether it owes the late fee.

A cancellation made offline is judged by when the person made it, not when it reached the
server: by its HLC stamp, which `sync.core.command` has already clamped (a stamp further
ahead of the server's clock than the skew allowance counts as made now). A clock running
behind cannot be caught that way, so the stamp is also bounded from below by what the
device must have seen before it cancelled: the booking as it stood when it was created or,
when the mutation names the booking's current rev as its base, when that version was
committed. A slow clock can therefore gain a device at most the time between that version
and the cancellation; it can never place a cancellation before the booking it cancels.

Who pays: only a student cancelling their own confirmed lesson inside the cut-off. When
the instructor or the school cancels, the student did not choose it and nobody is charged
(a driving school does not charge itself, and the instructor's pay is the money work's
question, issue 12). A request the instructor never confirmed costs nothing to withdraw.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from sync.core.hlc import Hlc

STAFF_ROLES = frozenset({"owner", "admin", "instructor"})


@dataclass(frozen=True)
class Verdict:
    """A cancellation judged: when it counts as made, whether it is late, the fee owed."""

    made_at: dt.datetime
    late: bool
    fee_cents: int | None


def made_at(hlc: str, not_before: dt.datetime) -> dt.datetime:
    """When a change stamped `hlc` (already clamped for clocks ahead) counts as made: its
    physical time, but never before `not_before` (what the device had to see first)."""
    stamped = dt.datetime.fromtimestamp(Hlc.parse(hlc).ms / 1000, dt.UTC)
    return max(stamped, not_before)


def judge(
    role: str,
    previous_status: str,
    start: dt.datetime,
    made: dt.datetime,
    cutoff_hours: int,
    fee_cents: int,
) -> Verdict:
    """Whether a cancellation made at `made` of a booking starting at `start` is late, and
    the fee owed: only a student's cancellation of a confirmed booking, inside the cut-off,
    with a non-zero fee, owes one."""
    late = made > start - dt.timedelta(hours=cutoff_hours)
    owes = late and role not in STAFF_ROLES and previous_status == "confirmed" and fee_cents > 0
    return Verdict(made, late, fee_cents if owes else None)
