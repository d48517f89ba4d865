/**
 * A guardian's home: one card per learner they follow (the server sends a student's view
 * of each ward, read-only, and never a private note), with their progress and readiness,
 * bookings, lessons with the instructor's public notes, driving tests, invoices (the PDF
 * downloads when online) and theory practice.
 * Everything reads the local replica, so it works offline.
 *
 * Read-only, but for paying: each learner's credit (lessons left, money owed, the ledger) is
 * shown, and each unpaid booking has a Pay button (ui/pay.js), which needs a connection; the
 * hosted page sends the guardian back here (`#/home/paid`).
 */

import { h, section, empty, badge, fmt, byKey, sortBy, startOfDay } from './dom.js';
import { progressSection } from './progress.js';
import { statusBadge } from './instructor.js';
import { testsSection } from './drivingtests.js';
import { pushCard } from './account.js';
import { creditSection } from './credit.js';
import { balanceButton, packagesSection, payable, payButton, returnNotice } from './pay.js';
import { invoicesSection } from './invoices.js';

async function load(app) {
  const names = ['student', 'skill', 'student_progress', 'lesson', 'lesson_note', 'booking', 'service',
    'instructor', 'test_record', 'mock_test', 'student_balance', 'credit_entry', 'invoice', 'package'];
  const lists = await Promise.all(names.map((n) => app.all(n)));
  return Object.fromEntries(names.map((n, i) => [n, lists[i]]));
}

function learnerCard(app, d, s) {
  const inst = byKey(d.instructor);
  const svc = byKey(d.service);
  const prog = d.student_progress.find((p) => p.student_id === s.id);
  const bookings = sortBy(d.booking.filter((b) => b.student_id === s.id && ['requested', 'confirmed'].includes(b.status)
    && new Date(b.end) >= startOfDay()), (b) => b.start).slice(0, 5);
  const lessons = sortBy(d.lesson.filter((l) => l.student_id === s.id), (l) => l.scheduled_start, true).slice(0, 5);
  // The replica holds no private note (the server never sends one to a guardian); the
  // filter is a second fence, not the first.
  const notesOf = (l) => d.lesson_note.filter((n) => n.lesson_id === l.id && n.body && !n.private);
  const mocks = d.mock_test.filter((m) => m.student_id === s.id && typeof m.score === 'number');
  return h('article', { class: 'learner', 'data-testid': 'learner', 'data-id': s.id, 'aria-label': s.name },
    h('h2', { class: 'learner-name', 'data-testid': 'learner-name' }, s.name),
    progressSection(d.skill, prog, 'Progress', { mockTests: d.mock_test, tests: d.test_record, studentId: s.id }),
    section('Booked lessons', bookings.length ? h('ul', { class: 'plain list', 'data-testid': 'learner-bookings' }, bookings.map((b) => h('li', { class: 'booking', 'data-booking-id': b.id },
      h('div', {}, h('strong', {}, `${fmt.day(b.start)} ${fmt.time(b.start)}`), ' · ', (svc.get(b.service_id) || {}).name || 'Lesson',
        ' · ', (inst.get(b.instructor_id) || {}).name || '', ' ', statusBadge(b.status)),
      b.payment_status ? h('div', {}, `${fmt.money(b.price_cents, b.currency)} · `, h('span', { 'data-testid': 'payment-badge' },
        badge(`payment: ${b.payment_status}`, b.payment_status === 'paid' ? 'completed' : ''))) : null,
      payable(b) ? h('div', { class: 'actions' }, payButton(app, b, 'home')) : null)))
      : empty('No lessons booked.')),
    creditSection(d.student_balance, d.credit_entry, s.id),
    balanceButton(app, d.student_balance, s.id, 'home'),
    packagesSection(app, d.package, s.id, 'home'),
    section('Lessons', lessons.length ? h('ul', { class: 'plain history', 'data-testid': 'learner-lessons' }, lessons.map((l) => h('li', { class: 'card inner' },
      h('strong', {}, `${fmt.day(l.scheduled_start)} ${fmt.time(l.scheduled_start)}`), ' ', statusBadge(l.status),
      ' · ', (inst.get(l.instructor_id) || {}).name || '',
      notesOf(l).map((n) => h('blockquote', { class: 'note-text' }, n.body)))))
      : empty('No lessons yet.')),
    testsSection(d.test_record, s.id),
    invoicesSection(app, d.invoice, s.id),
    section('Theory', h('p', {}, mocks.length
      ? `${mocks.length} mock test${mocks.length === 1 ? '' : 's'} · ${mocks.filter((m) => m.passed).length} passed · best ${Math.max(...mocks.map((m) => m.score))} of ${mocks[0].total}`
      : 'No mock tests taken yet.')));
}

export async function home(app, flag) {
  const d = await load(app);
  const learners = sortBy(d.student, (s) => s.name);
  return h('div', { class: 'guardian' },
    h('h1', {}, 'Your learners'),
    returnNotice(flag, d.booking),
    learners.length ? learners.map((s) => learnerCard(app, d, s))
      : empty(app.initialSync ? 'Downloading your learners…' : 'No learners linked to you yet: ask the school.'),
    pushCard(app));
}
