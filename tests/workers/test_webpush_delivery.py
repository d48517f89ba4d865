"""Web Push against a local push service that decrypts each message with the subscription's
keys (RFC 8291) and checks the VAPID token (RFC 8292): subscriptions through the API,
201 / 410 / 429 with Retry-After / 5xx then success."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select, update

from schemas import Notification, OutboxEvent, PushSubscription
from server.app import create_app
from server.routes.effects import WORKER_CONFIG
from sync.tenancy import ALL_TENANTS, bind_tenant
from tests.conftest import Db, bearer, login, make_settings
from tests.workers.conftest import book_and_confirm, dispatcher, worker_config
from tests.workers.peers import PushPeer


@pytest.fixture
async def push_client(db: Db, tmp_path: Path, aiohttp_client: Any, vapid: tuple[str, str]) -> Any:
    app = create_app(make_settings(db, tmp_path))
    app[WORKER_CONFIG] = worker_config(db, tmp_path, vapid_private_key=vapid[0])
    return await aiohttp_client(app)


async def _subscribe(client: Any, headers: dict[str, str], body: dict[str, Any]) -> Any:
    return await client.post("/v1/push/subscriptions", json=body, headers=headers)


async def _rows(db: Db, table: Any, *where: Any) -> list[Any]:
    async with db.sessions() as s:
        bind_tenant(s, ALL_TENANTS)
        return list((await s.scalars(select(table).where(*where))).all())


async def test_push_is_encrypted_signed_and_gone_subscriptions_are_dropped(
    push_client: Any,
    push: PushPeer,
    db: Db,
    tmp_path: Path,
    vapid: tuple[str, str],
    closing: list[Any],
) -> None:
    key = await (await push_client.get("/v1/push/vapid-key")).json()
    assert key == {"enabled": True, "public_key": vapid[1]}
    # (unconfigured: 404, tested in test_email_delivery with the sink)
    student = bearer(await login(push_client, "student1@demo.test"))
    phone, laptop = push.subscriber(), push.subscriber()
    assert (await _subscribe(push_client, student, push.json_for(phone))).status == 201
    again = await _subscribe(
        push_client, student, {**push.json_for(laptop), "expirationTime": None}
    )
    assert again.status == 201
    assert (
        await _subscribe(push_client, student, push.json_for(laptop))
    ).status == 200  # same endpoint
    bad = push.json_for(phone) | {"endpoint": "ftp://push.example/x"}
    assert (await _subscribe(push_client, student, bad)).status == 422
    bad_key = push.json_for(phone)
    bad_key["keys"] = {"p256dh": "A" * 87, "auth": bad_key["keys"]["auth"]}
    assert (await _subscribe(push_client, student, bad_key)).status == 422
    push.script[laptop.id] = [410]

    await book_and_confirm(push_client)
    d = dispatcher(db, worker_config(db, tmp_path, vapid_private_key=vapid[0]))
    closing.append(d)
    await d.run(once=True)

    assert push.errors == []
    [(sid, payload, headers)] = push.received
    assert sid == phone.id
    assert payload["title"].startswith("Your lesson is confirmed: ")
    assert "Priya Shah" in payload["body"] and payload["url"] == "/#/bookings"
    assert payload["event"] == "booking_confirmed" and payload["data"]["booking_id"]
    assert headers["urgency"] == "normal" and len(headers["topic"]) == 32
    assert int(headers["ttl"]) == 24 * 3600
    left = await _rows(db, PushSubscription)
    assert [s.endpoint for s in left] == [push.json_for(phone)["endpoint"]]  # 410 → deleted
    sent = await _rows(
        db, Notification, Notification.channel == "webpush", Notification.status == "sent"
    )
    assert len(sent) == 1 and sent[0].provider_id.startswith(push.base + "/msg/")
    # A device unsubscribes.
    gone = await push_client.delete(
        "/v1/push/subscriptions",
        json={"endpoint": push.json_for(phone)["endpoint"]},
        headers=student,
    )
    assert gone.status == 204 and await _rows(db, PushSubscription) == []


async def test_push_429_honours_retry_after_then_5xx_then_success(
    push_client: Any,
    push: PushPeer,
    db: Db,
    tmp_path: Path,
    vapid: tuple[str, str],
    closing: list[Any],
) -> None:
    tokens = await login(push_client, "student1@demo.test")
    student = bearer(tokens)
    phone = push.subscriber()
    assert (await _subscribe(push_client, student, push.json_for(phone))).status == 201
    push.script[phone.id] = [429, 500]
    push.retry_after = "120"
    await book_and_confirm(push_client)
    d = dispatcher(db, worker_config(db, tmp_path, vapid_private_key=vapid[0]))
    closing.append(d)
    before = dt.datetime.now(dt.UTC)
    await d.run(once=True)
    [event] = await _rows(db, OutboxEvent, OutboxEvent.event_type == "booking_confirmed")
    assert event.status == "pending" and event.attempts == 1
    assert event.available_at >= before + dt.timedelta(seconds=119)  # Retry-After honoured
    assert push.hits == [(phone.id, 429)]
    # Time passes: the next try meets a 500, backs off, and the one after succeeds.
    async with db.sessions() as s, s.begin():
        bind_tenant(s, ALL_TENANTS)
        await s.execute(update(OutboxEvent).values(available_at=dt.datetime.now(dt.UTC)))
    await d.run(once=True)
    assert push.hits == [(phone.id, 429), (phone.id, 500), (phone.id, 201)]
    assert len(push.received) == 1 and push.errors == []
    [event] = await _rows(db, OutboxEvent, OutboxEvent.event_type == "booking_confirmed")
    assert event.status == "done"
    # (The student's lines: student1's guardian, told too, has no push subscription.)
    mine = Notification.user_id == tokens["user"]["id"]
    lines = await _rows(db, Notification, Notification.channel == "webpush", mine)
    assert sorted((n.attempt, n.status) for n in lines) == [
        (1, "failed"),
        (2, "failed"),
        (3, "sent"),
    ]
    # Email and SMS went once, on the first try (to the sink), and were not repeated.
    others = await _rows(
        db,
        Notification,
        Notification.channel != "webpush",
        Notification.event_type == "booking_confirmed",
        mine,
    )
    assert sorted((n.channel, n.attempt, n.status) for n in others) == [
        ("email", 1, "sent"),
        ("sms", 1, "sent"),
    ]
