"""Rendering a notification from its template: the school's own (`notification_templates`)
or the default (workers/notifications/default_templates.py), with Jinja2.

Templates written by a school are untrusted input, so they run in Jinja2's immutable sandbox
(no attribute tricks reach Python internals). HTML is autoescaped: a student called
`<b>Amy</b>` or a note containing `<script>` arrives as text, never as markup; the plain-text
parts are rendered without escaping. A school template that does not compile falls back to
the default wording rather than blocking the message.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from jinja2 import Template, TemplateError
from jinja2.exceptions import SecurityError
from jinja2.sandbox import ImmutableSandboxedEnvironment
from markupsafe import Markup
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from schemas import NotificationTemplate
from workers.notifications.default_templates import DEFAULTS, HTML_LAYOUT, TEXT_FOOTER, Defaults

log = logging.getLogger("drivesync.templates")

# Past this many characters (or items), a `*` or `**` is refused: a template may not make a
# gigabyte string out of one line.
MAX_GROWTH = 100_000
# Methods and filters that pad or repeat text to a width the template chooses.
_GROWING = frozenset({"center", "ljust", "rjust", "zfill", "expandtabs", "format", "format_map"})


class Sandbox(ImmutableSandboxedEnvironment):
    """Jinja2's immutable sandbox (no attribute reaches Python internals, no mutation of the
    facts), also bounded in what one expression may cost, for templates a school writes:
    no `range` or `lipsum` (loops run over the facts only), `*` and `**` refused past
    MAX_GROWTH, `%` on text refused, and no padding methods or filters (`center`,
    `format`, `indent`, …) whose width the template would choose. A school's admin could
    otherwise stall the dispatcher (or the server, which checks templates) for everyone."""

    intercepted_binops = frozenset({"*", "**", "%"})

    def __init__(self, **options: Any) -> None:
        super().__init__(**options)
        for name in ("range", "lipsum"):
            self.globals.pop(name, None)
        for name in ("center", "indent", "format", "wordwrap"):
            self.filters.pop(name, None)

    def call_binop(self, context: Any, operator: str, left: Any, right: Any) -> Any:
        if operator == "%" and isinstance(left, str):
            raise SecurityError("% formatting of text is not allowed: join with ~")
        if operator == "**" and _big(left, right, 64):
            raise SecurityError("** with an exponent over 64 is not allowed")
        if operator == "*":
            for seq, n in ((left, right), (right, left)):
                if isinstance(seq, str | list | tuple) and isinstance(n, int):
                    if len(seq) * n > MAX_GROWTH:
                        raise SecurityError(f"a repetition past {MAX_GROWTH} is not allowed")
            if isinstance(left, int) and isinstance(right, int) and _big(left, right, 10**9):
                raise SecurityError("numbers this large are not allowed")
        return super().call_binop(context, operator, left, right)

    def is_safe_attribute(self, obj: Any, attr: str, value: Any) -> bool:
        if isinstance(obj, str) and attr in _GROWING:
            return False
        return super().is_safe_attribute(obj, attr, value)


def _big(left: Any, right: Any, limit: int) -> bool:
    return any(isinstance(v, int | float) and abs(v) > limit for v in (left, right))


_TEXT_ENV = Sandbox(autoescape=False, keep_trailing_newline=False)
_HTML_ENV = Sandbox(autoescape=True)


@dataclass(frozen=True)
class Rendered:
    """A message ready for a channel: email uses subject/text/html; push uses subject as
    its title and `short` as its body; SMS and WhatsApp send `short`."""

    subject: str
    text: str
    html: str | None
    short: str


@lru_cache(maxsize=512)
def _compile(html: bool, source: str) -> Template:
    return (_HTML_ENV if html else _TEXT_ENV).from_string(source)


def _render(html: bool, source: str, context: dict[str, Any]) -> str:
    return _compile(html, source).render(context)


def _one_line(text: str) -> str:
    return " ".join(text.split())


class Renderer:
    """Renders events with the defaults, or with a school's templates when given."""

    def render(
        self,
        event_type: str,
        channel: str,
        context: dict[str, Any],
        override: NotificationTemplate | None = None,
    ) -> Rendered:
        defaults = DEFAULTS.get(event_type) or _generic(event_type)
        if override is not None:
            try:
                return self._render(defaults, channel, context, override)
            except TemplateError as exc:
                log.warning(
                    "school template for %s/%s failed (%s); using the default",
                    event_type,
                    channel,
                    exc,
                )
        return self._render(defaults, channel, context, None)

    def _render(
        self,
        d: Defaults,
        channel: str,
        context: dict[str, Any],
        o: NotificationTemplate | None,
    ) -> Rendered:
        subject = _one_line(_render(False, (o.subject if o and o.subject else d.subject), context))
        if channel == "email":
            text = _render(False, o.body_text if o else d.text, context)
            text += _render(False, TEXT_FOOTER, context)
            body_html = _render(True, (o.body_html if o and o.body_html else d.html), context)
            html = _render(
                True, HTML_LAYOUT, {**context, "subject": subject, "body": Markup(body_html)}
            )
            short = _one_line(_render(False, d.short, context))
            return Rendered(subject, text, html, short)
        short = _one_line(_render(False, o.body_text if o else d.short, context))
        return Rendered(subject, short, None, short)


def _generic(event_type: str) -> Defaults:
    """Wording for an event type that has no default (a new one not yet written up)."""
    title = event_type.replace("_", " ").capitalize()
    return Defaults(
        subject=title,
        text="Hello {{ recipient.name }},\n\n" + title + ".",
        html="<p>Hello {{ recipient.name }},</p><p>" + title + ".</p>",
        short=title + ".",
    )


async def load_overrides(session: AsyncSession, event_type: str) -> dict[str, NotificationTemplate]:
    """The school's templates for `event_type`, by channel (the session is tenant-bound)."""
    rows = await session.scalars(
        select(NotificationTemplate).where(NotificationTemplate.event_type == event_type)
    )
    return {row.channel: row for row in rows}
