"""Admins word the school's notifications (both databases, real SMTP on 127.0.0.1): a saved
override is what real sends use, a template that does not render with the sample data is
refused with `template_invalid` naming the field and line, the sandbox refuses attribute
escapes, a revert brings the built-in wording back, the preview renders sample data, a test
goes to the admin's own address through the email channel, and only admins may do any of
it."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest

from server.app import create_app
from tests.conftest import Db, bearer, login, make_settings
from tests.workers.conftest import book_and_confirm
from tests.workers.peers import SmtpPeer
from workers.notifications.default_templates import DEFAULTS
from workers.notifications.template_admin import KINDS, Draft, channels_of, check

BASE = "/v1/admin/notification-templates"


@pytest.fixture
async def mail_client(db: Db, tmp_path: Path, aiohttp_client: Any, smtp: SmtpPeer) -> Any:
    settings = make_settings(
        db, tmp_path, smtp_url=smtp.url, run_dispatcher=True, worker_scheduler_interval_s=0
    )
    return await aiohttp_client(create_app(settings))


def _parts(msg: Any) -> dict[str, str]:
    return {part.get_content_type(): part.get_content() for part in msg.iter_parts()}


async def test_an_override_is_used_by_real_sends_and_a_revert_restores_the_default(
    mail_client: Any, smtp: SmtpPeer
) -> None:
    admin = bearer(await login(mail_client, "admin@demo.test"))
    body = {
        "subject": "Booked! {{ booking.start }} with {{ booking.instructor }}",
        "body_text": "Hi {{ recipient.name }}, see you at {{ booking.pickup_location }}.",
        "body_html": "<p>Hi {{ recipient.name }}, see you at {{ booking.pickup_location }}.</p>",
    }
    resp = await mail_client.put(
        f"{BASE}/booking_confirmed/channels/email", json=body, headers=admin
    )
    saved = await resp.json()
    assert resp.status == 200, saved
    assert saved["updated_by"] and saved["updated_at"] and saved["body_text"] == body["body_text"]
    listing = await (await mail_client.get(BASE, headers=admin)).json()
    kind = next(k for k in listing["kinds"] if k["kind"] == "booking_confirmed")
    assert kind["builtin"]["subject"] == DEFAULTS["booking_confirmed"].subject
    assert [o["channel"] for o in kind["overrides"]] == ["email"]

    _st, _inst, _bid = await book_and_confirm(mail_client, pickup="<b>Gate</b>")
    msg = (await smtp.wait_for("student1@demo.test", within=5))[0]
    assert msg["Subject"].startswith("Booked! ") and "with Priya Shah" in msg["Subject"]
    parts = _parts(msg)
    assert "Hi Amelia Clarke, see you at <b>Gate</b>." in parts["text/plain"]
    assert "see you at &lt;b&gt;Gate&lt;/b&gt;." in parts["text/html"]  # autoescaped
    # The footer links to the PWA's Settings → Notifications screen.
    assert (
        "settings in the app: http://127.0.0.1:8080/#/settings/notifications" in parts["text/plain"]
    )
    assert '<a href="http://127.0.0.1:8080/#/settings/notifications">Settings' in parts["text/html"]

    resp = await mail_client.delete(f"{BASE}/booking_confirmed/channels/email", headers=admin)
    assert resp.status == 204
    again = await mail_client.delete(f"{BASE}/booking_confirmed/channels/email", headers=admin)
    assert again.status == 404
    smtp.messages.clear()
    await book_and_confirm(mail_client, days=9)
    msg = (await smtp.wait_for("student1@demo.test", within=5))[0]
    assert msg["Subject"].startswith("Your lesson is confirmed: ")


async def test_a_template_that_does_not_render_is_refused_naming_field_and_line(
    mail_client: Any,
) -> None:
    admin = bearer(await login(mail_client, "admin@demo.test"))
    cases = [
        ({"subject": "Hi", "body_text": "line one\n{% if booking.start %}unclosed"}, "body_text"),
        ({"subject": "Hi", "body_text": "ok\n\n{{ bookng.start }}"}, "body_text"),
        ({"subject": "{{ booking.start ", "body_text": "x"}, "subject"),
        (
            {"subject": "Hi", "body_text": "x", "body_html": "<p>{{ nothing.here }}</p>"},
            "body_html",
        ),
    ]
    for body, field in cases:
        resp = await mail_client.put(
            f"{BASE}/booking_confirmed/channels/email", json=body, headers=admin
        )
        err = (await resp.json())["error"]
        assert resp.status == 422, err
        assert err["code"] == "template_invalid", err
        assert err["details"]["field"] == field
        assert err["details"]["error"]
    resp = await mail_client.put(
        f"{BASE}/booking_confirmed/channels/email",
        json={"subject": "Hi", "body_text": "ok\n\n{{ bookng.start }}"},
        headers=admin,
    )
    err = (await resp.json())["error"]
    assert err["details"]["line"] == 3 and "bookng" in err["message"], err
    # Nothing was saved.
    listing = await (await mail_client.get(BASE, headers=admin)).json()
    assert all(not k["overrides"] for k in listing["kinds"])
    # Plain input checks: an email needs a subject; SMS has none; unknown kinds and channels.
    resp = await mail_client.put(
        f"{BASE}/booking_confirmed/channels/email", json={"body_text": "x"}, headers=admin
    )
    assert (resp.status, (await resp.json())["error"]["details"]["field"]) == (422, "subject")
    resp = await mail_client.put(
        f"{BASE}/booking_confirmed/channels/sms",
        json={"subject": "x", "body_text": "x"},
        headers=admin,
    )
    assert resp.status == 422
    assert (
        await mail_client.put(f"{BASE}/nope/channels/email", json={"body_text": "x"}, headers=admin)
    ).status == 404
    assert (
        await mail_client.put(
            f"{BASE}/invitation_requested/channels/sms", json={"body_text": "x"}, headers=admin
        )
    ).status == 404


async def test_the_sandbox_refuses_attribute_escapes(mail_client: Any) -> None:
    admin = bearer(await login(mail_client, "admin@demo.test"))
    for evil in (
        "{{ ''.__class__.__mro__[1].__subclasses__() }}",
        "{{ booking.__class__ }}",
        "{{ recipient.update({'name': 'x'}) }}",  # the immutable sandbox: no mutation
        "{{ cycler.__init__.__globals__ }}",
        # Bounded: no gigabyte strings, no runaway loops or powers.
        "{{ 'x' * 1000000000 }}",
        "{{ 10 ** 10 ** 10 }}",
        "{% for i in range(100000) %}{% for j in range(100000) %}{% endfor %}{% endfor %}",
        "{{ '%1000000000s' % 'a' }}",
        "{{ '{:>1000000000}'.format('a') }}",
        "{{ 'a'.ljust(1000000000) }}",
        "{{ 'a' | center(1000000000) }}",
        "{{ lipsum(1000000) }}",
        "{% for b in [booking] * 100000 %}{% for c in [booking] * 100000 %}{% endfor %}"
        "{% endfor %}",
    ):
        resp = await mail_client.put(
            f"{BASE}/booking_confirmed/channels/sms", json={"body_text": evil}, headers=admin
        )
        err = (await resp.json())["error"]
        assert (resp.status, err["code"]) == (422, "template_invalid"), (evil, err)
        preview = await mail_client.post(
            f"{BASE}/booking_confirmed/preview",
            json={"channel": "sms", "body_text": evil},
            headers=admin,
        )
        assert preview.status == 422


async def test_preview_and_a_test_send_to_the_admin(mail_client: Any, smtp: SmtpPeer) -> None:
    admin = bearer(await login(mail_client, "admin@demo.test"))
    resp = await mail_client.post(f"{BASE}/booking_reminder/preview", headers=admin)
    built_in = await resp.json()
    assert resp.status == 200, built_in
    assert built_in["custom"] is False
    assert built_in["subject"] == "Reminder: your lesson starts in 24 hours: Tue 08 Dec 2026, 10:00"
    assert "Demo" in built_in["html"] and built_in["short"]
    draft = {
        "channel": "email",
        "subject": "{{ school.name }}: lesson in {{ hours }} h",
        "body_text": "Dear {{ recipient.name }}, {{ booking.service }} at {{ booking.start }}.",
    }
    resp = await mail_client.post(f"{BASE}/booking_reminder/preview", json=draft, headers=admin)
    drafted = await resp.json()
    assert drafted["custom"] is True and drafted["subject"].endswith(": lesson in 24 h")
    assert drafted["text"].startswith("Dear ") and "60-minute lesson" in drafted["text"]
    # Nothing saved by a preview; save it and test-send it to myself.
    del draft["channel"]
    assert (
        await mail_client.put(f"{BASE}/booking_reminder/channels/email", json=draft, headers=admin)
    ).status == 200
    resp = await mail_client.post(f"{BASE}/booking_reminder/test", headers=admin)
    queued = await resp.json()
    assert resp.status == 202, queued
    assert queued["to"] == "admin@demo.test"
    msg = (await smtp.wait_for("admin@demo.test", within=5))[0]
    assert msg["Subject"].endswith(": lesson in 24 h")
    assert msg["X-DriveSync-Event"] == "template_test"
    assert "60-minute lesson at Tue 08 Dec 2026, 10:00" in _parts(msg)["text/plain"]
    # The log line is committed when the event settles, just after the mail went.
    for _ in range(50):
        log = await (
            await mail_client.get("/v1/admin/notifications?event_type=template_test", headers=admin)
        ).json()
        if log["notifications"]:
            break
        await asyncio.sleep(0.1)
    assert [(n["channel"], n["status"]) for n in log["notifications"]] == [("email", "sent")]


async def test_only_admins_word_the_schools_notifications(mail_client: Any) -> None:
    for email in ("instructor1@demo.test", "student1@demo.test"):
        who = bearer(await login(mail_client, email))
        calls = [
            mail_client.get(BASE, headers=who),
            mail_client.put(
                f"{BASE}/booking_confirmed/channels/sms", json={"body_text": "x"}, headers=who
            ),
            mail_client.delete(f"{BASE}/booking_confirmed/channels/sms", headers=who),
            mail_client.post(f"{BASE}/booking_confirmed/preview", headers=who),
            mail_client.post(f"{BASE}/booking_confirmed/test", headers=who),
        ]
        for call in calls:
            resp = await call
            assert resp.status == 403, (email, resp.url)


def test_every_built_in_template_renders_with_its_sample_data() -> None:
    """The samples cover every variable the built-in wording uses (strict undefined)."""
    for kind in KINDS:
        d = DEFAULTS[kind]
        for channel in channels_of(kind):
            if channel == "email":
                check(kind, channel, Draft(d.subject, d.text, d.html))
            elif channel == "webpush":
                check(kind, channel, Draft(d.subject, d.short, None))
            else:
                check(kind, channel, Draft(None, d.short, None))
