"""The outbox dispatcher: claims due events, expands each into deliveries (recipient x
channel), sends them and settles the event.

Per event:
1. read its facts, recipients, their preferences and push subscriptions, and the school's
   templates (one short read, no transaction held while sending);
2. for each delivery (idempotency key f"{event_id}:{recipient}:{channel}") already logged
   `sent` or `skipped`: nothing; opted out or no address: log `skipped`; inside the
   recipient's quiet hours (interruptive channels): log `deferred`; else render and send,
   and log the attempt at once;
3. settle: all settled → done; a permanent failure → dead letter (the rest still went);
   transient failures → retry with exponential backoff and full jitter (at least the
   provider's Retry-After), dead after `max_attempts`; deferrals only → back in the queue at
   the end of the quiet hours, without using up a try.

Events run concurrently in an aiojobs scheduler (bounded); the loop claims more as jobs
finish, wakes on `wake()` (the in-process server calls it after each commit) or every
`poll_s`, and runs the reminder/digest scheduler every `scheduler_interval_s`.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any
from zoneinfo import ZoneInfo

import aiojobs
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from schemas import PushSubscription, Tenant, utcnow
from sync.database import read_options
from sync.money.office import expire_all
from sync.store import Store
from sync.tenancy import bind_tenant
from workers import outbox
from workers.config import WorkerConfig
from workers.notifications import accounts as account_mail
from workers.notifications import delivery_log, inbox, preferences, scheduler
from workers.notifications.channels import Channel, Message, PushTarget, SendError, SendResult
from workers.notifications.delivery_log import Attempt
from workers.notifications.events import expand
from workers.notifications.recipients import Facts, Recipient
from workers.notifications.templates import Renderer, load_overrides
from workers.payments import transfers

log = logging.getLogger("drivesync.dispatcher")

# The PWA's Settings → Notifications (clients/pwa/js/ui/settings.js, SETTINGS_ROUTE).
SETTINGS_ROUTE = "#/settings/notifications"

# A provider's Retry-After is honoured up to a day (beyond that it is a misconfiguration).
MAX_RETRY_AFTER_S = 86_400.0


@dataclass
class Delivery:
    """One (recipient, channel) of an event."""

    recipient: Recipient
    channel: str
    key: str


@dataclass
class Tally:
    """How an event's deliveries went this time."""

    transient: list[SendError] = field(default_factory=list)
    permanent: list[str] = field(default_factory=list)
    deferred_until: list[dt.datetime] = field(default_factory=list)
    lines: list[Attempt] = field(default_factory=list)  # the log lines of this try
    gone: list[str] = field(default_factory=list)  # push subscriptions to delete


# Events never kept in the recipients' inboxes: account mail (a one-time link), an admin's
# test of a template, and new messages, which have their own unread counts and place (the
# Messages tab).
NOT_INBOXED = frozenset({*preferences.EMAIL_ONLY, "message_received", "message_unread"})


class Dispatcher:
    """Delivers outbox events; see the module docstring."""

    def __init__(
        self,
        config: WorkerConfig,
        sessions: async_sessionmaker[AsyncSession],
        dialect: str,
        worker_id: str,
        channels: dict[str, Channel],
        clock: Callable[[], dt.datetime] = utcnow,
        store: Store | None = None,
    ) -> None:
        self.config = config
        self.sessions = sessions
        self.dialect = dialect
        # Inbox items are synced records: written through a Store (the server's own when
        # the dispatcher runs in it, so its live connections hear of them at once).
        self.store = store or Store(sessions, dialect)
        self.worker_id = worker_id
        self.channels = channels
        self.clock = clock
        self.renderer = Renderer()
        # Stripe Connect transfers of instructors' payouts are outbox jobs too.
        self.transfers = transfers.Transfers(config, self.store)
        # Where the emails' footer sends people to change their settings (the PWA's screen).
        self._settings_url = f"{config.public_url.rstrip('/')}/{SETTINGS_ROUTE}"
        self._wake = asyncio.Event()
        self._stop = asyncio.Event()
        self._next_tick = 0.0

    def wake(self) -> None:
        """Look for work now (something was just committed)."""
        self._wake.set()

    def stop(self) -> None:
        self._stop.set()
        self._wake.set()

    async def run(self, *, once: bool = False) -> int:
        """Deliver until stopped (or, with `once`, until nothing is due); returns how many
        events were processed."""
        done = 0
        async with aiojobs.Scheduler(
            limit=self.config.concurrency, pending_limit=10_000, close_timeout=self.config.lease_s
        ) as jobs:
            while not self._stop.is_set():
                await self._maybe_schedule()
                # Read before claiming: a job that ends during the claim may have put its
                # row back as due, and must not make a --once run stop early.
                busy = len(jobs)
                room = self.config.batch_size - busy
                self._wake.clear()  # a wake() from here on is not lost
                claimed: list[outbox.Claimed] = []
                if room > 0:
                    try:
                        claimed = await outbox.claim(
                            self.sessions, self.dialect, self.worker_id, room, self.config.lease_s
                        )
                    except Exception:
                        log.exception("claiming outbox rows failed; will retry")
                for c in claimed:
                    await jobs.spawn(self.process(c))
                done += len(claimed)
                if once and not claimed:
                    if not busy:
                        break  # nothing due and nothing running: drained
                    await asyncio.sleep(0.01)
                    continue
                if room <= 0 or (claimed and len(claimed) == room):
                    await asyncio.sleep(0.01)  # busy: come back as soon as a job frees room
                    continue
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), self.config.poll_s)
            await jobs.wait_and_close(timeout=self.config.lease_s)
        return done

    async def _maybe_schedule(self) -> None:
        now = time.monotonic()
        if now < self._next_tick or self.config.scheduler_interval_s <= 0:
            return  # not yet, or scheduled notifications are switched off
        self._next_tick = now + self.config.scheduler_interval_s
        try:
            await scheduler.tick(self.sessions, self.config, self.clock())
        except Exception:
            log.exception("scheduling reminders failed; will retry")
        try:  # unused credit on expired packages (sync.money.office)
            await expire_all(self.store, self.clock())
        except Exception:
            log.exception("expiring credit failed; will retry")

    async def process(self, c: outbox.Claimed) -> str:
        """Deliver one claimed event and settle it; returns the outcome (done, retry,
        deferred, dead or lost)."""
        tally = Tally()
        try:
            await self._deliver(c, tally)
        except Exception as exc:  # a bug or a database error: retry like a transient failure
            log.exception("event %s (%s) failed", c.id, c.event_type)
            tally.transient.append(SendError(f"{type(exc).__name__}: {exc}", permanent=False))
        outcome, values = self._outcome(c, tally)
        ok = await self._commit(c, tally, values)
        return outcome if ok else "lost"

    async def _commit(self, c: outbox.Claimed, tally: Tally, values: dict[str, Any]) -> bool:
        """The log lines of this try and the event's new state, in one transaction: a crash
        before it leaves the lease to expire and the sends of this try to go once more."""
        return await outbox.finish(
            self.sessions, c, self.worker_id, tally.lines, tally.gone, **values
        )

    def _outcome(self, c: outbox.Claimed, tally: Tally) -> tuple[str, dict[str, Any]]:
        now = self.clock()
        cfg = self.config
        if tally.transient and c.attempts >= cfg.max_attempts:
            # The last try: the deliveries that failed in it are given up on.
            tally.lines += [
                replace(a, status="dead", error=f"gave up after {c.attempts} tries")
                for a in tally.lines
                if a.status == "failed"
            ]
            return "dead", outbox.dead_values(str(tally.transient[0]))
        if tally.permanent and not tally.transient and not tally.deferred_until:
            return "dead", outbox.dead_values(tally.permanent[0])
        if tally.transient:
            delay = outbox.backoff_s(c.attempts, cfg.backoff_base_s, cfg.backoff_cap_s)
            hints = [e.retry_after for e in tally.transient if e.retry_after is not None]
            if hints:
                delay = max(delay, min(max(hints), MAX_RETRY_AFTER_S))  # the provider knows best
            at = now + dt.timedelta(seconds=delay)
            if tally.deferred_until:
                at = min(at, *tally.deferred_until)
            return "retry", outbox.retry_values(at, str(tally.transient[0]))
        if tally.deferred_until:
            at = min(tally.deferred_until)
            return "deferred", outbox.retry_values(at, "quiet hours", count_attempt=False)
        return "done", outbox.done_values()

    async def _deliver(self, c: outbox.Claimed, tally: Tally) -> None:
        """Send what is due of this event, recording the outcome of each delivery in
        `tally` (written when the event is settled)."""
        if c.event_type in transfers.EVENTS:  # money, not a message: no recipients
            await self._money_job(c, tally)
            return
        payload = c.payload
        if c.event_type in account_mail.EVENTS:  # its one-time token is made per try
            payload = await account_mail.prepare(
                self.sessions, self.config, c.tenant_id, c.id, c.event_type, payload
            )
        async with self.sessions() as session:
            bind_tenant(session, c.tenant_id)
            # A read-only snapshot: on SQLite this must not take the writer lock (BEGIN
            # IMMEDIATE), or every event's reads would queue behind every other's writes.
            await session.connection(execution_options=read_options(self.dialect))
            tenant = await session.scalar(select(Tenant).where(Tenant.id == c.tenant_id))
            if tenant is None:
                tally.permanent.append("school no longer exists")
                return
            tz = ZoneInfo(tenant.timezone)
            expansion = await expand(Facts(session, tenant), c.event_type, payload)
            if expansion.stale:
                log.info("event %s (%s) skipped: %s", c.id, c.event_type, expansion.stale)
                return
            people = expansion.recipients
            prefs = await preferences.load(session, [p.user_id for p in people if p.user_id])
            plan: list[tuple[Delivery, preferences.Choice]] = []
            wanted: list[Recipient] = []  # not a guardian who did not choose this kind
            for person in people:
                choice = preferences.resolve(
                    prefs.get(person.user_id or "", {}),
                    c.event_type,
                    bool(person.phone),
                    person.role,
                )
                if person.role == "guardian" and (not choice.channels or choice.opted_out):
                    continue
                wanted.append(person)
                for channel in choice.channels:
                    plan.append(
                        (Delivery(person, channel, f"{c.id}:{person.key}:{channel}"), choice)
                    )
            done = await delivery_log.settled(session, [d.key for d, _ in plan])
            plan = [(d, choice) for d, choice in plan if d.key not in done]
            targets = await self._push_targets(
                session, [d.recipient.user_id for d, _ in plan if d.channel == "webpush"]
            )
            # The wording is the event's own, or for an admin's test the tested kind's.
            kind = str(expansion.context.get("template_kind") or c.event_type)
            kept = [p for p in wanted if p.user_id] if c.event_type not in NOT_INBOXED else []
            overrides = await load_overrides(session, kind) if plan or kept else {}
        await self._keep_in_inbox(c, expansion.context, kept, overrides.get("webpush"))
        now = self.clock()
        sends = []
        for d, choice in plan:
            if choice.opted_out:
                self._log(c, d, tally, "skipped", error="opted out")
                continue
            if choice.quiet and d.channel in self.config.quiet_channels:
                until = preferences.quiet_until(now, choice.quiet, tz)
                if until is not None:
                    tally.deferred_until.append(until)
                    self._log(
                        c, d, tally, "deferred", error=f"quiet hours until {until.isoformat()}"
                    )
                    continue
            rendered = self.renderer.render(
                kind,
                d.channel,
                expansion.context
                | {"recipient": {"name": d.recipient.name}, "settings_url": self._settings_url},
                overrides.get(d.channel),
            )
            message = Message(
                key=d.key,
                tenant_id=c.tenant_id,
                event_type=c.event_type,
                recipient=d.recipient,
                rendered=rendered,
                push_targets=tuple(targets.get(d.recipient.user_id or "", ())),
                data=_link_data(c.event_type, c.payload, d.recipient.role),
                attachments=tuple(expansion.attachments) if d.channel == "email" else (),
            )
            sends.append(self._send(c, d, message, tally))
        await asyncio.gather(*sends)

    async def _money_job(self, c: outbox.Claimed, tally: Tally) -> None:
        """A transfer (or its reversal) of a payout; a failure is retried like a delivery."""
        try:
            outcome = await self.transfers.run(c.tenant_id, c.event_type, c.payload)
        except SendError as exc:
            if exc.permanent:
                tally.permanent.append(str(exc))
            else:
                tally.transient.append(exc)
            return
        log.info("event %s (%s): %s", c.id, c.event_type, outcome)

    async def _keep_in_inbox(
        self,
        c: outbox.Claimed,
        context: dict[str, Any],
        people: list[Recipient],
        override: Any,
    ) -> None:
        """Each recipient's inbox gets the push wording of the event (once per event)."""
        items = []
        for person in people:
            assert person.user_id is not None
            rendered = self.renderer.render(
                c.event_type, "webpush", context | {"recipient": {"name": person.name}}, override
            )
            url = _link_data(c.event_type, c.payload, person.role)["url"]
            items.append(
                inbox.Item(
                    person.user_id, rendered.subject, rendered.short, url.lstrip("/") or None
                )
            )
        await inbox.keep(self.store, c.tenant_id, c.id, c.event_type, items)

    async def _send(self, c: outbox.Claimed, d: Delivery, message: Message, tally: Tally) -> None:
        channel = self.channels.get(d.channel)
        if channel is None:
            self._log(c, d, tally, "skipped", error=f"channel {d.channel} unavailable")
            return
        started = time.monotonic()
        try:
            result: SendResult = await channel.send(message)
        except SendError as exc:
            ms = int((time.monotonic() - started) * 1000)
            if exc.permanent:
                tally.permanent.append(str(exc))
            else:
                tally.transient.append(exc)
            status = "dead" if exc.permanent else "failed"
            self._log(c, d, tally, status, error=str(exc), duration_ms=ms, gone=exc.gone)
            return
        except Exception as exc:  # a channel bug must not look like success
            ms = int((time.monotonic() - started) * 1000)
            log.exception("channel %s crashed", d.channel)
            tally.transient.append(SendError(f"{type(exc).__name__}: {exc}", permanent=False))
            self._log(c, d, tally, "failed", error=f"{type(exc).__name__}: {exc}", duration_ms=ms)
            return
        ms = int((time.monotonic() - started) * 1000)
        self._log(
            c,
            d,
            tally,
            result.status,
            provider_id=result.provider_id,
            error=result.note,
            duration_ms=ms,
            gone=result.gone,
        )

    def _log(
        self,
        c: outbox.Claimed,
        d: Delivery,
        tally: Tally,
        status: str,
        *,
        provider_id: str | None = None,
        error: str | None = None,
        duration_ms: int | None = None,
        gone: tuple[str, ...] = (),
    ) -> None:
        tally.lines.append(
            Attempt(
                c.id,
                d.recipient.user_id,
                c.event_type,
                d.channel,
                d.key,
                status,
                c.attempts,
                provider_id,
                error,
                duration_ms,
            )
        )
        tally.gone.extend(gone)

    async def _push_targets(
        self, session: AsyncSession, user_ids: list[str | None]
    ) -> dict[str, list[PushTarget]]:
        wanted = sorted({u for u in user_ids if u})
        out: dict[str, list[PushTarget]] = {}
        if not wanted:
            return out
        rows = await session.scalars(
            select(PushSubscription)
            .where(PushSubscription.user_id.in_(wanted))
            .order_by(PushSubscription.created_at)
        )
        for s in rows:
            out.setdefault(s.user_id, []).append(PushTarget(s.id, s.endpoint, s.p256dh, s.auth))
        return out

    async def close(self) -> None:
        await self.transfers.close()
        for channel in self.channels.values():
            try:
                await channel.close()
            except Exception:
                log.exception("closing channel %s failed", channel.name)


# Where a click on a push notification opens the PWA, by event and recipient role.
_SCREENS = {
    ("booking_requested", "instructor"): "week",
    ("booking_cancelled", "instructor"): "week",
    ("series_requested", "instructor"): "today",
    ("series_cancelled", "instructor"): "calendar",
    ("booking_move_requested", "instructor"): "today",
    ("instructor_digest", "instructor"): "week",
    ("lesson_completed", "student"): "home",
    ("mock_test_passed", "student"): "mock",
    ("mock_test_passed", "instructor"): "students",
    ("conflict_stored", "admin"): "journal",
}


def _link_data(event_type: str, payload: dict[str, Any], role: str) -> dict[str, str]:
    """The PWA screen to open on a click, and the ids it concerns."""
    keys = ("booking_id", "lesson_id", "mock_test_id", "conflict_id", "payment_id")
    data = {k: str(payload[k]) for k in keys if payload.get(k)}
    screen = _SCREENS.get((event_type, role), "bookings" if role == "student" else "")
    if event_type.startswith("message_") and payload.get("thread_id"):
        data["thread_id"] = str(payload["thread_id"])
        screen = f"messages/{payload['thread_id']}"  # the thread itself, for every role
    data["url"] = f"/#/{screen}" if screen else "/"
    return data
