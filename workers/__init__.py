"""Side effects, delivered after commit: the outbox dispatcher, its channels, the clock's
notifications and Stripe's payment effects. Imports sync and schemas, never server.

- `workers.run`: `run_worker` (the `drivesync worker` command), `in_process` (inside the
  server), `build_channels`;
- `workers.dispatcher`: claims outbox events, expands, sends, settles;
- `workers.outbox`: claim under lease, acknowledge, reschedule, dead letter;
- `workers.events` / `workers.recipients`: who receives an event and what it says;
- `workers.preferences`: event types, default channels, quiet hours, opt-out;
- `workers.templates` / `workers.default_templates`: Jinja2 rendering, default wording;
- `workers.notifications`: the delivery log, which also makes deliveries idempotent;
- `workers.subscriptions`: devices' Web Push subscriptions;
- `workers.channels`: web push, email, SMS/WhatsApp (Twilio) and the local sink;
- `workers.scheduler`: lesson reminders and instructors' digests;
- `workers.payments` / `workers.stripe_events`: PaymentIntents, refunds, webhooks, payouts;
- `workers.money`: amounts for people, the platform fee split;
- `workers.config`: `WorkerConfig`, built from the server's Settings.
"""

from workers.config import CHANNELS, WorkerConfig

__all__ = ["CHANNELS", "WorkerConfig"]
