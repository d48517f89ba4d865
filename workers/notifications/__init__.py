"""Telling people: who receives an event and what it says (`events`, `recipients`), their
preferences and quiet hours (`preferences`), templates (`templates`, `default_templates`),
the channels that deliver (`channels`), the delivery log that makes sends idempotent
(`delivery_log`), devices' Web Push subscriptions (`subscriptions`) and the notifications
the clock causes (`scheduler`)."""
