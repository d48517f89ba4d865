"""SMS and WhatsApp through Twilio's Python SDK on asyncio (`AsyncTwilioHttpClient`,
`messages.create_async`).

WhatsApp is the same Messages API with `whatsapp:`-prefixed numbers; its sender defaults to
DRIVESYNC_TWILIO_FROM (a number enabled for both). Twilio offers no idempotency key, so a
crash between its 201 and our log line can duplicate one SMS; the dispatcher logs each send
the moment it returns to keep that window to one message.

Errors: 429 and 5xx answers, timeouts and connection failures are retried; other 4xx
answers (invalid number, unsubscribed recipient, 21610 "STOP"…) are permanent.
"""

from __future__ import annotations

from typing import Any

import aiohttp
from twilio.base.exceptions import TwilioRestException
from twilio.http.async_http_client import AsyncTwilioHttpClient
from twilio.http.response import Response
from twilio.rest import Client

from workers.notifications.channels import Message, SendError, SendResult

TWILIO_API = "https://api.twilio.com"


class RoutedAsyncHttpClient(AsyncTwilioHttpClient):  # type: ignore[misc]
    """The SDK's own async HTTP client, sending to another base URL when one is configured
    (a regional proxy, or the local stand-in that tests and benchmarks run)."""

    def __init__(self, api_base: str | None, timeout_s: float) -> None:
        super().__init__(timeout=timeout_s)
        self.api_base = api_base.rstrip("/") if api_base else None

    async def request(self, method: str, url: str, *args: Any, **kwargs: Any) -> Response:
        if self.api_base and url.startswith(TWILIO_API):
            url = self.api_base + url[len(TWILIO_API) :]
        # The SDK's async client ignores the timeout given to its constructor (the sync one
        # honours it); without this a hung connection would hold the delivery for minutes.
        if kwargs.get("timeout") is None:
            kwargs["timeout"] = self.timeout
        return await super().request(method, url, *args, **kwargs)


class TwilioChannel:
    """One channel ("sms" or "whatsapp") over a Twilio account."""

    def __init__(
        self,
        name: str,
        account_sid: str,
        auth_token: str,
        sender: str,
        api_base: str | None = None,
        timeout_s: float = 10.0,
    ) -> None:
        assert name in ("sms", "whatsapp")
        self.name = name
        self.sender = sender
        self.http = RoutedAsyncHttpClient(api_base, timeout_s)
        self.client = Client(account_sid, auth_token, http_client=self.http)

    def _address(self, number: str) -> str:
        number = number.strip()
        if self.name == "whatsapp" and not number.startswith("whatsapp:"):
            return f"whatsapp:{number}"
        return number

    async def send(self, message: Message) -> SendResult:
        phone = message.recipient.phone
        if not phone:
            raise SendError("recipient has no phone number", permanent=True)
        try:
            sent = await self.client.messages.create_async(
                to=self._address(phone),
                from_=self._address(self.sender),
                body=message.rendered.short,
            )
        except TwilioRestException as exc:
            transient = exc.status == 429 or exc.status >= 500
            raise SendError(
                f"Twilio {exc.status} (code {exc.code}): {exc.msg}", permanent=not transient
            ) from exc
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise SendError(f"Twilio unreachable: {type(exc).__name__}", permanent=False) from exc
        return SendResult(provider_id=sent.sid, note=str(sent.status) if sent.status else None)

    async def close(self) -> None:
        await self.http.close()
