// Unit tests of the PWA's pure functions (no browser needed): `node --test clients/pwa/tests/`.
import assert from 'node:assert/strict';
import { test } from 'node:test';

import { format, next } from '../js/hlc.js';
import { uuid7, writableData } from '../js/outbox.js';
import { parseRetryAfter, reachability, retryDelay } from '../js/retry.js';
import { passMark } from '../js/ui/theory.js';
import { slots, zonedToUtc } from '../js/ui/student.js';
import { clashes, localDate, timeOffRange } from '../js/ui/availability.js';
import { distanceOf, haversine } from '../js/ui/trip.js';

test('hlc stamps are fixed width and compare as strings', () => {
  const node = '5b0c7f3e-9a1d-4c55-8a0e-2f7d1c9b6a10';
  assert.equal(format(1763779200000, 7, node), `1763779200000-0007-${node}`);
  assert.ok(format(999, 0, node) < format(1000, 0, node));
});

test('hlc never goes backwards', () => {
  assert.deepEqual(next(null, 5), { ms: 5, counter: 0 });
  assert.deepEqual(next({ ms: 5, counter: 0 }, 5), { ms: 5, counter: 1 });
  assert.deepEqual(next({ ms: 9, counter: 3 }, 5), { ms: 9, counter: 4 }); // clock went back
  assert.deepEqual(next({ ms: 9, counter: 9999 }, 5), { ms: 10, counter: 0 });
  assert.deepEqual(next({ ms: 9, counter: 3 }, 12), { ms: 12, counter: 0 });
});

test('only client-writable fields leave the device', () => {
  const data = writableData('mock_test', { started_at: 'a', finished_at: 'b', answers: [], score: 50, passed: true });
  assert.deepEqual(Object.keys(data).sort(), ['answers', 'finished_at', 'started_at']);
  const note = writableData('lesson_note', { body: 'x', student_id: 's', rev: 3, lesson_id: 'l' });
  assert.deepEqual(Object.keys(note).sort(), ['body', 'lesson_id']);
  assert.deepEqual(writableData('trip', { distance_m: 1, duration_s: 2, ended_at: 'e' }), { ended_at: 'e' });
  assert.throws(() => writableData('student_progress', {}));
});

test('uuid7 is a time-ordered version 7 UUID', () => {
  const a = uuid7();
  assert.match(a, /^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
  assert.notEqual(a, uuid7());
});

test('pass mark: 43 of 50, else 86 % rounded up', () => {
  assert.equal(passMark(50), 43);
  assert.equal(passMark(10), 9);
  assert.equal(passMark(100), 86);
  // The school's own mark, scaled the way the server scales it.
  const school = { pass_mark: 40, pass_total: 50 };
  assert.equal(passMark(50, school), 40);
  assert.equal(passMark(25, school), 20);
  assert.equal(passMark(10, { pass_mark: 7, pass_total: 9 }), 8);
  assert.equal(passMark(0, school), 0);
});

test('school wall time to UTC across daylight saving', () => {
  assert.equal(zonedToUtc('2026-07-01', '09:00', 'Europe/London').toISOString(), '2026-07-01T08:00:00.000Z');
  assert.equal(zonedToUtc('2026-12-01', '09:00', 'Europe/London').toISOString(), '2026-12-01T09:00:00.000Z');
  assert.equal(zonedToUtc('2026-03-29', '09:00', 'Europe/London').toISOString(), '2026-03-29T08:00:00.000Z');
});

test('bookable slots fit the availability and skip live bookings', () => {
  const avail = [{ instructor_id: 'i', weekday: 0, start_time: '09:00', end_time: '11:00', timezone: 'UTC',
    valid_from: null, valid_until: null }];
  const day = '2099-01-05'; // a Monday
  const free = slots(avail, [], 'i', day, 60).map((d) => d.toISOString().slice(11, 16));
  assert.deepEqual(free, ['09:00', '09:30', '10:00']);
  const taken = [{ status: 'confirmed', start: '2099-01-05T09:30:00Z', end: '2099-01-05T10:30:00Z' }];
  assert.deepEqual(slots(avail, taken, 'i', day, 60).map((d) => d.toISOString().slice(11, 16)), []);
  assert.deepEqual(slots(avail, [], 'i', '2099-01-06', 60), []); // Tuesday: no slot
});

test('the slot picker offers no time inside the instructor\'s time off', () => {
  const avail = [{ instructor_id: 'i', weekday: 0, start_time: '09:00', end_time: '12:00', timezone: 'UTC' }];
  const day = '2099-01-05'; // a Monday
  const away = [{ instructor_id: 'i', start: '2099-01-05T10:00:00Z', end: '2099-01-05T11:00:00Z' }];
  const other = [{ instructor_id: 'j', start: '2099-01-05T00:00:00Z', end: '2099-01-06T00:00:00Z' }];
  const at = (list) => slots(avail, [], 'i', day, 60, list).map((d) => d.toISOString().slice(11, 16));
  assert.deepEqual(at(away), ['09:00', '11:00']); // 09:30 and 10:xx would overlap; 11:00 starts as it ends
  assert.deepEqual(at(other), ['09:00', '09:30', '10:00', '10:30', '11:00']); // another instructor's
  const holiday = timeOffRange({ allDay: true, from: '2099-01-05', to: '2099-01-09' }, 'UTC');
  assert.deepEqual(at([{ instructor_id: 'i', ...holiday }]), []);
});

test('whole days of time off are the school\'s local midnights', () => {
  // July in London is BST (UTC+1): a local day starts at 23:00 UTC the day before.
  assert.deepEqual(timeOffRange({ allDay: true, from: '2099-07-06', to: '2099-07-10' }, 'Europe/London'),
    { start: '2099-07-05T23:00:00.000Z', end: '2099-07-10T23:00:00.000Z' });
  assert.deepEqual(timeOffRange({ allDay: false, from: '2099-07-06', to: '2099-07-06', fromTime: '09:00', toTime: '12:30' }, 'Europe/London'),
    { start: '2099-07-06T08:00:00.000Z', end: '2099-07-06T11:30:00.000Z' });
  assert.equal(localDate('2099-07-05T23:30:00Z', 'Europe/London'), '2099-07-06');
});

test('confirmed lessons under time off are flagged, others are not', () => {
  const x = { id: 'x', instructor_id: 'i', start: '2099-07-06T00:00:00Z', end: '2099-07-07T00:00:00Z' };
  const b = (id, status, start, instructor = 'i') => ({ id, status, instructor_id: instructor, start, end: start.replace('T09', 'T10') });
  const found = clashes([b('late', 'confirmed', '2099-07-06T09:00:00Z'), b('asked', 'requested', '2099-07-06T09:00:00Z'),
    b('other', 'confirmed', '2099-07-06T09:00:00Z', 'j'), b('after', 'confirmed', '2099-07-07T09:00:00Z')], [x]);
  assert.deepEqual(found.map((c) => [c.booking.id, c.exception.id]), [['late', 'x']]);
});

test('route distance by haversine', () => {
  const a = [0, 51.5, -0.1];
  const b = [1, 51.5, -0.1 + 1 / 69.4]; // about 1 km east at this latitude
  assert.ok(Math.abs(haversine(a, b) - 1000) < 15);
  assert.equal(distanceOf([a]), 0);
});

test('sync retries back off 1 s, 2 s, 4 s … 30 s, never later than the step, jittered', () => {
  const top = () => 0.999999;
  const bottom = () => 0;
  assert.deepEqual([1, 2, 3, 4, 5, 6, 7, 20].map((n) => retryDelay(n, null, top)),
    [1000, 2000, 4000, 8000, 16000, 30000, 30000, 30000]);
  assert.deepEqual([1, 2, 6].map((n) => retryDelay(n, null, bottom)), [750, 1500, 22500]);
  // Two devices that failed together draw different delays.
  let i = 0;
  const draws = [0.1, 0.9];
  assert.notEqual(retryDelay(3, null, () => draws[i++]), retryDelay(3, null, () => draws[i++]));
});

test('a Retry-After is a floor for the next try, within reason', () => {
  assert.equal(retryDelay(1, 7, () => 0.5), 7000);
  assert.equal(retryDelay(6, 7, () => 1 - 1e-9), 30000); // the backoff is already longer
  assert.equal(retryDelay(1, 86400, () => 0), 600000); // a day is not believed: 10 min
  assert.equal(parseRetryAfter('120'), 120);
  assert.equal(parseRetryAfter(null), null);
  assert.equal(parseRetryAfter('soon'), null);
  const now = Date.parse('2026-01-01T00:00:00Z');
  assert.equal(parseRetryAfter('Thu, 01 Jan 2026 00:00:30 GMT', now), 30);
  assert.equal(parseRetryAfter('Wed, 31 Dec 2025 23:00:00 GMT', now), 0);
});

test('a failure says whether the browser is offline or the server unreachable', () => {
  assert.equal(reachability({ status: 0 }, false), 'offline');
  assert.equal(reachability({ status: 0 }, true), 'unreachable');
  for (const status of [502, 503, 504]) assert.equal(reachability({ status }, true), 'unavailable');
  for (const status of [400, 409, 429, 500]) assert.equal(reachability({ status }, true), null);
  assert.equal(reachability(null, true), null);
});

test('counts agree with their nouns and verbs', async () => {
  const { plural, verb } = await import('../js/ui/dom.js');
  assert.equal(plural(1, 'change'), '1 change');
  assert.equal(plural(2, 'change'), '2 changes');
  assert.equal(plural(0, 'conflict'), '0 conflicts');
  assert.equal(plural(1, 'entry', 'entries'), '1 entry');
  assert.equal(`${plural(1, 'change')} ${verb(1, 'has', 'have')}`, '1 change has');
  assert.equal(`${plural(2, 'change')} ${verb(2, 'has', 'have')}`, '2 changes have');
});
