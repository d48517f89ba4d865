/**
 * The outbox: every change the user makes becomes a mutation {seq, entity, id, op,
 * base_rev, hlc, data} stored in IndexedDB until the server acknowledges it, across
 * reloads and browser restarts.
 *
 * - `hlc` is stamped when the user makes the change, not when it is pushed.
 * - `base_rev` is the rev of the record when its first unsynced edit started; a later edit
 *   of the same record while one is pending keeps that first base_rev.
 * - Quick successive patches of one record (typing in a note) are folded into the pending
 *   mutation as long as it has not been sent; once sent, a mutation is never changed again
 *   (its seq may already have been processed).
 * - Only client-writable fields leave the device: server-controlled ones (rev, score,
 *   distance_m, …) would be rejected with `read_only_field`.
 */

import { req, tx } from './db.js';
import { stamp } from './hlc.js';
import { raiseSeq, reserveSeq } from './session.js';
import { pieceLength } from './transport.js';

/** The fields a client may send, per entity (wire.py's *Write models, minus what we never
 * set ourselves, such as a note's student_id). */
export const WRITABLE = {
  lesson: ['instructor_id', 'student_id', 'scheduled_start', 'scheduled_end', 'status',
    'started_at', 'ended_at', 'attended'],
  lesson_note: ['lesson_id', 'body', 'private', 'tags'],
  skill_assessment: ['lesson_id', 'skill_id', 'level', 'comment', 'assessed_at'],
  trip: ['lesson_id', 'started_at', 'ended_at'],
  trip_segment: ['trip_id', 'index', 'points'],
  theory_attempt: ['question_id', 'chosen_option', 'mode', 'mock_test_id', 'answered_at'],
  mock_test: ['started_at', 'finished_at', 'answers'],
  lesson_signature: ['lesson_id', 'signed_by', 'signed_at', 'strokes'],
  booking: ['instructor_id', 'service_id', 'start', 'end', 'status', 'pickup_location',
    'pay_with'],
  booking_series: ['instructor_id', 'service_id', 'first_start', 'every', 'count', 'until',
    'pickup_location', 'status', 'pay_with'],
  booking_move: ['booking_id', 'start', 'end', 'status', 'note'],
  availability: ['instructor_id', 'weekday', 'start_time', 'end_time', 'valid_from', 'valid_until'],
  availability_exception: ['instructor_id', 'start', 'end', 'reason', 'all_day'],
  student: ['name', 'email', 'phone', 'licence_number', 'date_of_birth', 'theory_test_date',
    'practical_test_date', 'goals', 'active'],
  instructor: ['name', 'email', 'phone', 'adi_number', 'specialties', 'active'],
  student_instructor: ['student_id', 'instructor_id', 'is_primary'],
  service: ['name', 'kind', 'duration_min', 'price_cents', 'currency', 'active'],
  rate_card: ['service_id', 'instructor_id', 'price_cents', 'currency', 'valid_from',
    'valid_until'],
  package: ['name', 'lessons', 'minutes', 'price_cents', 'currency', 'valid_days', 'active'],
  skill: ['code', 'name', 'stage', 'position', 'active'],
  theory_question: ['topic', 'question', 'options', 'correct_option', 'explanation', 'active'],
  thread: ['subject', 'kind', 'lesson_id', 'party_user_id', 'instructor_id', 'student_id'],
  thread_member: ['thread_id', 'last_read_at'],
  message: ['thread_id', 'body', 'sent_at'],
  inbox_item: ['read_at'],
  guardian: ['name', 'email', 'phone'],
  guardian_student: ['guardian_id', 'student_id'],
  test_record: ['student_id', 'kind', 'date', 'time', 'centre', 'result', 'score', 'faults',
    'notes'],
};

/** Entities whose patches may be folded together while unsent. */
const FOLDABLE = new Set(['lesson_note', 'lesson', 'trip', 'availability', 'availability_exception']);

/** Whether `next` may be folded into the pending `last`: never across a lesson's status
 * move (scheduled → in_progress → completed must reach the server step by step). */
function canFold(last, entity, next) {
  if (!last || last.sent || last.op === 'delete') return false;
  if (entity === 'lesson' && 'status' in next && 'status' in (last.data || {})) return false;
  return true;
}

export function writableData(entity, data) {
  const allowed = WRITABLE[entity];
  if (!allowed) throw new Error(`${entity} is not written by clients`);
  const out = {};
  for (const [k, v] of Object.entries(data || {})) {
    if (allowed.includes(k) && v !== undefined) out[k] = v;
  }
  return out;
}

/** A time-ordered UUID (v7), as the protocol recommends for client-made ids. */
export function uuid7() {
  const bytes = crypto.getRandomValues(new Uint8Array(16));
  let ms = Date.now();
  for (let i = 5; i >= 0; i -= 1) { bytes[i] = ms % 256; ms = Math.floor(ms / 256); }
  bytes[6] = (bytes[6] & 0x0f) | 0x70;
  bytes[8] = (bytes[8] & 0x3f) | 0x80;
  const hex = [...bytes].map((b) => b.toString(16).padStart(2, '0')).join('');
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}

async function pendingFor(stores, entity, id) {
  const list = await req(stores.outbox.index('record').getAll([entity, id]));
  return list.sort((a, b) => a.seq - b.seq);
}

/**
 * Queue a change. `user` is the session's user (for the seq counter), `node` the client_id.
 * Returns the stored mutation.
 */
export async function enqueue(db, user, node, { entity, id, op, data }) {
  const hlc = await stamp(node); // the moment the user made the change
  const clean = op === 'delete' ? undefined : writableData(entity, data);
  // 1. Fold into an unsent pending patch (or put) of the same record, atomically.
  if (op === 'patch' && FOLDABLE.has(entity)) {
    const folded = await tx(db, 'outbox', 'readwrite', async (s) => {
      const pending = await pendingFor(s, entity, id);
      const last = pending[pending.length - 1];
      if (!canFold(last, entity, clean)) return null;
      last.data = { ...last.data, ...clean };
      last.hlc = hlc;
      last.at = Date.now();
      s.outbox.put(last);
      return last;
    });
    if (folded) return folded;
  }
  // 2. A new mutation: reserve its seq first (see session.reserveSeq), then store it.
  const seq = await reserveSeq(user);
  return tx(db, ['outbox', 'records'], 'readwrite', async (s) => {
    const pending = await pendingFor(s, entity, id);
    let baseRev = null;
    if (pending.length) baseRev = pending[0].base_rev ?? null;
    else {
      const current = await req(s.records.get([entity, id]));
      baseRev = current ? current.rev : null;
    }
    const m = { seq, entity, id, op, base_rev: baseRev, hlc, data: clean, sent: false, at: Date.now() };
    s.outbox.put(m);
    return m;
  });
}

/** Every pending mutation in seq order. */
export async function pending(db) {
  return tx(db, 'outbox', 'readonly', (s) => req(s.outbox.getAll()));
}

export async function pendingCount(db) {
  return tx(db, 'outbox', 'readonly', (s) => req(s.outbox.count()));
}

/**
 * The next batch to push: the oldest pending mutations in seq order, up to `max` of them
 * and `maxBytes` of JSON (at least one: see transport.pieceLength), marked sent (so they
 * are never folded into again). A batch never carries two body edits of one note: the
 * second waits for the first's result so that its base_rev can follow our own applied
 * edit instead of three-way merging against it.
 */
export async function takeBatch(db, max, maxBytes = Infinity) {
  return tx(db, 'outbox', 'readwrite', async (s) => {
    const all = await req(s.outbox.getAll());
    const candidates = [];
    const notes = new Set();
    for (const m of all) {
      if (candidates.length >= max) break;
      if (m.entity === 'lesson_note' && m.op !== 'delete') {
        if (notes.has(m.id)) break;
        notes.add(m.id);
      }
      candidates.push(m);
    }
    const batch = candidates.slice(0, pieceLength(candidates, { max, maxBytes }));
    for (const m of batch) {
      if (!m.sent) { m.sent = true; s.outbox.put(m); }
    }
    return batch;
  });
}

/**
 * After `409 seq_gap` with `expected`: the server never processed any seq from `expected`
 * on, so the pending mutations from there are renumbered consecutively from `expected`
 * (keeping their order). Numbers only go down, so they never meet a seq being reserved.
 */
export async function renumberFrom(db, user, expected) {
  const last = await tx(db, 'outbox', 'readwrite', async (s) => {
    const all = await req(s.outbox.getAll());
    const moving = all.filter((m) => m.seq >= expected);
    if (moving.every((m, i) => m.seq === expected + i)) return null; // nothing to close
    for (const m of moving) s.outbox.delete(m.seq);
    let seq = expected;
    for (const m of moving) { s.outbox.put({ ...m, seq }); seq += 1; }
    return seq - 1;
  });
  if (last !== null) await raiseSeq(user, last);
  return last !== null;
}
