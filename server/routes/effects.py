"""Side-effect endpoints: Web Push subscriptions, notification preferences, Stripe payments
and webhooks, and the admin view of the delivery log and dead letters. Thin: authenticate,
validate, call workers/, answer. Also runs the outbox dispatcher inside the server when
DRIVESYNC_RUN_DISPATCHER is true (the one-command demo)."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from typing import Annotated, Any, Literal

from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field, model_validator

from schemas.wire import Uuid
from server.http import json_response, parse, principal, read_json, require_admin
from server.keys import SETTINGS, SYNC
from server.middlewares import public
from server.params import int_param, path_id, text_param, uuid_param
from server.vapid import public_key_of
from sync.errors import NotFound, TooLarge
from sync.store import CommitInfo
from workers import outbox
from workers.config import WorkerConfig
from workers.dispatcher import Dispatcher
from workers.notifications import delivery_log, preferences, subscriptions
from workers.payments.checkout import Target, start_checkout
from workers.payments.intents import Payments
from workers.payments.webhooks import handle_webhook

routes = web.RouteTableDef()

WORKER_CONFIG = web.AppKey("worker_config", WorkerConfig)
PAYMENTS = web.AppKey("payments", Payments)
DISPATCHER: web.AppKey[Dispatcher | None] = web.AppKey("dispatcher")

Channel = Literal["webpush", "email", "sms", "whatsapp"]
HhMm = Annotated[str, Field(pattern=r"^([01]\d|2[0-3]):[0-5]\d$")]


class Keys(BaseModel):
    p256dh: Annotated[str, Field(min_length=20, max_length=200)]
    auth: Annotated[str, Field(min_length=8, max_length=100)]


class SubscriptionBody(BaseModel):
    """A browser's PushSubscription.toJSON(), plus the device's client_id."""

    model_config = ConfigDict(extra="ignore")  # browsers add expirationTime
    endpoint: Annotated[str, Field(min_length=10, max_length=2000)]
    keys: Keys
    client_id: Uuid | None = None


class EndpointBody(BaseModel):
    endpoint: Annotated[str, Field(min_length=10, max_length=2000)]


class EventChoice(BaseModel):
    model_config = ConfigDict(extra="forbid")
    channels: Annotated[list[Channel], Field(max_length=4)]
    opted_out: bool = False


class QuietHours(BaseModel):
    model_config = ConfigDict(extra="forbid")
    start: HhMm
    end: HhMm


class PreferencesBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    events: dict[str, EventChoice | None] = {}
    quiet_hours: QuietHours | None = None
    opted_out: bool | None = None


class IntentBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    booking_id: Uuid


class CheckoutBody(BaseModel):
    """Exactly one of: a booking; a package for a student; a student's outstanding balance.
    `return_to` is the app's screen (a route name) the hosted page sends the payer back to."""

    model_config = ConfigDict(extra="forbid")
    booking_id: Uuid | None = None
    package_id: Uuid | None = None
    student_id: Uuid | None = None
    balance_student_id: Uuid | None = None
    return_to: Annotated[str, Field(pattern=r"^[a-z][a-z_]{0,31}$")] = "bookings"

    @model_validator(mode="after")
    def _one_target(self) -> CheckoutBody:
        shapes = [
            self.booking_id is not None and self.package_id is None and self.student_id is None,
            self.package_id is not None and self.student_id is not None,
            self.balance_student_id is not None,
        ]
        given = [self.booking_id, self.package_id, self.student_id, self.balance_student_id]
        if sum(shapes) != 1 or sum(v is not None for v in given) != (2 if shapes[1] else 1):
            raise ValueError(
                "give exactly one of booking_id, package_id with student_id, balance_student_id"
            )
        return self


class RefundBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    amount_cents: Annotated[int, Field(gt=0)] | None = None
    reason: Literal["duplicate", "fraudulent", "requested_by_customer"] | None = None


@routes.get("/v1/push/vapid-key")
@public
async def vapid_key(request: web.Request) -> web.Response:
    key = request.app[WORKER_CONFIG].vapid_private_key
    if not key:  # the PWA then says notifications are not available (not an error)
        raise NotFound("web push is not configured on this server (DRIVESYNC_VAPID_PRIVATE_KEY)")
    return json_response({"enabled": True, "public_key": public_key_of(key)})


@routes.post("/v1/push/subscriptions")
async def subscribe(request: web.Request) -> web.Response:
    who = principal(request)
    body = parse(SubscriptionBody, await read_json(request, 16 * 1024))
    keys, store = body.keys, request.app[SYNC].store
    allow_local = request.app[WORKER_CONFIG].push_allow_local_endpoints
    record, created = await subscriptions.add(
        store, who, body.endpoint, keys.p256dh, keys.auth, body.client_id, allow_local
    )
    return json_response(record, status=201 if created else 200)


@routes.delete("/v1/push/subscriptions")
async def unsubscribe(request: web.Request) -> web.Response:
    who = principal(request)
    endpoint = request.query.get("endpoint")
    if endpoint is None:
        endpoint = parse(EndpointBody, await read_json(request, 16 * 1024)).endpoint
    if not await subscriptions.remove(request.app[SYNC].store, who, endpoint):
        raise NotFound("no subscription of yours has this endpoint")
    return web.Response(status=204)


@routes.get("/v1/me/notification-preferences")
async def get_preferences(request: web.Request) -> web.Response:
    who = principal(request)
    return json_response(await preferences.current(request.app[SYNC].store, who))


@routes.put("/v1/me/notification-preferences")
async def put_preferences(request: web.Request) -> web.Response:
    who = principal(request)
    body = parse(PreferencesBody, await read_json(request, 64 * 1024))
    events = {k: (v.model_dump() if v is not None else None) for k, v in body.events.items()}
    quiet: Any = preferences.UNSET
    if "quiet_hours" in body.model_fields_set:
        quiet = body.quiet_hours.model_dump() if body.quiet_hours else None
    store = request.app[SYNC].store
    return json_response(await preferences.change(store, who, events, quiet, body.opted_out))


@routes.post("/v1/payments/intents")
async def create_intent(request: web.Request) -> web.Response:
    who = principal(request)
    body = parse(IntentBody, await read_json(request, 16 * 1024))
    return json_response(await request.app[PAYMENTS].create_intent(who, body.booking_id), 201)


@routes.post("/v1/payments/checkout")
async def create_checkout(request: web.Request) -> web.Response:
    who = principal(request)
    body = parse(CheckoutBody, await read_json(request, 16 * 1024))
    target = Target(body.booking_id, body.package_id, body.student_id, body.balance_student_id)
    config = request.app[WORKER_CONFIG]
    result = await start_checkout(
        request.app[PAYMENTS], who, target, config.public_url, body.return_to
    )
    return json_response(result, 201)


@routes.post("/v1/webhooks/stripe/{tenant_slug}")
@public
async def stripe_webhook(request: web.Request) -> web.Response:
    config = request.app[WORKER_CONFIG]
    if request.content_length is not None and request.content_length > 1024 * 1024:
        raise TooLarge("webhook body over 1 MiB")
    payload = await request.read()
    result = await handle_webhook(
        request.app[SYNC].store,
        request.match_info["tenant_slug"],
        payload,
        request.headers.get("Stripe-Signature"),
        config.stripe_webhook_secret,
        config.stripe_webhook_tolerance_s,
    )
    return json_response(result)


@routes.post("/v1/admin/payments/{payment_id}/refund")
async def refund(request: web.Request) -> web.Response:
    who = require_admin(request)
    raw = await read_json(request, 16 * 1024) if request.can_read_body else {}
    payment_id = path_id(request.match_info, "payment_id", "payment")
    body = parse(RefundBody, raw)
    result = await request.app[PAYMENTS].refund(who, payment_id, body.amount_cents, body.reason)
    return json_response(result, 201)


@routes.get("/v1/admin/notifications")
async def notification_log(request: web.Request) -> web.Response:
    who = require_admin(request)
    q = request.query
    status = text_param(q, "status", choices=delivery_log.STATUSES)
    event_type = text_param(q, "event_type")
    outbox_id = uuid_param(q, "outbox_id")
    limit = int_param(q, "limit", 100, 1, 1000)
    store = request.app[SYNC].store
    return json_response(
        await delivery_log.admin_view(store, who.tenant_id, status, event_type, outbox_id, limit)
    )


@routes.post("/v1/admin/notifications/{outbox_id}/retry")
async def retry(request: web.Request) -> web.Response:
    who = require_admin(request)
    store, given = request.app[SYNC].store, path_id(request.match_info, "outbox_id", "outbox event")
    outbox_id = await outbox.retry(store, who.tenant_id, given)
    dispatcher = request.app.get(DISPATCHER)
    if dispatcher is not None:
        dispatcher.wake()
    return json_response({"outbox_id": outbox_id, "status": "pending"})


async def _effects(app: web.Application) -> AsyncIterator[None]:
    """Payments for the app's lifetime, and the dispatcher when the server runs it."""
    from workers.run import in_process, make_dispatcher

    settings = app[SETTINGS]
    # A config set on the app before start-up wins (tests point providers at local peers).
    config = app.get(WORKER_CONFIG) or WorkerConfig.from_settings(settings)
    app[WORKER_CONFIG] = config
    store = app[SYNC].store
    app[PAYMENTS] = Payments(config, store)
    app[DISPATCHER] = None
    try:
        if not settings.run_dispatcher:
            yield
            return
        dispatcher = make_dispatcher(
            config, store.sessions, store.dialect, f"server-{os.getpid()}", store
        )

        async def wake(_info: CommitInfo) -> None:
            dispatcher.wake()  # a commit may have written outbox rows: look now

        store.listeners.append(wake)
        app[DISPATCHER] = dispatcher
        async with in_process(dispatcher):
            yield
        store.listeners.remove(wake)
    finally:
        await app[PAYMENTS].close()


def setup(app: web.Application) -> None:
    """Register the routes and the effects' lifetime (after the sync engine's)."""
    app.cleanup_ctx.append(_effects)
    app.add_routes(routes)
