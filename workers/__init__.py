"""Side effects, delivered after commit. Imports sync and schemas, never server. Two
concerns, a folder each, around a shared queue:

- `workers.outbox`: the outbox as a work queue (claim under lease, acknowledge, reschedule,
  dead letter); `workers.dispatcher`: claims events, expands, sends, settles;
  `workers.run`: `run_worker` (the `drivesync worker` command), `in_process` (inside the
  server), `build_channels`; `workers.config`: `WorkerConfig`, built from the server's
  Settings; `workers.money`: amounts for people, the platform fee split.
- `workers.notifications`: who receives an event and what it says (`events`,
  `recipients`), preferences and quiet hours, Jinja2 templates and default wording, the
  channels (web push, email, SMS/WhatsApp via Twilio, the local sink), the delivery log
  that makes sends idempotent, Web Push subscriptions, reminders and digests (`scheduler`).
- `workers.payments`: PaymentIntents and refunds (`intents`), Stripe webhooks and payouts
  (`webhooks`), the Stripe client and its errors (`provider`).
"""

from workers.config import CHANNELS, WorkerConfig

__all__ = ["CHANNELS", "WorkerConfig"]
