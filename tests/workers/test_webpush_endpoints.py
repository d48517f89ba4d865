"""Web push never becomes a request forgery tool: endpoints on http or on loopback, private,
link-local, unique-local, multicast, unspecified or reserved addresses (IPv4, IPv6, IPv4
inside IPv6, legacy numeric forms) are refused when a subscription is saved, and again at
send time after DNS resolution, without a connection being made. The setting that allows
them (tests, development) is off by default."""

from __future__ import annotations

import asyncio
import socket
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from aiohttp.abc import AbstractResolver, ResolveResult
from sqlalchemy import select

from schemas import Notification, PushSubscription
from server.app import create_app
from server.routes.effects import WORKER_CONFIG
from sync.tenancy import ALL_TENANTS, bind_tenant
from tests.conftest import Db, bearer, login, make_settings
from tests.workers.conftest import book_and_confirm, worker_config
from tests.workers.peers import PushPeer
from workers.config import WorkerConfig
from workers.dispatcher import Dispatcher
from workers.notifications.channels import Message, PushTarget, SendError
from workers.notifications.channels.webpush import WebPushChannel
from workers.notifications.push_endpoint import EndpointRefused, check
from workers.notifications.recipients import Recipient
from workers.notifications.templates import Rendered
from workers.run import build_channels

REFUSED = (
    "http://push.example.com/x",  # not https
    "ftp://push.example.com/x",
    "https:///x",  # no host
    "https://127.0.0.1/x",  # loopback
    "https://127.255.0.9:8443/x",
    "https://localhost/x",
    "https://LOCALHOST./x",
    "https://a.b.localhost/x",
    "https://10.0.0.1/x",  # private (RFC 1918)
    "https://172.16.5.4/x",
    "https://192.168.1.1/x",
    "https://100.64.0.1/x",  # shared / CGNAT
    "https://169.254.169.254/latest/meta-data",  # link-local (cloud metadata)
    "https://224.0.0.1/x",  # multicast
    "https://0.0.0.0/x",  # unspecified
    "https://240.0.0.1/x",  # reserved
    "https://255.255.255.255/x",
    "https://[::1]/x",
    "https://[::]/x",
    "https://[fe80::1]/x",
    "https://[fe80::1%25eth0]/x",
    "https://[fd12:3456::1]/x",  # unique-local
    "https://[ff02::1]/x",
    "https://[::ffff:127.0.0.1]/x",  # IPv4-mapped
    "https://[::ffff:a9fe:a9fe]/x",
    "https://[64:ff9b::a00:1]/x",  # NAT64 of 10.0.0.1
    "https://[2002:c0a8:101::1]/x",  # 6to4 of 192.168.1.1
    "https://[::127.0.0.1]/x",  # IPv4-compatible (reserved)
    "https://2130706433/x",  # 127.0.0.1 as one number
    "https://0x7f000001/x",
    "https://0177.0.0.1/x",
    "https://127.1/x",
    "https://①②⑦.0.0.1/x",  # IDNA folds these digits to 127.0.0.1
    "https://./x",
    "https://push.example.com/a\x00b",  # NUL: PostgreSQL cannot store it
    "https://push.example.com/a\udc80b",  # a lone surrogate
    "https://push.example.com/a b",
    "not a url at all",
)
ALLOWED = (
    "https://fcm.googleapis.com/fcm/send/abc:def",
    "https://updates.push.services.mozilla.com/wpush/v2/gAAAA",
    "https://web.push.apple.com/QGx0",
    "https://8.8.8.8/x",
    "https://[2606:4700:4700::1111]/x",
    "https://[::ffff:8.8.8.8]/x",
)


def test_the_rule_refuses_every_kind_of_local_address() -> None:
    for endpoint in REFUSED:
        with pytest.raises(EndpointRefused) as caught:
            check(endpoint)
        assert caught.value.code == "invalid_endpoint" and caught.value.status == 422, endpoint
    for endpoint in ALLOWED:
        check(endpoint)
    # The development setting: http and loopback pass, other schemes still do not.
    check("http://127.0.0.1:8080/push/1", allow_local=True)
    check("https://localhost/push/1", allow_local=True)
    with pytest.raises(EndpointRefused):
        check("ftp://127.0.0.1/push/1", allow_local=True)


def test_the_setting_is_off_unless_turned_on(monkeypatch: pytest.MonkeyPatch) -> None:
    from server.config import load_settings

    monkeypatch.delenv("DRIVESYNC_PUSH_ALLOW_LOCAL_ENDPOINTS", raising=False)
    base = {"database_url": "sqlite+aiosqlite:///x"}
    assert WorkerConfig().push_allow_local_endpoints is False
    assert WorkerConfig.from_settings(load_settings(**base)).push_allow_local_endpoints is False
    monkeypatch.setenv("DRIVESYNC_PUSH_ALLOW_LOCAL_ENDPOINTS", "true")
    assert WorkerConfig.from_settings(load_settings(**base)).push_allow_local_endpoints is True


class Listener:
    """A TCP listener on 127.0.0.1 that records every connection made to it."""

    def __init__(self) -> None:
        self.connections = 0
        self.port = 0

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        writer.close()


@pytest.fixture
async def listener() -> AsyncIterator[Listener]:
    peer = Listener()
    server = await asyncio.start_server(peer._accept, "127.0.0.1", 0)
    peer.port = server.sockets[0].getsockname()[1]
    yield peer
    server.close()
    await server.wait_closed()


class FakeDns(AbstractResolver):
    """A DNS whose answers the test writes; records the names looked up."""

    def __init__(self, answers: dict[str, list[str]]) -> None:
        self.answers = answers
        self.asked: list[str] = []

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        self.asked.append(host)
        return [
            ResolveResult(hostname=host, host=a, port=port, family=socket.AF_INET, proto=0, flags=0)
            for a in self.answers[host]
        ]

    async def close(self) -> None:
        pass


def _message(*endpoints: str) -> Message:
    keys = PushPeer().json_for(PushPeer().subscriber())["keys"]
    targets = tuple(
        PushTarget(str(uuid.uuid4()), e, keys["p256dh"], keys["auth"]) for e in endpoints
    )
    recipient = Recipient("u1", "u1", "Amelia", None, None, "student")
    rendered = Rendered("Lesson confirmed", "text", None, "short")
    return Message("o1:u1:webpush", "t1", "booking_confirmed", recipient, rendered, targets)


async def test_send_refuses_before_connecting(listener: Listener, vapid: tuple[str, str]) -> None:
    port = listener.port
    dns = FakeDns(
        {
            "push.example.test": ["127.0.0.1"],  # a public-looking name rebound to loopback
            "mixed.example.test": ["93.184.216.34", "127.0.0.1"],  # one bad answer suffices
        }
    )
    strict = WebPushChannel(vapid[0], "mailto:a@b.test", 60, 2.0, dns=dns)
    by_url = _message(
        f"https://127.0.0.1:{port}/p",
        f"http://[::ffff:127.0.0.1]:{port}/p",
        f"https://localhost:{port}/p",
        f"https://2130706433:{port}/p",
    )
    with pytest.raises(SendError) as refused:
        await strict.send(by_url)
    assert refused.value.permanent and "refused" in str(refused.value)
    # Refused by their URL: never sendable, the subscriptions are dropped.
    assert set(refused.value.gone) == {t.id for t in by_url.push_targets}
    assert dns.asked == []  # refused before any lookup

    # A name is resolved first, and refused when an answer is disallowed; no connection is
    # made, and the subscription stays (a DNS answer can be fixed).
    for name in ("push.example.test", "mixed.example.test"):
        with pytest.raises(SendError) as resolved:
            await strict.send(_message(f"https://{name}:{port}/p"))
        assert resolved.value.permanent, name
        assert f"{name} resolves to a loopback address" in str(resolved.value)
        assert resolved.value.gone == ()
    await strict.close()
    assert dns.asked == ["push.example.test", "mixed.example.test"]
    assert listener.connections == 0

    # The listener does see connections: with the development setting on, the same
    # channel connects (and fails transiently: the listener speaks no HTTP).
    lenient = WebPushChannel(vapid[0], "mailto:a@b.test", 60, 2.0, allow_local=True)
    with pytest.raises(SendError) as unreachable:
        await lenient.send(_message(f"http://localhost:{port}/p"))
    await lenient.close()
    assert not unreachable.value.permanent
    assert listener.connections >= 1


async def test_redirects_are_not_followed(
    aiohttp_server: Any, listener: Listener, vapid: tuple[str, str]
) -> None:
    """A push service answering 307 towards an internal address is not followed (a literal
    address in a Location would skip the resolver): the message counts as refused."""

    async def redirect(request: web.Request) -> web.Response:
        raise web.HTTPTemporaryRedirect(f"http://127.0.0.1:{listener.port}/internal")

    app = web.Application()
    app.router.add_post("/push/{sid}", redirect)
    service = await aiohttp_server(app)
    # On: the redirecting service itself is on 127.0.0.1 (the rule is tested above). A
    # generous timeout: a followed redirect would still fail (the listener never answers),
    # and 2 s once ran out on a busy CI machine before the 307 arrived.
    channel = WebPushChannel(vapid[0], "mailto:a@b.test", 60, 10.0, allow_local=True)
    with pytest.raises(SendError) as refused:
        await channel.send(_message(str(service.make_url("/push/1"))))
    await channel.close()
    assert refused.value.permanent and "307" in str(refused.value)
    assert listener.connections == 0


async def _rows(db: Db, table: Any, *where: Any) -> list[Any]:
    async with db.sessions() as s:
        bind_tenant(s, ALL_TENANTS)
        return list((await s.scalars(select(table).where(*where))).all())


async def test_saving_a_disallowed_endpoint_is_422(
    db: Db, tmp_path: Path, aiohttp_client: Any, vapid: tuple[str, str]
) -> None:
    app = create_app(make_settings(db, tmp_path))  # the default: local endpoints refused
    app[WORKER_CONFIG] = worker_config(
        db, tmp_path, vapid_private_key=vapid[0], push_allow_local_endpoints=False
    )
    client = await aiohttp_client(app)
    student = bearer(await login(client, "student1@demo.test"))
    keys = PushPeer().json_for(PushPeer().subscriber())["keys"]
    for endpoint in REFUSED:
        resp = await client.post(
            "/v1/push/subscriptions", json={"endpoint": endpoint, "keys": keys}, headers=student
        )
        body = await resp.json()
        assert resp.status == 422, (endpoint, body)
        # A lone surrogate is not even a string to the request model: plain `invalid`.
        code = "invalid" if "\udc80" in endpoint else "invalid_endpoint"
        assert body["error"]["code"] == code, endpoint
        assert body["error"]["details"]["field"] == "endpoint"
    assert await _rows(db, PushSubscription) == []
    good = {"endpoint": ALLOWED[0], "keys": keys}
    assert (await client.post("/v1/push/subscriptions", json=good, headers=student)).status == 201
    # Removing one that cannot exist is a plain 404, NUL included.
    for query in ("?endpoint=%00", "?endpoint=https://push.example.com/%00"):
        gone = await client.delete(f"/v1/push/subscriptions{query}", headers=student)
        assert gone.status == 404, query
    gone = await client.delete(
        "/v1/push/subscriptions", json={"endpoint": "https://a.test/\x00"}, headers=student
    )
    assert gone.status == 404
    assert len(await _rows(db, PushSubscription)) == 1


async def test_a_stored_disallowed_subscription_is_refused_at_send_time(
    db: Db,
    tmp_path: Path,
    aiohttp_client: Any,
    vapid: tuple[str, str],
    listener: Listener,
    closing: list[Any],
) -> None:
    """Rows saved before the rule (or written around it) are refused by the dispatcher."""
    config = worker_config(
        db, tmp_path, vapid_private_key=vapid[0], push_allow_local_endpoints=False
    )
    app = create_app(make_settings(db, tmp_path))
    app[WORKER_CONFIG] = config
    client = await aiohttp_client(app)
    tokens = await login(client, "student1@demo.test")
    keys = PushPeer().json_for(PushPeer().subscriber())["keys"]
    port = listener.port
    endpoints = {
        "literal": f"http://127.0.0.1:{port}/push/a",
        "numeric": f"https://2130706433:{port}/push/b",
        "localhost": f"https://localhost:{port}/push/c",
        "rebound": f"https://push.example.test:{port}/push/d",
    }
    async with db.sessions() as s, s.begin():
        bind_tenant(s, ALL_TENANTS)
        for name, endpoint in endpoints.items():
            s.add(
                PushSubscription(
                    tenant_id=tokens["user"]["tenant_id"],
                    id=str(uuid.uuid5(uuid.NAMESPACE_URL, name)),
                    user_id=tokens["user"]["id"],
                    endpoint=endpoint,
                    p256dh=keys["p256dh"],
                    auth=keys["auth"],
                )
            )
    await book_and_confirm(client)
    channels = build_channels(config)
    dns = FakeDns({"push.example.test": ["127.0.0.1"]})
    channels["webpush"] = WebPushChannel(vapid[0], config.vapid_subject, 60, 2.0, dns=dns)
    d = Dispatcher(config, db.sessions, db.dialect, "w1", channels)
    closing.append(d)
    await d.run(once=True)

    assert listener.connections == 0
    [line] = await _rows(
        db,
        Notification,
        Notification.channel == "webpush",
        Notification.event_type == "booking_confirmed",
        Notification.user_id == tokens["user"]["id"],  # (not their guardian's copy)
    )
    assert line.status == "dead" and "refused" in (line.error or ""), (line.status, line.error)
    left = [s.endpoint for s in await _rows(db, PushSubscription)]
    assert left == [endpoints["rebound"]]  # refused by URL → deleted; after DNS → kept
    assert dns.asked == ["push.example.test"]
