/**
 * Recurring lessons (`booking_series`): the "Repeat" fields of the student's request form,
 * the student's series with what became of each date (booked, or refused and why: the
 * server checks each date alone), "cancel this and following", and the instructor's
 * confirm / decline of a whole series at once. Written offline like every change; the
 * dates are known once the server has expanded the series.
 */

import { h, section, badge, fmt, field, byKey, sortBy, plural } from './dom.js';
import { statusBadge } from './instructor.js';

const EVERY = { week: 'every week', '2weeks': 'every two weeks' };

/** The school's calendar date (yyyy-mm-dd) of an instant: the server reads `until` so. */
export function schoolDay(app, iso, shiftDays = 0) {
  const zone = (app.session && app.session.school && app.session.school.timezone) || undefined;
  const d = new Date(new Date(iso).getTime() + shiftDays * 86400e3);
  return new Intl.DateTimeFormat('en-CA', { timeZone: zone, year: 'numeric', month: '2-digit', day: '2-digit' }).format(d);
}

/** The form's repeat controls: `nodes` to place in the form, `value()` → null (once) or
 * {every, count}. */
export function repeatFields() {
  const every = h('select', { id: 'book-repeat' },
    h('option', { value: '' }, 'Does not repeat'),
    h('option', { value: 'week' }, 'Every week'),
    h('option', { value: '2weeks' }, 'Every two weeks'));
  const count = h('input', { id: 'book-count', type: 'number', min: 2, max: 52, value: 6, inputmode: 'numeric' });
  const countField = field('Number of lessons', count, 'Each date is checked on its own: a date your instructor cannot do is left out, with the reason.');
  countField.hidden = true;
  every.addEventListener('change', () => { countField.hidden = !every.value; });
  return {
    nodes: [field('Repeat', every), countField],
    value() {
      if (!every.value) return null;
      const n = Math.max(2, Math.min(52, Number.parseInt(count.value, 10) || 2));
      return { every: every.value, count: n };
    },
  };
}

/** What became of a series' dates: counts, then each refused date with its reason. */
function outcome(s) {
  const occ = s.occurrences || [];
  if (!occ.length) return h('p', { class: 'hint' }, s._pending ? 'Not sent yet: each date is checked when it reaches the school.' : 'Being checked…');
  const booked = occ.filter((o) => o.booking_id).length;
  const refused = occ.filter((o) => o.refused);
  return h('div', {},
    h('p', { 'data-testid': 'series-counts' }, `${plural(booked, 'lesson')} ${s.status === 'confirmed' ? 'booked' : 'requested'}`,
      refused.length ? `, ${plural(refused.length, 'date')} refused` : ''),
    refused.length ? h('ul', { class: 'plain refused', 'data-testid': 'series-refused' }, refused.map((o) => h('li', {},
      badge('refused', 'bad'), ' ', h('strong', {}, `${fmt.day(o.start)} ${fmt.time(o.start)}`), ': ', o.reason || o.refused))) : null);
}

/** The student's series, newest first. */
export function seriesSection(app, series, services, instructors) {
  const svc = byKey(services);
  const inst = byKey(instructors);
  const mine = sortBy(series, (s) => s.first_start, true);
  if (!mine.length) return null;
  const cancelAll = (s) => async () => {
    if (!confirm('Cancel every lesson still to come in this series?')) return;
    await app.mutate('booking_series', 'patch', s.id, { status: 'cancelled' });
    app.announce('Series cancelled');
    app.refresh();
  };
  return section('Recurring lessons', h('ul', { class: 'plain list', 'data-testid': 'series' }, mine.map((s) => h('li', { class: 'series', 'data-series-id': s.id },
    h('div', {}, h('strong', {}, `${(svc.get(s.service_id) || {}).name || 'Lesson'} ${EVERY[s.every] || ''}`),
      ' from ', `${fmt.day(s.first_start)} ${fmt.time(s.first_start)}`, ' · ', (inst.get(s.instructor_id) || {}).name || ''),
    h('div', {}, statusBadge(s.status), s._pending ? badge('not synced', 'pending') : null),
    outcome(s),
    ['requested', 'confirmed'].includes(s.status) && s.occurrences && s.occurrences.length
      ? h('button', { type: 'button', onclick: cancelAll(s) }, 'Cancel series') : null))));
}

/** A booking that is a date of a series can end the series from here: this date and the
 * following ones are cancelled (the series' `until` moves to the day before). */
export function followingButton(app, booking) {
  if (!booking.series_id) return null;
  return h('button', {
    type: 'button',
    'data-testid': 'cancel-following',
    onclick: async () => {
      if (!confirm(`Cancel the lesson on ${fmt.day(booking.start)} and every later one of this series?`)) return;
      await app.mutate('booking_series', 'patch', booking.series_id, { until: schoolDay(app, booking.start, -1) });
      app.announce('This lesson and the following ones are cancelled');
      app.refresh();
    },
  }, 'Cancel this and following');
}

/** The instructor's series waiting for an answer (`students`, `services`: Maps by id):
 * confirm or decline each at once. */
export function seriesRequests(app, series, students, services) {
  const waiting = sortBy(series.filter((s) => s.status === 'requested' && (app.isAdmin || s.instructor_id === app.user.instructor_id)), (s) => s.first_start);
  if (!waiting.length) return null;
  const svc = services; // by id
  const act = (s, status) => async () => {
    await app.mutate('booking_series', 'patch', s.id, { status });
    app.announce(status === 'confirmed' ? 'Series confirmed' : 'Series declined');
    app.refresh();
  };
  return section('Recurring requests', h('ul', { class: 'plain list', 'data-testid': 'series-requests' }, waiting.map((s) => {
    const booked = (s.occurrences || []).filter((o) => o.booking_id).length;
    return h('li', { class: 'request', 'data-series-id': s.id },
      h('div', {}, h('strong', {}, (students.get(s.student_id) || {}).name || 'Student'), ' · ',
        `${plural(booked, 'lesson')} ${EVERY[s.every] || ''} from ${fmt.day(s.first_start)} ${fmt.time(s.first_start)}`, ' · ',
        (svc.get(s.service_id) || {}).name || ''),
      s.pickup_location ? h('div', { class: 'pickup', 'data-testid': 'pickup' }, `Pickup: ${s.pickup_location}`) : null,
      h('div', { class: 'actions' },
        h('button', { type: 'button', class: 'primary', onclick: act(s, 'confirmed') }, 'Confirm all'),
        h('button', { type: 'button', onclick: act(s, 'declined') }, 'Decline all')));
  })));
}

