/**
 * Hybrid logical clock stamps, as PROTOCOL.md defines them:
 * `<unix_ms, 13 digits>-<counter, 4 digits>-<client_id>`, compared as strings.
 *
 * The clock is monotonic: within one millisecond (or while the wall clock stands still or
 * goes backwards) the counter bumps, and the last stamp is kept in IndexedDB so a reload
 * never issues a stamp older than one already given out.
 */

import { openMeta, req, tx } from './db.js';

const MAX_COUNTER = 9999;

export function format(ms, counter, node) {
  return `${String(ms).padStart(13, '0')}-${String(counter).padStart(4, '0')}-${node}`;
}

/** The next (ms, counter) after `last` at wall time `now`: pure, so it is easy to test. */
export function next(last, now) {
  if (!last || now > last.ms) return { ms: now, counter: 0 };
  if (last.counter < MAX_COUNTER) return { ms: last.ms, counter: last.counter + 1 };
  return { ms: last.ms + 1, counter: 0 }; // counter exhausted: borrow the next millisecond
}

/** Stamp a change made now by this installation (`node` is its client_id). */
export async function stamp(node) {
  const db = await openMeta();
  try {
    const state = await tx(db, 'kv', 'readwrite', async (s) => {
      const last = await req(s.kv.get('hlc'));
      const value = next(last, Date.now());
      s.kv.put(value, 'hlc');
      return value;
    });
    return format(state.ms, state.counter, node);
  } finally {
    db.close();
  }
}
