"""The money of a payout on its way to the instructor: Stripe transfers and their reversals,
run as outbox jobs (`payout_transfer`, `payout_reversal`) by the dispatcher, so they are
leased, retried with backoff and dead-lettered like any delivery.

A transfer, exactly once: the payout is marked `sending` and committed first; Stripe is
asked with the idempotency key `drivesync-tr-<tenant>-<payout id>`; its transfer id is then
stored with `sent`. A worker that dies between Stripe's answer and that commit leaves the
payout `sending` and the job leased; the retry asks again with the same key and Stripe (the
stand-in too) answers with the transfer it already made, never a second one. Only the net
share is transferred: the platform fee stays in the school's balance.

Due payouts are queued by the scheduler's tick (`due_rows`), by `account.updated` when an
instructor's payouts are enabled, and by a payout written for a lesson already completed
(workers/payments/connect.py).
"""

from __future__ import annotations

import datetime as dt
import logging
from typing import Any

import stripe
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from schemas import Instructor, OutboxEvent, Payout
from sync.core import payouts as rules
from sync.store import Store
from workers.config import WorkerConfig
from workers.notifications.channels import SendError
from workers.payments.connect import (
    REVERSAL_EVENT,
    TRANSFER_EVENT,
    due_payouts_query,
    transfer_key,
)
from workers.payments.provider import stripe_client

log = logging.getLogger("drivesync.transfers")

EVENTS = frozenset({TRANSFER_EVENT, REVERSAL_EVENT})


def _send_error(exc: stripe.StripeError) -> SendError:
    """Stripe unreachable, rate limited or failing: try again; a refusal (a bad account,
    a balance too low is a refusal Stripe may lift later): also again, within the job's
    tries, then a dead letter an admin retries with the same idempotency key."""
    permanent = isinstance(exc, stripe.AuthenticationError | stripe.PermissionError)
    return SendError(f"Stripe: {exc.user_message or type(exc).__name__}", permanent=permanent)


class Transfers:
    """Runs the transfer and reversal jobs of the outbox."""

    def __init__(self, config: WorkerConfig, store: Store) -> None:
        self.config = config
        self.store = store
        self._client: stripe.StripeClient | None = None
        self._http: Any = None

    def _stripe(self) -> stripe.StripeClient:
        if self._client is None:
            self._client, self._http = stripe_client(self.config)
        if self._client is None:
            raise SendError(
                "payments are not configured (DRIVESYNC_STRIPE_SECRET_KEY)", permanent=False
            )
        return self._client

    async def run(self, tenant_id: str, event_type: str, payload: dict[str, Any]) -> str:
        """Do one job; raises SendError (or anything) to have it retried."""
        payout_id = str(payload.get("payout_id") or "")
        if event_type == TRANSFER_EVENT:
            return await self.transfer(tenant_id, payout_id)
        return await self.reverse(tenant_id, payout_id, int(payload.get("cents") or 0))

    async def transfer(self, tenant_id: str, payout_id: str) -> str:
        """Send one payout's net share to its instructor's account (see the docstring)."""
        async with self.store.write(tenant_id) as txn:
            payout = await txn.session.scalar(select(Payout).where(Payout.id == payout_id))
            if payout is None or payout.status != "pending" or payout.net_cents <= 0:
                return "nothing to send"
            if (
                payout.transfer_ref is not None
                or rules.TRANSFER_RANK[payout.transfer_status] > rules.TRANSFER_RANK["sending"]
            ):
                return "already sent"
            inst = await txn.session.scalar(
                select(Instructor).where(Instructor.id == payout.instructor_id)
            )
            if inst is None or not inst.payouts_enabled or not inst.stripe_account_id:
                # Queued again when their account is enabled (connect.queue_due).
                return "instructor cannot be paid yet"
            if payout.transfer_status is None:
                payout.transfer_status = "sending"  # the row first, then the money
                txn.stamp("payout", payout)
            params: dict[str, Any] = {
                "amount": payout.net_cents,
                "currency": payout.currency.lower(),
                "destination": inst.stripe_account_id,
                "transfer_group": payout.booking_id,
                "metadata": {"payout_id": payout.id, "tenant_id": tenant_id},
            }
        try:
            made = await self._stripe().v1.transfers.create_async(
                params,  # type: ignore[arg-type]
                options={"idempotency_key": f"drivesync-tr-{tenant_id}-{payout_id}"},
            )
        except stripe.StripeError as exc:
            raise _send_error(exc) from exc
        await self.store_transfer(tenant_id, payout_id, made.id)
        return "sent"

    async def store_transfer(self, tenant_id: str, payout_id: str, transfer_id: str) -> None:
        """Stripe's transfer id and `sent` (unless a webhook moved the payout further)."""
        async with self.store.write(tenant_id) as txn:
            payout = await txn.session.scalar(select(Payout).where(Payout.id == payout_id))
            if payout is None:
                return
            changed = payout.transfer_ref != transfer_id
            payout.transfer_ref = transfer_id
            if rules.moves_forward(payout.transfer_status, "sent"):
                payout.transfer_status, changed = "sent", True
            if changed:
                txn.stamp("payout", payout)

    async def reverse(self, tenant_id: str, payout_id: str, cents: int) -> str:
        """Take back from the instructor up to `cents` in all (their share of the refunds so
        far); idempotent per total, so a retried or repeated job reverses once."""
        async with self.store.write(tenant_id) as txn:
            payout = await txn.session.scalar(select(Payout).where(Payout.id == payout_id))
            if payout is None:
                return "nothing to take back"
            wanted = min(cents, payout.net_cents) - payout.reversed_cents
            if wanted <= 0:
                return "already taken back"
            if payout.transfer_ref is None:
                if payout.transfer_status is None:
                    return "never sent"
                raise SendError("the transfer is still being sent", permanent=False)
            ref = payout.transfer_ref
        try:
            await self._stripe().v1.transfers.reversals.create_async(
                ref,
                {"amount": wanted, "metadata": {"payout_id": payout_id, "tenant_id": tenant_id}},
                options={"idempotency_key": f"drivesync-trr-{tenant_id}-{payout_id}-{cents}"},
            )
        except stripe.StripeError as exc:
            raise _send_error(exc) from exc
        async with self.store.write(tenant_id) as txn:
            payout = await txn.session.scalar(select(Payout).where(Payout.id == payout_id))
            if payout is not None and payout.reversed_cents < min(cents, payout.net_cents):
                payout.reversed_cents = min(cents, payout.net_cents)
                if payout.reversed_cents >= payout.net_cents and rules.moves_forward(
                    payout.transfer_status, "reversed"
                ):
                    payout.transfer_status = "reversed"
                txn.stamp("payout", payout)
        return "reversed"

    async def close(self) -> None:
        if self._http is not None:
            await self._http.close_async()


async def due_rows(session: AsyncSession, now: dt.datetime) -> list[dict[str, Any]]:
    """The scheduler's sweep: outbox values of a transfer job per due payout of every school
    (a lesson completed since, say). Inserted only if new (by dedupe key); a job that ran
    while the instructor could not be paid is put back in the queue here."""
    due = (await session.execute(due_payouts_query())).all()
    if not due:
        return []
    keys = {transfer_key(p): (t, p) for t, p in due}
    await session.execute(
        update(OutboxEvent)
        .where(OutboxEvent.dedupe_key.in_(list(keys)), OutboxEvent.status == "done")
        .values(status="pending", attempts=0, available_at=now, done_at=None)
        .execution_options(synchronize_session=False)
    )
    return [
        {
            "tenant_id": tenant_id,
            "event_type": TRANSFER_EVENT,
            "payload": {"payout_id": payout_id},
            "dedupe_key": key,
            "available_at": now,
        }
        for key, (tenant_id, payout_id) in keys.items()
    ]
