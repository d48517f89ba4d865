/**
 * A student's credit: the balance (lessons and minutes left, money owed, the next expiry)
 * and the ledger it sums, both read-only replicas written by the server
 * (`student_balance`, `credit_entry`; docs/protocol.md, "Credit"). Shown on the student's
 * and the guardian's home and on the student's page for staff.
 */

import { h, section, empty, fmt, sortBy, plural } from './dom.js';

const KIND = {
  purchase: 'Package bought',
  booking: 'Lesson booked',
  refund: 'Given back',
  expiry: 'Expired',
  adjustment: 'Adjusted by the school',
  fee: 'Late cancellation fee',
  payment: 'Paid',
};

/** Units held for booking: what the booking form offers ("3 lessons", "540 minutes"). */
export function creditLeft(balance) {
  if (!balance) return null;
  if (balance.lessons_left > 0) return plural(balance.lessons_left, 'lesson');
  if (balance.minutes_left > 0) return `${balance.minutes_left} minutes`;
  return null;
}

function signed(n, unit) {
  return `${n > 0 ? '+' : '−'}${Math.abs(n)} ${unit}`;
}

function change(e) {
  const parts = [];
  if (e.lessons) parts.push(signed(e.lessons, Math.abs(e.lessons) === 1 ? 'lesson' : 'lessons'));
  if (e.minutes) parts.push(signed(e.minutes, 'min'));
  if (e.amount_cents) {
    const money = fmt.money(Math.abs(e.amount_cents), e.currency);
    parts.push(e.amount_cents > 0 ? `${money} owed` : `${money} paid`);
  }
  return parts.join(' · ');
}

/** The credit card for one student; nothing when they never held credit nor owed. */
export function creditSection(balances, entries, studentId, { title = 'Credit', limit = 8 } = {}) {
  const balance = balances.find((b) => b.student_id === studentId);
  // Newest first, by rev: entries written together (a purchase and its payment) share a time.
  const mine = sortBy(entries.filter((e) => e.student_id === studentId), (e) => e.rev, true);
  if (!balance && !mine.length) return null;
  const b = balance || { lessons_left: 0, minutes_left: 0, owed_cents: 0, currency: (mine[0] || {}).currency || 'GBP' };
  const stats = [
    ['Lessons left', String(b.lessons_left), 'credit-lessons'],
  ];
  if (b.minutes_left || mine.some((e) => e.minutes)) stats.push(['Minutes left', String(b.minutes_left), 'credit-minutes']);
  stats.push([b.owed_cents < 0 ? 'In credit' : 'Owed', fmt.money(Math.abs(b.owed_cents), b.currency), 'credit-owed']);
  return section(title,
    h('dl', { class: 'stats', 'data-testid': 'credit-balance' },
      stats.map(([label, value, testid]) => h('div', {}, h('dt', {}, label), h('dd', { 'data-testid': testid }, value)))),
    b.next_expiry ? h('p', { class: 'hint', 'data-testid': 'credit-expiry' }, `Unused credit expires on ${fmt.day(b.next_expiry)}.`) : null,
    mine.length
      ? h('details', { class: 'credit-history' },
        h('summary', {}, `History (${mine.length})`),
        h('ul', { class: 'plain list', 'data-testid': 'credit-history' }, mine.slice(0, limit).map((e) => h('li', { 'data-kind': e.kind },
          h('strong', {}, KIND[e.kind] || e.kind), ' · ', change(e),
          h('span', { class: 'hint sub-line' }, `${fmt.day(e.created_at)}${e.note ? ` · ${e.note}` : ''}`)))))
      : empty('No credit used yet.'));
}
