"""Paying in the app (issue 12): student1 on a 390 px phone pays an unpaid lesson — Pay,
the Stripe stand-in's hosted page, Pay there, back in the app — and the booking's badge
turns paid when the webhook's change arrives by sync, without a reload; offline the Pay
button is disabled and says why, and the screen still loads. guardian1 (following student1
and student2) pays a learner's lesson on a desktop. Screenshots at 390 and 1280 px."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.e2e.axe import audit, failing, report
from tests.e2e.conftest import DESKTOP, LiveServer
from tests.e2e.pages import go, offline, online, page_of, shot, sign_in

PHONE_390 = {"width": 390, "height": 844}
PAY = "[data-testid=pay]"
PAID = """id => {
  const li = document.querySelector(`li[data-booking-id="${id}"]`);
  const badge = li && li.querySelector('[data-testid=payment-badge]');
  return !!badge && badge.textContent === 'payment: paid';
}"""


def _badge(page: Any, booking_id: str) -> str:
    return str(page.inner_text(f"li[data-booking-id='{booking_id}'] [data-testid=payment-badge]"))


def _pay_on_the_hosted_page(
    page: Any, server: LiveServer, booking_id: str, folder: Path, name: str
) -> None:
    """Press Pay in the app, then Pay on the stand-in's page; the browser comes back."""
    assert server.stripe is not None
    button = page.locator(f"{PAY}[data-booking-id='{booking_id}']")
    label = button.inner_text()
    assert label.startswith("Pay £")
    button.click()
    page.wait_for_url(f"{server.stripe.base}/pay/*")
    assert page.inner_text("h1") == label  # the same amount on Stripe's side
    shot(page, folder, name)
    page.click("button:has-text('Pay')")
    page.wait_for_url(f"{server.url}#/**")


@pytest.mark.stripe
def test_student_pays_a_lesson_and_the_badge_turns_paid_without_reload(
    server: LiveServer, launch: Any, shots: Path
) -> None:
    assert server.stripe is not None
    server.stripe.webhook_delay_s = 1.5  # the webhook lands after the payer is back
    errors: list[str] = []
    ctx = launch("student", viewport=PHONE_390)
    page = page_of(ctx)
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    # The way out to the hosted page and back is top-level navigation: the app's CSP
    # (connect-src, form-action 'self') has nothing to refuse, and Chromium would say so.
    page.on(
        "console",
        lambda m: "Content Security Policy" in m.text and errors.append(m.text),
    )
    sign_in(page, server.url, "student1@demo.test")
    go(page, "bookings")
    page.wait_for_selector(PAY)
    booking_id = page.get_attribute(f"{PAY} >> nth=-1", "data-booking-id")
    assert _badge(page, booking_id) == "payment: unpaid"
    shot(page, shots, "checkout-bookings-390")

    # Offline: the button says paying needs a connection, also after a reload.
    offline(ctx, server)
    page.wait_for_selector(f"{PAY}[disabled]:has-text('Paying needs a connection')")
    page.reload()
    page.wait_for_selector(f"#main[data-view='bookings'] {PAY}[disabled]")
    assert page.locator(PAY).first.inner_text() == "Paying needs a connection"
    shot(page, shots, "checkout-offline-390")
    online(ctx, server)
    page.wait_for_selector(f"{PAY}[data-booking-id='{booking_id}']:not([disabled])", timeout=15_000)

    _pay_on_the_hosted_page(page, server, booking_id, shots, "checkout-hosted-page-390")
    page.wait_for_selector("[data-testid=pay-notice]:has-text('Payment received — updating…')")
    page.evaluate("() => { window.__sameDocument = true }")
    # The webhook lands; the change arrives by sync (the live poke) into this document.
    page.wait_for_function(
        PAID,
        arg=booking_id,
        timeout=15_000,
    )
    assert page.evaluate("() => window.__sameDocument") is True  # no reload
    assert page.locator(f"{PAY}[data-booking-id='{booking_id}']").count() == 0
    assert "is paid" in page.inner_text("[data-testid=pay-notice]")
    payments = page.inner_text("[data-testid=payments]")
    assert "succeeded · lesson on" in payments
    shot(page, shots, "checkout-paid-390")
    page.set_viewport_size(DESKTOP)
    shot(page, shots, "checkout-paid-desktop")
    bad = failing(audit(page, ctx.new_cdp_session(page), "student #bookings/paid"))
    assert not bad, report(bad)
    rows = server.sql(
        "SELECT p.status, p.purpose, u.email FROM payments p "
        "JOIN users u ON u.id = p.payer_user_id WHERE p.booking_id = ?",
        booking_id,
    )
    assert rows == [("succeeded", "booking", "student1@demo.test")]
    assert [k for k, status in server.stripe.deliveries if status == 200] == [
        "checkout.session.completed",
        "payment_intent.succeeded",
    ]
    assert errors == []


@pytest.mark.stripe
def test_guardian_pays_a_learners_lesson(server: LiveServer, launch: Any, shots: Path) -> None:
    assert server.stripe is not None
    errors: list[str] = []
    ctx = launch("guardian", viewport=DESKTOP)
    page = page_of(ctx)
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    sign_in(page, server.url, "guardian1@demo.test")
    page.wait_for_selector(f"[data-testid=learner] {PAY}")
    card = page.locator("[data-testid=learner]").nth(1)  # Oliver Bennett (student2)
    booking_id = card.locator(PAY).first.get_attribute("data-booking-id")
    shot(page, shots, "checkout-guardian-desktop")
    _pay_on_the_hosted_page(page, server, booking_id, shots, "checkout-hosted-page-desktop")
    page.wait_for_selector("[data-testid=pay-notice]")
    page.wait_for_function(
        PAID,
        arg=booking_id,
        timeout=15_000,
    )
    shot(page, shots, "checkout-guardian-paid-desktop")
    page.set_viewport_size(PHONE_390)
    shot(page, shots, "checkout-guardian-paid-390")
    bad = failing(audit(page, ctx.new_cdp_session(page), "guardian #home/paid"))
    assert not bad, report(bad)
    rows = server.sql(
        "SELECT p.status, u.email, s.email FROM payments p JOIN users u ON u.id = p.payer_user_id "
        "JOIN students s ON s.id = p.student_id WHERE p.booking_id = ?",
        booking_id,
    )
    assert rows == [("succeeded", "guardian1@demo.test", "student2@demo.test")]
    assert errors == []


def test_without_stripe_the_pay_button_says_why(server: LiveServer, launch: Any) -> None:
    """A server with no Stripe key (no `stripe` marker): the app stays, the reason shows."""
    assert server.stripe is None
    ctx = launch("student-unconfigured", viewport=PHONE_390)
    page = page_of(ctx)
    sign_in(page, server.url, "student1@demo.test")
    go(page, "bookings")
    page.locator(PAY).first.click()
    error = page.wait_for_selector("[data-testid=pay-error]")
    assert "payments are not configured" in error.inner_text()
    assert page.url.startswith(server.url) and page.locator(f"{PAY}:not([disabled])").count() > 0
