"""Fixtures for the workers' tests: the local peers, worker configs and dispatchers on the
test database, and a booking made and confirmed through real sync pushes."""

from __future__ import annotations

import datetime as dt
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from server.app import create_app
from server.routes.effects import WORKER_CONFIG
from server.vapid import new_vapid_keys
from tests.conftest import Db, make_settings
from tests.helpers import Device, uid
from tests.workers.peers import PushPeer, SmtpPeer, StripePeer, TwilioPeer
from workers.config import WorkerConfig
from workers.dispatcher import Dispatcher
from workers.run import build_channels

LONDON = ZoneInfo("Europe/London")
TWILIO_SID, TWILIO_TOKEN = "AC" + "0" * 32, "twilio-test-token"
STRIPE_KEY, STRIPE_WHSEC = "sk_test_drivesync", "whsec_test_drivesync"


@pytest.fixture
def smtp() -> Iterator[SmtpPeer]:
    peer = SmtpPeer().start()
    yield peer
    peer.stop()


@pytest.fixture
def vapid() -> tuple[str, str]:
    return new_vapid_keys()


@pytest.fixture
async def push(aiohttp_server: Any, vapid: tuple[str, str]) -> PushPeer:
    peer = PushPeer(vapid[1])
    server = await aiohttp_server(peer.app())
    peer.base = str(server.make_url("")).rstrip("/")
    return peer


@pytest.fixture
async def twilio(aiohttp_server: Any) -> TwilioPeer:
    peer = TwilioPeer(TWILIO_SID, TWILIO_TOKEN)
    server = await aiohttp_server(peer.app())
    peer.base = str(server.make_url("")).rstrip("/")
    return peer


@pytest.fixture
async def stripe_api(aiohttp_server: Any) -> StripePeer:
    peer = StripePeer(STRIPE_KEY)
    server = await aiohttp_server(peer.app())
    peer.base = str(server.make_url("")).rstrip("/")
    return peer


def worker_config(db: Db, tmp_path: Path, **overrides: Any) -> WorkerConfig:
    """Fast settings for tests: tiny backoff, short polls, no scheduler ticks unless asked."""
    values: dict[str, Any] = {
        "database_url": db.url,
        "var_dir": tmp_path / "var",
        "poll_s": 0.05,
        "backoff_base_s": 0.0,
        "backoff_cap_s": 0.0,
        "max_attempts": 4,
        "lease_s": 30.0,
        "send_timeout_s": 2.0,
        # Off: a tick at the real time of day would write reminders for the demo school's
        # seeded lessons, so what a test sees would depend on when it runs.
        "scheduler_interval_s": 0.0,
        # On: the local push service of these tests listens on 127.0.0.1 over http (off by
        # default; tests/workers/test_webpush_endpoints.py tests it off).
        "push_allow_local_endpoints": True,
    }
    values.update(overrides)
    return WorkerConfig(**values)


# The address the PWA is served at, where Stripe's hosted pages send the payer back to.
PUBLIC = "http://app.school.test"


@pytest.fixture
async def pay(db: Db, tmp_path: Path, aiohttp_client: Any, stripe_api: StripePeer) -> Any:
    """The app with payments through the local Stripe stand-in, whose hosted pages post
    their signed events back to this app's webhook."""
    app = create_app(make_settings(db, tmp_path))
    app[WORKER_CONFIG] = worker_config(
        db,
        tmp_path,
        stripe_secret_key=STRIPE_KEY,
        stripe_webhook_secret=STRIPE_WHSEC,
        stripe_api_base=stripe_api.base,
        public_url=PUBLIC,
    )
    client = await aiohttp_client(app)
    stripe_api.webhook_url = str(client.make_url("/v1/webhooks/stripe/demo"))
    stripe_api.webhook_secret = STRIPE_WHSEC
    return client


def dispatcher(db: Db, config: WorkerConfig, worker_id: str = "w1", **kw: Any) -> Dispatcher:
    return Dispatcher(config, db.sessions, db.dialect, worker_id, build_channels(config), **kw)


@pytest.fixture
async def closing() -> AsyncIterator[list[Dispatcher]]:
    """Dispatchers made in a test, closed at its end."""
    made: list[Dispatcher] = []
    yield made
    for d in made:
        await d.close()


def slot(days: int, hour: int, minute: int = 0) -> str:
    """A UTC timestamp `days` ahead at a London wall-clock time, on a weekday."""
    day = dt.datetime.now(LONDON).date() + dt.timedelta(days=days)
    while day.weekday() >= 5:
        day += dt.timedelta(days=1)
    local = dt.datetime.combine(day, dt.time(hour, minute), LONDON)
    return local.astimezone(dt.UTC).isoformat().replace("+00:00", "Z")


async def book_and_confirm(
    client: Any, days: int = 20, hour: int = 10, pickup: str = "Home", confirm: bool = True
) -> tuple[Device, Device, str]:
    """student1 requests a booking and instructor1 confirms it, both through sync pushes."""
    st = await Device(client, "student1@demo.test").login()
    inst = await Device(client, "instructor1@demo.test").login()
    await st.pull(entities="service")
    service = next(s for s in st.of("service").values() if s["duration_min"] == 60)
    st.cursor = None  # that cursor was for services only; later pulls are of everything
    bid = uid()
    data = {
        "instructor_id": inst.user["instructor_id"],
        "service_id": service["id"],
        "start": slot(days, hour),
        "pickup_location": pickup,
    }
    r = await st.one("booking", bid, "put", data)
    assert r["status"] == "applied", r
    if confirm:
        ok = await inst.one("booking", bid, "patch", {"status": "confirmed"})
        assert ok["status"] == "applied", ok
    return st, inst, bid
