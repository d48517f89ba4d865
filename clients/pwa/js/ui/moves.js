/**
 * Move requests (`booking_move`) and the cancellation policy, shared by the student, the
 * instructor and the admin views. All from the replica, so they work offline: a request
 * or an answer goes to the outbox like any change, and the server decides (it runs the slot
 * checks again when a request is accepted; a clash comes back as a problem with its reason).
 */

import { h, section, badge, fmt, field, sortBy } from './dom.js';

/** Move requests still waiting for an answer, by booking id. */
export function openMoves(moves) {
  return new Map(moves.filter((m) => m.status === 'requested').map((m) => [m.booking_id, m]));
}

const LIVE = ['requested', 'confirmed'];

/**
 * Whether cancelling `booking` now would be late under the school's policy (the settings
 * come with the sign-in), and the fee it would owe: only a student's cancellation of a
 * confirmed lesson does (the server decides, by when the cancellation is made).
 */
export function lateFee(booking, school, now = Date.now()) {
  const hours = school?.cancel_cutoff_hours ?? 24;
  const fee = school?.late_fee_cents ?? 0;
  if (booking.status !== 'confirmed' || !fee) return 0;
  return now > new Date(booking.start).getTime() - hours * 3600e3 ? fee : 0;
}

/** The late fee recorded on a cancelled booking, as a badge. */
export function feeBadge(booking) {
  if (!booking.late_fee_cents) return null;
  return h('span', { class: 'badge warn', 'data-testid': 'late-fee' },
    `Late cancellation fee ${fmt.money(booking.late_fee_cents, booking.currency)}`);
}

/** Answer a move request (instructor or admin). */
export function answer(app, move, status) {
  return async () => {
    await app.mutate('booking_move', 'patch', move.id, { status });
    app.announce(status === 'accepted' ? 'Move accepted: the lesson moves once it syncs' : `Move request ${status}`);
    app.refresh();
  };
}

/** The instructor's (or admin's) open move requests, to accept or decline. */
export function moveRequestsSection(app, moves, bookings, students) {
  // A request whose booking is no longer live (cancelled, completed) cannot be accepted.
  const open = sortBy(moves.filter((m) => m.status === 'requested'
    && LIVE.includes((bookings.get(m.booking_id) || {}).status)), (m) => m.start);
  if (!open.length) return null;
  return section('Move requests', h('ul', { class: 'plain list', 'data-testid': 'move-requests' }, open.map((m) => {
    const b = bookings.get(m.booking_id) || {};
    return h('li', { class: 'request', 'data-move-id': m.id },
      h('div', {}, h('strong', {}, (students.get(m.student_id) || {}).name || 'Student'), ' asks to move ',
        `${fmt.day(b.start)} ${fmt.time(b.start)}`, ' to ', h('strong', {}, `${fmt.day(m.start)} ${fmt.time(m.start)}–${fmt.time(m.end)}`)),
      m.note ? h('div', { class: 'hint' }, `“${m.note}”`) : null,
      m._pending ? badge('not synced', 'pending') : null,
      h('div', { class: 'actions' },
        h('button', { type: 'button', class: 'primary', onclick: answer(app, m, 'accepted') }, 'Accept move'),
        h('button', { type: 'button', onclick: answer(app, m, 'declined') }, 'Decline move')));
  })));
}

/**
 * A student's form to ask for another time: a day, then one of the free start times
 * `times(day)` offers (the same offline slot picker as a new request).
 */
export function askForm(app, booking, times, minDay) {
  const day = h('input', { type: 'date', required: true, min: minDay, value: minDay, 'data-testid': 'move-day' });
  const time = h('select', { required: true, 'data-testid': 'move-time' });
  const note = h('input', { maxlength: 2000, 'data-testid': 'move-note' });
  const fill = () => {
    const options = times(day.value);
    time.replaceChildren(...(options.length ? options.map((d) => h('option', { value: d.toISOString() }, fmt.time(d.toISOString())))
      : [h('option', { value: '' }, 'No free times that day')]));
  };
  day.onchange = fill;
  fill();
  return h('form', {
    class: 'move-form',
    onsubmit: async (event) => {
      event.preventDefault();
      if (!time.value) { app.announce('Choose a day with free times'); return; }
      const data = { booking_id: booking.id, start: time.value, status: 'requested' };
      if (note.value.trim()) data.note = note.value.trim();
      await app.mutate('booking_move', 'put', app.newId(), data);
      app.announce('Move requested: your instructor will answer');
      app.refresh();
    },
  },
  field('New day', day), field('New start time', time), field('Note for your instructor (optional)', note),
  h('button', { type: 'submit', class: 'primary' }, 'Ask to move'));
}
