// Paying in the app: which bookings get a Pay button, and what a payment was for.
import assert from 'node:assert/strict';
import { test } from 'node:test';

import { payable, paymentFor } from '../js/ui/pay.js';

const booking = { id: 'b1', status: 'confirmed', payment_status: 'unpaid', price_cents: 4200, currency: 'GBP', start: '2026-12-20T10:00:00Z' };

test('a booking is payable until it is paid, paid with credit or refunded', () => {
  assert.equal(payable(booking), true);
  assert.equal(payable({ ...booking, payment_status: 'pending' }), true); // an open checkout
  assert.equal(payable({ ...booking, payment_status: 'failed' }), true);
  for (const settled of ['paid', 'credit', 'refunded']) assert.equal(payable({ ...booking, payment_status: settled }), false);
  for (const status of ['cancelled', 'declined']) assert.equal(payable({ ...booking, status }), false);
  assert.equal(payable({ ...booking, price_cents: 0 }), false);
  assert.equal(payable({ ...booking, _pending: true }), false); // not on the server yet
});

test('a payment says what it was for', () => {
  const bookings = new Map([['b1', booking]]);
  assert.match(paymentFor({ purpose: 'booking', booking_id: 'b1' }, bookings, new Map()), /^lesson on /);
  assert.equal(paymentFor({ purpose: 'booking', booking_id: 'gone' }, bookings, new Map()), 'lesson');
  const packages = new Map([['p1', { id: 'p1', name: '10 lessons' }]]);
  assert.equal(paymentFor({ purpose: 'package', package_id: 'p1' }, bookings, packages), 'package: 10 lessons');
  assert.equal(paymentFor({ purpose: 'package', package_id: 'p2' }, bookings, packages), 'package');
  assert.equal(paymentFor({ purpose: 'balance', booking_id: null }, bookings, packages), 'balance');
});
