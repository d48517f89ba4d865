"""Keeping each notification in its recipient's inbox (the `inbox_item` synced entity):
the dispatcher calls `keep` once it knows an event's recipients, before any channel sends,
whatever their channel preferences say (the inbox is silent: nothing interrupts, so quiet
hours and opt-outs do not apply). Account mail (invitations, password resets) is not kept:
it is for a person who cannot sign in yet, or is about to change how they do.

An item's id is derived from the event and the user, so an event tried again (a channel
failed, the worker crashed mid-send) keeps no second copy."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import select

from schemas import InboxItem
from sync.store import Store

_NAMESPACE = uuid.UUID("6f1f7a52-2c1e-4f59-9a3e-3f7e0c1d9b21")


@dataclass(frozen=True)
class Item:
    """What one user is told: the push wording (title, one or two lines) and where the app
    opens for it."""

    user_id: str
    title: str
    body: str
    link: str | None


def item_id(event_id: str, user_id: str) -> str:
    """The inbox item of one event for one user (stable across retries)."""
    return str(uuid.uuid5(_NAMESPACE, f"{event_id}:{user_id}"))


async def keep(
    store: Store, tenant_id: str, event_id: str, kind: str, items: Sequence[Item]
) -> int:
    """Write the items not kept yet, in one write transaction; returns how many were new."""
    wanted = {item_id(event_id, i.user_id): i for i in items}
    if not wanted:
        return 0
    async with store.write(tenant_id) as txn:
        have = set(
            await txn.session.scalars(select(InboxItem.id).where(InboxItem.id.in_(sorted(wanted))))
        )
        new = 0
        for rid, i in wanted.items():
            if rid in have:
                continue
            row = InboxItem(
                tenant_id=tenant_id,
                id=rid,
                user_id=i.user_id,
                kind=kind[:64],
                title=i.title[:200],
                body=i.body[:2000],
                link=i.link[:200] if i.link else None,
                read_at=None,
                deleted=False,
                field_hlc={},
                created_at=txn.now,
            )
            txn.stamp("inbox_item", row)
            new += 1
    return new
