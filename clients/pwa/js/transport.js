/**
 * What the PWA puts on the wire, as pure functions (no IndexedDB, no fetch), so that Node's
 * test runner checks them: the shape of a pushed mutation and its size in bytes, how many
 * pending mutations fit in one size-bounded push ("piece"), the pull's query string, and
 * when an access token expires.
 *
 * Built for a poor mobile link (issue 10): a piece of at most PIECE_BYTES of JSON is
 * acknowledged before the next goes, so a dropped link costs at most one piece; bodies
 * over GZIP_MIN_BYTES go gzip-compressed; a poll carries only what the server needs.
 */

/** Upper bound of one push body, uncompressed (the server accepts 2 MiB: this is for the
 * link, not the server). Room is kept for the envelope around the mutations. */
export const PIECE_BYTES = 32 * 1024;
export const ENVELOPE_ROOM = 1024;
/** Bodies smaller than this go as plain JSON: gzip would save a few dozen bytes at best. */
export const GZIP_MIN_BYTES = 1024;
/** Refresh the access token before a push when it expires within this many seconds: a
 * refused upload costs the whole body on a slow link, a refresh a few hundred bytes. */
export const REFRESH_MARGIN_S = 60;

/**
 * The entities the PWA pulls: every entity of the server's registry but `trip_segment`
 * (a route's points are fetched when a route is viewed: GET /v1/trips/{id}/route). The one
 * list in the PWA; tests/unit/test_pwa_pulled.py keeps it equal to sync/core/entities.py.
 * Sorted, as the server keeps a filter in its cursor.
 */
export const PULLED_ENTITIES = [
  'availability', 'availability_exception', 'booking', 'booking_history', 'booking_move',
  'booking_series', 'credit_entry', 'guardian', 'guardian_student', 'inbox_item', 'instructor',
  'invoice', 'lesson', 'lesson_note', 'lesson_signature', 'message', 'mock_test', 'package',
  'payment', 'payout', 'rate_card', 'service', 'skill', 'skill_assessment', 'student',
  'student_balance', 'student_instructor', 'student_progress', 'test_record', 'theory_attempt',
  'theory_question', 'thread', 'thread_member', 'trip',
];

const encoder = new TextEncoder();

/** UTF-8 length of a string: what the server counts, and what the link carries. */
export function byteLength(text) {
  return encoder.encode(text).length;
}

/** A stored outbox mutation as it goes in a push (no local bookkeeping such as `sent`). */
export function wireMutation(m) {
  const out = { seq: m.seq, entity: m.entity, id: m.id, op: m.op, base_rev: m.base_rev, hlc: m.hlc };
  if (m.op !== 'delete') out.data = m.data;
  return out;
}

/**
 * How many of `mutations` (in seq order) go in the next piece: at most `max`, and at most
 * `maxBytes` of JSON together (their separators included), but always at least one — a
 * single mutation over the bound goes alone and the server judges it (413 if too large).
 */
export function pieceLength(mutations, { max, maxBytes }) {
  let bytes = 2; // the list's brackets
  let n = 0;
  for (const m of mutations) {
    if (n >= max) break;
    const size = byteLength(JSON.stringify(wireMutation(m))) + (n ? 1 : 0);
    if (n && bytes + size > maxBytes) break;
    bytes += size;
    n += 1;
  }
  return n;
}

/**
 * The query string of a pull: only what the server needs, since a poll repeats it. From
 * scratch: the entity filter and the schema version (when not the server's default 1),
 * which the server then keeps in the cursor; with a cursor, the cursor stands for both
 * (the server reads them from it), and `skip_own` leaves out our own writes — never
 * without one, as a device rebuilding from scratch must get its own writes too. `limit`
 * only when it differs from the server's default; the client_id always (the server
 * records this device's progress). Commas are left unescaped (RFC 3986 allows them in a
 * query).
 */
export function pullQuery({ cursor, clientId, schemaVersion, limit, defaultLimit = 1000 }) {
  const parts = [];
  if (cursor) parts.push(`cursor=${encodeURIComponent(cursor)}`);
  else {
    parts.push(`entities=${PULLED_ENTITIES.join(',')}`);
    if (schemaVersion !== 1) parts.push(`schema_version=${schemaVersion}`);
  }
  if (limit && limit !== defaultLimit) parts.push(`limit=${limit}`);
  parts.push(`client_id=${encodeURIComponent(clientId)}`);
  if (cursor) parts.push('skip_own=true');
  return parts.join('&');
}

/** What a cursor was made for (schema version and entity filter): a stored cursor is only
 * followed by the stream it belongs to. */
export function streamKey(schemaVersion) {
  return `${schemaVersion}:${PULLED_ENTITIES.join(',')}`;
}

/**
 * Seconds until a JWT's `exp`, or null when the token has none or cannot be read. The
 * payload is read, not verified: it only decides *when* to refresh, never what to trust.
 */
export function secondsLeft(token, nowMs = Date.now()) {
  try {
    const part = String(token).split('.')[1];
    const b64 = part.replace(/-/g, '+').replace(/_/g, '/') + '='.repeat((4 - (part.length % 4)) % 4);
    const payload = JSON.parse(atob(b64));
    return Number.isFinite(payload.exp) ? payload.exp - nowMs / 1000 : null;
  } catch {
    return null;
  }
}

/** gzip `text` with the browser's CompressionStream, or null where there is none. */
export async function gzip(text) {
  if (typeof CompressionStream === 'undefined') return null;
  const stream = new Blob([text]).stream().pipeThrough(new CompressionStream('gzip'));
  return new Uint8Array(await new Response(stream).arrayBuffer());
}
