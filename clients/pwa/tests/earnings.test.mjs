// The Earnings screen's grouping (js/ui/earnings.js) follows the server's
// (sync/core/earnings.py; tests/unit/sync/test_earnings.py checks the same cases there).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { groupPayouts, periodOf } from '../js/ui/earnings.js';

const payout = (lesson_start, extra = {}) => ({
  instructor_id: 'i1', lesson_start, gross_cents: 4200, fee_cents: 630, net_cents: 3570,
  reversed_cents: 0, currency: 'GBP', status: 'pending', transfer_status: null, ...extra });

test('ISO weeks start on Monday, by the local date in the school zone', () => {
  // Monday 00:30 BST is Sunday 23:30 UTC: the next week in London.
  const [key, start, end] = periodOf('2026-06-15', 'week');
  assert.deepEqual([key, start, end], ['2026-W25', '2026-06-15', '2026-06-22']);
  const groups = groupPayouts([payout('2026-06-14T22:30:00Z'), payout('2026-06-14T23:30:00Z')], 'Europe/London', 'week');
  assert.deepEqual(groups.map((g) => g.period), ['2026-W25', '2026-W24']);
});

test('week years and month ends like the server', () => {
  assert.deepEqual(periodOf('2027-01-01', 'week'), ['2026-W53', '2026-12-28', '2027-01-04']);
  assert.deepEqual(periodOf('2026-12-31', 'month'), ['2026-12', '2026-12-01', '2027-01-01']);
  // Across the end of BST (25 October 2026): the same Sunday, the same week.
  const sunday = groupPayouts([payout('2026-10-25T00:30:00Z'), payout('2026-10-25T23:30:00Z')], 'Europe/London', 'week');
  assert.deepEqual(sunday.map((g) => [g.period, g.lessons]), [['2026-W43', 2]]);
  // 00:30 BST on 1 April is still 31 March in UTC: April at the school.
  assert.equal(groupPayouts([payout('2026-03-31T23:30:00Z')], 'Europe/London', 'month')[0].period, '2026-04');
});

test('totals skip cancelled payouts and subtract what was taken back', () => {
  const groups = groupPayouts([
    payout('2026-12-01T10:00:00Z', { transfer_status: 'paid_out' }),
    payout('2026-12-02T10:00:00Z', { transfer_status: 'reversed', reversed_cents: 3570 }),
    payout('2026-12-03T10:00:00Z', { status: 'cancelled' }),
  ], 'Europe/London', 'month');
  assert.equal(groups.length, 1);
  const [g] = groups;
  assert.deepEqual([g.lessons, g.gross_cents, g.fee_cents, g.net_cents, g.reversed_cents, g.paid_out_cents],
    [2, 8400, 1260, 3570, 3570, 3570]);
});
