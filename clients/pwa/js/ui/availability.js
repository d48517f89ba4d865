/**
 * Availability and time off (issue 11): an instructor's weekly hours (`availability`) and
 * dated time off (`availability_exception`: holidays, sick days, blocked hours), edited
 * from the replica and sent through the outbox like every other change, so it works
 * offline. Instructors edit their own (`#/availability`); admins any instructor's
 * (`#/availability/<instructor id>`). The server checks each change (an instructor writes
 * only their own; the end comes after the start) and a refusal lands in Problems.
 *
 * Time off is entered as whole days by default: the form turns the days into the school's
 * local midnights, as the server would (sync.rules.timeoff), so the device shows the same
 * block before and after it syncs. Students receive the block but never its reason.
 *
 * `timeOffClashes` lists confirmed lessons that lie under time off, for the admin
 * dashboard: derived from the replica, nothing stored.
 */

import { h, section, empty, badge, fmt, field, sortBy, byKey, plural } from './dom.js';
import { zonedToUtc } from './student.js';

export const WEEKDAYS = ['Monday', 'Tuesday', 'Wednesday', 'Thursday', 'Friday', 'Saturday', 'Sunday'];

/** The school's IANA timezone (sent with the session; availability records carry it too). */
function schoolZone(app, slots = []) {
  const school = app.session && app.session.school;
  return (school && school.timezone) || (slots.find((a) => a.timezone) || {}).timezone || 'UTC';
}

/** `day` (YYYY-MM-DD) plus `n` days. */
function plusDays(day, n) {
  const [y, m, d] = day.split('-').map(Number);
  return new Date(Date.UTC(y, m - 1, d + n)).toISOString().slice(0, 10);
}

/** The local date (YYYY-MM-DD) of an instant in `timeZone`. */
export function localDate(iso, timeZone) {
  return new Intl.DateTimeFormat('en-CA', { timeZone, year: 'numeric', month: '2-digit', day: '2-digit' }).format(new Date(iso));
}

/** [start, end) of time off from the form: whole days from `from` to `to` inclusive, or
 * the hours `fromTime`–`toTime` across those days. Instants as ISO strings (UTC). */
export function timeOffRange({ allDay, from, to, fromTime, toTime }, timeZone) {
  if (allDay) {
    return { start: zonedToUtc(from, '00:00', timeZone).toISOString(), end: zonedToUtc(plusDays(to, 1), '00:00', timeZone).toISOString() };
  }
  return { start: zonedToUtc(from, fromTime, timeZone).toISOString(), end: zonedToUtc(to, toTime, timeZone).toISOString() };
}

/** "Mon 6 Jul – Fri 10 Jul" for whole days, "Mon 6 Jul 09:00 – 12:00" for hours. */
function when(x, timeZone) {
  if (x.all_day) {
    const first = x.start;
    const last = new Date(new Date(x.end).getTime() - 1).toISOString();
    const sameDay = localDate(first, timeZone) === localDate(last, timeZone);
    return sameDay ? `${fmt.day(first)} (all day)` : `${fmt.day(first)} – ${fmt.day(last)} (all day)`;
  }
  const sameDay = localDate(x.start, timeZone) === localDate(x.end, timeZone);
  return sameDay ? `${fmt.day(x.start)} ${fmt.time(x.start)}–${fmt.time(x.end)}`
    : `${fmt.day(x.start)} ${fmt.time(x.start)} – ${fmt.day(x.end)} ${fmt.time(x.end)}`;
}

/** Confirmed bookings lying under live time off: [{ booking, exception }], in time order. */
export function clashes(bookings, exceptions) {
  const out = [];
  for (const b of bookings) {
    if (b.status !== 'confirmed') continue;
    const x = exceptions.find((e) => e.instructor_id === b.instructor_id && new Date(e.start) < new Date(b.end) && new Date(e.end) > new Date(b.start));
    if (x) out.push({ booking: b, exception: x });
  }
  return sortBy(out, (c) => c.booking.start);
}

function input(id, attrs) {
  return h('input', { id, ...attrs });
}

function weeklySection(app, iid, slots) {
  const status = h('p', { role: 'status', class: 'hint', 'data-testid': 'hours-status' });
  const editing = { id: null };
  const weekday = h('select', { id: 'avail-weekday', required: true }, WEEKDAYS.map((d, i) => h('option', { value: String(i) }, d)));
  const start = input('avail-start', { type: 'time', required: true, value: '09:00', step: 900 });
  const end = input('avail-end', { type: 'time', required: true, value: '17:00', step: 900 });
  const validFrom = input('avail-from', { type: 'date' });
  const validUntil = input('avail-until', { type: 'date' });
  const submit = h('button', { type: 'submit', class: 'primary', 'data-testid': 'hours-save' }, 'Add hours');
  const cancel = h('button', { type: 'button', hidden: true, onclick: () => reset() }, 'Cancel edit');
  function reset() {
    editing.id = null;
    submit.textContent = 'Add hours';
    cancel.hidden = true;
    validFrom.value = ''; validUntil.value = '';
  }
  function edit(a) {
    editing.id = a.id;
    weekday.value = String(a.weekday); start.value = a.start_time; end.value = a.end_time;
    validFrom.value = a.valid_from || ''; validUntil.value = a.valid_until || '';
    submit.textContent = 'Save hours';
    cancel.hidden = false;
    weekday.focus();
  }
  async function save(event) {
    event.preventDefault();
    if (end.value <= start.value) { status.textContent = 'The end time must be after the start time.'; end.focus(); return; }
    if (validFrom.value && validUntil.value && validUntil.value < validFrom.value) { status.textContent = '"Until" must not be before "from".'; validUntil.focus(); return; }
    const data = {
      weekday: Number(weekday.value), start_time: start.value, end_time: end.value,
      valid_from: validFrom.value || null, valid_until: validUntil.value || null,
    };
    if (editing.id) await app.mutate('availability', 'patch', editing.id, data);
    // instructor_id even for an instructor's own: the device's copy must say whose it is.
    else await app.mutate('availability', 'put', app.newId(), { ...data, instructor_id: iid });
    app.announce(editing.id ? 'Hours saved' : 'Hours added');
    app.refresh();
  }
  const remove = (a) => async () => {
    await app.mutate('availability', 'delete', a.id);
    app.announce(`${WEEKDAYS[a.weekday]} ${a.start_time}–${a.end_time} removed`);
    app.refresh();
  };
  const days = WEEKDAYS.map((name, i) => {
    const mine = sortBy(slots.filter((a) => a.weekday === i), (a) => a.start_time);
    return h('li', { class: 'weekday', 'data-weekday': String(i) },
      h('strong', {}, name),
      mine.length ? h('ul', { class: 'plain' }, mine.map((a) => h('li', { class: 'slot', 'data-id': a.id },
        `${a.start_time}–${a.end_time}`,
        a.valid_from || a.valid_until ? h('span', { class: 'hint' }, ` (${a.valid_from ? `from ${fmt.day(a.valid_from)}` : ''}${a.valid_from && a.valid_until ? ' ' : ''}${a.valid_until ? `until ${fmt.day(a.valid_until)}` : ''})`) : null,
        a._pending ? [' ', badge('not synced', 'pending')] : null, ' ',
        h('button', { type: 'button', class: 'small', onclick: () => edit(a), 'aria-label': `Change ${name} ${a.start_time}–${a.end_time}` }, 'Change'), ' ',
        h('button', { type: 'button', class: 'small danger', onclick: remove(a), 'aria-label': `Remove ${name} ${a.start_time}–${a.end_time}` }, 'Remove'))))
        : h('span', { class: 'hint' }, ' Not teaching'));
  });
  const form = h('form', { class: 'hours-form', 'data-testid': 'hours-form', onsubmit: save },
    field('Day', weekday), field('From', start), field('To', end),
    field('Valid from (optional)', validFrom), field('Valid until (optional)', validUntil, 'Leave both empty for every week.'),
    h('div', { class: 'actions' }, submit, cancel), status);
  return section('Weekly hours', h('ul', { class: 'plain list week-hours', 'data-testid': 'weekly-hours' }, days),
    h('h3', {}, 'Add or change hours'), form);
}

function timeOffSection(app, iid, exceptions, bookings, students, tz) {
  const status = h('p', { role: 'status', class: 'hint', 'data-testid': 'timeoff-status' });
  const today = localDate(new Date().toISOString(), tz);
  const allDay = h('input', { id: 'off-all-day', type: 'checkbox', checked: true });
  const from = input('off-from', { type: 'date', required: true, value: plusDays(today, 1), min: today });
  const to = input('off-to', { type: 'date', required: true, value: plusDays(today, 1), min: today });
  const fromTime = input('off-from-time', { type: 'time', value: '09:00', step: 900 });
  const toTime = input('off-to-time', { type: 'time', value: '12:00', step: 900 });
  const reason = input('off-reason', { maxlength: 200, autocomplete: 'off' });
  const times = h('div', { class: 'times', hidden: true }, field('From time', fromTime), field('To time', toTime));
  allDay.onchange = () => { times.hidden = allDay.checked; };
  async function save(event) {
    event.preventDefault();
    if (!from.value || !to.value) { status.textContent = 'Choose the first and last day.'; return; }
    if (to.value < from.value) { status.textContent = 'The last day must not be before the first.'; to.focus(); return; }
    const range = timeOffRange({ allDay: allDay.checked, from: from.value, to: to.value, fromTime: fromTime.value, toTime: toTime.value }, tz);
    if (range.end <= range.start) { status.textContent = 'The end must be after the start.'; toTime.focus(); return; }
    const data = { ...range, all_day: allDay.checked, instructor_id: iid };
    if (reason.value.trim()) data.reason = reason.value.trim();
    await app.mutate('availability_exception', 'put', app.newId(), data);
    app.announce('Time off added: students can no longer book it');
    app.refresh();
  }
  const remove = (x) => async () => {
    await app.mutate('availability_exception', 'delete', x.id);
    app.announce('Time off removed');
    app.refresh();
  };
  const now = new Date();
  const upcoming = sortBy(exceptions.filter((x) => new Date(x.end) > now), (x) => x.start);
  const under = clashes(bookings, upcoming);
  const list = upcoming.length ? h('ul', { class: 'plain list', 'data-testid': 'time-off' }, upcoming.map((x) => {
    const hit = under.filter((c) => c.exception.id === x.id);
    return h('li', { class: 'time-off', 'data-id': x.id },
      h('div', {}, h('strong', {}, when(x, tz)), x.reason ? h('span', { class: 'hint' }, ` · ${x.reason}`) : null,
        x._pending ? [' ', badge('not synced', 'pending')] : null),
      hit.length ? h('p', { class: 'hint', 'data-testid': 'timeoff-clash' }, badge(`${plural(hit.length, 'confirmed lesson')} in this time`, 'warn'), ' ',
        hit.map((c) => `${(students.get(c.booking.student_id) || {}).name || 'Student'} ${fmt.day(c.booking.start)} ${fmt.time(c.booking.start)}`).join(', '),
        '. The students and the school are told once this syncs; nothing is cancelled automatically.') : null,
      h('button', { type: 'button', class: 'small danger', onclick: remove(x), 'aria-label': `Remove time off ${when(x, tz)}` }, 'Remove'));
  })) : empty('No time off planned.');
  const form = h('form', { class: 'timeoff-form', 'data-testid': 'timeoff-form', onsubmit: save },
    h('div', { class: 'field' }, h('label', { class: 'check', for: 'off-all-day' }, allDay, 'Whole days')),
    field('First day', from), field('Last day', to), times,
    field('Reason (optional)', reason, 'Only staff see the reason; students only see that you are away.'),
    h('div', { class: 'actions' }, h('button', { type: 'submit', class: 'primary', 'data-testid': 'timeoff-save' }, 'Add time off')), status);
  return section('Time off', list, h('h3', {}, 'Add time off'), form);
}

/** `#/availability` (an instructor's own) or `#/availability/<instructor id>` (admins). */
export async function availability(app, instructorId) {
  const [slotsAll, exceptionsAll, instructors, bookings, students] = await Promise.all([
    app.all('availability'), app.all('availability_exception'), app.all('instructor'), app.all('booking'), app.all('student')]);
  const active = sortBy(instructors.filter((i) => i.active !== false), (i) => i.name);
  const iid = app.isAdmin ? (instructorId || (active[0] || {}).id) : app.user.instructor_id;
  const tz = schoolZone(app, slotsAll);
  const who = byKey(instructors).get(iid);
  const picker = app.isAdmin ? h('form', { class: 'actions', onsubmit: (e) => e.preventDefault() },
    field('Instructor', h('select', { id: 'avail-instructor', 'data-testid': 'avail-instructor', onchange: (e) => app.navigate(`#/availability/${e.target.value}`) },
      active.map((i) => h('option', { value: i.id, selected: i.id === iid }, i.name))))) : null;
  if (!iid) return h('div', {}, h('h1', {}, 'Availability'), empty('No instructors yet.'));
  return h('div', { class: 'availability' },
    h('h1', {}, 'Availability', app.isAdmin && who ? h('span', { class: 'sub' }, who.name) : null),
    picker,
    h('p', { class: 'hint' }, `Times are in the school's timezone (${tz}). Changes are saved on this device and sync when there is a connection.`),
    // Time off first: on a phone it is what an instructor comes here for most.
    h('div', { class: 'grid' },
      timeOffSection(app, iid, exceptionsAll.filter((x) => x.instructor_id === iid), bookings.filter((b) => b.instructor_id === iid), byKey(students), tz),
      weeklySection(app, iid, slotsAll.filter((a) => a.instructor_id === iid))));
}

/** The admin dashboard's card: confirmed lessons under time off, for the office to move or
 * cancel (null when there are none). */
export async function timeOffClashes(app) {
  const [bookings, exceptions, students, instructors, lessons] = await Promise.all([
    app.all('booking'), app.all('availability_exception'), app.all('student'), app.all('instructor'), app.all('lesson')]);
  const lessonOf = byKey(lessons, 'booking_id');
  const now = new Date();
  const found = clashes(bookings.filter((b) => new Date(b.end) > now), exceptions);
  if (!found.length) return null;
  const st = byKey(students);
  const inst = byKey(instructors);
  const tz = schoolZone(app);
  return section(`Lessons under time off (${found.length})`, h('ul', { class: 'plain list', 'data-testid': 'timeoff-clashes' }, found.map(({ booking: b, exception: x }) => h('li', {},
    h('strong', {}, `${fmt.day(b.start)} ${fmt.time(b.start)}`), ' · ', (st.get(b.student_id) || {}).name || 'Student',
    ' with ', (inst.get(b.instructor_id) || {}).name || 'instructor', ' ', badge('instructor away', 'warn'),
    h('div', { class: 'hint' }, `Time off ${when(x, tz)}${x.reason ? ` · ${x.reason}` : ''} · `,
      h('a', { href: `#/availability/${b.instructor_id}` }, 'See time off'),
      lessonOf.get(b.id) ? [' · ', h('a', { href: `#/lesson/${lessonOf.get(b.id).id}` }, 'Open lesson')] : null)))),
  h('p', { class: 'hint' }, 'Confirmed before the time off was set. The students were told; move or cancel these lessons.'));
}
