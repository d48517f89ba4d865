"""The payment provider: Stripe's client on asyncio, and the errors that say Stripe is not
configured or could not be reached. Shared by payment intents and webhooks (so neither
imports the other for them)."""

from __future__ import annotations

from typing import Any

import stripe

from sync.errors import DriveSyncError
from workers.config import WorkerConfig


class PaymentsUnavailable(DriveSyncError):
    """Stripe is not configured on this server."""

    code = "payments_unavailable"
    status = 503


class ProviderError(DriveSyncError):
    """Stripe could not be reached or refused the call; nothing was charged twice."""

    code = "payment_provider_error"
    status = 502


def stripe_client(
    config: WorkerConfig,
) -> tuple[stripe.StripeClient | None, stripe.AIOHTTPClient | None]:
    """A Stripe client on asyncio and its HTTP client, or Nones when no key is configured."""
    if not config.stripe_secret_key:
        return None, None
    kwargs: dict[str, Any] = {}
    if config.stripe_api_base:
        kwargs["base_addresses"] = {"api": config.stripe_api_base.rstrip("/")}
    http = stripe.AIOHTTPClient(timeout=config.send_timeout_s)
    client = stripe.StripeClient(
        config.stripe_secret_key, http_client=http, max_network_retries=2, **kwargs
    )
    return client, http
