"""The workers' own configuration, built from the server's `Settings` without importing it
(the layers run schemas ← sync ← workers ← server, so workers never import server).

`WorkerConfig.from_settings(settings)` reads the attributes it needs from any object that has
them (the real `Settings`, or a test double); every knob the server's Settings does not (yet)
declare falls back to the default written here.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

# Channels a delivery can go over. "webpush" is the Web Push protocol (RFC 8030/8291/8292).
CHANNELS = ("webpush", "email", "sms", "whatsapp")


@dataclass(frozen=True)
class WorkerConfig:
    """Everything the dispatcher, the channels and the Stripe effects need."""

    database_url: str = "sqlite+aiosqlite:///var/drivesync.sqlite3"
    var_dir: Path = Path("var")

    # Channels: None means "not configured", and that channel writes to the local sink.
    smtp_url: str | None = None
    email_from: str = "DriveSync <no-reply@drivesync.local>"
    smtp_timeout_s: float = 10.0
    smtp_pool_size: int = 8
    vapid_private_key: str | None = None
    vapid_subject: str = "mailto:admin@drivesync.local"
    push_ttl_s: int = 24 * 3600
    # Web push to http and to local, private or reserved addresses (a push service on
    # 127.0.0.1): tests and development only; off, such endpoints are refused when saved
    # and when sent to (workers/notifications/push_endpoint.py).
    push_allow_local_endpoints: bool = False
    twilio_account_sid: str | None = None
    twilio_auth_token: str | None = None
    twilio_from: str | None = None
    twilio_whatsapp_from: str | None = None
    # Where Twilio's and Stripe's REST APIs are (overridden only by tests and benchmarks).
    twilio_api_base: str | None = None
    stripe_secret_key: str | None = None
    stripe_webhook_secret: str | None = None
    stripe_api_base: str | None = None
    stripe_webhook_tolerance_s: int = 300
    send_timeout_s: float = 10.0

    # Account emails (invitation, password reset): where their links point, and how long
    # the one-time tokens they carry work (server.config.Settings declares the same names).
    public_url: str = "http://127.0.0.1:8080"
    invite_token_ttl_hours: int = 7 * 24
    reset_token_ttl_minutes: int = 60

    # The dispatcher.
    batch_size: int = 50
    concurrency: int = 16
    lease_s: float = 120.0
    poll_s: float = 1.0
    max_attempts: int = 8
    backoff_base_s: float = 2.0
    backoff_cap_s: float = 3600.0
    # Channels that wait for the end of a user's quiet hours; email is silent, so it is sent.
    quiet_channels: tuple[str, ...] = ("webpush", "sms", "whatsapp")

    # Scheduled notifications: reminders before a lesson and the instructors' digest.
    scheduler_interval_s: float = 60.0
    reminder_offsets_h: tuple[int, ...] = (24, 2)
    digest_hour: int = 18
    # A message still unread this many minutes after the server took it is emailed (one
    # email per thread per window of this length; 0: never). workers/notifications/messages.py
    message_email_delay_min: float = 15.0
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def sink_dir(self) -> Path:
        """Where unconfigured channels write what they would have sent."""
        return self.var_dir / "outbox-sink"

    @classmethod
    def from_settings(cls, settings: Any, **overrides: Any) -> WorkerConfig:
        """A config from the server's Settings (or anything with the same attribute names):
        each field takes `settings.<name>` (or `settings.worker_<name>`) when present."""
        values: dict[str, Any] = {}
        for f in dataclasses.fields(cls):
            if f.name == "extra":
                continue
            for attr in (f.name, f"worker_{f.name}"):
                value = getattr(settings, attr, None)
                if value is not None:
                    values[f.name] = value
                    break
        if "var_dir" in values:
            values["var_dir"] = Path(values["var_dir"])
        for name in ("quiet_channels", "reminder_offsets_h"):
            if name in values:
                values[name] = tuple(values[name])
        values.update(overrides)
        return cls(**values)

    def replace(self, **changes: Any) -> WorkerConfig:
        return dataclasses.replace(self, **changes)
