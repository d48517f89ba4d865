/**
 * Calendars: day, week and month views of lessons, booking requests (not yet confirmed) and
 * time off. Instructors see their own diary, students their own lessons, admins every
 * instructor's or one they pick. Everything comes from the replica, so it works offline.
 *
 * Route: #/calendar/<day|week|month>/<yyyy-mm-dd>[/<instructor id>] (admins' filter); the
 * date is any day of the period, in the device's own time zone, as the other views use.
 * Also here: the card that turns on the private iCalendar feed (online only).
 */

import { h, section, empty, badge, fmt, startOfDay, startOfWeek, addDays, byKey, sortBy, plural } from './dom.js';
import { statusBadge } from './instructor.js';

const MODES = [['day', 'Day'], ['week', 'Week'], ['month', 'Month']];
const monthFmt = new Intl.DateTimeFormat(undefined, { month: 'long', year: 'numeric' });
const weekdayFmt = new Intl.DateTimeFormat(undefined, { weekday: 'short' });
const longDayFmt = new Intl.DateTimeFormat(undefined, { weekday: 'long', day: 'numeric', month: 'long', year: 'numeric' });

/** yyyy-mm-dd of a local date. */
export function isoDay(d) {
  return `${d.getFullYear()}-${String(d.getMonth() + 1).padStart(2, '0')}-${String(d.getDate()).padStart(2, '0')}`;
}

function parseDay(text) {
  const m = /^(\d{4})-(\d{2})-(\d{2})$/.exec(text || '');
  if (!m) return startOfDay();
  const d = new Date(Number(m[1]), Number(m[2]) - 1, Number(m[3]));
  return Number.isNaN(d.getTime()) ? startOfDay() : d;
}

function startOfMonth(d) {
  return new Date(d.getFullYear(), d.getMonth(), 1);
}

/** [from, to) of the period of `mode` around `day`, and the days to draw. */
export function period(mode, day) {
  if (mode === 'day') return { from: day, to: addDays(day, 1) };
  if (mode === 'week') { const from = startOfWeek(day); return { from, to: addDays(from, 7) }; }
  const first = startOfMonth(day);
  return { from: first, to: new Date(first.getFullYear(), first.getMonth() + 1, 1) };
}

function shift(mode, day, n) {
  if (mode === 'day') return addDays(day, n);
  if (mode === 'week') return addDays(day, 7 * n);
  return new Date(day.getFullYear(), day.getMonth() + n, 1);
}

/** The replica's entries of an entity, or none when this server does not sync it. */
async function maybeAll(app, entity) {
  try { return await app.all(entity); } catch { return []; }
}

/**
 * The calendar's entries, each {kind, id, start, end, title, status, href, pending}: lessons,
 * requested bookings without a lesson yet, and time off, narrowed to the caller's diary
 * (instructor: their own; admin: `instructorId` when given).
 */
export async function entries(app, instructorId = null) {
  const [lessons, bookings, students, instructors, timeOff] = await Promise.all([
    app.all('lesson'), app.all('booking'), app.all('student'), app.all('instructor'),
    maybeAll(app, 'availability_exception')]);
  const people = { students: byKey(students), instructors: byKey(instructors) };
  const staff = app.isAdmin || app.role === 'instructor';
  const only = app.role === 'instructor' ? app.user.instructor_id : instructorId;
  const keep = (x) => !x.deleted && (!only || x.instructor_id === only);
  const nameOf = (map, id, fallback) => (map.get(id) || {}).name || fallback;
  const title = (x) => {
    const student = nameOf(people.students, x.student_id, 'Student');
    const inst = nameOf(people.instructors, x.instructor_id, 'Instructor');
    if (app.role === 'instructor') return student;
    if (app.isAdmin || app.role === 'guardian') return `${student} with ${inst}`; // a guardian: several learners
    return `Lesson with ${inst}`;
  };
  const out = [];
  for (const l of lessons.filter(keep)) {
    out.push({ kind: 'lesson', id: l.id, start: l.scheduled_start, end: l.scheduled_end, title: title(l), status: l.status,
      href: staff ? `#/lesson/${l.id}` : app.role === 'guardian' ? '#/home' : '#/bookings', pending: !!l._pending });
  }
  const withLesson = new Set(lessons.map((l) => l.booking_id).filter(Boolean));
  for (const b of bookings.filter((x) => keep(x) && x.status === 'requested' && !withLesson.has(x.id))) {
    out.push({ kind: 'request', id: b.id, start: b.start, end: b.end, title: title(b), status: 'requested',
      href: staff ? '#/today' : app.role === 'guardian' ? '#/home' : '#/bookings', pending: !!b._pending });
  }
  for (const t of timeOff.filter(keep)) {
    const who = app.role === 'instructor' ? '' : ` · ${nameOf(people.instructors, t.instructor_id, 'Instructor')}`;
    out.push({ kind: 'time_off', id: t.id, start: t.start, end: t.end, title: `Time off${who}${t.reason ? ` (${t.reason})` : ''}`,
      status: 'time_off', href: null, pending: !!t._pending });
  }
  return sortBy(out.filter((e) => e.start && e.end), (e) => e.start);
}

/** "3 lessons, 1 request" of a list of entries (time off is not counted). */
function counts(list) {
  const lessons = list.filter((e) => e.kind === 'lesson').length;
  const requests = list.filter((e) => e.kind === 'request').length;
  return plural(lessons, 'lesson') + (requests ? `, ${plural(requests, 'request')}` : '');
}

/** Entries overlapping [from, to). */
function within(list, from, to) {
  return list.filter((e) => new Date(e.start) < to && new Date(e.end) > from);
}

function entryItem(e, { day = false } = {}) {
  const when = e.kind === 'time_off'
    ? `${fmt.dateTime(e.start)} – ${fmt.dateTime(e.end)}`
    : `${day ? `${fmt.day(e.start)} ` : ''}${fmt.time(e.start)}–${fmt.time(e.end)}`;
  const body = [
    h('span', { class: 'when' }, when),
    h('span', { class: 'who' }, e.title),
    e.kind === 'time_off' ? badge('Time off', 'warn') : statusBadge(e.status),
    e.pending ? badge('not synced', 'pending') : null,
  ];
  return h('li', { class: `cal-entry ${e.kind}`, 'data-kind': e.kind, 'data-id': e.id },
    e.href ? h('a', { href: e.href, class: 'row-link' }, body) : h('div', { class: 'row-link' }, body));
}

function dayList(list, from, to, none) {
  const items = within(list, from, to);
  return items.length ? h('ul', { class: 'plain list' }, items.map((e) => entryItem(e))) : empty(none);
}

function monthGrid(list, from, to, link) {
  const first = startOfWeek(from);
  const rows = [];
  for (let week = first; week < to; week = addDays(week, 7)) {
    const cells = [];
    for (let i = 0; i < 7; i += 1) {
      const d = addDays(week, i);
      const items = within(list, d, addDays(d, 1));
      const lessons = items.filter((e) => e.kind !== 'time_off');
      const off = items.some((e) => e.kind === 'time_off');
      const inMonth = d >= from && d < to;
      const today = isoDay(d) === isoDay(new Date());
      const label = `${longDayFmt.format(d)}: ${counts(lessons)}${off ? ', time off' : ''}`;
      cells.push(h('td', { class: ['cal-cell', inMonth ? '' : 'outside', off ? 'off' : '', today ? 'today' : ''].join(' ').trim() },
        h('a', { href: link('day', d), 'aria-label': label, 'aria-current': today ? 'date' : false },
          h('span', { class: 'num' }, String(d.getDate())),
          lessons.length ? h('span', { class: 'count' }, String(lessons.length)) : null,
          off ? h('span', { class: 'off-mark' }, 'Off') : null),
        h('ul', { class: 'plain cal-peek', 'aria-hidden': 'true' },
          lessons.slice(0, 2).map((e) => h('li', {}, `${fmt.time(e.start)} ${e.title}`)),
          lessons.length > 2 ? h('li', {}, `+${lessons.length - 2} more`) : null)));
    }
    rows.push(h('tr', {}, cells));
  }
  const heads = [];
  for (let i = 0; i < 7; i += 1) heads.push(h('th', { scope: 'col' }, weekdayFmt.format(addDays(first, i))));
  return h('div', { class: 'month-wrap card' }, h('table', { class: 'month', 'data-testid': 'month' },
    h('caption', { class: 'sr-only' }, monthFmt.format(from)),
    h('thead', {}, h('tr', {}, heads)), h('tbody', {}, rows)));
}

/** The view: #/calendar/<mode>/<date>[/<instructor id>]. */
export async function calendar(app, modeArg = 'week', dateArg = '', instructorArg = '') {
  const mode = MODES.some(([m]) => m === modeArg) ? modeArg : 'week';
  const day = parseDay(dateArg);
  const instructorId = app.isAdmin && instructorArg ? instructorArg : null;
  const link = (m, d, inst = instructorId) => `#/calendar/${m}/${isoDay(d)}${inst ? `/${inst}` : ''}`;
  const list = await entries(app, instructorId);
  const { from, to } = period(mode, day);
  let heading;
  let body;
  if (mode === 'day') {
    heading = longDayFmt.format(day);
    body = section('Diary', dayList(list, from, to, app.initialSync ? 'Downloading your lessons…' : 'Nothing on this day.'));
  } else if (mode === 'week') {
    heading = `${fmt.day(from.toISOString())} – ${fmt.day(addDays(from, 6).toISOString())}`;
    const days = [];
    for (let i = 0; i < 7; i += 1) {
      const d0 = addDays(from, i);
      days.push(h('section', { class: 'day card', 'aria-label': longDayFmt.format(d0) },
        h('h2', {}, h('a', { href: link('day', d0) }, fmt.day(d0.toISOString()))),
        dayList(list, d0, addDays(d0, 1), 'Nothing planned')));
    }
    body = h('div', { class: 'week' }, days);
  } else {
    heading = monthFmt.format(from);
    body = monthGrid(list, from, to, link);
  }
  const unit = { day: 'day', week: 'week', month: 'month' }[mode];
  let filter = null;
  if (app.isAdmin) {
    const instructors = sortBy(await app.all('instructor'), (i) => i.name);
    const pick = h('select', { id: 'cal-instructor', onchange: (ev) => app.navigate(link(mode, day, ev.target.value)) },
      h('option', { value: '' }, 'All instructors'),
      instructors.map((i) => h('option', { value: i.id, selected: i.id === instructorId }, i.name)));
    filter = h('div', { class: 'field cal-filter' }, h('label', { for: 'cal-instructor' }, 'Instructor'), pick);
  }
  return h('div', { class: 'calendar', 'data-mode': mode, 'data-filter': instructorId || '' },
    h('h1', {}, 'Calendar', h('span', { class: 'sub', 'data-testid': 'cal-period' }, heading)),
    h('div', { class: 'cal-tools' },
      h('nav', { class: 'segmented', 'aria-label': 'Calendar view' }, MODES.map(([m, label]) => h('a', {
        href: link(m, day), 'aria-current': m === mode ? 'page' : false }, label))),
      h('nav', { class: 'pager', 'aria-label': `Change ${unit}` },
        h('a', { href: link(mode, shift(mode, day, -1)) }, `← Previous ${unit}`),
        h('a', { href: link(mode, startOfDay()) }, 'Today'),
        h('a', { href: link(mode, shift(mode, day, 1)) }, `Next ${unit} →`)),
      filter),
    h('p', { class: 'hint', 'data-testid': 'cal-count' }, `${counts(within(list, from, to))} in this ${unit}.`),
    body);
}

/**
 * The private calendar feed (iCalendar): turn on (shows the address once: the server keeps
 * only a hash of it), get a new address (the old one stops), turn off. Online only.
 */
export function feedCard(app) {
  const body = h('div', { 'data-testid': 'feed-card' }, h('p', { class: 'hint' }, 'Checking…'));
  const say = (...nodes) => body.replaceChildren(...nodes);
  const failed = (err) => say(h('p', { role: 'alert' }, `The calendar feed cannot be changed right now (${err.message}).`), h('p', {}, button('Try again', show)));
  function button(label, onclick, kind = '') {
    return h('button', { type: 'button', class: kind, onclick }, label);
  }
  async function change(method) {
    try {
      const state = await app.api(method, '/v1/calendar/feed');
      render(state);
    } catch (err) { failed(err); }
  }
  function render(state) {
    if (!state.enabled) {
      say(h('p', {}, 'Add your lessons to your phone\'s calendar: turn on a private calendar address and subscribe to it there.'),
        h('p', {}, button('Turn on calendar feed', () => change('POST'), 'primary')));
      return;
    }
    const parts = [];
    if (state.url) {
      const input = h('input', { id: 'feed-url', class: 'mono', readonly: true, value: state.url, 'data-testid': 'feed-url' });
      const copied = h('span', { role: 'status' });
      parts.push(
        h('div', { class: 'field' }, h('label', { for: 'feed-url' }, 'Your calendar address (shown once: keep it private)'), input),
        h('p', { class: 'actions' },
          button('Copy address', async () => {
            try { await navigator.clipboard.writeText(state.url); copied.textContent = 'Copied.'; } catch { input.select(); copied.textContent = 'Select the address and copy it.'; }
          }),
          h('a', { class: 'button', href: state.url.replace(/^https?:/, 'webcal:') }, 'Open in calendar app'), copied));
    } else {
      parts.push(h('p', {}, `Calendar feed on since ${fmt.dateTime(state.created_at)}.`,
        state.fetched_at ? ` Last read by your calendar ${fmt.dateTime(state.fetched_at)}.` : ' Not read by a calendar yet.'),
      h('p', { class: 'hint' }, 'The address was shown when you turned it on. Lost it? Get a new one: the old one stops working.'));
    }
    parts.push(h('p', { class: 'actions' }, button('Get a new address', () => change('POST')), button('Turn off', () => change('DELETE'), 'danger')));
    say(...parts);
  }
  async function show() {
    if (!navigator.onLine) { say(h('p', {}, 'Connect to the internet to set up your calendar feed.')); return; }
    try { render(await app.api('GET', '/v1/calendar/feed')); } catch (err) { failed(err); }
  }
  show();
  return section('Calendar feed', body);
}
