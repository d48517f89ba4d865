"""The OpenAPI 3.1 document, generated from the wire models (one source of truth).

What it promises, and tests/integration/test_schemathesis.py holds it to against the live
server: every request body an operation reads is described and marked required when the
handler always reads one; every status an operation answers is declared, errors with the
one error shape (`ErrorResponse`); the operations that need no token say `security: []`
(taken from the handlers' `@public` mark when the document is served, so it cannot drift);
`503` (overloaded or database unavailable; not on /healthz) carries `Retry-After`. A method
a path does not serve answers `405` with `Allow` listing the methods it does (aiohttp's
router; the error middleware keeps the header), so it is not repeated on every path.
"""

from __future__ import annotations

import re
from functools import lru_cache
from typing import Any, NamedTuple

from pydantic import BaseModel
from pydantic.json_schema import JsonSchemaMode, models_json_schema

from schemas.accounts import ACCOUNT_REQUESTS
from schemas.response import RESPONSE_MODELS
from schemas.wire import RECORD_MODELS, REQUEST_MODELS, WRITE_MODELS, RefreshRequest, TripRoute
from server.routes.admin import AssignBody, ResolveBody, SchoolBody
from server.routes.credits import CreditAdjustmentBody
from server.routes.effects import (
    CheckoutBody,
    EndpointBody,
    IntentBody,
    PreferencesBody,
    RefundBody,
    SubscriptionBody,
)
from server.routes.templates import PreviewBody, TemplateBody
from sync import money_reports
from sync.admin import JOURNAL_KINDS, JOURNAL_STATUSES
from workers.notifications import delivery_log

ADMIN_REQUESTS = (AssignBody, ResolveBody, SchoolBody, CreditAdjustmentBody)
EFFECT_REQUESTS = (
    SubscriptionBody,
    EndpointBody,
    PreferencesBody,
    IntentBody,
    CheckoutBody,
    RefundBody,
    TemplateBody,
    PreviewBody,
)
BEARER: list[dict[str, list[str]]] = [{"bearer": []}]

# What each error status means here (the code in the body is the stable part).
ERRORS = {
    400: "bad_request: the body is not JSON (or not the JSON this operation reads); "
    "invalid_token: an account link's token is unknown, used or expired",
    401: "unauthenticated: no valid access token",
    403: "forbidden: the token's role may not do this; wrong_password (password change)",
    404: "not_found",
    409: "conflict, or seq_gap (push): details say what to do",
    410: "reset_required: the cursor is too old or not this user's; sync from scratch",
    413: "too_large: the body (or a push's mutation count) is over the limit",
    422: "invalid: details.field names what is wrong; weak_password: the new password "
    "breaks the rule (details.reason)",
    426: "upgrade_required: this schema_version is not supported",
    429: "rate_limited: retry after Retry-After seconds",
    503: "overloaded or database_unavailable: retry after Retry-After seconds",
}
# A body was read (400 not JSON, 413 too large, 422 invalid) / any answer may shed load.
BODY_ERRORS = (400, 413, 422)


class Route(NamedTuple):
    """A served route as the router knows it: method, path, summary, whether @public."""

    method: str
    path: str
    summary: str
    public: bool


def _ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def _json(name: str | None) -> dict[str, Any]:
    """JSON content of a named schema (None: any JSON object)."""
    schema: dict[str, Any] = _ref(name) if name else {"type": "object"}
    return {"content": {"application/json": {"schema": schema}}}


def _body(name: str | None, *, required: bool = True) -> dict[str, Any]:
    return {"required": required, **_json(name)}


def _errors(*codes: int) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for code in sorted(set(codes)):
        out[str(code)] = {"description": ERRORS[code], **_json("ErrorResponse")}
        if code in (429, 503):
            out[str(code)]["headers"] = {
                "Retry-After": {"description": "seconds", "schema": {"type": "integer"}}
            }
    return out


def _op(
    summary: str,
    ok: dict[str, Any],
    *errors: int,
    body: dict[str, Any] | None = None,
    params: list[dict[str, Any]] | None = None,
) -> dict[str, Any]:
    """One operation: `ok` maps success statuses to responses; a body adds 400/413/422."""
    codes = [*errors, *(BODY_ERRORS if body is not None else ())]
    out: dict[str, Any] = {"summary": summary, "responses": {**ok, **_errors(*codes)}}
    if body is not None:
        out["requestBody"] = body
    if params:
        out["parameters"] = params
    return out


def _ok(name: str | None, description: str = "ok", status: int = 200) -> dict[str, Any]:
    return {str(status): {"description": description, **_json(name)}}


def _with_csv(operation: dict[str, Any]) -> dict[str, Any]:
    """An operation whose 200 may also be text/csv (`?format=csv`)."""
    operation["responses"]["200"]["content"]["text/csv"] = {"schema": {"type": "string"}}
    return operation


def _query(name: str, schema: dict[str, Any]) -> dict[str, Any]:
    return {"name": name, "in": "query", "required": False, "schema": schema}


def with_routes(doc: dict[str, Any], routes: list[Route]) -> dict[str, Any]:
    """The document for the routes the app really serves: each operation's security from
    its handler (`security: []` when @public, else a bearer token, which adds 401), a
    generic entry for a route the hand-written part does not describe (so the document
    never omits an endpoint), and 503 on every operation but /healthz."""
    paths = {k: {m: dict(op) for m, op in v.items()} for k, v in doc["paths"].items()}
    for method, path, summary, public in routes:
        ops = paths.setdefault(path, {})
        op = ops.setdefault(method.lower(), _op(summary or path, _ok(None)))
        # Every {name} of the path, whole segments or not (the feed's `{secret}.ics`).
        names = re.findall(r"\{(\w+)\}", path)
        if names and not any(p.get("in") == "path" for p in op.get("parameters", [])):
            path_params = [
                {"name": n, "in": "path", "required": True, "schema": {"type": "string"}}
                for n in names
            ]
            op["parameters"] = [*op.get("parameters", []), *path_params]
        responses = dict(op["responses"])
        if public:
            op["security"] = []
        else:
            op["security"] = BEARER
            responses.update(_errors(401))
        if path != "/healthz":  # the one answer load shedding and outages leave alone
            responses.update(_errors(503))
        op["responses"] = dict(sorted(responses.items()))
    return {**doc, "paths": paths}


@lru_cache(maxsize=1)
def build_openapi() -> dict[str, Any]:
    """The hand-written part: every operation's bodies, parameters and answers. Served
    through `with_routes`, which adds what the router knows (security, undescribed
    routes)."""
    # What the server sends in serialization mode, what it accepts in validation mode (the
    # same split as the files in schemas/json/).
    sent: list[type[BaseModel]] = [*RESPONSE_MODELS.values(), *RECORD_MODELS.values(), TripRoute]
    accepted: list[type[BaseModel]] = [
        *REQUEST_MODELS.values(),
        RefreshRequest,
        *WRITE_MODELS.values(),
        *ADMIN_REQUESTS,
        *EFFECT_REQUESTS,
        *ACCOUNT_REQUESTS,
    ]
    serialization: JsonSchemaMode = "serialization"
    validation: JsonSchemaMode = "validation"
    modes = [(m, serialization) for m in sent] + [(m, validation) for m in accepted]
    _, schema = models_json_schema(modes, ref_template="#/components/schemas/{model}")
    components = schema.get("$defs", {})
    return {
        "openapi": "3.1.0",
        "info": {"title": "DriveSync sync API", "version": "1"},
        "security": BEARER,
        "paths": {**_sync_paths(), **_admin_paths(), **_effect_paths()},
        "components": {
            "schemas": components,
            "securitySchemes": {
                "bearer": {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"}
            },
        },
    }


def _sync_paths() -> dict[str, dict[str, Any]]:
    tokens = _ok("TokenResponse", "tokens")
    entities = _query("entities", {"type": "string", "description": "comma-separated names"})
    return {
        "/v1/auth/login": {
            "post": _op("Sign in", tokens, 401, 429, body=_body("LoginRequest")),
        },
        "/v1/auth/refresh": {
            "post": _op("Rotate a refresh token", tokens, 401, 429, body=_body("RefreshRequest")),
        },
        "/v1/auth/logout": {
            "post": _op(
                "Revoke a refresh token (and its family)",
                {"204": {"description": "revoked, or already unknown"}},
                body=_body("RefreshRequest"),
            ),
        },
        # Accounts (server/auth/accounts.py): 400 invalid_token (unknown, used, replaced or
        # expired: one code), 422 weak_password, 403 wrong_password.
        "/v1/auth/invitations/accept": {
            "post": _op(
                "Set the first password with an invitation link's token; signs in",
                tokens,
                401,
                503,
                body=_body("SetPasswordRequest"),
            ),
        },
        "/v1/auth/password/forgot": {
            "post": _op(
                "Email a password-reset link if the account exists (same answer either way)",
                _ok("ForgotPasswordResponse", "accepted", 202),
                429,
                body=_body("ForgotPasswordRequest"),
            ),
        },
        "/v1/auth/password/reset": {
            "post": _op(
                "Set a new password with a reset link's token; other devices are signed out",
                tokens,
                401,
                503,
                body=_body("SetPasswordRequest"),
            ),
        },
        "/v1/auth/password/change": {
            "post": _op(
                "Change the signed-in user's password; other devices are signed out",
                {"204": {"description": "changed"}},
                403,
                429,
                body=_body("ChangePasswordRequest"),
            ),
        },
        "/v1/sync/push": {
            "post": _op(
                "Push a batch of mutations (exactly once per client_id and seq)",
                _ok("PushResponse", "per-mutation results"),
                409,
                426,
                body=_body("PushRequest"),
            )
        },
        "/v1/sync/pull": {
            "get": _op(
                "Pull changes after a cursor",
                _ok("PullResponse", "a page of changes"),
                410,
                422,
                426,
                params=[
                    _query("cursor", {"type": "string"}),
                    _query("limit", {"type": "integer", "minimum": 1, "maximum": 5000}),
                    entities,
                    _query("schema_version", {"type": "integer", "minimum": 1}),
                    _query("client_id", {"type": "string", "format": "uuid"}),
                ],
            )
        },
        "/v1/sync/checksum": {
            "get": _op(
                "Per-entity count and hash of the scope",
                _ok("ChecksumResponse", "checksum"),
                410,
                422,
                params=[_query("cursor", {"type": "string"}), entities],
            )
        },
        "/v1/trips/{trip_id}/route": {
            "get": _op(
                "A trip's live segments, compact points, by index (404 outside the scope)",
                _ok("TripRoute", "the route"),
                404,
            )
        },
        "/v1/sync/info": {
            "get": _op("Versions, limits, tombstone horizon", _ok("SyncInfo", "info"))
        },
        "/v1/sync/live": {
            "get": _op(
                "WebSocket pokes (token as a bearer header or in the first message)",
                {"101": {"description": "upgrade"}},
                400,
            )
        },
        "/v1/sync/events": {
            "get": _op(
                "Server-sent pokes",
                {"200": {"description": "stream", "content": {"text/event-stream": {}}}},
            )
        },
        "/v1/openapi.json": {"get": _op("This document", _ok(None, "OpenAPI 3.1"))},
        "/healthz": {"get": _op("Process up", _ok(None))},
        "/readyz": {
            "get": {
                **_op("Database reachable", _ok(None, "ready")),
                "responses": {
                    **_ok(None, "ready"),
                    "503": {"description": "not_ready", **_json("ErrorResponse")},
                },
            }
        },
    }


def _admin_paths() -> dict[str, dict[str, Any]]:
    """The admin API (owners and admins only): every answer names its response model."""

    def op(summary: str, answer: str, *codes: int, **kw: Any) -> dict[str, Any]:
        return _op(summary, _ok(answer), 403, *codes, **kw)

    # An empty status asks for every status (absent: the listing's default).
    status = _query("status", {"type": "string", "enum": ["", *sorted(JOURNAL_STATUSES)]})
    journal_query = [
        _query("kind", {"type": "string", "enum": sorted(JOURNAL_KINDS)}),
        status,
        _query("limit", {"type": "integer", "minimum": 1, "maximum": 500}),
    ]
    return {
        "/v1/admin/school": {
            "get": op("The school's settings", "SchoolSettings"),
            "patch": op("Change school settings", "SchoolSettings", body=_body("SchoolBody")),
        },
        "/v1/admin/students/{student_id}/instructors": {
            "put": op("Reassign a student", "AssignResult", 404, body=_body("AssignBody"))
        },
        "/v1/admin/students/{student_id}/leave": {
            "post": op("A student leaves the school", "LeaveResult", 404)
        },
        "/v1/admin/students/{student_id}/credit-adjustments": {
            "post": _op(
                "Adjust a student's credit or money owed (409 insufficient_credit)",
                _ok("CreditAdjustment", "adjusted", 201),
                403,
                404,
                409,
                body=_body("CreditAdjustmentBody"),
            )
        },
        "/v1/admin/journal": {
            "get": op(
                "Journal of rejected, conflicting and lost mutations",
                "JournalPage",
                422,
                params=journal_query,
            )
        },
        "/v1/admin/conflicts": {"get": op("Open conflicts", "JournalPage", 422, params=[status])},
        "/v1/admin/rejections": {"get": op("Open rejections", "JournalPage", 422, params=[status])},
        "/v1/admin/journal/{entry_id}": {"get": op("One journal entry", "JournalEntryBody", 404)},
        "/v1/admin/conflicts/{entry_id}/resolve": {
            "post": op("Resolve a conflict", "ResolveResult", 404, 409, body=_body("ResolveBody"))
        },
        "/v1/admin/rejections/{entry_id}/replay": {
            "post": op("Run a rejected mutation again as its author", "ReplayResult", 404, 409)
        },
        "/v1/admin/devices": {"get": op("Devices' sync health", "DeviceList")},
        "/v1/admin/audit": {
            "get": op(
                "The audit log, newest first: who changed what and when",
                "AuditPage",
                422,
                params=[
                    _query("user_id", {"type": "string", "format": "uuid"}),
                    _query("entity", {"type": "string", "maxLength": 32}),
                    _query("record_id", {"type": "string", "maxLength": 100}),
                    _query("since", {"type": "string", "format": "date"}),
                    _query("until", {"type": "string", "format": "date"}),
                    _query("limit", {"type": "integer", "minimum": 1, "maximum": 200}),
                    _query("before", {"type": "string", "description": "`next` of a page"}),
                ],
            )
        },
        "/v1/admin/money/{kind}": {
            "get": _with_csv(
                op(
                    "Payments, refunds or payouts, newest first, filtered; with format=csv "
                    "every matching row as text/csv (at most 50,000)",
                    "MoneyReportPage",
                    422,
                    params=[
                        {
                            "name": "kind",
                            "in": "path",
                            "required": True,
                            "schema": {"type": "string", "enum": sorted(money_reports.REPORTS)},
                        },
                        _query("since", {"type": "string", "format": "date"}),
                        _query("until", {"type": "string", "format": "date"}),
                        _query("status", {"type": "string", "maxLength": 32}),
                        _query("student_id", {"type": "string", "format": "uuid"}),
                        _query("instructor_id", {"type": "string", "format": "uuid"}),
                        _query("limit", {"type": "integer", "minimum": 1, "maximum": 200}),
                        _query("before", {"type": "string", "description": "`next` of a page"}),
                        _query("format", {"type": "string", "enum": ["json", "csv"]}),
                    ],
                )
            )
        },
    }


def _earnings_paths() -> dict[str, dict[str, Any]]:
    """Instructors' Stripe Connect onboarding and earnings (server/routes/earnings.py)."""
    period = _query("period", {"type": "string", "enum": ["week", "month"]})
    instructor = _query("instructor_id", {"type": "string", "format": "uuid"})
    return {
        "/v1/me/payouts/onboarding": {
            "post": _op(
                "A Stripe-hosted onboarding link for my payouts (instructors; 502: Stripe "
                "failed, 503: payments not configured)",
                _ok(None, "created", 201),
                403,
                404,
            )
        },
        "/v1/me/earnings": {
            "get": _op("My earnings per week or month", _ok(None), 403, 422, params=[period])
        },
        "/v1/admin/earnings": {
            "get": _op(
                "Every instructor's earnings (or one's) per week or month",
                _ok(None),
                403,
                422,
                params=[period, instructor],
            )
        },
    }


def _effect_paths() -> dict[str, dict[str, Any]]:
    """Web push, notification preferences, payments: answers are plain JSON objects."""
    limit = _query("limit", {"type": "integer", "minimum": 1, "maximum": 1000})
    return {
        "/v1/push/vapid-key": {
            "get": _op("The VAPID public key (404: web push not configured)", _ok(None), 404)
        },
        "/v1/push/subscriptions": {
            "post": _op(
                "Save this browser's push subscription",
                {**_ok(None, "already saved"), **_ok(None, "saved", 201)},
                body=_body("SubscriptionBody"),
            ),
            "delete": _op(
                "Forget a push subscription (endpoint as ?endpoint= or in the body)",
                {"204": {"description": "forgotten"}},
                404,
                *BODY_ERRORS,
                params=[_query("endpoint", {"type": "string"})],
            ),
        },
        "/v1/me/notification-preferences": {
            "get": _op("My notification preferences", _ok(None)),
            "put": _op(
                "Change my notification preferences", _ok(None), body=_body("PreferencesBody")
            ),
        },
        "/v1/payments/intents": {
            "post": _op(
                "A Stripe PaymentIntent for a booking (503: payments not configured)",
                _ok(None, "created", 201),
                403,
                404,
                409,
                body=_body("IntentBody"),
            )
        },
        "/v1/payments/checkout": {
            "post": _op(
                "A Stripe Checkout Session (hosted page) for a booking, a package or a balance: "
                "{payment, checkout_url, session_id}; a retry answers the same open session "
                "(403 forbidden / not_your_learner, 409 already_paid / not_payable / "
                "nothing_owed, 503: payments not configured)",
                _ok(None, "created", 201),
                403,
                404,
                409,
                body=_body("CheckoutBody"),
            )
        },
        "/v1/webhooks/stripe/{tenant_slug}": {
            "post": _op(
                "Stripe events, checked by signature (503: not configured)",
                _ok(None),
                400,
                404,
                413,
                body=_body(None),
            )
        },
        "/v1/admin/payments/{payment_id}/refund": {
            "post": _op(
                "Refund a payment, wholly or in part",
                _ok(None, "refund recorded", 201),
                403,
                404,
                409,
                body=_body("RefundBody", required=False),
            )
        },
        **_earnings_paths(),
        "/v1/admin/notifications": {
            "get": _op(
                "The delivery log and dead letters",
                _ok(None),
                403,
                422,
                params=[
                    _query("status", {"type": "string", "enum": list(delivery_log.STATUSES)}),
                    _query("event_type", {"type": "string"}),
                    _query("outbox_id", {"type": "string", "format": "uuid"}),
                    limit,
                ],
            )
        },
        # The calendar feed (server/routes/calendar.py): the .ics is read with no token, the
        # secret in its address is the credential (404 feed_not_found: unknown or revoked).
        "/v1/calendar/feed": {
            "get": _op("Whether my calendar feed is on", _ok("CalendarFeedStatus")),
            "post": _op(
                "Turn my calendar feed on at a new secret address (the old one stops)",
                _ok("CalendarFeedStatus", "on; `url` is shown this once", 201),
            ),
            "delete": _op("Turn my calendar feed off", _ok("CalendarFeedStatus")),
        },
        "/v1/calendar/feeds/{secret}.ics": {
            "get": _op(
                "My lessons and time off as iCalendar (RFC 5545), by the feed's secret",
                {
                    "200": {"description": "the feed", "content": {"text/calendar": {}}},
                    "304": {"description": "unchanged since the ETag sent"},
                },
                404,
            )
        },
        # An invoice or credit note as a PDF (server/routes/invoices.py): its student, their
        # guardians and admins; anyone else 404 not_found, as for an unknown id.
        "/v1/invoices/{invoice_id}.pdf": {
            "get": _op(
                "An invoice or credit note as a PDF (A4), by its id",
                {
                    "200": {
                        "description": "the PDF, as an attachment named by its number",
                        "content": {"application/pdf": {}},
                    }
                },
                404,
            )
        },
        "/v1/admin/notifications/{outbox_id}/retry": {
            "post": _op("Send a dead letter again", _ok(None), 403, 404, 409)
        },
        **_template_paths(),
    }


def _template_paths() -> dict[str, dict[str, Any]]:
    """The school's notification wording (server/routes/templates.py). 422
    `template_invalid`: the template does not render with the sample data (details.field,
    details.line, details.error)."""
    one = "/v1/admin/notification-templates/{kind}"
    return {
        "/v1/admin/notification-templates": {
            "get": _op("Every kind's built-in wording and the school's own", _ok(None), 403)
        },
        one + "/channels/{channel}": {
            "put": _op(
                "Save the school's wording of a kind on a channel (checked with sample data)",
                _ok(None),
                403,
                404,
                body=_body("TemplateBody"),
            ),
            "delete": _op(
                "Back to the built-in wording", {"204": {"description": "reverted"}}, 403, 404
            ),
        },
        one + "/preview": {
            "post": _op(
                "A kind rendered with sample data (a draft, or what the school sends now)",
                _ok(None),
                403,
                404,
                body=_body("PreviewBody", required=False),
            )
        },
        one + "/test": {
            "post": _op(
                "Email the kind, as the school words it, to me (sample data)",
                _ok(None, "queued", 202),
                403,
                404,
                422,
            )
        },
    }
