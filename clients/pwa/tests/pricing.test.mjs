// The booking screen's price (js/ui/pricing.js) follows the server's rules
// (sync/core/pricing.py; tests/unit/sync/test_pricing.py checks the same cases there).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { priceFor, validOn } from '../js/ui/pricing.js';

const service = { id: 's', price_cents: 4000, currency: 'GBP' };
const card = (instructor_id, price_cents, extra = {}) => ({
  service_id: 's', instructor_id, price_cents, currency: 'GBP', valid_from: null, valid_until: null, ...extra });

test('instructor card beats school card beats the service price', () => {
  const cards = [card(null, 5000), card('i1', 6000, { currency: 'EUR' })];
  assert.deepEqual(priceFor(cards, service, 'i1', '2027-01-05'), { price_cents: 6000, currency: 'EUR', source: 'instructor' });
  assert.deepEqual(priceFor(cards, service, 'i2', '2027-01-05'), { price_cents: 5000, currency: 'GBP', source: 'school' });
  assert.deepEqual(priceFor([], service, 'i1', '2027-01-05'), { price_cents: 4000, currency: 'GBP', source: 'service' });
});

test('only cards valid on the day, both ends included, and of this service', () => {
  const jan = card('i1', 6000, { valid_from: '2027-01-01', valid_until: '2027-01-31' });
  assert.ok(validOn(jan, '2027-01-01') && validOn(jan, '2027-01-31'));
  assert.ok(!validOn(jan, '2026-12-31') && !validOn(jan, '2027-02-01'));
  assert.equal(priceFor([jan, card(null, 5000)], service, 'i1', '2027-02-01').price_cents, 5000);
  assert.equal(priceFor([{ ...jan, service_id: 'other' }], service, 'i1', '2027-01-05').source, 'service');
});

test('a tie old data might hold goes to the latest start, whatever the order', () => {
  const a = card('i1', 1000, { valid_from: '2027-01-01' });
  const b = card('i1', 2000, { valid_from: '2027-01-10' });
  assert.equal(priceFor([a, b], service, 'i1', '2027-01-20').price_cents, 2000);
  assert.equal(priceFor([b, a], service, 'i1', '2027-01-20').price_cents, 2000);
});
