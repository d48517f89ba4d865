"""Pure parts of the workers: backoff, quiet hours across DST, defaults, money, templates,
reminder timing, SMTP URLs, Retry-After."""

from __future__ import annotations

import datetime as dt
import random
from pathlib import Path
from types import SimpleNamespace
from zoneinfo import ZoneInfo

import pytest

from workers.config import WorkerConfig
from workers.money import format_money, split_fee
from workers.notifications.channels import parse_retry_after
from workers.notifications.channels.email import parse_smtp_url
from workers.notifications.preferences import default_channels, parse_hhmm, quiet_until
from workers.notifications.scheduler import reminder_rows
from workers.notifications.templates import Renderer
from workers.outbox import backoff_s

LONDON = ZoneInfo("Europe/London")
UTC = dt.UTC


def test_backoff_is_exponential_capped_with_full_jitter() -> None:
    rng = random.Random(7)
    for attempt in range(12):
        ceiling = min(60.0, 2.0 * 2**attempt)
        samples = [backoff_s(attempt, 2.0, 60.0, rng) for _ in range(200)]
        assert all(0 <= s <= ceiling for s in samples)
        assert max(samples) > ceiling * 0.8  # full jitter spreads over the whole range
        assert min(samples) < ceiling * 0.2


def _q(start: str, end: str) -> tuple[dt.time, dt.time]:
    a, b = parse_hhmm(start), parse_hhmm(end)
    assert a is not None and b is not None
    return a, b


def test_quiet_hours_end_at_local_time_across_dst_changes() -> None:
    night = _q("22:00", "07:00")
    # Spring forward (29 Mar 2026, 01:00 GMT → 02:00 BST): 23:00 GMT on the 28th ends at
    # 07:00 BST = 06:00 UTC, not after 8 elapsed hours (07:00 UTC).
    spring = dt.datetime(2026, 3, 28, 23, 0, tzinfo=UTC)
    assert quiet_until(spring, night, LONDON) == dt.datetime(2026, 3, 29, 6, 0, tzinfo=UTC)
    # Fall back (25 Oct 2026, 02:00 BST → 01:00 GMT): 23:00 BST on the 24th (22:00 UTC)
    # ends at 07:00 GMT = 07:00 UTC, 9 elapsed hours.
    autumn = dt.datetime(2026, 10, 24, 22, 0, tzinfo=UTC)
    assert quiet_until(autumn, night, LONDON) == dt.datetime(2026, 10, 25, 7, 0, tzinfo=UTC)
    # After midnight on the change night itself.
    assert quiet_until(dt.datetime(2026, 3, 29, 1, 30, tzinfo=UTC), night, LONDON) == dt.datetime(
        2026, 3, 29, 6, 0, tzinfo=UTC
    )
    # Outside quiet hours: nothing to wait for; the end itself is outside.
    assert quiet_until(dt.datetime(2026, 3, 29, 6, 0, tzinfo=UTC), night, LONDON) is None
    assert quiet_until(dt.datetime(2026, 7, 1, 12, 0, tzinfo=UTC), night, LONDON) is None
    # A daytime window that does not wrap midnight.
    lunch = _q("12:00", "13:30")
    assert quiet_until(dt.datetime(2026, 7, 1, 11, 15, tzinfo=UTC), lunch, LONDON) == dt.datetime(
        2026, 7, 1, 12, 30, tzinfo=UTC
    )


def test_default_channels_add_sms_only_where_it_is_due_and_possible() -> None:
    assert default_channels("booking_confirmed", True) == ("webpush", "email", "sms")
    assert default_channels("booking_reminder", True) == ("webpush", "email", "sms")
    assert default_channels("booking_cancelled", False) == ("webpush", "email")
    assert default_channels("booking_requested", True) == ("webpush", "email")
    assert default_channels("lesson_completed", True) == ("webpush", "email")


def test_money_and_fee_split() -> None:
    assert format_money(4200, "GBP") == "£42.00"
    assert format_money(123456, "EUR") == "€1,234.56"
    assert format_money(500, "JPY") == "¥500" or format_money(500, "JPY") == "500 JPY"
    assert format_money(1999, "CHF") == "19.99 CHF"
    assert split_fee(4200, 1500) == (630, 3570)
    assert split_fee(4999, 1500) == (750, 4249)  # 749.85 rounds half up to 750
    assert split_fee(1, 5000) == (1, 0)
    for gross in (0, 1, 99, 4200, 123457):
        fee, net = split_fee(gross, 1234)
        assert fee + net == gross and fee >= 0 and net >= 0
    with pytest.raises(ValueError):
        split_fee(100, 10_001)


def test_email_html_is_escaped_and_text_is_not() -> None:
    context = {
        "school": {"name": "Demo & Co"},
        "recipient": {"name": "<b>Amy</b>"},
        "lesson": {"date": "01 Jan", "start": "Thu 01 Jan 2026, 10:00", "instructor": "Priya"},
        "notes": [{"body": "Mirror <script>alert(1)</script> checks"}],
        "assessments": [],
    }
    r = Renderer().render("lesson_completed", "email", context)
    assert r.html is not None
    assert "<script>" not in r.html and "&lt;script&gt;alert(1)&lt;/script&gt;" in r.html
    assert "&lt;b&gt;Amy&lt;/b&gt;" in r.html and "Demo &amp; Co" in r.html
    assert "Mirror <script>alert(1)</script> checks" in r.text  # plain text stays as written
    assert r.subject == "Your lesson on 01 Jan: summary"
    sms = Renderer().render("lesson_completed", "sms", context)
    assert sms.html is None and "\n" not in sms.text


def test_school_template_overrides_and_broken_ones_fall_back() -> None:
    ctx = {"school": {"name": "S"}, "recipient": {"name": "R"}, "booking": {"start": "Mon"}}
    mine = SimpleNamespace(
        subject="Booked {{ booking.start }}", body_text="Hi {{ recipient.name }}", body_html=None
    )
    r = Renderer().render("booking_confirmed", "sms", ctx, mine)  # type: ignore[arg-type]
    assert r.text == "Hi R" and r.subject == "Booked Mon"
    broken = SimpleNamespace(subject="{% if %}", body_text="{{", body_html=None)
    fallback = Renderer().render("booking_confirmed", "sms", ctx, broken)  # type: ignore[arg-type]
    assert "your lesson" in fallback.text
    sandboxed = SimpleNamespace(
        subject=None, body_text="{{ ''.__class__.__mro__ }}", body_html=None
    )
    safe = Renderer().render("booking_confirmed", "sms", ctx, sandboxed)  # type: ignore[arg-type]
    assert "object" not in safe.text  # the sandbox refuses, the default wording is used


def test_reminders_due_and_not_redundant() -> None:
    start = dt.datetime(2026, 6, 10, 10, 0, tzinfo=UTC)
    booking = SimpleNamespace(tenant_id="t", id="b", student_id="s", instructor_id="i", start=start)
    look = dt.timedelta(minutes=15)
    two_days = start - dt.timedelta(days=2)
    assert reminder_rows(booking, (24, 2), two_days, look) == []  # type: ignore[arg-type]
    rows = reminder_rows(booking, (24, 2), start - dt.timedelta(hours=24, minutes=10), look)  # type: ignore[arg-type]
    assert [r["payload"]["hours"] for r in rows] == [24]
    assert rows[0]["available_at"] == start - dt.timedelta(hours=24)
    assert rows[0]["dedupe_key"] == f"booking_reminder:b:24h:{start.isoformat()}"
    # Confirmed 20 hours ahead: the 24 h reminder goes at once; 3 hours ahead it is skipped
    # (the 2 h one is near); 1 hour ahead only the 2 h one, late.
    late = reminder_rows(booking, (24, 2), start - dt.timedelta(hours=20), look)  # type: ignore[arg-type]
    assert [r["payload"]["hours"] for r in late] == [24]
    assert late[0]["available_at"] == start - dt.timedelta(hours=20)
    assert reminder_rows(booking, (24, 2), start - dt.timedelta(hours=3), look) == []  # type: ignore[arg-type]
    last = reminder_rows(booking, (24, 2), start - dt.timedelta(hours=1), look)  # type: ignore[arg-type]
    assert [r["payload"]["hours"] for r in last] == [2]
    assert reminder_rows(booking, (24, 2), start + dt.timedelta(minutes=1), look) == []  # type: ignore[arg-type]


def test_smtp_urls_and_retry_after() -> None:
    t = parse_smtp_url("smtp://me%40x.test:p%3Ass@mail.test:587")
    assert (t.host, t.port, t.implicit_tls, t.starttls) == ("mail.test", 587, False, None)
    assert (t.username, t.password, t.verify) == ("me@x.test", "p:ss", True)
    s = parse_smtp_url("smtps://relay.test?verify=false")
    assert (s.port, s.implicit_tls, s.starttls, s.username, s.verify) == (
        465,
        True,
        False,
        None,
        False,
    )
    assert parse_smtp_url("smtp://h?starttls=require").starttls is True
    assert parse_smtp_url("smtp://h?starttls=off").starttls is False
    with pytest.raises(ValueError):
        parse_smtp_url("http://h")
    assert parse_retry_after("120") == 120.0
    assert parse_retry_after(None) is None and parse_retry_after("soon") is None
    future = (dt.datetime.now(UTC) + dt.timedelta(seconds=90)).strftime("%a, %d %b %Y %H:%M:%S GMT")
    assert 80 <= (parse_retry_after(future) or 0) <= 91


def test_worker_config_from_settings_reads_attributes() -> None:
    settings = SimpleNamespace(
        database_url="sqlite+aiosqlite:///x",
        smtp_url="smtp://h",
        var_dir="v",
        worker_max_attempts=3,
        quiet_channels=["sms"],
        unrelated=1,
    )
    c = WorkerConfig.from_settings(settings)
    assert c.smtp_url == "smtp://h" and c.max_attempts == 3 and c.quiet_channels == ("sms",)
    assert str(c.sink_dir).endswith("v/outbox-sink") and c.vapid_private_key is None


def test_server_settings_carry_the_worker_defaults_and_validate_them() -> None:
    from server.config import SettingsError, load_settings

    base = {"database_url": "sqlite+aiosqlite:///x", "var_dir": "v"}
    assert WorkerConfig.from_settings(load_settings(**base)) == WorkerConfig(
        database_url="sqlite+aiosqlite:///x", var_dir=Path("v")
    )
    tuned = WorkerConfig.from_settings(
        load_settings(**base, worker_reminder_offsets_h=[2, 48], worker_scheduler_interval_s=0)
    )
    assert tuned.reminder_offsets_h == (48, 2) and tuned.scheduler_interval_s == 0
    with pytest.raises(SettingsError, match="DRIVESYNC_WORKER_REMINDER_OFFSETS_H"):
        load_settings(**base, worker_reminder_offsets_h=[0])
    with pytest.raises(SettingsError, match="DRIVESYNC_WORKER_DIGEST_HOUR"):
        load_settings(**base, worker_digest_hour=24)
