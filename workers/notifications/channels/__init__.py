"""Delivery channels: web push, email, SMS and WhatsApp, and the local sink that stands in for
any channel that is not configured.

Every channel has the same shape: `send(message)` returns a `SendResult` or raises
`SendError`, whose `permanent` flag decides between retrying later (timeouts, 429, 5xx,
4xx SMTP replies) and giving up (the provider refused the message for good: invalid number,
mailbox does not exist). `retry_after` carries a provider's Retry-After.

    SendError (permanent: bool, retry_after: float | None)
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import Protocol

from workers.notifications.attachments import Attachment
from workers.notifications.recipients import Recipient
from workers.notifications.templates import Rendered


@dataclass(frozen=True)
class PushTarget:
    """One device's Web Push subscription."""

    id: str
    endpoint: str
    p256dh: str
    auth: str


@dataclass(frozen=True)
class Message:
    """One delivery: a rendered event for one recipient on one channel."""

    key: str  # idempotency key: f"{outbox_id}:{recipient}:{channel}"
    tenant_id: str
    event_type: str
    recipient: Recipient
    rendered: Rendered
    push_targets: tuple[PushTarget, ...] = ()
    data: dict[str, str] = field(default_factory=dict)
    attachments: tuple[Attachment, ...] = ()  # email only

    @property
    def digest(self) -> str:
        """A short stable hash of the idempotency key (Message-ID, push Topic)."""
        return hashlib.sha256(self.key.encode()).hexdigest()[:32]


@dataclass(frozen=True)
class SendResult:
    """What the provider said: its id for the message, and which push subscriptions turned
    out to be gone (404/410) and must be deleted. `status` is "skipped" when there was
    nothing to send to (no subscription left)."""

    provider_id: str | None
    status: str = "sent"
    note: str | None = None
    gone: tuple[str, ...] = ()


class SendError(Exception):
    """A send that failed; `permanent` ones are not retried."""

    def __init__(
        self,
        message: str,
        *,
        permanent: bool,
        retry_after: float | None = None,
        gone: tuple[str, ...] = (),
    ) -> None:
        super().__init__(message)
        self.permanent = permanent
        self.retry_after = retry_after
        self.gone = gone


class Channel(Protocol):
    """A way to reach people."""

    name: str

    async def send(self, message: Message) -> SendResult: ...

    async def close(self) -> None: ...


def parse_retry_after(value: str | None) -> float | None:
    """Seconds from a Retry-After header (delta-seconds or an HTTP date)."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    import datetime as dt
    from email.utils import parsedate_to_datetime

    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=dt.UTC)
    return max(0.0, (when - dt.datetime.now(dt.UTC)).total_seconds())
