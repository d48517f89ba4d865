"""Web Push (RFC 8030) with payload encryption (RFC 8291, aes128gcm) and VAPID (RFC 8292),
through pywebpush.

Why pywebpush rather than the `webpush` package: pywebpush sends natively on asyncio
(`WebPusher.send_async` over a shared aiohttp session, the HTTP stack the server already
uses); its VAPID signer (py_vapid) takes the raw base64url private key that
`drivesync vapid-keys` prints and puts the push service's full origin, port included, in the
JWT `aud`, and accepts an `https:` subject. The `webpush` package drops the port from `aud`
(so any push service not on 443, such as a local one, rejects the token), forces a
`mailto:` subject and wants PEM key files. Encryption costs well under a millisecond per
message, so it runs on the event loop.

A message goes to every subscription of the recipient. Answers: 201 → sent (the Location
header is the provider id); 404 / 410 → the subscription is gone and is deleted; 429 and 5xx
→ retry later, honouring Retry-After; other 4xx → this subscription refuses the message.
If at least one device accepted it the delivery counts as sent (it is not resent to the
others: a user would rather miss a duplicate than get one).

Endpoints are vetted before anything is sent (workers/notifications/push_endpoint.py): one
the rule refuses by its URL is a permanent failure and the subscription is deleted; one
whose host resolves to a disallowed address is a permanent failure for this message, no
connection made (the subscription stays: a DNS answer can be fixed).
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from typing import cast
from urllib.parse import urlsplit

import aiohttp
from aiohttp.abc import AbstractResolver
from py_vapid import Vapid02
from pywebpush import WebPusher

from workers.notifications.channels import (
    Message,
    PushTarget,
    SendError,
    SendResult,
    parse_retry_after,
)
from workers.notifications.push_endpoint import (
    AddressRefused,
    EndpointRefused,
    NoRedirects,
    VettedResolver,
    check,
)

log = logging.getLogger("drivesync.worker")
URGENT_EVENTS = frozenset({"booking_reminder", "booking_cancelled"})


def origin(endpoint: str) -> str:
    """The push service's origin, the VAPID `aud` (scheme, host and non-default port)."""
    parts = urlsplit(endpoint)
    return f"{parts.scheme}://{parts.netloc}"


class _Refused(SendError):
    """An endpoint the rule refuses by its URL: never sendable, so the subscription goes."""


class WebPushChannel:
    """Signs with the school-wide VAPID key and posts encrypted payloads."""

    name = "webpush"

    def __init__(
        self,
        private_key: str,
        subject: str,
        ttl_s: int,
        timeout_s: float,
        allow_local: bool = False,
        dns: AbstractResolver | None = None,
    ) -> None:
        """`allow_local`: send to http and local addresses (tests, development). `dns`: the
        lookup behind the vetting resolver (default the system's; tests give a fake)."""
        self.vapid = Vapid02.from_string(private_key)
        self.subject = subject
        self.ttl_s = ttl_s
        self.timeout = aiohttp.ClientTimeout(total=timeout_s)
        self.allow_local = allow_local
        self._dns = dns
        self._session: aiohttp.ClientSession | None = None
        self._tokens: dict[str, tuple[dict[str, str], float]] = {}

    @property
    def session(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            # The vetting resolver decides which addresses the connector may connect to.
            resolver = None if self.allow_local else VettedResolver(self._dns)
            connector = aiohttp.TCPConnector(resolver=resolver)
            self._session = aiohttp.ClientSession(timeout=self.timeout, connector=connector)
        return self._session

    def _auth(self, aud: str) -> dict[str, str]:
        """VAPID headers for an origin, reused until an hour before the token expires."""
        now = time.time()
        cached = self._tokens.get(aud)
        if cached and cached[1] - now > 3600:
            return dict(cached[0])
        exp = int(now) + 12 * 3600
        headers = self.vapid.sign({"aud": aud, "sub": self.subject, "exp": exp})
        self._tokens[aud] = (headers, exp)
        return dict(headers)

    def payload(self, message: Message) -> bytes:
        """What the service worker receives: a notification to show and where it points."""
        body = {
            "title": message.rendered.subject,
            "body": message.rendered.short,
            "tag": f"{message.event_type}:{message.digest[:12]}",
            "event": message.event_type,
            "url": message.data.get("url", "/"),
            "data": message.data,
        }
        return json.dumps(body, ensure_ascii=False).encode()

    async def send(self, message: Message) -> SendResult:
        if not message.push_targets:
            return SendResult(None, status="skipped", note="no push subscription")
        data = self.payload(message)
        outcomes = await asyncio.gather(
            *(self._one(t, data, message) for t in message.push_targets)
        )
        sent = [o for o in outcomes if isinstance(o, str)]
        gone = tuple(
            t.id
            for t, o in zip(message.push_targets, outcomes, strict=True)
            if o is None or isinstance(o, _Refused)
        )
        errors = [o for o in outcomes if isinstance(o, SendError)]
        if sent:
            return SendResult(sent[0], gone=gone, note=f"{len(sent)} device(s)")
        if not errors:
            return SendResult(None, status="skipped", note="every subscription was gone", gone=gone)
        transient = [e for e in errors if not e.permanent]
        if transient:
            waits = [e.retry_after for e in transient if e.retry_after is not None]
            raise SendError(
                str(transient[0]),
                permanent=False,
                retry_after=max(waits) if waits else None,
                gone=gone,
            )
        raise SendError(str(errors[0]), permanent=True, gone=gone)

    async def _one(
        self, target: PushTarget, data: bytes, message: Message
    ) -> str | SendError | None:
        """Provider id when accepted, None when the subscription is gone, else the error."""
        try:
            check(target.endpoint, self.allow_local)
        except EndpointRefused as exc:
            log.warning("web push subscription %s refused: %s", target.id, exc)
            return _Refused(f"push endpoint refused: {exc}", permanent=True)
        headers = self._auth(origin(target.endpoint))
        headers["Urgency"] = "high" if message.event_type in URGENT_EVENTS else "normal"
        # Same Topic for a redelivery: the push service replaces the undelivered copy.
        headers["Topic"] = message.digest[:32]
        pusher = WebPusher(
            {"endpoint": target.endpoint, "keys": {"p256dh": target.p256dh, "auth": target.auth}},
            # pywebpush only calls `post` on it; NoRedirects adds allow_redirects=False.
            aiohttp_session=cast(aiohttp.ClientSession, NoRedirects(self.session)),
        )
        try:
            resp = await pusher.send_async(
                data=data, headers=headers, ttl=self.ttl_s, timeout=self.timeout
            )
        except aiohttp.ClientConnectorError as exc:
            if isinstance(exc.os_error, AddressRefused):
                log.warning("web push subscription %s refused: %s", target.id, exc.os_error)
                return SendError(f"push endpoint refused: {exc.os_error}", permanent=True)
            return SendError(f"push service unreachable: {type(exc).__name__}", permanent=False)
        except (aiohttp.ClientError, TimeoutError) as exc:
            return SendError(f"push service unreachable: {type(exc).__name__}", permanent=False)
        assert not isinstance(resp, str)
        status = resp.status
        if status in (200, 201, 202):
            return resp.headers.get("Location") or f"push:{status}"
        if status in (404, 410):
            return None
        retry_after = parse_retry_after(resp.headers.get("Retry-After"))
        if status == 429 or status >= 500:
            return SendError(
                f"push service answered {status}", permanent=False, retry_after=retry_after
            )
        return SendError(f"push service refused the message: {status}", permanent=True)

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
