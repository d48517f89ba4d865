"""The local sink: what an unconfigured channel does instead of sending, so that the demo
works offline and a developer can see every message.

Each message becomes one JSON line in `var/outbox-sink/<channel>.jsonl` and one log line
(without the body: logs carry no personal data beyond the recipient's role and key)."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import logging
from pathlib import Path

from workers.notifications.channels import Message, SendError, SendResult

log = logging.getLogger("drivesync.sink")


class SinkChannel:
    """Writes messages of one channel to a JSON-lines file."""

    def __init__(self, name: str, directory: Path) -> None:
        self.name = name
        self.path = directory / f"{name}.jsonl"
        self._lock = asyncio.Lock()

    async def send(self, message: Message) -> SendResult:
        r = message.recipient
        address = r.email if self.name == "email" else r.phone
        if self.name in ("sms", "whatsapp", "email") and not address:
            raise SendError(f"recipient has no {self.name} address", permanent=True)
        line = {
            "at": dt.datetime.now(dt.UTC).isoformat(),
            "channel": self.name,
            "key": message.key,
            "tenant_id": message.tenant_id,
            "event_type": message.event_type,
            "to": address if self.name != "webpush" else r.key,
            "subject": message.rendered.subject,
            "text": message.rendered.text if self.name == "email" else message.rendered.short,
            "html": message.rendered.html if self.name == "email" else None,
            "attachments": [a.filename for a in message.attachments],
        }
        async with self._lock:
            await asyncio.to_thread(self._append, json.dumps(line, ensure_ascii=False))
        log.info("sink %s: %s to %s (%s)", self.name, message.event_type, r.role, message.key)
        return SendResult(provider_id=f"sink:{message.digest}", note="written to local sink")

    def _append(self, text: str) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with self.path.open("a", encoding="utf-8") as fh:
            fh.write(text + "\n")

    async def close(self) -> None:
        return None
