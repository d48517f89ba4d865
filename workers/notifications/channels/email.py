"""Email over SMTP with aiosmtplib (asyncio-native, so no thread per message).

Configured by one URL, `DRIVESYNC_SMTP_URL`:
- `smtp://user:pass@host:587` — plain connection upgraded with STARTTLS when the server
  offers it (`?starttls=require` refuses a server that does not, `?starttls=off` never tries);
- `smtps://user:pass@host:465` — TLS from the first byte (implicit TLS);
- `?verify=false` accepts a self-signed certificate (test relays only).
User and password are URL-encoded in the URL; both are optional (an open relay on localhost).

Each message has a plain-text and an HTML part (and the event's attachments, such as an
invoice's PDF), a Message-ID derived from its idempotency key (a redelivery after a crash
carries the same id, so mail systems can drop the duplicate),
and `Auto-Submitted: auto-generated` so auto-responders stay quiet. A few connections are kept
open and reused; one that failed is discarded.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from email.message import EmailMessage
from email.utils import formataddr, formatdate, parseaddr
from urllib.parse import parse_qs, unquote, urlsplit

import aiosmtplib

from workers.notifications.channels import Message, SendError, SendResult


@dataclass(frozen=True)
class SmtpTarget:
    """A parsed DRIVESYNC_SMTP_URL."""

    host: str
    port: int
    implicit_tls: bool
    starttls: bool | None  # None: when offered
    username: str | None
    password: str | None
    verify: bool


def parse_smtp_url(url: str) -> SmtpTarget:
    """Read `smtp://` / `smtps://` URLs (see the module docstring); ValueError if malformed."""
    parts = urlsplit(url)
    if parts.scheme not in ("smtp", "smtps"):
        raise ValueError("DRIVESYNC_SMTP_URL must start with smtp:// or smtps://")
    if not parts.hostname:
        raise ValueError("DRIVESYNC_SMTP_URL has no host")
    query = {k: v[-1].lower() for k, v in parse_qs(parts.query).items()}
    implicit = parts.scheme == "smtps"
    mode = query.get("starttls", "auto")
    starttls = None if mode == "auto" else mode in ("require", "true", "on", "1")
    if implicit:
        starttls = False
    return SmtpTarget(
        host=parts.hostname,
        port=parts.port or (465 if implicit else 25),
        implicit_tls=implicit,
        starttls=starttls,
        username=unquote(parts.username) if parts.username else None,
        password=unquote(parts.password) if parts.password else None,
        verify=query.get("verify", "true") not in ("false", "0", "no", "off"),
    )


class EmailChannel:
    """Sends through one SMTP server with a small pool of reused connections."""

    name = "email"
    MAX_IDLE_S = 30.0

    def __init__(self, url: str, sender: str, timeout_s: float = 10.0, pool_size: int = 2) -> None:
        self.target = parse_smtp_url(url)
        self.sender = sender
        self.timeout_s = timeout_s
        self._slots = asyncio.Semaphore(max(1, pool_size))
        self._idle: list[tuple[aiosmtplib.SMTP, float]] = []
        domain = parseaddr(sender)[1].rpartition("@")[2]
        self.domain = domain or "drivesync.local"

    def build(self, message: Message) -> EmailMessage:
        """The MIME message: text and HTML alternatives and the headers described above."""
        r, rendered = message.recipient, message.rendered
        em = EmailMessage()
        em["From"] = self.sender
        em["To"] = formataddr((r.name, r.email or ""))
        em["Subject"] = rendered.subject
        em["Date"] = formatdate(usegmt=True)
        em["Message-ID"] = f"<{message.digest}@{self.domain}>"
        em["Auto-Submitted"] = "auto-generated"
        em["X-DriveSync-Event"] = message.event_type
        em.set_content(rendered.text)
        if rendered.html:
            em.add_alternative(rendered.html, subtype="html")
        for a in message.attachments:  # the message becomes multipart/mixed
            maintype, _, subtype = a.content_type.partition("/")
            em.add_attachment(a.data, maintype=maintype, subtype=subtype, filename=a.filename)
        return em

    async def send(self, message: Message) -> SendResult:
        if not message.recipient.email:
            raise SendError("recipient has no email address", permanent=True)
        em = self.build(message)
        async with self._slots:
            client = await self._acquire()
            try:
                _errors, reply = await client.send_message(em)
            except aiosmtplib.SMTPRecipientsRefused as exc:
                self._release(client)
                codes = [r.code for r in exc.recipients]
                raise SendError(
                    f"recipient refused: {codes}", permanent=all(c >= 500 for c in codes)
                ) from exc
            except aiosmtplib.SMTPResponseException as exc:
                await self._discard(client)
                raise SendError(
                    f"SMTP {exc.code}: {exc.message}", permanent=500 <= exc.code < 600
                ) from exc
            except (aiosmtplib.SMTPException, OSError, TimeoutError) as exc:
                await self._discard(client)
                raise SendError(
                    f"SMTP error: {type(exc).__name__}: {exc}", permanent=False
                ) from exc
            self._release(client)
        return SendResult(provider_id=em["Message-ID"], note=reply[:200] if reply else None)

    async def _acquire(self) -> aiosmtplib.SMTP:
        now = time.monotonic()
        while self._idle:
            client, since = self._idle.pop()
            if client.is_connected and now - since < self.MAX_IDLE_S:
                return client
            await self._discard(client)
        t = self.target
        client = aiosmtplib.SMTP(
            hostname=t.host,
            port=t.port,
            use_tls=t.implicit_tls,
            start_tls=t.starttls,
            validate_certs=t.verify,
            timeout=self.timeout_s,
            username=t.username,
            password=t.password,
        )
        try:
            await client.connect()
        except (aiosmtplib.SMTPException, OSError, TimeoutError) as exc:
            raise SendError(
                f"SMTP connect failed: {type(exc).__name__}: {exc}", permanent=False
            ) from exc
        return client

    def _release(self, client: aiosmtplib.SMTP) -> None:
        self._idle.append((client, time.monotonic()))

    async def _discard(self, client: aiosmtplib.SMTP) -> None:
        try:
            if client.is_connected:
                client.close()
        except Exception:  # closing a broken connection must not mask the real error
            pass

    async def close(self) -> None:
        idle, self._idle = self._idle, []
        for client, _since in idle:
            try:
                await asyncio.wait_for(client.quit(), 2)
            except Exception:
                client.close()
