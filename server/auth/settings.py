"""Settings of sign-in limits and access-token checks (`DRIVESYNC_*`, like server.config).

They live here rather than in `server.config.Settings` so the auth package owns its knobs;
`AuthService` reads them from the environment unless given an `AuthSettings`. The older
`login_max_failures` and `login_window_s` of `Settings` keep their names and now mean the
free failures per (account, address) pair and how long a failure is remembered.
"""

from __future__ import annotations

import os

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class AuthSettings(BaseSettings):
    """Login throttling, the password-hashing pool and the access-token revocation check."""

    model_config = SettingsConfigDict(env_prefix="DRIVESYNC_", extra="ignore")

    trusted_proxy_hops: int = Field(
        default=0,
        ge=0,
        le=10,
        description="Proxies in front of the server that append to X-Forwarded-For. 0: the "
        "client address is the socket's peer and X-Forwarded-For is ignored (it is forgeable).",
    )
    login_hash_threads: int = Field(
        default=0,
        ge=0,
        le=64,
        description="Threads hashing passwords at once; 0: one fewer than the cores (at least "
        "one), so sign-ins never take every core from sync traffic.",
    )
    login_queue: int = Field(
        default=16,
        ge=0,
        description="Sign-ins allowed to wait for a hashing thread; past it 503 overloaded.",
    )
    login_address_free: int = Field(
        default=10, ge=1, description="Failed sign-ins an address makes before it is slowed."
    )
    login_delay_base_s: float = Field(
        default=1.0, gt=0, description="First delay once the free failures are spent; doubles."
    )
    login_address_delay_max_s: float = Field(
        default=60.0, gt=0, description="Longest delay imposed on an address."
    )
    login_school_rate: float = Field(
        default=2.0, gt=0, description="Sign-in attempts per second a school accepts (bucket)."
    )
    login_school_burst: int = Field(
        default=20, ge=1, description="Attempts a school accepts at once before the rate applies."
    )
    login_table_size: int = Field(
        default=50_000, ge=100, description="Addresses/accounts/schools remembered per table (LRU)."
    )
    access_check_s: float = Field(
        default=30.0,
        ge=0,
        description="How long a process trusts its last check that an access token's user is "
        "active, still in the school and not logged out: the bound on how long a token keeps "
        "working after that changes. 0: check on every request.",
    )

    forgot_address_burst: int = Field(
        default=10,
        ge=1,
        description="Forgot-password requests an address may make at once; then one per "
        "forgot_refill_s / burst seconds (429 rate_limited).",
    )
    forgot_account_burst: int = Field(
        default=3,
        ge=1,
        description="Forgot-password requests for one (school, email) at once, whoever asks; "
        "counted alike whether or not the account exists.",
    )
    forgot_refill_s: float = Field(
        default=3600.0, gt=0, description="Time in which a forgot-password bucket refills."
    )

    def hash_threads(self) -> int:
        """The hashing pool size (`login_hash_threads`, or cores - 1, at least 1)."""
        return self.login_hash_threads or max(1, (os.cpu_count() or 2) - 1)
