"""Starting the dispatcher: as the `drivesync worker` process, or inside the server for the
one-command demo (DRIVESYNC_RUN_DISPATCHER=true).

Several worker processes may run against PostgreSQL (they claim disjoint rows with SKIP
LOCKED); on SQLite run one (claims stay correct with more, but they queue on SQLite's single
writer lock and gain nothing).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
from collections.abc import AsyncIterator
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from sync.database import make_engine, make_sessionmaker
from sync.store import Store
from workers.config import WorkerConfig
from workers.dispatcher import Dispatcher
from workers.notifications.channels import Channel
from workers.notifications.channels.sink import SinkChannel

log = logging.getLogger("drivesync.worker")


def build_channels(config: WorkerConfig) -> dict[str, Channel]:
    """The configured channels; each unconfigured one is the local sink."""
    channels: dict[str, Channel] = {}
    if config.smtp_url:
        from workers.notifications.channels.email import EmailChannel

        channels["email"] = EmailChannel(
            config.smtp_url, config.email_from, config.smtp_timeout_s, config.smtp_pool_size
        )
    if config.vapid_private_key:
        from workers.notifications.channels.webpush import WebPushChannel

        channels["webpush"] = WebPushChannel(
            config.vapid_private_key,
            config.vapid_subject,
            config.push_ttl_s,
            config.send_timeout_s,
            allow_local=config.push_allow_local_endpoints,
        )
    sid, token = config.twilio_account_sid, config.twilio_auth_token
    if sid and token and config.twilio_from:
        from workers.notifications.channels.twilio import TwilioChannel

        channels["sms"] = TwilioChannel(
            "sms", sid, token, config.twilio_from, config.twilio_api_base, config.send_timeout_s
        )
        channels["whatsapp"] = TwilioChannel(
            "whatsapp",
            sid,
            token,
            config.twilio_whatsapp_from or config.twilio_from,
            config.twilio_api_base,
            config.send_timeout_s,
        )
    for name in ("webpush", "email", "sms", "whatsapp"):
        channels.setdefault(name, SinkChannel(name, config.sink_dir))
    return channels


def make_dispatcher(
    config: WorkerConfig,
    sessions: async_sessionmaker[AsyncSession],
    dialect: str,
    worker_id: str,
    store: Store | None = None,
) -> Dispatcher:
    """A dispatcher with the configured channels (must be called inside the event loop)."""
    channels = build_channels(config)
    kinds = ", ".join(f"{n}={type(c).__name__}" for n, c in sorted(channels.items()))
    log.info("dispatcher %s channels: %s", worker_id, kinds)
    return Dispatcher(config, sessions, dialect, worker_id, channels, store=store)


async def run_worker(settings: Any, once: bool = False, worker_id: str = "worker") -> int:
    """`drivesync worker`: deliver until SIGTERM/SIGINT (or, with `once`, until drained)."""
    config = WorkerConfig.from_settings(settings)
    engine = make_engine(config.database_url)
    dispatcher = make_dispatcher(config, make_sessionmaker(engine), engine.dialect.name, worker_id)
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(sig, dispatcher.stop)
    try:
        done = await dispatcher.run(once=once)
        log.info("worker %s processed %d events", worker_id, done)
        return done
    finally:
        await dispatcher.close()
        await engine.dispose()


@contextlib.asynccontextmanager
async def in_process(dispatcher: Dispatcher) -> AsyncIterator[Dispatcher]:
    """Run a dispatcher as a background task for the lifetime of the block (the server's
    in-process mode); stops it and closes its channels on exit."""
    task = asyncio.create_task(dispatcher.run(), name=f"dispatcher-{dispatcher.worker_id}")
    try:
        yield dispatcher
    finally:
        dispatcher.stop()
        try:
            await asyncio.wait_for(task, timeout=dispatcher.config.lease_s)
        except (TimeoutError, asyncio.CancelledError):
            task.cancel()
        except Exception:
            log.exception("dispatcher stopped with an error")
        await dispatcher.close()
