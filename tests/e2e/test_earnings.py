"""Earnings in the PWA (issue 12): instructor1's completed lessons are paid by card (Stripe's
signed `payment_intent.succeeded`, the real webhook), which writes their payouts; on a
390 px phone the Earnings screen shows their share per week and per month, offline too,
with the payouts set-up button (which needs a connection). Admins see every instructor's
earnings. Screenshots at 390 px and 1280 px."""

from __future__ import annotations

import json
import time
import urllib.request
import uuid
from pathlib import Path
from typing import Any

from tests.e2e.conftest import DESKTOP, E2E_STRIPE_WHSEC, LiveServer
from tests.e2e.pages import go, offline, online, page_of, shot, sign_in, wait_synced
from tests.workers.peers import stripe_event, stripe_signature
from workers.money import format_money, split_fee

PHONE_390 = {"width": 390, "height": 844}


def _pay_by_card(server: LiveServer, booking_id: str, cents: int, tenant_id: str) -> None:
    """Stripe tells the school a card payment of the booking succeeded."""
    intent = {
        "id": "pi_" + uuid.uuid4().hex[:24],
        "object": "payment_intent",
        "amount": cents,
        "currency": "gbp",
        "status": "succeeded",
        "metadata": {
            "tenant_id": tenant_id,
            "booking_id": booking_id,
            "payment_id": str(uuid.uuid4()),
        },
    }
    body = stripe_event("payment_intent.succeeded", intent)
    req = urllib.request.Request(
        server.url.rstrip("/") + "/v1/webhooks/stripe/demo", data=body, method="POST"
    )
    req.add_header("Content-Type", "application/json")
    req.add_header("Stripe-Signature", stripe_signature(body, E2E_STRIPE_WHSEC))
    with urllib.request.urlopen(req, timeout=10) as resp:
        answer = json.loads(resp.read())
    assert answer["outcome"] == "succeeded", answer


def _cents(text: str) -> int:
    """ "£1,234.50" → 123450."""
    pounds, _, pence = text.replace("£", "").replace(",", "").partition(".")
    return int(pounds) * 100 + int(pence or 0)


def test_an_instructor_sees_their_earnings_on_a_phone_offline_too(
    server: LiveServer, launch: Any, shots: Path
) -> None:
    ((tenant_id, bps),) = server.sql("SELECT id, platform_fee_bps FROM tenants WHERE slug = 'demo'")
    lessons = server.sql(
        "SELECT b.id, b.price_cents FROM bookings b JOIN instructors i"
        " ON i.id = b.instructor_id AND i.tenant_id = b.tenant_id"
        " WHERE i.email = ? AND b.status = 'completed' ORDER BY b.start",
        "instructor1@demo.test",
    )
    assert len(lessons) >= 2, lessons
    for booking_id, cents in lessons:
        _pay_by_card(server, booking_id, cents, tenant_id)
    shares = [split_fee(cents, bps) for _bid, cents in lessons]
    total_net = sum(net for _fee, net in shares)
    assert server.sql("SELECT count(*) FROM payouts")[0][0] == len(lessons)

    ctx = launch("earnings-phone", viewport=PHONE_390)
    page = page_of(ctx)
    sign_in(page, server.url, "instructor1@demo.test")
    go(page, "earnings/month")
    page.wait_for_selector("[data-testid=earnings-table]")
    rows = page.locator("[data-testid=earnings-table] tbody tr")
    nets = [_cents(t) for t in rows.locator("[data-testid=net]").all_inner_texts()]
    assert sum(nets) == total_net  # every lesson's share, after the school's fee
    lessons_shown = sum(int(t) for t in rows.locator("td:nth-child(2)").all_inner_texts())
    assert lessons_shown == len(lessons)
    status = page.locator("[data-testid=connect-status]").inner_text()
    assert "Not set up" in status
    button = page.locator("[data-testid=setup-payouts]")
    assert button.inner_text() == "Set up payouts" and button.is_enabled()
    # The page fits the phone: nothing wider than the screen.
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
    shot(page, shots, "earnings-instructor-390")

    # Offline: the totals are still there (from the synced payouts); setting up is not.
    offline(ctx, server)
    go(page, "earnings/week")
    page.wait_for_selector("[data-testid=period-week][aria-current=page]")
    week_nets = page.locator("[data-testid=earnings-table] [data-testid=net]").all_inner_texts()
    assert sum(_cents(t) for t in week_nets) == total_net
    assert page.locator("[data-testid=setup-payouts]").is_disabled()
    assert "needs a connection" in page.inner_text("#main")
    assert format_money(total_net, "GBP") in page.inner_text("[data-testid=earnings-summary]")
    shot(page, shots, "earnings-instructor-390-offline")
    online(ctx, server)

    wide = page_of(launch("earnings-desktop", viewport=DESKTOP))
    sign_in(wide, server.url, "instructor1@demo.test")
    go(wide, "earnings/week")
    wide.wait_for_selector("[data-testid=earnings-table]")
    shot(wide, shots, "earnings-instructor-1280")

    admin = page_of(launch("earnings-admin", viewport=DESKTOP))
    sign_in(admin, server.url, "admin@demo.test")
    go(admin, "earnings/month")
    admin.wait_for_selector("[data-testid=instructor-totals]")
    totals = admin.inner_text("[data-testid=instructor-totals]")
    ((name,),) = server.sql("SELECT name FROM instructors WHERE email = ?", "instructor1@demo.test")
    assert name in totals and format_money(total_net, "GBP") in totals
    shot(admin, shots, "earnings-admin-1280")
    admin.set_viewport_size(PHONE_390)
    time.sleep(0.2)
    shot(admin, shots, "earnings-admin-390")
    wait_synced(admin)
