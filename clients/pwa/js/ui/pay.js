/**
 * Paying in the app: a "Pay £X" button that asks the server for a Stripe Checkout Session
 * and goes to its hosted page in the same tab (no card field and no Stripe script here: the
 * CSP stays `'self'`). Stripe sends the payer back to `#/<screen>/paid` (or `/cancelled`);
 * the payment's result arrives by sync, when the webhook has moved it, and the booking's
 * badge turns paid without a reload. The same goes for a lesson package (its credit lands on
 * the ledger) and for the balance a student owes (late fees, adjustments).
 *
 * Paying needs the server and Stripe: offline (the browser's or the last sync's), the button
 * is disabled and says so; the rest of the screen works from the replica as ever.
 */

import { h, fmt, section, sortBy, plural } from './dom.js';

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
    if (app) document.querySelectorAll('button.checkout').forEach((b) => show(app, b));
  }, 0));
}

/**
 * A button that starts a checkout and goes to Stripe's hosted page: `body` names what is
 * paid (`{booking_id}`, `{package_id, student_id}` or `{balance_student_id}`), `key` what the
 * return notice looks for, `returnTo` the screen Stripe sends the payer back to. Disabled
 * offline; the server's reason for refusing is shown next to it.
 */
export function checkoutButton(app, { label, body, key, returnTo, testid = 'pay', attrs = {} }) {
  const button = h('button', { type: 'button', class: 'primary checkout', 'data-testid': testid, 'data-label': label, ...attrs });
  show(app, button);
  button.onclick = async () => {
    button.dataset.busy = '1';
    button.disabled = true;
    button.textContent = 'Opening the payment page…';
    try {
      const res = await app.api('POST', '/v1/payments/checkout', { ...body, return_to: returnTo });
      sessionStorage.setItem(KEY, key);
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

/** The Pay button for one booking; `returnTo` is the screen Stripe sends the payer back to. */
export function payButton(app, b, returnTo) {
  return checkoutButton(app, {
    label: `Pay ${fmt.money(b.price_cents, b.currency)}`, body: { booking_id: b.id }, key: b.id, returnTo,
    attrs: { 'data-booking-id': b.id },
  });
}

/** What a school sells, each with its Buy button (for a student, by them or a guardian). */
export function packagesSection(app, packages, studentId, returnTo) {
  const selling = sortBy(packages.filter((p) => p.active !== false), (p) => p.price_cents);
  if (!selling.length) return null;
  return section('Buy lessons', h('ul', { class: 'plain list', 'data-testid': 'packages' }, selling.map((p) => h('li', { 'data-package-id': p.id },
    h('div', {}, h('strong', {}, p.name), ' · ', p.lessons ? plural(p.lessons, 'lesson') : `${p.minutes} minutes`,
      h('span', { class: 'hint' }, ` · use within ${plural(p.valid_days, 'day')}`)),
    h('div', { class: 'actions' }, checkoutButton(app, {
      label: `Buy for ${fmt.money(p.price_cents, p.currency)}`, body: { package_id: p.id, student_id: studentId },
      key: `package:${p.id}`, returnTo, testid: 'buy-package', attrs: { 'data-package-id': p.id, 'aria-label': `Buy ${p.name} for ${fmt.money(p.price_cents, p.currency)}` },
    }))))));
}

/** Pay what a student owes (late fees, adjustments), when they owe anything. */
export function balanceButton(app, balances, studentId, returnTo) {
  const b = balances.find((x) => x.student_id === studentId);
  if (!b || !(b.owed_cents > 0)) return null;
  return section('Owed to the school', h('p', { 'data-testid': 'owed-line' },
    `${fmt.money(b.owed_cents, b.currency)} is owed: late cancellation fees and the school's adjustments (see the credit history).`),
  h('div', { class: 'actions' }, checkoutButton(app, {
    label: `Pay ${fmt.money(b.owed_cents, b.currency)} owed`, body: { balance_student_id: studentId },
    key: `balance:${studentId}`, returnTo, testid: 'pay-balance',
  })));
}

/** After the hosted page: what happened, until the paid booking has arrived by sync. */
export function returnNotice(flag, bookings) {
  if (flag === 'cancelled') {
    sessionStorage.removeItem(KEY);
    return h('p', { class: 'notice', role: 'status', 'data-testid': 'pay-notice' }, 'Payment cancelled — nothing was taken.');
  }
  if (flag !== 'paid') return null;
  const id = sessionStorage.getItem(KEY);
  if (id && /^(package|balance):/.test(id)) {
    return h('p', { class: 'notice', role: 'status', 'data-testid': 'pay-notice' },
      'Payment received — your credit shows here as soon as it has synced.');
  }
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
