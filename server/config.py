"""One `Settings` object, read from `DRIVESYNC_*` environment variables and validated at
start, so a bad setting fails fast with the variable's name and what was wrong."""

from __future__ import annotations

import secrets
from pathlib import Path

from pydantic import Field, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

DEFAULT_VAR_DIR = Path("var")


class Settings(BaseSettings):
    """Every setting of the server and workers; see docs/operations.md."""

    model_config = SettingsConfigDict(env_prefix="DRIVESYNC_", extra="ignore")

    database_url: str = Field(
        default=f"sqlite+aiosqlite:///{DEFAULT_VAR_DIR}/drivesync.sqlite3",
        description="SQLAlchemy URL: sqlite+aiosqlite:///path or postgresql+asyncpg://…",
    )
    secret_key: str = Field(
        default="",
        description="Signs access tokens and sync cursors. Empty: a random key is made "
        "once and kept in var/secret.key (fine for one machine, not for several).",
    )
    host: str = "127.0.0.1"
    port: int = Field(default=8080, ge=1, le=65535)
    var_dir: Path = DEFAULT_VAR_DIR
    access_token_ttl_s: int = Field(default=900, ge=30, le=86_400)
    refresh_token_ttl_days: int = Field(default=30, ge=1, le=365)
    login_max_failures: int = Field(default=5, ge=1)
    login_window_s: int = Field(default=900, ge=1)
    tombstone_horizon_days: int = Field(default=30, ge=1)
    max_clock_skew_ms: int = Field(default=300_000, ge=0)
    max_push_mutations: int = Field(default=500, ge=1, le=500)
    max_push_bytes: int = Field(default=2 * 1024 * 1024, ge=1024)
    max_pull_limit: int = Field(default=5000, ge=1, le=5000)
    default_pull_limit: int = Field(default=1000, ge=1, le=5000)
    max_inflight_requests: int = Field(
        default=256, ge=1, description="Requests served at once per process before 503 overloaded."
    )
    # Transport limits (docs/operations.md, "Transport limits and timeouts").
    body_timeout_s: float = Field(
        default=60.0,
        gt=0,
        description="Time a request's body has to arrive in full before 408 body_timeout "
        "(and the connection is closed).",
    )
    keepalive_timeout_s: float = Field(
        default=30.0,
        gt=0,
        description="An idle connection, or one that has not sent a request's complete "
        "headers within this time of opening or of its previous response, is closed.",
    )
    max_header_bytes: int = Field(
        default=8190,
        ge=1024,
        le=65536,
        description="Longest request line or header field (400 beyond, from aiohttp).",
    )
    max_headers: int = Field(default=128, ge=16, le=1024, description="Headers per request.")
    heartbeat_s: float = Field(default=25.0, gt=0)
    ws_auth_timeout_s: float = Field(default=5.0, gt=0)
    pwa_dir: Path | None = None
    run_dispatcher: bool = Field(
        default=False, description="Run the outbox dispatcher inside the server process."
    )
    log_level: str = "INFO"
    strict_responses: bool = Field(
        default=False,
        description="Validate every response body in full against its published model and "
        "answer 500 response_mismatch when it differs (tests). Off: push and pull bodies are "
        "checked at the envelope only and a mismatch is logged, not refused.",
    )

    # Accounts (issue 11): the links in invitation and password-reset emails.
    public_url: str = Field(
        default="",
        description="The address people open the app at, e.g. https://app.school.example; "
        "email links start with it. Empty: http://<host>:<port>.",
    )
    invite_token_ttl_hours: int = Field(
        default=7 * 24, ge=1, le=90 * 24, description="How long an invitation link works."
    )
    reset_token_ttl_minutes: int = Field(
        default=60, ge=5, le=7 * 24 * 60, description="How long a password-reset link works."
    )

    # Channels (issue 4); unset means the local file/console sink.
    smtp_url: str | None = None
    email_from: str = "DriveSync <no-reply@drivesync.local>"
    vapid_private_key: str | None = None
    vapid_subject: str = "mailto:admin@drivesync.local"
    twilio_account_sid: str | None = None
    twilio_auth_token: str | None = None
    twilio_from: str | None = None
    stripe_secret_key: str | None = None
    stripe_webhook_secret: str | None = None
    stripe_api_base: str | None = Field(
        default=None,
        description="Where Stripe's API is (unset: Stripe's own). Tests and local "
        "development point it at a stand-in (tests/workers/peers.py StripePeer).",
    )
    push_allow_local_endpoints: bool = Field(
        default=False,
        description="Accept and send to web push endpoints on http:// or local/private "
        "addresses: tests and development only (read by WorkerConfig.from_settings).",
    )

    # The outbox dispatcher (`drivesync worker`, or in-process); defaults as in WorkerConfig,
    # which a unit test keeps in step.
    worker_batch_size: int = Field(default=50, ge=1, le=1000)
    worker_concurrency: int = Field(default=16, ge=1, le=1000)
    worker_lease_s: float = Field(default=120.0, gt=0)
    worker_poll_s: float = Field(default=1.0, gt=0)
    worker_max_attempts: int = Field(default=8, ge=1, le=100)
    worker_backoff_base_s: float = Field(default=2.0, ge=0)
    worker_backoff_cap_s: float = Field(default=3600.0, ge=0)
    worker_send_timeout_s: float = Field(default=10.0, gt=0)
    worker_scheduler_interval_s: float = Field(
        default=60.0, ge=0, description="How often reminders and digests are written; 0 = never."
    )
    worker_reminder_offsets_h: list[int] = Field(default=[24, 2])
    worker_digest_hour: int = Field(default=18, ge=0, le=23)
    worker_message_email_delay_min: float = Field(
        default=15.0,
        ge=0,
        le=7 * 24 * 60,
        description="Minutes a message stays unread before it is emailed; 0 = never.",
    )

    @field_validator("worker_reminder_offsets_h")
    @classmethod
    def _offsets(cls, value: list[int]) -> list[int]:
        if any(h < 1 or h > 24 * 14 for h in value) or len(set(value)) != len(value):
            raise ValueError("must be distinct whole hours between 1 and 336, e.g. [24, 2]")
        return sorted(value, reverse=True)

    @field_validator("database_url")
    @classmethod
    def _known_driver(cls, value: str) -> str:
        if not value.startswith(("sqlite+aiosqlite://", "postgresql+asyncpg://")):
            raise ValueError(
                "must start with sqlite+aiosqlite:// or postgresql+asyncpg:// "
                f"(got {value.split(':', 1)[0]!r})"
            )
        return value

    @field_validator("log_level")
    @classmethod
    def _level(cls, value: str) -> str:
        if value.upper() not in {"DEBUG", "INFO", "WARNING", "ERROR"}:
            raise ValueError("must be DEBUG, INFO, WARNING or ERROR")
        return value.upper()

    @field_validator("public_url")
    @classmethod
    def _public_url(cls, value: str) -> str:
        value = value.strip().rstrip("/")
        if value and not value.startswith(("http://", "https://")):
            raise ValueError("must start with http:// or https://, e.g. https://app.school.example")
        return value

    @model_validator(mode="after")
    def _default_public_url(self) -> Settings:
        # Read by the workers too (WorkerConfig.from_settings), so it is filled in here.
        if not self.public_url:
            self.public_url = f"http://{self.host}:{self.port}"
        return self

    @property
    def is_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite")

    def resolved_secret(self) -> str:
        """The signing key: the configured one, or a random one kept in var/secret.key."""
        if self.secret_key:
            return self.secret_key
        path = self.var_dir / "secret.key"
        if path.exists():
            return path.read_text().strip()
        path.parent.mkdir(parents=True, exist_ok=True)
        key = secrets.token_urlsafe(48)
        path.write_text(key)
        path.chmod(0o600)
        return key


class SettingsError(Exception):
    """A setting that cannot be used, with the variable name spelled out."""


def load_settings(**overrides: object) -> Settings:
    """Read settings from the environment, turning pydantic's errors into one message a
    person can act on: which `DRIVESYNC_` variable, and what was wrong with it."""
    try:
        return Settings(**overrides)  # type: ignore[arg-type]
    except ValidationError as exc:
        lines = []
        for err in exc.errors():
            name = "DRIVESYNC_" + "_".join(str(p) for p in err["loc"]).upper()
            lines.append(f"{name}: {err['msg']}")
        raise SettingsError("invalid configuration:\n  " + "\n  ".join(lines)) from exc
