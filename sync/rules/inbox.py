"""The notification centre's rule (Policy.INBOX): inbox items are written by the server
(workers.notifications.inbox) when a notification is first handled; a client only marks
its own items read.

- `put` and `delete` are refused (`server_only`): the server decides what was sent;
- a `patch` may carry `read_at` alone, and only the owner's (`forbidden` otherwise, even for
  an admin: an inbox is not the school's);
- a read item stays read: the first time it was read on any device is kept, so a later
  `read_at` from another device, or a null, changes nothing (the answer is `merged` and
  carries the kept value) — two devices marking one item read offline agree at once.
"""

from __future__ import annotations

from typing import Any

from sync.core.command import Command, Outcome, Reject
from sync.rules.batch import Context, load_row


async def apply_inbox(ctx: Context, m: Command) -> Outcome:
    """Mark one of the writer's own inbox items read."""
    if m.op != "patch":
        raise Reject("server_only", "inbox items are written by the server; mark them read")
    row: Any = await load_row(ctx, m.spec.name, m.id)
    if row is None or row.deleted or row.user_id != ctx.who.user_id:
        # Someone else's item is answered like a missing one: its existence is theirs too.
        raise Reject("not_found", "no inbox item of yours with this id", "id")
    wanted = m.data.get("read_at")
    if wanted is not None and wanted > ctx.txn.now:
        wanted = ctx.txn.now  # a device clock ahead of ours cannot read in the future
    if wanted is None or (row.read_at is not None and row.read_at <= wanted):
        if "read_at" not in m.data:
            return Outcome("applied", row.rev, row, include_record=False)
        return Outcome("merged", row.rev, row, lost={"read_at": wanted})
    row.read_at = wanted
    rev = ctx.stamp(m.spec.name, row)
    return Outcome("applied", rev, row)
