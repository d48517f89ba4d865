/**
 * Paying in the app: a "Pay £X" button that asks the server for a Stripe Checkout Session
 * and goes to its hosted page in the same tab (no card field and no Stripe script here: the
 * CSP stays `'self'`). Stripe sends the payer back to `#/<screen>/paid` (or `/cancelled`);
 * the payment's result arrives by sync, when the webhook has moved it, and the booking's
 * badge turns paid without a reload.
 *
 * Paying needs the server and Stripe: offline (the browser's or the last sync's), the button
 * is disabled and says so; the rest of the screen works from the replica as ever.
 */

import { h, fmt } from './dom.js';

const PAYABLE = ['requested', 'confirmed', 'completed'];
const SETTLED = ['paid', 'credit', 'refunded'];
const KEY = 'drivesync.paying';
const OFFLINE = 'Paying needs a connection';

/** True when the booking can be paid in the app (the server checks again). */
export function payable(b) {
  return PAYABLE.includes(b.status) && !SETTLED.includes(b.payment_status) && b.price_cents > 0 && !b._pending;
}

function offline(app) {
  return !navigator.onLine || !!(app.lastError && app.lastError.offline);
}

function show(app, button) {
  const off = offline(app);
  if (button.dataset.busy) return;
  button.disabled = off;
  button.textContent = off ? OFFLINE : button.dataset.label;
}

// The browser's network comes and goes while a screen is open: the buttons follow.
for (const kind of typeof addEventListener === 'function' ? ['online', 'offline'] : []) {
  addEventListener(kind, () => setTimeout(() => { // after the app's own handler (lastError)
    const app = globalThis.__drivesync;
    if (app) document.querySelectorAll('button[data-testid="pay"]').forEach((b) => show(app, b));
  }, 0));
}

/** The Pay button for one booking; `returnTo` is the screen Stripe sends the payer back to. */
export function payButton(app, b, returnTo) {
  const button = h('button', {
    type: 'button', class: 'primary', 'data-testid': 'pay', 'data-booking-id': b.id,
    'data-label': `Pay ${fmt.money(b.price_cents, b.currency)}`,
  });
  show(app, button);
  button.onclick = async () => {
    button.dataset.busy = '1';
    button.disabled = true;
    button.textContent = 'Opening the payment page…';
    try {
      const res = await app.api('POST', '/v1/payments/checkout', { booking_id: b.id, return_to: returnTo });
      sessionStorage.setItem(KEY, b.id);
      location.assign(res.checkout_url);
    } catch (err) {
      delete button.dataset.busy;
      show(app, button);
      const text = err.offline ? OFFLINE : `The payment could not start: ${err.message || err}`;
      // Shown next to the button (and read out): the server's reason, e.g. already paid.
      const row = button.closest('.actions') || button;
      const next = row.nextElementSibling;
      const note = next && next.dataset.testid === 'pay-error' ? next : h('p', { class: 'hint', role: 'alert', 'data-testid': 'pay-error' });
      note.textContent = text;
      if (note !== next) row.after(note);
    }
  };
  return button;
}

/** After the hosted page: what happened, until the paid booking has arrived by sync. */
export function returnNotice(flag, bookings) {
  if (flag === 'cancelled') {
    sessionStorage.removeItem(KEY);
    return h('p', { class: 'notice', role: 'status', 'data-testid': 'pay-notice' }, 'Payment cancelled — nothing was taken.');
  }
  if (flag !== 'paid') return null;
  const id = sessionStorage.getItem(KEY);
  const b = id && bookings.find((x) => x.id === id);
  const done = b && b.payment_status === 'paid';
  return h('p', { class: 'notice', role: 'status', 'data-testid': 'pay-notice' },
    done ? `Payment received — the lesson on ${fmt.day(b.start)} is paid.` : 'Payment received — updating…');
}

/** What a payment was for, in words: a lesson's date, a package's name, or the balance. */
export function paymentFor(p, bookingById, packageById) {
  if (p.purpose === 'package') {
    const pkg = packageById && p.package_id ? packageById.get(p.package_id) : null;
    return pkg ? `package: ${pkg.name}` : 'package';
  }
  if (p.purpose === 'balance') return 'balance';
  const b = bookingById.get(p.booking_id);
  return b ? `lesson on ${fmt.day(b.start)} ${fmt.time(b.start)}` : 'lesson';
}
