"""SMS and WhatsApp with Twilio's real SDK against a local stand-in for its REST API;
preferences through the API; 5xx then success; a timeout; a permanent 4xx → dead letter →
listed and retried by an admin."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from schemas import Notification, OutboxEvent
from server.app import create_app
from server.routes.effects import WORKER_CONFIG
from sync.tenancy import ALL_TENANTS, bind_tenant
from tests.conftest import Db, bearer, login, make_settings
from tests.workers.conftest import (
    TWILIO_SID,
    TWILIO_TOKEN,
    book_and_confirm,
    dispatcher,
    worker_config,
)
from tests.workers.peers import TwilioPeer

SENDER = "+447700900999"


def _config(db: Db, tmp_path: Path, twilio: TwilioPeer, **kw: Any) -> Any:
    return worker_config(
        db,
        tmp_path,
        twilio_account_sid=TWILIO_SID,
        twilio_auth_token=TWILIO_TOKEN,
        twilio_from=SENDER,
        twilio_api_base=twilio.base,
        **kw,
    )


@pytest.fixture
async def sms_client(db: Db, tmp_path: Path, aiohttp_client: Any, twilio: TwilioPeer) -> Any:
    app = create_app(make_settings(db, tmp_path))
    app[WORKER_CONFIG] = _config(db, tmp_path, twilio)
    return await aiohttp_client(app)


async def _log(db: Db, *where: Any) -> list[Notification]:
    async with db.sessions() as s:
        bind_tenant(s, ALL_TENANTS)
        rows = await s.scalars(select(Notification).where(*where).order_by(Notification.created_at))
        return list(rows.all())


async def test_sms_and_whatsapp_by_preference_with_a_5xx_then_success(
    sms_client: Any, twilio: TwilioPeer, db: Db, tmp_path: Path, closing: list[Any]
) -> None:
    tokens = await login(sms_client, "student1@demo.test")
    student = bearer(tokens)
    prefs = await (await sms_client.get("/v1/me/notification-preferences", headers=student)).json()
    assert prefs["events"]["booking_confirmed"] | {"description": ""} == {
        "description": "",
        "channels": ["webpush", "email", "sms"],
        "opted_out": False,
        "default": True,
    }
    assert prefs["timezone"] == "Europe/London" and prefs["quiet_hours"] is None
    body = {"events": {"booking_confirmed": {"channels": ["sms", "whatsapp"]}}}
    resp = await sms_client.put("/v1/me/notification-preferences", json=body, headers=student)
    assert resp.status == 200, await resp.text()
    mine = (await resp.json())["events"]["booking_confirmed"]
    assert mine["channels"] == ["sms", "whatsapp"] and mine["default"] is False
    bad = {"events": {"booking_confirmed": {"channels": ["pigeon"]}}}
    assert (
        await sms_client.put("/v1/me/notification-preferences", json=bad, headers=student)
    ).status == 422

    twilio.script = [500]
    await book_and_confirm(sms_client)
    d = dispatcher(db, _config(db, tmp_path, twilio))
    closing.append(d)
    await d.run(once=True)

    assert sorted((m["To"], m["From"]) for m in twilio.sent) == [
        ("+447700900001", SENDER),
        ("whatsapp:+447700900001", f"whatsapp:{SENDER}"),
    ]
    assert all("is confirmed" in m["Body"] for m in twilio.sent)
    # The student's lines (their guardian is told too, by the defaults: push and email).
    lines = await _log(
        db,
        Notification.event_type == "booking_confirmed",
        Notification.user_id == tokens["user"]["id"],
    )
    got = sorted((n.channel, n.attempt, n.status) for n in lines)
    assert ("sms", 1, "failed") in got and ("sms", 2, "sent") in got
    assert [x for x in got if x[0] == "whatsapp"] in (
        [("whatsapp", 1, "sent")],
        [("whatsapp", 2, "sent")],
    )
    assert {x[0] for x in got} == {"sms", "whatsapp"}  # no push, no email: the student chose
    assert all(n.provider_id.startswith("SM") for n in lines if n.status == "sent")


async def test_permanent_refusal_is_dead_lettered_then_retried_by_an_admin(
    sms_client: Any, twilio: TwilioPeer, db: Db, tmp_path: Path, closing: list[Any]
) -> None:
    twilio.script = [400]
    await book_and_confirm(sms_client)
    d = dispatcher(db, _config(db, tmp_path, twilio))
    closing.append(d)
    await d.run(once=True)
    admin = bearer(await login(sms_client, "admin@demo.test"))
    resp = await sms_client.get("/v1/admin/notifications?status=dead", headers=admin)
    body = await resp.json()
    [line] = body["notifications"]
    assert line["channel"] == "sms" and "21211" in line["error"] and line["outbox_status"] == "dead"
    assert [e["outbox_id"] for e in body["dead_events"]] == [line["outbox_id"]]
    tokens = await login(sms_client, "student1@demo.test")
    student = bearer(tokens)
    assert (await sms_client.get("/v1/admin/notifications", headers=student)).status == 403
    # The number is fixed at the provider; the admin retries (by the log line's id, as the
    # PWA does): only the SMS goes again, email and push were delivered already.
    retried = await sms_client.post(f"/v1/admin/notifications/{line['id']}/retry", headers=admin)
    assert retried.status == 200 and (await retried.json())["outbox_id"] == line["outbox_id"]
    await d.run(once=True)
    assert len(twilio.sent) == 1
    channels = sorted(
        (n.channel, n.status)
        for n in await _log(
            db,
            Notification.event_type == "booking_confirmed",
            Notification.user_id == tokens["user"]["id"],
        )
    )
    assert channels == [("email", "sent"), ("sms", "dead"), ("sms", "sent"), ("webpush", "sent")]
    again = await sms_client.post(
        f"/v1/admin/notifications/{line['outbox_id']}/retry", headers=admin
    )
    assert again.status == 409
    assert (
        await sms_client.post(f"/v1/admin/notifications/{'0' * 8}/retry", headers=admin)
    ).status == 404


async def test_provider_timeout_is_retried_and_exhausted_tries_go_dead(
    db: Db, tmp_path: Path, twilio: TwilioPeer, client: Any, closing: list[Any]
) -> None:
    twilio.script = ["slow", 500, 500, 500, 500]
    await book_and_confirm(client)
    d = dispatcher(db, _config(db, tmp_path, twilio, send_timeout_s=0.3, max_attempts=3))
    closing.append(d)
    await d.run(once=True)
    sms = await _log(db, Notification.channel == "sms")
    assert [(n.attempt, n.status) for n in sms] == [
        (1, "failed"),
        (2, "failed"),
        (3, "failed"),
        (3, "dead"),
    ]
    assert "Timeout" in (sms[0].error or "") and "500" in (sms[1].error or "")
    async with db.sessions() as s:
        bind_tenant(s, ALL_TENANTS)
        event = await s.scalar(
            select(OutboxEvent).where(OutboxEvent.event_type == "booking_confirmed")
        )
    assert event is not None and event.status == "dead" and event.attempts == 3
