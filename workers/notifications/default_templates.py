"""The wording every school gets until it writes its own (a `notification_templates` row per
event type and channel replaces the matching part).

Each event has an email (subject, plain text, HTML) and a short form (title and one or two
lines) used for push, SMS and WhatsApp. Templates are Jinja2: the HTML body is autoescaped,
the text bodies are not (they are never interpreted as markup). Variables: `school`,
`recipient`, and the event's own (`booking`, `lesson`, `notes`, `mock_test`, `payment`, …; see
workers/notifications/recipients.py).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Defaults:
    """An event's default wording."""

    subject: str
    text: str
    html: str
    short: str


# The HTML email around each event's body; `body` is already-rendered, escaped HTML.
HTML_LAYOUT = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{{ subject }}</title></head>
<body style="font-family: sans-serif; line-height: 1.4; color: #222">
<h2 style="color: {{ school.brand_color or '#1a56db' }}">{{ school.name }}</h2>
{{ body }}
{% if account is not defined %}<p style="color: #777; font-size: 12px">You receive this because
of your notification settings at {{ school.name }}. Change them in the app under
{% if settings_url is defined %}<a href="{{ settings_url }}">Settings → Notifications</a>
{%- else %}Settings → Notifications{% endif %}.</p>{% endif %}
</body></html>"""

# Account mail (an `account` in its context) goes whatever the settings: no such footer.
# `settings_url` (added by the dispatcher) opens the PWA's Settings → Notifications.
TEXT_FOOTER = (
    "\n\n--\n{{ school.name }}"
    "{% if account is not defined %}\nChange your notification settings in the app"
    "{% if settings_url is defined %}: {{ settings_url }}{% else %}.{% endif %}{% endif %}"
)

_BOOKING_TEXT = """Service: {{ booking.service }}
When: {{ booking.start }} - {{ booking.end_time }}
Instructor: {{ booking.instructor }}
Student: {{ booking.student }}
{% if booking.pickup_location %}Pick-up: {{ booking.pickup_location }}
{% endif %}Price: {{ booking.price }}"""

_BOOKING_HTML = """<table>
<tr><td>Service</td><td>{{ booking.service }}</td></tr>
<tr><td>When</td><td>{{ booking.start }} - {{ booking.end_time }}</td></tr>
<tr><td>Instructor</td><td>{{ booking.instructor }}</td></tr>
<tr><td>Student</td><td>{{ booking.student }}</td></tr>
{% if booking.pickup_location %}<tr><td>Pick-up</td><td>{{ booking.pickup_location }}</td></tr>
{% endif %}<tr><td>Price</td><td>{{ booking.price }}</td></tr>
</table>"""


# Extra lines of some booking mails, as (text, HTML).
_LATE_FEE = (
    "{% if booking.late_fee %}Late cancellation: it was made inside the school's cancellation "
    "notice, so a fee of {{ booking.late_fee }} applies.\n\n{% endif %}",
    "{% if booking.late_fee %}<p><strong>Late cancellation:</strong> it was made inside the "
    "school's cancellation notice, so a fee of {{ booking.late_fee }} applies.</p>{% endif %}",
)
_MOVE = (
    "Asked for: {{ move.start }} - {{ move.end_time }}\n"
    "{% if move.note %}Note: {{ move.note }}\n{% endif %}\n",
    "<p>Asked for: {{ move.start }} - {{ move.end_time }}</p>"
    "{% if move.note %}<p>Note: {{ move.note }}</p>{% endif %}",
)


def _booking(headline: str, short: str, extra: tuple[str, str] = ("", "")) -> Defaults:
    return Defaults(
        subject=headline + ": {{ booking.start }}",
        text="Hello {{ recipient.name }},\n\n" + headline + ".\n\n" + extra[0] + _BOOKING_TEXT,
        html="<p>Hello {{ recipient.name }},</p><p>"
        + headline
        + ".</p>"
        + extra[1]
        + _BOOKING_HTML,
        short=short,
    )


_SERIES_TEXT = """Service: {{ series.service }}, {{ series.every }}
Instructor: {{ series.instructor }}
Student: {{ series.student }}
{% if series.pickup_location %}Pick-up: {{ series.pickup_location }}
{% endif %}Dates:{% for d in series.dates %}
- {{ d.start }} ({{ d.status }}){% endfor %}{% if series.refused %}
Not booked:{% for d in series.refused %}
- {{ d.start }}: {{ d.reason }}{% endfor %}{% endif %}"""

_SERIES_HTML = """<p>{{ series.service }}, {{ series.every }}; {{ series.student }} with
{{ series.instructor }}{% if series.pickup_location %}; pick-up: {{ series.pickup_location }}
{% endif %}</p><ul>{% for d in series.dates %}<li>{{ d.start }} ({{ d.status }})</li>
{% endfor %}</ul>{% if series.refused %}<p>Not booked:</p><ul>{% for d in series.refused %}
<li>{{ d.start }}: {{ d.reason }}</li>{% endfor %}</ul>{% endif %}"""


def _series(headline: str, short: str) -> Defaults:
    return Defaults(
        subject=headline,
        text="Hello {{ recipient.name }},\n\n" + headline + ".\n\n" + _SERIES_TEXT,
        html="<p>Hello {{ recipient.name }},</p><p>" + headline + ".</p>" + _SERIES_HTML,
        short=short,
    )


DEFAULTS: dict[str, Defaults] = {
    "booking_requested": _booking(
        "New lesson request from {{ booking.student }}",
        "{{ booking.student }} asks for {{ booking.service }} on {{ booking.start }}.",
    ),
    "booking_confirmed": _booking(
        "Your lesson is confirmed",
        "{{ school.name }}: your lesson with {{ booking.instructor }} on {{ booking.start }} "
        "is confirmed.",
    ),
    "booking_cancelled": _booking(
        "Lesson cancelled",
        "{{ school.name }}: the lesson on {{ booking.start }} "
        "({{ booking.student }} with {{ booking.instructor }}) is cancelled."
        "{% if booking.late_fee %} Late cancellation: a fee of {{ booking.late_fee }} "
        "applies.{% endif %}",
        _LATE_FEE,
    ),
    "booking_move_requested": _booking(
        "{{ booking.student }} asks to move a lesson to {{ move.start }}",
        "{{ booking.student }} asks to move the lesson on {{ booking.start }} to {{ move.start }}.",
        _MOVE,
    ),
    "booking_move_accepted": _booking(
        "Your lesson was moved to {{ move.start }}",
        "{{ school.name }}: {{ booking.instructor }} moved your lesson to {{ move.start }}.",
    ),
    "booking_move_declined": _booking(
        "Your lesson stays at {{ booking.start }}",
        "{{ school.name }}: {{ booking.instructor }} cannot move your lesson to "
        "{{ move.start }}; it stays at {{ booking.start }}.",
        _MOVE,
    ),
    "booking_declined": _booking(
        "Your lesson request was declined",
        "{{ school.name }}: {{ booking.instructor }} cannot take the lesson on "
        "{{ booking.start }}. Please pick another time.",
    ),
    "booking_reminder": _booking(
        "Reminder: your lesson starts in {{ hours }} hour{{ 's' if hours != 1 else '' }}",
        "{{ school.name }}: reminder, your lesson with {{ booking.instructor }} starts "
        "{{ booking.start }}.{% if booking.pickup_location %} Pick-up: "
        "{{ booking.pickup_location }}.{% endif %}",
    ),
    "series_requested": _series(
        "{{ series.student }} asks for {{ lessons }} lessons {{ series.every }}",
        "{{ series.student }} asks for {{ lessons }} lessons {{ series.every }} from "
        "{{ series.first }}.",
    ),
    "series_confirmed": _series(
        "Your {{ lessons }} lessons are confirmed",
        "{{ school.name }}: {{ series.instructor }} confirmed {{ lessons }} lessons "
        "{{ series.every }} from {{ series.first }}.",
    ),
    "series_declined": _series(
        "Your request for recurring lessons was declined",
        "{{ school.name }}: {{ series.instructor }} cannot take the lessons {{ series.every }} "
        "from {{ series.first }}. Please pick other times.",
    ),
    "series_cancelled": _series(
        "{{ lessons }} lesson{{ 's' if lessons != 1 else '' }} of a series cancelled",
        "{{ school.name }}: {{ lessons }} lesson{{ 's' if lessons != 1 else '' }} "
        "{{ series.every }} ({{ series.student }} with {{ series.instructor }}) cancelled.",
    ),
    "instructor_digest": Defaults(
        subject="Your lessons on {{ date }} ({{ lessons | length }})",
        text="Hello {{ recipient.name }},\n\nYour lessons on {{ date }}:\n"
        "{% for l in lessons %}\n{{ l.start_time }}-{{ l.end_time }}  {{ l.student }}"
        "{% if l.pickup_location %} (pick-up: {{ l.pickup_location }}){% endif %}{% endfor %}",
        html="<p>Hello {{ recipient.name }},</p><p>Your lessons on {{ date }}:</p><ul>"
        "{% for l in lessons %}<li>{{ l.start_time }}-{{ l.end_time }} {{ l.student }}"
        "{% if l.pickup_location %} (pick-up: {{ l.pickup_location }}){% endif %}</li>"
        "{% endfor %}</ul>",
        short="{{ lessons | length }} lesson(s) tomorrow, first at {{ lessons[0].start_time }}.",
    ),
    "lesson_completed": Defaults(
        subject="Your lesson on {{ lesson.date }}: summary",
        text="Hello {{ recipient.name }},\n\nHere is the summary of your lesson with "
        "{{ lesson.instructor }} on {{ lesson.start }}.\n"
        "{% if notes %}\nNotes:\n{% for n in notes %}\n- {{ n.body }}{% endfor %}\n"
        "{% else %}\nNo notes were written for this lesson.\n{% endif %}"
        "{% if assessments %}\nSkills assessed:\n{% for a in assessments %}\n"
        "- {{ a.skill }}: {{ a.level }}/5{% if a.comment %} ({{ a.comment }}){% endif %}"
        "{% endfor %}\n{% endif %}",
        html="<p>Hello {{ recipient.name }},</p><p>Here is the summary of your lesson with "
        "{{ lesson.instructor }} on {{ lesson.start }}.</p>"
        "{% if notes %}<h3>Notes</h3><ul>{% for n in notes %}<li>{{ n.body }}</li>"
        "{% endfor %}</ul>{% else %}<p>No notes were written for this lesson.</p>{% endif %}"
        "{% if assessments %}<h3>Skills assessed</h3><ul>{% for a in assessments %}"
        "<li>{{ a.skill }}: {{ a.level }}/5{% if a.comment %} ({{ a.comment }}){% endif %}"
        "</li>{% endfor %}</ul>{% endif %}",
        short="Lesson summary from {{ lesson.instructor }} is in your email.",
    ),
    "mock_test_passed": Defaults(
        subject="Mock theory test passed: {{ mock_test.student }} scored "
        "{{ mock_test.score }}/{{ mock_test.total }}",
        text="Hello {{ recipient.name }},\n\n{{ mock_test.student }} passed a mock theory "
        "test with {{ mock_test.score }} out of {{ mock_test.total }}.",
        html="<p>Hello {{ recipient.name }},</p><p>{{ mock_test.student }} passed a mock theory "
        "test with <strong>{{ mock_test.score }} out of {{ mock_test.total }}</strong>.</p>",
        short="{{ mock_test.student }} passed a mock theory test: "
        "{{ mock_test.score }}/{{ mock_test.total }}.",
    ),
    "test_reminder": Defaults(
        subject="Reminder: {{ test.student }}'s {{ test.kind }} test is tomorrow",
        text="Hello {{ recipient.name }},\n\n{{ test.student }}'s {{ test.kind }} driving test "
        "is tomorrow, {{ test.date }}{% if test.time %} at {{ test.time }}{% endif %}"
        "{% if test.centre %}, at {{ test.centre }}{% endif %}.\n\nBring the provisional "
        "licence. Good luck!",
        html="<p>Hello {{ recipient.name }},</p><p>{{ test.student }}'s {{ test.kind }} "
        "driving test is tomorrow, <strong>{{ test.date }}{% if test.time %} at "
        "{{ test.time }}{% endif %}</strong>{% if test.centre %}, at {{ test.centre }}"
        "{% endif %}.</p><p>Bring the provisional licence. Good luck!</p>",
        short="{{ school.name }}: {{ test.kind }} test tomorrow{% if test.time %} at "
        "{{ test.time }}{% endif %}{% if test.centre %}, {{ test.centre }}{% endif %}.",
    ),
    "conflict_stored": Defaults(
        subject="Sync conflict to review ({{ conflict.entity }})",
        text="Hello {{ recipient.name }},\n\nTwo offline edits of a {{ conflict.entity }} could "
        "not be combined. The committed version was kept; review it in the admin journal "
        "(conflict {{ conflict.id }}).",
        html="<p>Hello {{ recipient.name }},</p><p>Two offline edits of a "
        "{{ conflict.entity }} could not be combined. The committed version was kept; review "
        "it in the admin journal (conflict <code>{{ conflict.id }}</code>).</p>",
        short="A {{ conflict.entity }} conflict needs review in the admin journal.",
    ),
    # Time off over confirmed lessons (workers/notifications/time_off.py). The student's
    # wording never shows the reason (staff-only); nothing has been cancelled yet.
    "time_off_clash": Defaults(
        subject="{{ time_off.instructor }} is away: your lesson on {{ bookings[0].start }}",
        text="Hello {{ recipient.name }},\n\n{{ time_off.instructor }} is not available from "
        "{{ time_off.start }} to {{ time_off.end }}, which covers "
        "{{ 'your lesson' if bookings | length == 1 else 'these lessons' }}:\n"
        "{% for b in bookings %}\n- {{ b.start }} - {{ b.end_time }}, {{ b.service }}{% endfor %}"
        "\n\nNothing has been cancelled yet: the school will contact you to move or cancel "
        "{{ 'it' if bookings | length == 1 else 'them' }}.",
        html="<p>Hello {{ recipient.name }},</p><p>{{ time_off.instructor }} is not available "
        "from {{ time_off.start }} to {{ time_off.end }}, which covers "
        "{{ 'your lesson' if bookings | length == 1 else 'these lessons' }}:</p><ul>"
        "{% for b in bookings %}<li>{{ b.start }} - {{ b.end_time }}, {{ b.service }}</li>"
        "{% endfor %}</ul><p>Nothing has been cancelled yet: the school will contact you to "
        "move or cancel {{ 'it' if bookings | length == 1 else 'them' }}.</p>",
        short="{{ school.name }}: {{ time_off.instructor }} is away on {{ bookings[0].start }}. "
        "The school will contact you about your lesson.",
    ),
    "time_off_clash_admin": Defaults(
        subject="Time off over {{ bookings | length }} confirmed "
        "lesson{{ 's' if bookings | length != 1 else '' }} ({{ time_off.instructor }})",
        text="Hello {{ recipient.name }},\n\n{{ time_off.instructor }} is away from "
        "{{ time_off.start }} to {{ time_off.end }}"
        "{% if time_off.reason %} ({{ time_off.reason }}){% endif %}. These confirmed lessons "
        "fall in that time:\n{% for b in bookings %}\n- {{ b.start }} - {{ b.end_time }}, "
        "{{ b.student }}{% endfor %}\n\nThe students were told; move or cancel the lessons "
        "from the dashboard.",
        html="<p>Hello {{ recipient.name }},</p><p>{{ time_off.instructor }} is away from "
        "{{ time_off.start }} to {{ time_off.end }}"
        "{% if time_off.reason %} ({{ time_off.reason }}){% endif %}. These confirmed lessons "
        "fall in that time:</p><ul>{% for b in bookings %}<li>{{ b.start }} - "
        "{{ b.end_time }}, {{ b.student }}</li>{% endfor %}</ul><p>The students were told; "
        "move or cancel the lessons from the dashboard.</p>",
        short="{{ time_off.instructor }} is away over {{ bookings | length }} confirmed "
        "lesson{{ 's' if bookings | length != 1 else '' }}: see the dashboard.",
    ),
    # Account mail (workers/notifications/accounts.py): email only, the link is one-time.
    "invitation_requested": Defaults(
        subject="Your {{ school.name }} account: set your password",
        text="Hello {{ recipient.name }},\n\n{{ school.name }} has made you an account in "
        "DriveSync, the app for your lessons. Set your password with this link (it works "
        "once, for {{ account.expires }}):\n\n{{ account.link }}\n\nThen sign in with "
        "this email address. If you did not expect this, ignore this email.",
        html="<p>Hello {{ recipient.name }},</p><p>{{ school.name }} has made you an account "
        "in DriveSync, the app for your lessons. Set your password with this link (it works "
        "once, for {{ account.expires }}):</p>"
        '<p><a href="{{ account.link }}">Set your password</a></p>'
        "<p>Or copy this address into your browser: {{ account.link }}</p>"
        "<p>If you did not expect this, ignore this email.</p>",
        short="{{ school.name }}: your account is ready; the link is in your email.",
    ),
    "password_reset_requested": Defaults(
        subject="Reset your {{ school.name }} password",
        text="Hello {{ recipient.name }},\n\nSomeone (we hope you) asked to reset the "
        "password of your account at {{ school.name }}. Set a new one with this link (it "
        "works once, for {{ account.expires }}):\n\n{{ account.link }}\n\nIf it was not "
        "you, ignore this email: your password stays as it is.",
        html="<p>Hello {{ recipient.name }},</p><p>Someone (we hope you) asked to reset the "
        "password of your account at {{ school.name }}. Set a new one with this link (it "
        "works once, for {{ account.expires }}):</p>"
        '<p><a href="{{ account.link }}">Set a new password</a></p>'
        "<p>Or copy this address into your browser: {{ account.link }}</p>"
        "<p>If it was not you, ignore this email: your password stays as it is.</p>",
        short="{{ school.name }}: the password reset link is in your email.",
    ),
    # A payment is for a lesson (`booking` set), a package or the balance owed: `payment.for`
    # says which in words ("your lesson on …", "the 5 lessons package", "your balance").
    "payment_succeeded": Defaults(
        subject="Receipt: {{ payment.amount }} for {{ payment.for }}",
        text="Hello {{ recipient.name }},\n\nThank you: we received {{ payment.amount }} for "
        "{{ payment.for }}.\n\n"
        + "{% if booking %}"
        + _BOOKING_TEXT
        + "{% endif %}"
        + "\nPayment reference: {{ payment.reference }}"
        + "{% if invoice %}\nYour invoice {{ invoice.number }} is attached.{% endif %}",
        html="<p>Hello {{ recipient.name }},</p><p>Thank you: we received "
        "<strong>{{ payment.amount }}</strong> for {{ payment.for }}.</p>"
        + "{% if booking %}"
        + _BOOKING_HTML
        + "{% endif %}"
        + "<p>Payment reference: {{ payment.reference }}</p>"
        + "{% if invoice %}<p>Your invoice {{ invoice.number }} is attached.</p>{% endif %}",
        short="{{ school.name }}: payment of {{ payment.amount }} received. Thank you!",
    ),
    "payment_failed": Defaults(
        subject="Payment of {{ payment.amount }} did not go through",
        text="Hello {{ recipient.name }},\n\nYour payment of {{ payment.amount }} for "
        "{{ payment.for }} was not taken{% if payment.reason %} ({{ payment.reason }}){% endif %}."
        "{% if booking %} Your lesson is still booked;{% endif %} Please pay again in the app, "
        "with this or another card.\n\n{% if booking %}" + _BOOKING_TEXT + "{% endif %}",
        html="<p>Hello {{ recipient.name }},</p><p>Your payment of "
        "<strong>{{ payment.amount }}</strong> for {{ payment.for }} was not taken"
        "{% if payment.reason %} ({{ payment.reason }}){% endif %}.{% if booking %} Your lesson "
        "is still booked;{% endif %} Please pay again in the app, with this or another card.</p>"
        "{% if booking %}" + _BOOKING_HTML + "{% endif %}",
        short="{{ school.name }}: your payment of {{ payment.amount }} did not go through. "
        "Please pay again in the app.",
    ),
    "payment_refunded": Defaults(
        subject="Refund of {{ payment.refunded }} for {{ payment.for }}",
        text="Hello {{ recipient.name }},\n\nWe refunded {{ payment.refunded }} to your card.\n\n"
        + "{% if booking %}"
        + _BOOKING_TEXT
        + "{% endif %}",
        html="<p>Hello {{ recipient.name }},</p><p>We refunded "
        "<strong>{{ payment.refunded }}</strong> to your card.</p>"
        + "{% if booking %}"
        + _BOOKING_HTML
        + "{% endif %}",
        short="{{ school.name }}: {{ payment.refunded }} refunded to your card.",
    ),
    "credit_note_issued": Defaults(
        subject="Credit note {{ invoice.number }}: {{ invoice.amount }} refunded",
        text="Hello {{ recipient.name }},\n\nWe refunded {{ invoice.amount }} against invoice "
        "{{ invoice.credits_number }}. Your credit note {{ invoice.number }} is attached.",
        html="<p>Hello {{ recipient.name }},</p><p>We refunded <strong>{{ invoice.amount }}"
        "</strong> against invoice {{ invoice.credits_number }}. Your credit note "
        "{{ invoice.number }} is attached.</p>",
        short="{{ school.name }}: credit note {{ invoice.number }} for {{ invoice.amount }}.",
    ),
    # A new message: pushed at once (short form); emailed only when still unread later
    # (message_unread, workers/notifications/messages.py), telling the window's messages.
    "message_received": Defaults(
        subject="{{ message.author }}: {{ thread.subject }}",
        text="Hello {{ recipient.name }},\n\n{{ message.author }} wrote ({{ message.at }}):\n\n"
        "{{ message.body }}\n\nReply in the app, under Messages.",
        html="<p>Hello {{ recipient.name }},</p><p>{{ message.author }} wrote "
        "({{ message.at }}):</p><blockquote>{{ message.body }}</blockquote>"
        "<p>Reply in the app, under Messages.</p>",
        short="{{ message.author }}: {{ message.body }}",
    ),
    "message_unread": Defaults(
        subject="Unread: {{ thread.subject }}{% if count > 1 %} ({{ count }} messages){% endif %}",
        text="Hello {{ recipient.name }},\n\n"
        "{{ 'A message' if count == 1 else count ~ ' messages' }} in \"{{ thread.subject }}\" "
        "{{ 'is' if count == 1 else 'are' }} waiting for you:\n"
        "{% for m in messages %}\n{{ m.author }} ({{ m.at }}):\n{{ m.body }}\n{% endfor %}"
        "\nRead and reply in the app, under Messages.",
        html="<p>Hello {{ recipient.name }},</p><p>{{ 'A message' if count == 1 else count ~ "
        "' messages' }} in &ldquo;{{ thread.subject }}&rdquo; {{ 'is' if count == 1 else 'are' }}"
        " waiting for you:</p>{% for m in messages %}<p><strong>{{ m.author }}</strong> "
        "({{ m.at }})</p><blockquote>{{ m.body }}</blockquote>{% endfor %}"
        "<p>Read and reply in the app, under Messages.</p>",
        short="{{ school.name }}: unread messages in {{ thread.subject }}",
    ),
}
