"""A school's own notification wording, edited by its admins: list the built-in and the
school's text per kind of event and channel, save an override (checked first), revert to the
built-in, preview with sample data, and send a test to oneself.

Overrides live in `notification_templates` (one row per school, kind and channel; who wrote
it and when since migration 0014) and are used by every real send (workers/notifications/
templates.py::Renderer, loaded per event by the dispatcher), falling back to the built-in
wording (default_templates.py) when there is none.

**Checked before saving.** A template must compile and render with the kind's sample data
(`SAMPLES`, shaped as the dispatcher's facts are) in Jinja2's immutable sandbox with strict
undefined variables; otherwise `422 template_invalid` with `details.field` (`subject`,
`body_text`, `body_html`), `details.line` (when Jinja knows it) and `details.error`. The
sandbox refuses attribute tricks (`{{ ''.__class__.__mro__ }}`: "access to attribute
'__class__' of 'str' object is unsafe") and the HTML part is autoescaped.

**Channels.** `email`: `subject`, `body_text` (plain text) and `body_html` (optional: the
built-in HTML when left out). `webpush`: `subject` is the title, `body_text` the line.
`sms` and `whatsapp`: `body_text` only.

**Test send.** An outbox event `template_test` `{"kind", "channel": "email", "user_id"}`
goes to the admin's own address through the normal email channel (the dispatcher, its
retries and its log), rendered with the school's current template for the kind and the
sample data, whatever the admin's preferences (like account mail).
"""

from __future__ import annotations

import sys
import time
import traceback
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from jinja2 import StrictUndefined, TemplateError, TemplateSyntaxError
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from schemas import NotificationTemplate, Tenant, User, utcnow
from sync.core.principal import Principal
from sync.errors import Invalid, NotFound
from sync.store import Store
from workers.notifications.default_templates import DEFAULTS
from workers.notifications.preferences import ACCOUNT_EVENTS, EVENT_TYPES
from workers.notifications.recipients import Expansion, Facts, Recipient
from workers.notifications.templates import Rendered, Renderer, Sandbox
from workers.outbox import new_event
from workers.session import bound

TEST_EVENT = "template_test"
CHANNELS = ("email", "webpush", "sms", "whatsapp")
# Kinds an admin may word: every event people receive, and the account mail.
KINDS: dict[str, str] = {
    **EVENT_TYPES,
    "invitation_requested": "Invitation to set a password (email only)",
    "password_reset_requested": "Password reset link (email only)",
}
MAX_SUBJECT = 300
MAX_BODY = 20_000


class TemplateInvalid(Invalid):
    """A template that does not compile or does not render with the sample data."""

    code = "template_invalid"


_BOOKING = {
    "id": "00000000-0000-4000-8000-000000000001",
    "status": "confirmed",
    "start": "Tue 08 Dec 2026, 10:00",
    "end_time": "11:00",
    "service": "60-minute lesson",
    "student": "Amelia Clarke",
    "instructor": "Tom Baker",
    "pickup_location": "7 High Street",
    "price": "£42.00",
    "payment_status": "unpaid",
    "late_fee": "£25.00",
    "cancelled_by": "student",
}
_SERIES = {
    "id": "00000000-0000-4000-8000-000000000002",
    "status": "confirmed",
    "every": "every week",
    "first": "Tue 08 Dec 2026, 10:00",
    "service": "60-minute lesson",
    "student": "Amelia Clarke",
    "instructor": "Tom Baker",
    "pickup_location": "7 High Street",
    "dates": [
        {"start": "Tue 08 Dec 2026, 10:00", "status": "confirmed"},
        {"start": "Tue 15 Dec 2026, 10:00", "status": "confirmed"},
    ],
    "refused": [{"start": "Tue 22 Dec 2026, 10:00", "reason": "the instructor is away"}],
}
_MOVE = {"start": "Wed 09 Dec 2026, 14:00", "end_time": "15:00", "note": "Work shift moved"}
_TIME_OFF = {
    "start": "Mon 07 Dec 2026, 00:00",
    "end": "Wed 09 Dec 2026, 00:00",
    "all_day": True,
    "instructor": "Tom Baker",
    "reason": "Training course",
}
_PAYMENT = {
    "amount": "£42.00",
    "for": "your lesson on Tue 08 Dec 2026 09:00",
    "refunded": "£42.00",
    "reference": "pi_sample",
    "status": "succeeded",
    "reason": "card declined",
}
_INVOICE = {
    "id": "00000000-0000-4000-8000-000000000007",
    "number": "INV-000042",
    "kind": "invoice",
    "total": "£42.00",
    "amount": "£42.00",
    "credits_number": "",
}
_CREDIT_NOTE = _INVOICE | {
    "number": "CN-000007",
    "kind": "credit_note",
    "total": "-£42.00",
    "credits_number": "INV-000042",
}
_ACCOUNT = {"link": "https://drivesync.example/#/accept/sample-token", "expires": "7 days"}

# Sample facts per kind, shaped as workers/notifications/events.py builds them.
SAMPLES: dict[str, dict[str, Any]] = {
    **{
        kind: {"booking": _BOOKING, "by": "student"}
        for kind in (
            "booking_requested",
            "booking_confirmed",
            "booking_cancelled",
            "booking_declined",
        )
    },
    **{
        kind: {"booking": _BOOKING, "move": _MOVE}
        for kind in ("booking_move_requested", "booking_move_accepted", "booking_move_declined")
    },
    "booking_reminder": {"booking": _BOOKING, "hours": 24, "nominal_hours": 24},
    **{
        kind: {"series": _SERIES, "lessons": 2, "by": "student"}
        for kind in ("series_requested", "series_confirmed", "series_declined", "series_cancelled")
    },
    "instructor_digest": {
        "date": "Tue 08 Dec 2026",
        "lessons": [
            {
                "start_time": "10:00",
                "end_time": "11:00",
                "student": "Amelia Clarke",
                "pickup_location": "7 High Street",
                "booking_id": _BOOKING["id"],
            },
        ],
    },
    "lesson_completed": {
        "lesson": {
            "id": "00000000-0000-4000-8000-000000000003",
            "start": "Tue 08 Dec 2026, 10:00",
            "date": "08 Dec 2026",
            "instructor": "Tom Baker",
            "status": "completed",
        },
        "notes": [{"body": "Smooth clutch control on the hill start.", "tags": ["clutch"]}],
        "assessments": [{"skill": "Steering", "level": 4, "comment": "Steady"}],
    },
    "mock_test_passed": {"mock_test": {"student": "Amelia Clarke", "score": 46, "total": 50}},
    "conflict_stored": {
        "conflict": {
            "id": "00000000-0000-4000-8000-000000000004",
            "entity": "lesson note",
            "record_id": "00000000-0000-4000-8000-000000000005",
        }
    },
    **{
        kind: {"booking": _BOOKING, "payment": _PAYMENT}
        for kind in ("payment_failed", "payment_refunded")
    },
    "payment_succeeded": {"booking": _BOOKING, "payment": _PAYMENT, "invoice": _INVOICE},
    "credit_note_issued": {"invoice": _CREDIT_NOTE},
    "time_off_clash": {
        "time_off": {k: v for k, v in _TIME_OFF.items() if k != "reason"},
        "bookings": [_BOOKING],
    },
    "time_off_clash_admin": {"time_off": _TIME_OFF, "bookings": [_BOOKING]},
    "message_received": {
        "thread": {"id": "00000000-0000-4000-8000-000000000006", "subject": "Pick-up point"},
        "message": {
            "author": "Amelia Clarke",
            "body": "Could you pick me up at the station on Thursday?",
            "at": "Tue 15 Dec 2026, 18:05",
        },
    },
    "message_unread": {
        "thread": {"id": "00000000-0000-4000-8000-000000000006", "subject": "Pick-up point"},
        "messages": [
            {
                "author": "Amelia Clarke",
                "body": "Could you pick me up at the station on Thursday?",
                "at": "Tue 15 Dec 2026, 18:05",
            },
            {
                "author": "Amelia Clarke",
                "body": "At 8:30 if you can.",
                "at": "Tue 15 Dec 2026, 18:06",
            },
        ],
        "count": 2,
    },
    "test_reminder": {
        "test": {
            "student": "Amelia Clarke",
            "kind": "practical",
            "date": "Wed 16 Dec 2026",
            "time": "09:40",
            "centre": "Cambridge (Brookmount Court)",
        }
    },
    "invitation_requested": {"account": _ACCOUNT},
    "password_reset_requested": {"account": _ACCOUNT},
}

# The renderer's own sandbox (templates.Sandbox: bounded), with strict undefined variables.
_CHECK_ENV = Sandbox(autoescape=False, undefined=StrictUndefined)
_CHECK_HTML_ENV = Sandbox(autoescape=True, undefined=StrictUndefined)
# A template whose sample rendering is longer than this is refused.
MAX_OUTPUT = 200_000


@dataclass
class Draft:
    """Template text as an admin wrote it (the shape the renderer reads from a row)."""

    subject: str | None
    body_text: str
    body_html: str | None


def channels_of(kind: str) -> tuple[str, ...]:
    return ("email",) if kind in ACCOUNT_EVENTS else CHANNELS


def sample_context(kind: str, school: Tenant | None, name: str = "Alex Admin") -> dict[str, Any]:
    context = dict(SAMPLES.get(kind, {}))
    context["school"] = {
        "name": school.name if school else "Demo Driving School",
        "brand_color": school.brand_color if school else None,
    }
    context["recipient"] = {"name": name}
    return context


class TooSlow(Exception):
    """A template's check ran out of time (a loop in a loop over a long sequence)."""


# A sample rendering takes well under a millisecond; one taking longer than this is a loop
# that would stall every send of the kind.
CHECK_BUDGET_S = 0.5


@contextmanager
def _time_budget(seconds: float) -> Iterator[None]:
    """Stop a template's rendering once `seconds` have passed: a trace function checks the
    clock at each line of the compiled template (its frames' file is "<template>") and
    raises TooSlow there. Other frames are neither traced nor interrupted: an exception
    raised in, say, a garbage collector's weakref callback that runs meanwhile would be
    lost (and reported as unraisable) instead of stopping the template. Only for checking
    an admin's template (tracing slows the rendering)."""
    deadline = time.monotonic() + seconds

    def in_template(frame: Any, event: str, arg: Any) -> Any:
        if time.monotonic() > deadline:
            raise TooSlow
        return in_template

    def tracer(frame: Any, event: str, arg: Any) -> Any:
        if frame.f_code.co_filename != "<template>":
            return None  # not the template's code: leave it alone
        return in_template(frame, event, arg)

    previous = sys.gettrace()
    sys.settrace(tracer)
    try:
        yield
    finally:
        sys.settrace(previous)


def _line(exc: BaseException) -> int | None:
    """The template line an error is on, when Jinja knows it."""
    if isinstance(exc, TemplateSyntaxError):
        return exc.lineno
    for frame in reversed(traceback.extract_tb(exc.__traceback__)):
        if frame.filename == "<template>":
            return frame.lineno
    return None


def _check_part(field: str, source: str, html: bool, context: dict[str, Any]) -> None:
    env = _CHECK_HTML_ENV if html else _CHECK_ENV
    try:
        size = 0
        with _time_budget(CHECK_BUDGET_S):
            for chunk in env.from_string(source).generate(context):
                size += len(chunk)
                if size > MAX_OUTPUT:
                    raise TemplateInvalid(
                        f"{field}: renders to more than {MAX_OUTPUT} characters",
                        {"field": field, "error": f"over {MAX_OUTPUT} characters"},
                    )
    except TooSlow:
        raise TemplateInvalid(
            f"{field}: takes more than {CHECK_BUDGET_S} s to render with the sample data",
            {"field": field, "error": f"over {CHECK_BUDGET_S} s to render"},
        ) from None
    except TemplateError as exc:
        line = _line(exc)
        where = f" on line {line}" if line else ""
        details: dict[str, Any] = {"field": field, "error": str(exc.message or exc)}
        if line:
            details["line"] = line
        raise TemplateInvalid(f"{field}{where}: {exc.message or exc}", details) from None


def check(kind: str, channel: str, draft: Draft, school: Tenant | None = None) -> None:
    """Refuse a template that does not render with the kind's sample data (TemplateInvalid,
    naming the field and line), or a kind or channel that does not exist (Invalid)."""
    if kind not in KINDS:
        raise Invalid(f"unknown kind of event {kind!r}", {"field": "kind"})
    if channel not in channels_of(kind):
        raise Invalid(f"{kind} has no {channel} wording", {"field": "channel"})
    if channel == "email" and not (draft.subject or "").strip():
        raise Invalid("an email needs a subject", {"field": "subject"})
    if channel in ("sms", "whatsapp") and draft.subject:
        raise Invalid(f"{channel} has no subject", {"field": "subject"})
    if channel != "email" and draft.body_html:
        raise Invalid(f"{channel} has no HTML body", {"field": "body_html"})
    if not draft.body_text.strip():
        raise Invalid("the body is empty", {"field": "body_text"})
    context = sample_context(kind, school)
    if draft.subject:
        _check_part("subject", draft.subject, False, context)
    _check_part("body_text", draft.body_text, False, context)
    if draft.body_html:
        _check_part("body_html", draft.body_html, True, context)


def _row_out(row: NotificationTemplate) -> dict[str, Any]:
    return {
        "channel": row.channel,
        "subject": row.subject,
        "body_text": row.body_text,
        "body_html": row.body_html,
        "updated_at": row.updated_at.isoformat() if row.updated_at else None,
        "updated_by": row.updated_by,
    }


def _builtin(kind: str) -> dict[str, str]:
    d = DEFAULTS[kind]
    return {"subject": d.subject, "text": d.text, "html": d.html, "short": d.short}


async def listing(store: Store, who: Principal) -> dict[str, Any]:
    """Every kind with its built-in wording and the school's overrides."""
    async with store.read(who.tenant_id) as session:
        rows = list(await session.scalars(select(NotificationTemplate)))
    mine: dict[str, list[NotificationTemplate]] = {}
    for row in rows:
        mine.setdefault(row.event_type, []).append(row)
    return {
        "channels": list(CHANNELS),
        "kinds": [
            {
                "kind": kind,
                "description": description,
                "channels": list(channels_of(kind)),
                "builtin": _builtin(kind),
                "overrides": [
                    _row_out(r)
                    for r in sorted(
                        mine.get(kind, []),
                        key=lambda r: CHANNELS.index(r.channel) if r.channel in CHANNELS else 99,
                    )
                ],
            }
            for kind, description in KINDS.items()
        ],
    }


async def _tenant(session: AsyncSession, tenant_id: str) -> Tenant | None:
    tenant: Tenant | None = await session.scalar(select(Tenant).where(Tenant.id == tenant_id))
    return tenant


async def save(
    store: Store, who: Principal, kind: str, channel: str, draft: Draft
) -> dict[str, Any]:
    """Check and store the school's template for (kind, channel)."""
    async with bound(store, who.tenant_id) as session:
        async with session.begin():
            check(kind, channel, draft, await _tenant(session, who.tenant_id))
            row = await session.scalar(
                select(NotificationTemplate).where(
                    NotificationTemplate.event_type == kind, NotificationTemplate.channel == channel
                )
            )
            if row is None:
                row = NotificationTemplate(
                    tenant_id=who.tenant_id, event_type=kind, channel=channel
                )
                session.add(row)
            row.subject = draft.subject or None
            row.body_text = draft.body_text
            row.body_html = draft.body_html or None
            row.updated_at = utcnow()
            row.updated_by = who.user_id
        return _row_out(row)


async def revert(store: Store, who: Principal, kind: str, channel: str) -> None:
    """Drop the school's template: the built-in wording applies again."""
    async with bound(store, who.tenant_id) as session:
        async with session.begin():
            row = await session.scalar(
                select(NotificationTemplate).where(
                    NotificationTemplate.event_type == kind, NotificationTemplate.channel == channel
                )
            )
            if row is None:
                raise NotFound(f"the school has no {channel} template of its own for {kind}")
            await session.delete(row)


def _rendered(r: Rendered) -> dict[str, Any]:
    return {"subject": r.subject, "text": r.text, "html": r.html, "short": r.short}


async def preview(
    store: Store, who: Principal, kind: str, channel: str, draft: Draft | None
) -> dict[str, Any]:
    """The kind rendered with sample data: with `draft` when given (checked, not saved),
    else with the school's saved template, else the built-in one."""
    async with store.read(who.tenant_id) as session:
        tenant = await _tenant(session, who.tenant_id)
        name = await session.scalar(select(User.name).where(User.id == who.user_id))
        override: Any = None
        if draft is not None:
            check(kind, channel, draft, tenant)
            override = draft
        else:
            if kind not in KINDS or channel not in channels_of(kind):
                check(kind, channel, Draft("x", "x", None), tenant)  # names what is wrong
            override = await session.scalar(
                select(NotificationTemplate).where(
                    NotificationTemplate.event_type == kind, NotificationTemplate.channel == channel
                )
            )
    context = sample_context(kind, tenant, name or "Alex Admin")
    rendered = Renderer().render(kind, channel, context, override)
    return {"kind": kind, "channel": channel, "custom": override is not None, **_rendered(rendered)}


async def queue_test(store: Store, who: Principal, kind: str) -> dict[str, Any]:
    """Queue a test email of `kind` to the admin's own address (sent by the dispatcher)."""
    if kind not in KINDS:
        raise Invalid(f"unknown kind of event {kind!r}", {"field": "kind"})
    async with bound(store, who.tenant_id) as session:
        async with session.begin():
            email = await session.scalar(select(User.email).where(User.id == who.user_id))
            if not email:
                raise Invalid("your account has no email address", {"field": "email"})
            event = new_event(
                who.tenant_id,
                TEST_EVENT,
                {"kind": kind, "channel": "email", "user_id": who.user_id},
                None,
            )
            session.add(event)
    return {"outbox_id": event.id, "to": email, "kind": kind, "status": "pending"}


async def expand_test(f: Facts, p: dict[str, Any]) -> Expansion:
    """The test email's recipient (the admin who asked) and the sample facts of its kind."""
    kind = p.get("kind")
    if kind not in KINDS:
        return Expansion(stale=f"unknown kind {kind!r}")
    user: User | None = await f._get(User, p.get("user_id"))
    if user is None or not user.is_active or not user.email:
        return Expansion(stale="the admin's account is gone or has no email")
    context = sample_context(str(kind), f.tenant, user.name)
    context.pop("recipient")
    context["template_kind"] = kind
    return Expansion([Recipient(user.id, user.id, user.name, user.email, None, "admin")], context)
