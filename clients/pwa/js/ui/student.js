/**
 * Student views: progress and readiness, upcoming lessons and notes, theory results,
 * bookings (request a slot from the instructor's availability, cancel — warned of a late
 * fee inside the school's notice —, ask to move one, pay one in the app), payments and invoices.
 * Booking rules are the server's: a request it refuses comes back as a problem with the
 * reason (unavailable, overlap, in the past).
 */

import { h, section, empty, badge, fmt, field, byKey, sortBy, startOfDay, plural } from './dom.js';
import { progressSection } from './progress.js';
import { statusBadge } from './instructor.js';
import { pushCard } from './account.js';
import { repeatFields, seriesSection, followingButton } from './series.js';
import { priceFor } from './pricing.js';
import { askForm, feeBadge, lateFee, openMoves } from './moves.js';
import { testsSection } from './drivingtests.js';
import { signedLessons } from './signature.js';
import { creditSection, creditLeft } from './credit.js';
import { balanceButton, packagesSection, payable, payButton, paymentFor, returnNotice } from './pay.js';
import { invoicesSection } from './invoices.js';

export async function home(app) {
  const sid = app.user.student_id;
  const [skills, progress, lessons, notes, tests, instructors, testRecords, signatures, balances, entries] = await Promise.all([
    app.all('skill'), app.all('student_progress'), app.all('lesson'), app.all('lesson_note'),
    app.all('mock_test'), app.all('instructor'), app.all('test_record'), app.all('lesson_signature'),
    app.all('student_balance'), app.all('credit_entry')]);
  const prog = progress.find((p) => p.student_id === sid);
  const inst = byKey(instructors);
  const upcoming = sortBy(lessons.filter((l) => l.status === 'scheduled' && new Date(l.scheduled_end) >= startOfDay()), (l) => l.scheduled_start).slice(0, 3);
  const lessonById = byKey(lessons);
  const latestNotes = sortBy(notes.filter((n) => n.body), (n) => (lessonById.get(n.lesson_id) || {}).scheduled_start || '', true).slice(0, 3);
  const scored = tests.filter((t) => typeof t.score === 'number');
  return h('div', {},
    h('h1', {}, `Hello ${(app.user.name || '').split(' ')[0] || 'there'}`),
    progressSection(skills, prog, 'Your progress', { mockTests: tests, tests: testRecords, studentId: sid }),
    section('Next lessons', upcoming.length ? h('ul', { class: 'plain list' }, upcoming.map((l) => h('li', {},
      h('strong', {}, `${fmt.day(l.scheduled_start)} ${fmt.time(l.scheduled_start)}`), ' with ', (inst.get(l.instructor_id) || {}).name || 'your instructor')))
      : empty('No lessons booked. Request one under Bookings.')),
    creditSection(balances, entries, sid, { title: 'Your credit' }),
    section('From your instructor', latestNotes.length ? latestNotes.map((n) => h('blockquote', {}, n.body,
      h('footer', {}, fmt.day((lessonById.get(n.lesson_id) || {}).scheduled_start)))) : empty('No notes yet.')),
    signedLessons(signatures, lessonById),
    section('Theory', h('p', {}, scored.length
      ? `${plural(scored.length, 'mock test')} marked · ${scored.filter((t) => t.passed).length} passed · best ${Math.max(...scored.map((t) => t.score))} of ${scored[0].total}`
      : 'No mock tests marked yet.'), h('a', { href: '#/theory', class: 'button' }, 'Practise theory')),
    testsSection(testRecords, sid, { title: 'Your driving tests' }),
    pushCard(app));
}

// ------------------------------------------------------------------------------ time zones
function tzOffsetMs(ts, timeZone) {
  const parts = Object.fromEntries(new Intl.DateTimeFormat('en-US', {
    timeZone, hourCycle: 'h23', year: 'numeric', month: '2-digit', day: '2-digit', hour: '2-digit', minute: '2-digit', second: '2-digit',
  }).formatToParts(new Date(ts)).map((p) => [p.type, p.value]));
  const asUtc = Date.UTC(+parts.year, +parts.month - 1, +parts.day, +parts.hour % 24, +parts.minute, +parts.second);
  return asUtc - Math.floor(ts / 1000) * 1000;
}

/** The UTC instant of wall time `hhmm` on `day` (YYYY-MM-DD) in `timeZone`. */
export function zonedToUtc(day, hhmm, timeZone) {
  const [y, m, d] = day.split('-').map(Number);
  const [hh, mm] = hhmm.split(':').map(Number);
  const guess = Date.UTC(y, m - 1, d, hh, mm);
  let ts = guess - tzOffsetMs(guess, timeZone);
  ts = guess - tzOffsetMs(ts, timeZone);
  return new Date(ts);
}

function weekdayOf(day) {
  const [y, m, d] = day.split('-').map(Number);
  return (new Date(Date.UTC(y, m - 1, d)).getUTCDay() + 6) % 7; // Monday = 0
}

const toMin = (t) => { const [a, b] = t.split(':').map(Number); return a * 60 + b; };
const toHhmm = (n) => `${String(Math.floor(n / 60)).padStart(2, '0')}:${String(n % 60).padStart(2, '0')}`;

/** Start times (as Dates) a booking of `minutes` could take on `day` with `instructorId`:
 * inside a weekly slot, clear of live bookings and of the instructor's time off
 * (`exceptions`: the server refuses a booking inside one as `unavailable`). */
export function slots(availability, bookings, instructorId, day, minutes, exceptions = []) {
  const weekday = weekdayOf(day);
  const live = bookings.filter((b) => ['requested', 'confirmed'].includes(b.status));
  const away = exceptions.filter((x) => x.instructor_id === instructorId);
  const out = [];
  for (const a of availability) {
    if (a.instructor_id !== instructorId || a.weekday !== weekday) continue;
    if (a.valid_from && day < a.valid_from) continue;
    if (a.valid_until && day > a.valid_until) continue;
    for (let t = toMin(a.start_time); t + minutes <= toMin(a.end_time); t += 30) {
      const start = zonedToUtc(day, toHhmm(t), a.timezone || 'UTC');
      const end = new Date(start.getTime() + minutes * 60000);
      if (start.getTime() < Date.now() + 3600e3) continue;
      if (live.some((b) => new Date(b.start) < end && new Date(b.end) > start)) continue;
      if (away.some((x) => new Date(x.start) < end && new Date(x.end) > start)) continue;
      out.push(start);
    }
  }
  return sortBy(out, (d) => d.getTime());
}

function localDay(d) {
  return `${d.getFullYear()}-${String(d.getMonth() + 1).padStart(2, '0')}-${String(d.getDate()).padStart(2, '0')}`;
}

/** Whether time off of the instructor touches `day` (the school's local day). */
function awayOn(exceptions, instructorId, day, availability) {
  const tz = (availability.find((a) => a.timezone) || {}).timezone || 'UTC';
  const from = zonedToUtc(day, '00:00', tz);
  const [y, m, d] = day.split('-').map(Number);
  const next = new Date(Date.UTC(y, m - 1, d + 1)).toISOString().slice(0, 10);
  const to = zonedToUtc(next, '00:00', tz);
  return exceptions.some((x) => x.instructor_id === instructorId && new Date(x.start) < to && new Date(x.end) > from);
}

/** Upcoming time off of the student's instructors (when, never why: the server keeps the
 * reason from students), or nothing when there is none. */
function awaySection(exceptions, instructors) {
  const names = new Map(instructors.map((i) => [i.id, i.name]));
  const now = new Date();
  const upcoming = sortBy(exceptions.filter((x) => names.has(x.instructor_id) && new Date(x.end) > now), (x) => x.start);
  if (!upcoming.length) return null;
  const span = (x) => {
    const last = new Date(new Date(x.end).getTime() - 1).toISOString();
    if (x.all_day) return fmt.day(x.start) === fmt.day(last) ? fmt.day(x.start) : `${fmt.day(x.start)} – ${fmt.day(last)}`;
    return `${fmt.day(x.start)} ${fmt.time(x.start)} – ${fmt.day(x.end) === fmt.day(x.start) ? '' : `${fmt.day(x.end)} `}${fmt.time(x.end)}`;
  };
  return section('Instructor away', h('ul', { class: 'plain list', 'data-testid': 'instructor-away' }, upcoming.map((x) => h('li', {},
    h('strong', {}, span(x)), ' · ', names.get(x.instructor_id), ' is not available'))));
}

export async function bookings(app, flag) {
  const sid = app.user.student_id;
  const [list, services, instructors, availability, payments, me, exceptions, cards, moves, packages] = await Promise.all([
    app.all('booking'), app.all('service'), app.all('instructor'), app.all('availability'), app.all('payment'),
    app.get('student', sid), app.all('availability_exception'), app.all('rate_card'), app.all('booking_move'),
    app.all('package')]);
  const series = (await app.all('booking_series')).filter((x) => x.student_id === sid || x._pending);
  const balance = (await app.all('student_balance')).find((x) => x.student_id === sid);
  const left = creditLeft(balance);
  const invoices = await app.all('invoice');
  const asked = openMoves(moves);
  const svc = byKey(services);
  const inst = byKey(instructors);
  const pay = new Map(payments.map((p) => [p.booking_id, p]));
  const mine = sortBy(list.filter((b) => b.student_id === sid || b._pending), (b) => b.start, true);
  const cancel = (b) => async () => {
    const fee = lateFee(b, app.session?.school);
    const warning = fee ? `\n\nThis is inside the school's ${app.session.school.cancel_cutoff_hours}-hour notice: a late cancellation fee of ${fmt.money(fee, b.currency)} applies.` : '';
    if (!confirm(`Cancel the lesson on ${fmt.day(b.start)} at ${fmt.time(b.start)}?${warning}`)) return;
    await app.mutate('booking', 'patch', b.id, { status: 'cancelled' });
    app.announce('Booking cancelled');
    app.refresh();
  };
  const withdraw = (m) => async () => {
    await app.mutate('booking_move', 'patch', m.id, { status: 'withdrawn' });
    app.announce('Move request withdrawn');
    app.refresh();
  };
  // The request form.
  const myInstructors = ((me && me.instructor_ids) || []).map((id) => inst.get(id)).filter(Boolean);
  const instSel = h('select', { id: 'book-instructor', required: true }, myInstructors.map((i) => h('option', { value: i.id }, i.name)));
  // Retired services (active false) are no longer offered; the price is the booking's own.
  const lessonServices = sortBy(services.filter((s) => s.duration_min && s.active !== false), (s) => s.duration_min * 1e6 + s.price_cents);
  const svcSel = h('select', { id: 'book-service', required: true }, lessonServices.map((s) => h('option', { value: s.id }, s.name)));
  const tomorrow = new Date(Date.now() + 86400e3);
  const dayIn = h('input', { id: 'book-day', type: 'date', required: true, min: localDay(tomorrow), value: localDay(tomorrow) });
  const timeSel = h('select', { id: 'book-time', required: true });
  const pickup = h('input', { id: 'book-pickup', maxlength: 500, autocomplete: 'street-address' });
  const repeat = repeatFields();
  // Credit is drawn by the server when the request syncs (refused if none is left by then).
  const useCredit = left ? h('input', { id: 'book-credit', type: 'checkbox', checked: true, 'data-testid': 'book-credit' }) : null;
  // The price the server will snapshot: the day picked is the school's day of the lesson.
  const priceOut = h('output', { id: 'book-price', 'data-testid': 'book-price', for: 'book-instructor book-service book-day' });
  const showPrice = () => {
    // Each lesson's label carries its price for the chosen instructor and day.
    for (const option of svcSel.options) {
      const o = svc.get(option.value);
      const p = priceFor(cards, o, instSel.value || null, dayIn.value);
      option.textContent = `${o.name} · ${fmt.money(p.price_cents, p.currency)}`;
    }
    const s = svc.get(svcSel.value);
    if (!s || !instSel.value || !dayIn.value) { priceOut.textContent = '—'; return; }
    const p = priceFor(cards, s, instSel.value, dayIn.value);
    const why = { instructor: 'your instructor\'s rate', school: 'the school\'s rate', service: 'the lesson\'s price' }[p.source];
    priceOut.textContent = `${fmt.money(p.price_cents, p.currency)} (${why})`;
  };
  const fillTimes = () => {
    showPrice();
    const s = svc.get(svcSel.value);
    const options = s && instSel.value ? slots(availability, list, instSel.value, dayIn.value, s.duration_min, exceptions) : [];
    const away = !options.length && instSel.value && dayIn.value && awayOn(exceptions, instSel.value, dayIn.value, availability);
    timeSel.replaceChildren(...(options.length ? options.map((d) => h('option', { value: d.toISOString() }, fmt.time(d.toISOString())))
      : [h('option', { value: '' }, away ? 'Your instructor is away that day' : 'No free times that day')]));
  };
  instSel.onchange = fillTimes; svcSel.onchange = fillTimes; dayIn.onchange = fillTimes;
  fillTimes();
  const form = h('form', {
    class: 'book',
    onsubmit: async (event) => {
      event.preventDefault();
      if (!timeSel.value) { app.announce('Choose a day with free times'); return; }
      const data = { instructor_id: instSel.value, service_id: svcSel.value, start: timeSel.value };
      if (pickup.value.trim()) data.pickup_location = pickup.value.trim();
      if (useCredit && useCredit.checked) data.pay_with = 'credit';
      const rep = repeat.value();
      if (rep) {
        const { start, ...rest } = data;
        await app.mutate('booking_series', 'put', app.newId(), { ...rest, first_start: start, ...rep });
        app.announce(`${rep.count} lessons requested: the school checks each date, your instructor confirms them`);
      } else {
        await app.mutate('booking', 'put', app.newId(), data);
        app.announce('Lesson requested: your instructor will confirm it');
      }
      app.refresh();
    },
  },
  field('Instructor', instSel), field('Lesson', svcSel), field('Day', dayIn), field('Start time', timeSel, 'Times follow the school\'s timezone and your instructor\'s availability.'),
  field('Pickup address (optional)', pickup), ...repeat.nodes,
  h('p', { class: 'price-line' }, h('span', {}, 'Price: '), priceOut),
  useCredit ? h('div', { class: 'field' }, h('label', { class: 'check', for: 'book-credit' }, useCredit, ` Pay with credit (${left} left)`)) : null,
  h('button', { type: 'submit', class: 'primary' }, 'Request lesson'));
  const future = (b) => new Date(b.start) > new Date();
  return h('div', {},
    h('h1', {}, 'Bookings'),
    returnNotice(flag, list),
    seriesSection(app, series, services, instructors),
    section('Your lessons', mine.length ? h('ul', { class: 'plain list', 'data-testid': 'bookings' }, mine.map((b) => {
      const p = pay.get(b.id);
      // The booking's own payment status is the server's summary of all its payments.
      const payment = b.payment_status || (p && p.status);
      return h('li', { class: 'booking', 'data-booking-id': b.id },
        h('div', {}, h('strong', {}, `${fmt.day(b.start)} ${fmt.time(b.start)}`), ' · ', (svc.get(b.service_id) || {}).name || 'Lesson',
          ' · ', (inst.get(b.instructor_id) || {}).name || ''),
        h('div', {}, statusBadge(b.status), ' ',
          b.price_cents !== undefined ? `${fmt.money(b.price_cents, b.currency)} · ` : '',
          payment === 'credit' ? h('span', { 'data-testid': 'payment-badge' }, badge('paid with credit', 'completed'))
            : payment ? h('span', { 'data-testid': 'payment-badge' }, badge(`payment: ${payment}`, payment === 'paid' || payment === 'succeeded' ? 'completed' : '')) : null,
          b._pending ? badge('not synced', 'pending') : null),
        feeBadge(b),
        asked.get(b.id) && ['requested', 'confirmed'].includes(b.status) ? h('div', { class: 'hint', 'data-testid': 'move-asked' },
          `You asked to move it to ${fmt.day(asked.get(b.id).start)} ${fmt.time(asked.get(b.id).start)}.`, ' ',
          h('button', { type: 'button', onclick: withdraw(asked.get(b.id)) }, 'Withdraw request')) : null,
        ['requested', 'confirmed'].includes(b.status) && future(b)
          ? h('div', { class: 'actions' }, payable(b) ? payButton(app, b, 'bookings') : null,
            h('button', { type: 'button', onclick: cancel(b) }, 'Cancel'), followingButton(app, b),
            asked.get(b.id) ? null : h('details', { class: 'move' }, h('summary', {}, 'Ask to move'),
              askForm(app, b, (day) => slots(availability, list.filter((x) => x.id !== b.id), b.instructor_id, day,
                (new Date(b.end) - new Date(b.start)) / 60000), localDay(tomorrow))))
          : payable(b) ? h('div', { class: 'actions' }, payButton(app, b, 'bookings')) : null);
    })) : empty('No bookings yet.')),
    awaySection(exceptions, myInstructors),
    section('Request a lesson', myInstructors.length ? form : empty('You have no instructor assigned yet.')),
    balanceButton(app, balance ? [balance] : [], sid, 'bookings'),
    packagesSection(app, packages, sid, 'bookings'),
    section('Payments', payments.length ? h('ul', { class: 'plain list', 'data-testid': 'payments' },
      sortBy(payments, (p) => (list.find((b) => b.id === p.booking_id) || {}).start || p.updated_at || '', true).map((p) =>
        h('li', { 'data-payment-id': p.id }, `${fmt.money(p.amount_cents, p.currency)} · ${p.status.replace('_', ' ')}`,
          h('span', { class: 'hint' }, ` · ${paymentFor(p, byKey(list), byKey(packages))}`))))
      : empty('No payments recorded yet.')),
    invoicesSection(app, invoices, sid));
}
