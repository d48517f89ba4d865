"""Money: Stripe PaymentIntents and refunds for bookings (`intents`), Stripe's webhook
events verified, stored once and applied in any order (`webhooks`), and the provider's
client and errors (`provider`)."""
