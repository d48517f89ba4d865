/**
 * Instructor views (admins reuse `week` and `studentDetail`): today's lessons and booking
 * requests, the week, the assigned students, and one student's progress and history.
 * Everything reads the local replica, so it all works offline.
 */

import { creditSection } from './credit.js';
import { h, section, empty, badge, fmt, startOfDay, startOfWeek, addDays, byKey, sortBy, nowIso, plural } from './dom.js';
import { moveRequestsSection } from './moves.js';
import { progressSection } from './progress.js';
import { joinSegments, routeView } from './trip.js';
import { seriesRequests } from './series.js';
import { staffTestsSection, theorySection } from './drivingtests.js';

export const STATUS_LABEL = {
  scheduled: 'Scheduled', in_progress: 'In progress', completed: 'Completed', no_show: 'No-show',
  cancelled: 'Cancelled', requested: 'Requested', confirmed: 'Confirmed', declined: 'Declined',
};

export function statusBadge(status) {
  return badge(STATUS_LABEL[status] || status, status);
}

function mine(app, lessons) {
  if (app.isAdmin) return lessons;
  return lessons.filter((l) => l.instructor_id === app.user.instructor_id);
}

/** The pickup address the student typed on the booking behind a lesson, if any. */
export function pickupOf(lesson, bookings) {
  const b = bookings && lesson.booking_id ? bookings.get(lesson.booking_id) : null;
  return (b && b.pickup_location) || null;
}

/** One lesson as a list row; `day` puts its date before the time (lists of several days),
 * `bookings` (by id) adds the pickup address. */
export function lessonItem(lesson, students, instructors, { bookings = null, day = false } = {}) {
  const student = students.get(lesson.student_id);
  const inst = instructors && instructors.get(lesson.instructor_id);
  const pickup = pickupOf(lesson, bookings);
  return h('li', { class: 'lesson-item' },
    h('a', { href: `#/lesson/${lesson.id}`, class: 'row-link' },
      h('span', { class: 'when' }, day ? `${fmt.day(lesson.scheduled_start)} ` : '', `${fmt.time(lesson.scheduled_start)}–${fmt.time(lesson.scheduled_end)}`),
      h('span', { class: 'who' }, student ? student.name : 'Student', inst ? h('span', { class: 'hint' }, ` with ${inst.name}`) : null),
      statusBadge(lesson.status),
      lesson._pending ? badge('not synced', 'pending') : null,
      pickup ? h('span', { class: 'pickup', 'data-testid': 'pickup' }, `Pickup: ${pickup}`) : null));
}

async function lessonData(app) {
  const [lessons, students, instructors] = await Promise.all([app.all('lesson'), app.all('student'), app.all('instructor')]);
  return { lessons: mine(app, lessons), students: byKey(students), instructors: byKey(instructors) };
}

function requestsSection(app, bookings, students, services) {
  const waiting = sortBy(bookings.filter((b) => b.status === 'requested'), (b) => b.start);
  if (!waiting.length) return null;
  const act = (b, status) => async () => {
    await app.mutate('booking', 'patch', b.id, { status });
    app.announce(`Booking ${status}`);
    app.refresh();
  };
  return section('Booking requests', h('ul', { class: 'plain list' }, waiting.map((b) => h('li', { class: 'request', 'data-booking-id': b.id },
    h('div', {}, h('strong', {}, (students.get(b.student_id) || {}).name || 'Student'), ' · ',
      `${fmt.day(b.start)} ${fmt.time(b.start)}–${fmt.time(b.end)}`, ' · ', (services.get(b.service_id) || {}).name || ''),
    b.pickup_location ? h('div', { class: 'pickup', 'data-testid': 'pickup' }, `Pickup: ${b.pickup_location}`) : null,
    b._pending ? badge('not synced', 'pending') : null,
    h('div', { class: 'actions' },
      h('button', { type: 'button', class: 'primary', onclick: act(b, 'confirmed') }, 'Confirm'),
      h('button', { type: 'button', onclick: act(b, 'declined') }, 'Decline'))))));
}

export async function today(app) {
  const { lessons, students } = await lessonData(app);
  const [bookings, services, series, moves] = await Promise.all([app.all('booking'), app.all('service'),
    app.all('booking_series'), app.all('booking_move')]);
  const from = startOfDay();
  const to = addDays(from, 1);
  const todays = sortBy(lessons.filter((l) => new Date(l.scheduled_start) >= from && new Date(l.scheduled_start) < to), (l) => l.scheduled_start);
  const upcoming = sortBy(lessons.filter((l) => new Date(l.scheduled_start) >= to && l.status === 'scheduled'), (l) => l.scheduled_start).slice(0, 5);
  const active = lessons.filter((l) => l.status === 'in_progress');
  const byBooking = { bookings: byKey(bookings) };
  return h('div', {},
    h('h1', {}, 'Today', h('span', { class: 'sub' }, fmt.day(new Date().toISOString()))),
    active.length ? section('In progress', h('ul', { class: 'plain list' }, active.map((l) => lessonItem(l, students, null, byBooking)))) : null,
    section('Lessons today', todays.length ? h('ul', { class: 'plain list', 'data-testid': 'today-lessons' }, todays.map((l) => lessonItem(l, students, null, byBooking)))
      : empty(app.initialSync ? 'Downloading your lessons…' : 'No lessons today.')),
    seriesRequests(app, series, students, byKey(services)),
    // A series' dates are answered together, above; the single requests here.
    requestsSection(app, bookings.filter((b) => !b.series_id), students, byKey(services)),
    moveRequestsSection(app, moves, byKey(bookings), students),
    section('Coming up', upcoming.length ? h('ul', { class: 'plain list', 'data-testid': 'upcoming' },
      upcoming.map((l) => lessonItem(l, students, null, { ...byBooking, day: true }))) : empty('Nothing scheduled this week.')));
}

export async function week(app, offset = '0') {
  const n = Number.parseInt(offset, 10) || 0;
  const { lessons, students, instructors } = await lessonData(app);
  const from = addDays(startOfWeek(), 7 * n);
  const base = app.isAdmin ? '#/lessons' : '#/week';
  const days = [];
  for (let i = 0; i < 7; i += 1) {
    const d0 = addDays(from, i);
    const d1 = addDays(from, i + 1);
    const list = sortBy(lessons.filter((l) => new Date(l.scheduled_start) >= d0 && new Date(l.scheduled_start) < d1), (l) => l.scheduled_start);
    days.push(h('section', { class: 'day card', 'aria-label': fmt.day(d0.toISOString()) },
      h('h2', {}, fmt.day(d0.toISOString())),
      list.length ? h('ul', { class: 'plain list' }, list.map((l) => lessonItem(l, students, app.isAdmin ? instructors : null))) : empty('No lessons')));
  }
  return h('div', {},
    h('h1', {}, app.isAdmin ? 'Lessons' : 'This week', h('span', { class: 'sub' }, `${fmt.day(from.toISOString())} – ${fmt.day(addDays(from, 6).toISOString())}`)),
    h('nav', { class: 'pager', 'aria-label': 'Weeks' },
      h('a', { href: `${base}/${n - 1}` }, '← Previous week'),
      n !== 0 ? h('a', { href: `${base}/0` }, 'This week') : null,
      h('a', { href: `${base}/${n + 1}` }, 'Next week →')),
    h('div', { class: 'week' }, days));
}

export async function students(app) {
  const [list, progress] = await Promise.all([app.all('student'), app.all('student_progress')]);
  const prog = byKey(progress, 'student_id');
  return h('div', {},
    h('h1', {}, 'Students'),
    section('Your students', list.length ? h('ul', { class: 'plain list' }, sortBy(list, (s) => s.name).map((s) => h('li', {},
      h('a', { href: `#/student/${s.id}`, class: 'row-link' }, h('span', { class: 'who' }, s.name),
        h('span', { class: 'hint' }, `Readiness ${(prog.get(s.id) || {}).readiness_pct ?? 0}%`)))))
      : empty('No students assigned yet.')));
}

/** Points of a trip from the segments in the replica (either form), joined in index order. */
export function tripPoints(trip, segments) {
  return joinSegments(segments.filter((s) => s.trip_id === trip.id));
}

export async function studentDetail(app, id) {
  const [student, skills, progress, lessons, notes, assessments, trips, segments] = await Promise.all([
    app.get('student', id), app.all('skill'), app.all('student_progress'), app.all('lesson'),
    app.all('lesson_note'), app.all('skill_assessment'), app.all('trip'), app.all('trip_segment')]);
  const [testRecords, mockTests, attempts, balances, entries] = await Promise.all([
    app.all('test_record'), app.all('mock_test'), app.all('theory_attempt'), app.all('student_balance'),
    app.all('credit_entry')]);
  if (!student) return h('div', {}, h('h1', {}, 'Student'), empty('This student is not on this device.'));
  const prog = progress.find((p) => p.student_id === id);
  const history = sortBy(lessons.filter((l) => l.student_id === id), (l) => l.scheduled_start, true);
  const newLesson = async () => {
    const lessonId = app.newId();
    const start = new Date();
    await app.mutate('lesson', 'put', lessonId, {
      instructor_id: app.user.instructor_id, student_id: id, scheduled_start: start.toISOString(),
      scheduled_end: new Date(start.getTime() + 3600e3).toISOString(), status: 'scheduled',
    });
    app.navigate(`#/lesson/${lessonId}`);
  };
  return h('div', {},
    h('h1', {}, student.name),
    h('p', { class: 'contact' }, [student.email, student.phone].filter(Boolean).join(' · ')),
    app.role === 'instructor' ? h('p', {}, h('button', { type: 'button', class: 'primary', onclick: newLesson }, 'Start an unscheduled lesson')) : null,
    progressSection(skills, prog, 'Progress', { mockTests, tests: testRecords, studentId: id }),
    staffTestsSection(app, testRecords, id),
    creditSection(balances, entries, id),
    theorySection(mockTests, attempts, id),
    section('History', history.length ? h('ul', { class: 'plain history' }, history.map((l) => {
      const ns = notes.filter((n) => n.lesson_id === l.id);
      const as = assessments.filter((a) => a.lesson_id === l.id);
      const ts = trips.filter((t) => t.lesson_id === l.id);
      return h('li', { class: 'card inner' },
        h('a', { href: `#/lesson/${l.id}` }, h('strong', {}, `${fmt.day(l.scheduled_start)} ${fmt.time(l.scheduled_start)}`)), ' ', statusBadge(l.status),
        ns.map((n) => h('p', { class: 'note-text' }, n.private ? badge('private', 'private') : null, ' ', n.body || h('em', {}, '(empty note)'))),
        as.length ? h('p', { class: 'hint' }, `${plural(as.length, 'skill')} assessed`) : null,
        // Routes already on the device only: a history of lessons must not fetch them all.
        ts.map((t) => h('div', { class: 'trip-mini' }, routeView(app, t, segments, { label: `Route of ${fmt.day(l.scheduled_start)}`, fetch: false }),
          h('p', { class: 'hint' }, `${fmt.km(t.distance_m)} · ${fmt.duration(t.duration_s)}`))));
    })) : empty('No lessons yet.')));
}

export { nowIso };
