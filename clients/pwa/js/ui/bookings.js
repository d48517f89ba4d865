/**
 * The admin's bookings: every booking of the school from the replica (so offline too),
 * filtered by instructor, student, status and dates; one booking's page shows its facts,
 * its history (`booking_history`, server-written, admins only) and its move requests, and
 * lets the admin cancel it or move it. A move is checked by the server when it syncs (a
 * clash comes back as a problem with its reason); an admin's cancellation owes no fee.
 */

import { h, section, empty, badge, fmt, field, byKey, sortBy, plural } from './dom.js';
import { STATUS_LABEL, statusBadge } from './instructor.js';
import { zonedToUtc } from './student.js';
import { answer, feeBadge } from './moves.js';

const STATUSES = ['requested', 'confirmed', 'declined', 'cancelled', 'completed'];

// The filters outlive a re-render (a sync re-renders the view).
const filters = { instructor: '', student: '', status: '', from: '', to: '' };

function select(id, label, value, options, onchange) {
  const el = h('select', { id, onchange }, h('option', { value: '' }, 'All'),
    options.map(([v, text]) => h('option', { value: v, selected: v === value ? true : null }, text)));
  el.value = value;
  return field(label, el);
}

function matches(b) {
  if (filters.instructor && b.instructor_id !== filters.instructor) return false;
  if (filters.student && b.student_id !== filters.student) return false;
  if (filters.status && b.status !== filters.status) return false;
  const day = (b.start || '').slice(0, 10);
  if (filters.from && day < filters.from) return false;
  if (filters.to && day > filters.to) return false;
  return true;
}

export async function bookings(app) {
  const [list, students, instructors, services] = await Promise.all([
    app.all('booking'), app.all('student'), app.all('instructor'), app.all('service')]);
  const st = byKey(students);
  const inst = byKey(instructors);
  const svc = byKey(services);
  const set = (key) => (event) => { filters[key] = event.target.value; app.refresh(); };
  const shown = sortBy(list.filter(matches), (b) => b.start);
  const date = (id, key, label) => field(label, h('input', { id, type: 'date', value: filters[key], onchange: set(key) }));
  return h('div', {},
    h('h1', {}, 'Bookings'),
    h('form', { class: 'filters', 'aria-label': 'Filter bookings', 'data-testid': 'booking-filters', onsubmit: (e) => e.preventDefault() },
      select('bf-instructor', 'Instructor', filters.instructor, sortBy(instructors, (i) => i.name).map((i) => [i.id, i.name]), set('instructor')),
      select('bf-student', 'Student', filters.student, sortBy(students, (s) => s.name).map((s) => [s.id, s.name]), set('student')),
      select('bf-status', 'Status', filters.status, STATUSES.map((s) => [s, STATUS_LABEL[s] || s]), set('status')),
      date('bf-from', 'from', 'From'), date('bf-to', 'to', 'To')),
    section(plural(shown.length, 'booking'), shown.length ? h('ul', { class: 'plain list', 'data-testid': 'admin-bookings' }, shown.map((b) =>
      h('li', { 'data-booking-id': b.id },
        h('a', { class: 'row-link', href: `#/booking/${b.id}` },
          h('span', { class: 'when' }, `${fmt.day(b.start)} ${fmt.time(b.start)}`),
          h('span', { class: 'who' }, (st.get(b.student_id) || {}).name || 'Student', ' with ', (inst.get(b.instructor_id) || {}).name || 'instructor',
            ' · ', (svc.get(b.service_id) || {}).name || 'Lesson'),
          statusBadge(b.status), feeBadge(b), b._pending ? badge('not synced', 'pending') : null))))
      : empty('No bookings match.')));
}

const CHANGE_TEXT = {
  created: 'created', status: 'status', moved: 'moved', pickup: 'pickup', late_fee: 'late fee',
};

function shownValue(field, value, currency) {
  if (value === null || value === undefined) return '—';
  if (field === 'start' || field === 'end') return `${fmt.day(value)} ${fmt.time(value)}`;
  if (field === 'late_fee_cents') return fmt.money(Number(value), currency);
  return value;
}

/** One booking: facts, actions (cancel, move), move requests and history. */
export async function booking(app, id) {
  const [b, students, instructors, history, moves] = await Promise.all([
    app.get('booking', id), app.all('student'), app.all('instructor'), app.all('booking_history'), app.all('booking_move')]);
  if (!b) return h('div', {}, h('h1', {}, 'Booking'), empty('This booking is not on this device.'), h('a', { href: '#/bookings' }, '← All bookings'));
  const st = byKey(students);
  const inst = byKey(instructors);
  const live = ['requested', 'confirmed'].includes(b.status);
  const tz = app.session?.school?.timezone || 'UTC';
  const cancel = async () => {
    if (!confirm(`Cancel the lesson on ${fmt.day(b.start)} at ${fmt.time(b.start)}? The school cancels it: no late fee.`)) return;
    await app.mutate('booking', 'patch', b.id, { status: 'cancelled' });
    app.announce('Booking cancelled');
    app.refresh();
  };
  const day = h('input', { id: 'move-day', type: 'date', required: true, value: b.start.slice(0, 10) });
  const time = h('input', { id: 'move-time', type: 'time', required: true, step: 900 });
  const move = h('form', {
    'data-testid': 'admin-move',
    onsubmit: async (event) => {
      event.preventDefault();
      const start = zonedToUtc(day.value, time.value, tz).toISOString();
      await app.mutate('booking', 'patch', b.id, { start });
      app.announce('Move saved: the server checks the slot when it syncs');
      app.refresh();
    },
  }, field('Day', day), field('Start time', time, `In the school's time zone (${tz}); the length stays the same.`),
  h('button', { type: 'submit' }, 'Move booking'));
  const rows = sortBy(history.filter((x) => x.booking_id === id), (x) => `${x.at}|${x.rev}`);
  const asked = sortBy(moves.filter((m) => m.booking_id === id), (m) => m.updated_at, true);
  return h('div', {},
    h('p', {}, h('a', { href: '#/bookings' }, '← All bookings')),
    h('h1', {}, `${fmt.day(b.start)} ${fmt.time(b.start)}–${fmt.time(b.end)}`),
    section('Booking', h('dl', { class: 'facts' },
      h('dt', {}, 'Student'), h('dd', {}, (st.get(b.student_id) || {}).name || b.student_id),
      h('dt', {}, 'Instructor'), h('dd', {}, (inst.get(b.instructor_id) || {}).name || b.instructor_id),
      h('dt', {}, 'Status'), h('dd', {}, statusBadge(b.status), ' ', feeBadge(b)),
      h('dt', {}, 'Price'), h('dd', {}, fmt.money(b.price_cents, b.currency)),
      h('dt', {}, 'Pickup'), h('dd', {}, b.pickup_location || '—'),
      b.cancelled_at ? [h('dt', {}, 'Cancelled'), h('dd', {}, `${fmt.dateTime(b.cancelled_at)} by the ${b.cancelled_by}`)] : null),
    live ? h('div', { class: 'actions' }, h('button', { type: 'button', onclick: cancel, 'data-testid': 'admin-cancel' }, 'Cancel booking')) : null),
    live ? section('Move', move) : null,
    asked.length ? section('Move requests', h('ul', { class: 'plain list' }, asked.map((m) => h('li', {},
      `To ${fmt.day(m.start)} ${fmt.time(m.start)} · `, badge(m.status, { requested: 'requested', accepted: 'confirmed' }[m.status] || 'declined'),
      m.note ? ` · “${m.note}”` : '',
      m.status === 'requested' ? h('div', { class: 'actions' },
        h('button', { type: 'button', class: 'primary', onclick: answer(app, m, 'accepted') }, 'Accept move'),
        h('button', { type: 'button', onclick: answer(app, m, 'declined') }, 'Decline move')) : null)))) : null,
    section('History', rows.length ? h('ol', { class: 'plain list', 'data-testid': 'booking-history' }, rows.map((x) => h('li', { class: 'history-row' },
      h('span', { class: 'when' }, fmt.dateTime(x.at)), ' · ', `${x.role}: ${CHANGE_TEXT[x.change] || x.change}`,
      x.change === 'created' ? ` (${x.to_value})` : ` ${x.field === 'end' ? 'end ' : ''}${shownValue(x.field, x.from_value, b.currency)} → ${shownValue(x.field, x.to_value, b.currency)}`)))
      : empty('No history on this device yet (it arrives with the next sync).')));
}
