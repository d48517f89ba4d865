"""Stripe Connect for instructors: onboarding to an Express account, the payout of each paid
lesson, and the Connect webhooks (`account.updated`, `transfer.*`, `payout.*`).

Onboarding writes nothing before Stripe answers, but needs nothing written: the account is
created with an idempotency key made of the instructor's id, so a double tap, a retry or a
crash before we stored its id gets the same account back, which is then stored on the
instructor before the onboarding link is returned.

A payout is written once per booking (sync.money.payouts; card: on the payment's first
success; credit: when the lesson is completed). Money moves only once the lesson is
completed and the instructor's account can be paid: then a `payout_transfer` outbox job is
queued
(workers/payments/transfers.py sends it). Webhooks move a payout's `transfer_status` forward
only (sync.core.payouts), whatever their order.
"""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

import stripe
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from schemas import Booking, Instructor, OutboxEvent, Payment, Payout, Tenant, WebhookEvent, utcnow
from sync.core import payouts as rules
from sync.core.principal import Principal
from sync.database import insert_for
from sync.errors import Forbidden, NotFound
from sync.money import payouts
from sync.store import Store, WriteTxn
from workers.config import WorkerConfig
from workers.outbox import new_event
from workers.payments.provider import PaymentsUnavailable, ProviderError, stripe_client

TRANSFER_EVENT = "payout_transfer"
REVERSAL_EVENT = "payout_reversal"
# Where Stripe's onboarding sends the instructor back to (the PWA's Earnings screen).
EARNINGS_ROUTE = "#/earnings"


# --- onboarding ---------------------------------------------------------------------------
class Onboarding:
    """Creates an instructor's Express account (once) and its onboarding links."""

    def __init__(self, config: WorkerConfig, store: Store) -> None:
        self.config = config
        self.store = store
        self.client, self._http = stripe_client(config)

    async def link(self, who: Principal) -> dict[str, Any]:
        """A Stripe-hosted onboarding link for the signed-in instructor: {url, account_id}."""
        if who.role != "instructor" or not who.instructor_id:
            raise Forbidden("only instructors set up payouts")
        if self.client is None:
            raise PaymentsUnavailable("payments are not configured (DRIVESYNC_STRIPE_SECRET_KEY)")
        async with self.store.write(who.tenant_id) as txn:
            inst = await txn.session.scalar(
                select(Instructor).where(Instructor.id == who.instructor_id)
            )
            if inst is None or inst.deleted:
                raise NotFound("no such instructor")
            locale = await txn.session.scalar(
                select(Tenant.locale).where(Tenant.id == who.tenant_id)
            )
            account_id, email = inst.stripe_account_id, inst.email
        try:
            if account_id is None:
                params: dict[str, Any] = {
                    "type": "express",
                    "country": rules.country_of(locale),
                    "capabilities": {"transfers": {"requested": True}},
                    "metadata": {"tenant_id": who.tenant_id, "instructor_id": who.instructor_id},
                }
                if email:
                    params["email"] = email
                account = await self.client.v1.accounts.create_async(
                    params,  # type: ignore[arg-type]
                    options={
                        "idempotency_key": f"drivesync-acct-{who.tenant_id}-{who.instructor_id}"
                    },
                )
                account_id = await self._keep(who, account.id)
            back = f"{self.config.public_url.rstrip('/')}/{EARNINGS_ROUTE}"
            link = await self.client.v1.account_links.create_async(
                {
                    "account": account_id,
                    "type": "account_onboarding",
                    "refresh_url": f"{back}/refresh",
                    "return_url": f"{back}/done",
                }
            )
        except stripe.StripeError as exc:
            raise ProviderError(f"Stripe: {exc.user_message or type(exc).__name__}") from exc
        return {"url": link.url, "account_id": account_id}

    async def _keep(self, who: Principal, account_id: str) -> str:
        """Store the new account on the instructor (the first one stored wins: a second
        request made the same account anyway, by the idempotency key)."""
        async with self.store.write(who.tenant_id) as txn:
            inst = await txn.session.scalar(
                select(Instructor).where(Instructor.id == who.instructor_id)
            )
            if inst is None:
                raise NotFound("no such instructor")
            if inst.stripe_account_id is None:
                inst.stripe_account_id = account_id
                if inst.connect_status == "none":
                    inst.connect_status = "pending"
                txn.stamp("instructor", inst)
            return inst.stripe_account_id

    async def close(self) -> None:
        if self._http is not None:
            await self._http.close_async()  # type: ignore[no-untyped-call]


# --- payouts ------------------------------------------------------------------------------
async def write_payout(
    txn: WriteTxn, booking: Booking, gross_cents: int, currency: str, payment_id: str | None
) -> Payout | None:
    """The instructor's share of one lesson, once per booking (sync.money.payouts), queued
    for transfer at once if it is already due."""
    payout = await payouts.write_payout(txn, booking, gross_cents, currency, payment_id)
    if payout is not None:
        await queue_due(txn, instructor_id=booking.instructor_id)
    return payout


async def payout_for_payment(txn: WriteTxn, payment: Payment, booking: Booking) -> None:
    """A card payment's first success: its instructor's payout."""
    await write_payout(txn, booking, payment.amount_cents, payment.currency, payment.id)


def due_payouts_query(instructor_id: str | None = None) -> Any:
    """Payouts whose money should move now: not sent, not cancelled, their booking
    completed (a completed lesson completes its booking: sync.rules.lww), and their
    instructor paid out by Stripe."""
    q = (
        select(Payout.tenant_id, Payout.id)
        .join(
            Booking,
            (Booking.tenant_id == Payout.tenant_id) & (Booking.id == Payout.booking_id),
        )
        .join(
            Instructor,
            (Instructor.tenant_id == Payout.tenant_id) & (Instructor.id == Payout.instructor_id),
        )
        .where(
            Payout.status == "pending",
            Payout.transfer_status.is_(None),
            Payout.deleted.is_(False),
            Payout.net_cents > 0,
            Booking.status == "completed",
            Instructor.payouts_enabled.is_(True),
            Instructor.stripe_account_id.is_not(None),
        )
    )
    if instructor_id is not None:
        q = q.where(Payout.instructor_id == instructor_id)
    return q


def transfer_key(payout_id: str) -> str:
    return f"{TRANSFER_EVENT}:{payout_id}"


async def queue_due(txn: WriteTxn, instructor_id: str | None = None) -> int:
    """Queue a transfer job for each due payout (of one instructor) in this transaction."""
    rows = (await txn.session.execute(due_payouts_query(instructor_id))).all()
    return await queue_transfers(txn.session, [(t, p) for t, p in rows])


async def queue_transfers(session: AsyncSession, due: list[tuple[str, str]]) -> int:
    """A `payout_transfer` job per (tenant, payout), unless one is queued or running (by
    its dedupe key: a scheduler tick may queue the same at the same moment); one that
    finished without sending (the instructor could not be paid then) is queued again."""
    insert = insert_for(session)
    now = utcnow()
    made = 0
    for tenant_id, payout_id in due:
        key = transfer_key(payout_id)
        stmt = insert(OutboxEvent).values(
            tenant_id=tenant_id,
            id=str(uuid.uuid4()),
            event_type=TRANSFER_EVENT,
            payload={"payout_id": payout_id},
            status="pending",
            attempts=0,
            available_at=now,
            created_at=now,
            dedupe_key=key,
        )
        result = await session.execute(
            stmt.on_conflict_do_nothing(index_elements=["tenant_id", "dedupe_key"])
        )
        if getattr(result, "rowcount", 0) == 1:
            made += 1
            continue
        again = await session.execute(
            update(OutboxEvent)
            .where(
                OutboxEvent.tenant_id == tenant_id,
                OutboxEvent.dedupe_key == key,
                OutboxEvent.status == "done",
            )
            .values(status="pending", attempts=0, available_at=now, done_at=None)
            .execution_options(synchronize_session=False)
        )
        made += getattr(again, "rowcount", 0)
    return made


async def on_refund(txn: WriteTxn, payment: Payment, target: str, refunded_cents: int) -> None:
    """A payment was (partly) refunded: before any money moved, a full refund cancels the
    payout; after, the instructor's share of the refund is taken back by a transfer
    reversal (a `payout_reversal` job, once per refunded total)."""
    s = txn.session
    payout = await s.scalar(select(Payout).where(Payout.payment_id == payment.id))
    if payout is None or payout.status == "cancelled":
        return
    if payout.transfer_status is None:
        if target == "refunded":
            payout.status = "cancelled"  # not paid out yet: nothing to claw back
            txn.stamp("payout", payout)
        return
    share = rules.refund_share(payout.net_cents, payout.gross_cents, refunded_cents)
    if share <= payout.reversed_cents:
        return
    key = f"{REVERSAL_EVENT}:{payout.id}:{share}"
    exists = await s.scalar(select(OutboxEvent.id).where(OutboxEvent.dedupe_key == key))
    if exists is None:
        payload = {"payout_id": payout.id, "cents": share}
        s.add(new_event(txn.tenant_id, REVERSAL_EVENT, payload, key))


# --- webhooks -----------------------------------------------------------------------------


def handles(kind: str) -> bool:
    return kind == "account.updated" or kind.startswith(("transfer.", "payout."))


async def apply(txn: WriteTxn, event: dict[str, Any]) -> str:
    """Apply one Connect event (see the module docstring); returns a word for the log."""
    kind = str(event["type"])
    obj: dict[str, Any] = (event.get("data") or {}).get("object") or {}
    if kind == "account.updated":
        if await _stale_account_event(txn, event):
            return "ignored: an older account state"
        return await _account_updated(txn, obj)
    if kind.startswith("transfer."):
        return await _transfer(txn, kind, obj)
    if kind in ("payout.paid", "payout.failed"):
        return await _bank_payout(txn, kind, str(event.get("account") or ""), obj)
    return "ignored: event type not used"


async def _stale_account_event(txn: WriteTxn, event: dict[str, Any]) -> bool:
    """Whether an `account.updated` already applied is newer than this one (Stripe does not
    keep order): the account's state is the latest one's, never an older one's."""
    account = ((event.get("data") or {}).get("object") or {}).get("id")
    created = int(event.get("created") or 0)
    seen = await txn.session.scalars(
        select(WebhookEvent.payload).where(
            WebhookEvent.provider == "stripe",
            WebhookEvent.type == "account.updated",
            WebhookEvent.processed_at.is_not(None),
            WebhookEvent.event_id != str(event.get("id")),
        )
    )
    return any(
        ((p.get("data") or {}).get("object") or {}).get("id") == account
        and int(p.get("created") or 0) > created
        for p in seen
    )


async def _account_updated(txn: WriteTxn, account: dict[str, Any]) -> str:
    s = txn.session
    inst = await s.scalar(
        select(Instructor).where(Instructor.stripe_account_id == str(account.get("id")))
    )
    meta = account.get("metadata") or {}
    if inst is None and meta.get("instructor_id"):
        # The webhook outran the request that stores the new account's id.
        inst = await s.scalar(
            select(Instructor).where(
                Instructor.id == str(meta["instructor_id"]),
                Instructor.stripe_account_id.is_(None),
            )
        )
    if inst is None:
        return "ignored: unknown account"
    enabled, status = rules.connect_status(account)
    if (inst.stripe_account_id, inst.payouts_enabled, inst.connect_status) != (
        account.get("id"),
        enabled,
        status,
    ):
        inst.stripe_account_id = str(account.get("id"))
        inst.payouts_enabled, inst.connect_status = enabled, status
        txn.stamp("instructor", inst)
    if enabled:
        await s.flush()
        await queue_due(txn, instructor_id=inst.id)
    return f"account {status}"


async def _transfer(txn: WriteTxn, kind: str, obj: dict[str, Any]) -> str:
    s = txn.session
    payout = await s.scalar(select(Payout).where(Payout.transfer_ref == str(obj.get("id"))))
    meta = obj.get("metadata") or {}
    if payout is None and meta.get("payout_id"):
        payout = await s.scalar(select(Payout).where(Payout.id == str(meta["payout_id"])))
    if payout is None:
        return "ignored: unknown transfer"
    changed = False
    if payout.transfer_ref is None:  # the webhook outran the job storing Stripe's answer
        payout.transfer_ref, changed = str(obj.get("id")), True
    taken = int(obj.get("amount_reversed") or 0)
    if taken > payout.reversed_cents:
        payout.reversed_cents, changed = min(taken, payout.net_cents), True
    whole = bool(obj.get("reversed")) or (taken >= int(obj.get("amount") or 0) > 0)
    target = "reversed" if whole else "sent"
    if rules.moves_forward(payout.transfer_status, target):
        payout.transfer_status, changed = target, True
    if changed:
        txn.stamp("payout", payout)
    return f"transfer {payout.transfer_status}"


async def _bank_payout(txn: WriteTxn, kind: str, account: str, obj: dict[str, Any]) -> str:
    """A connected account's payout to the bank: the instructor's sent payouts are in it
    (kept simple: Stripe pays out an Express account's whole balance on its schedule)."""
    s = txn.session
    inst = await s.scalar(select(Instructor).where(Instructor.stripe_account_id == account))
    if inst is None or not account:
        return "ignored: unknown account"
    waiting: tuple[str, ...]
    when: dt.datetime | None
    if kind == "payout.paid":
        target, waiting = "paid_out", ("sent", "payout_failed")
        arrival = obj.get("arrival_date")
        when = dt.datetime.fromtimestamp(int(arrival), dt.UTC) if arrival else txn.now
    else:
        target, waiting, when = "payout_failed", ("sent",), None
    rows = await s.scalars(
        select(Payout).where(Payout.instructor_id == inst.id, Payout.transfer_status.in_(waiting))
    )
    moved = 0
    for payout in rows.all():
        payout.transfer_status = target
        if when is not None:
            payout.paid_out_at = when
        txn.stamp("payout", payout)
        moved += 1
    return f"{target}: {moved} payouts"
