/**
 * Per-installation state kept in the `drivesync-meta` database: the client_id (made once
 * with crypto.randomUUID()), the signed-in session (tokens and user), and the seq counters.
 *
 * Seq counters are kept per signed-in user and never reset, not even by logout: the server
 * tracks the last acknowledged seq per (user, client_id), and a seq it has seen before is
 * answered as a duplicate, so reusing one would silently drop a change.
 */

import { openMeta, req, tx } from './db.js';

async function withMeta(mode, fn) {
  const db = await openMeta();
  try {
    return await tx(db, 'kv', mode, (s) => fn(s.kv));
  } finally {
    db.close();
  }
}

/** This installation's client_id, made on first use. */
export async function clientId() {
  return withMeta('readwrite', async (kv) => {
    let id = await req(kv.get('client_id'));
    if (!id) {
      id = crypto.randomUUID();
      kv.put(id, 'client_id');
    }
    return id;
  });
}

/** The signed-in session: {access_token, refresh_token, user: {id, role, tenant_id, …}, tenant}. */
export async function getSession() {
  return withMeta('readonly', (kv) => req(kv.get('session')));
}

export async function setSession(session) {
  return withMeta('readwrite', (kv) => { kv.put(session, 'session'); });
}

export async function clearSession() {
  return withMeta('readwrite', (kv) => { kv.delete('session'); });
}

function seqKey(user) {
  return `seq:${user.tenant_id}:${user.id}`;
}

/** Reserve the next seq for this user (atomically; reserved before the outbox write so a
 * crash in between leaves a gap, which the server reports and the outbox renumbers, never
 * a reused number). */
export async function reserveSeq(user) {
  return withMeta('readwrite', async (kv) => {
    const value = ((await req(kv.get(seqKey(user)))) || 0) + 1;
    kv.put(value, seqKey(user));
    return value;
  });
}

/** Make sure the counter is at least `min` (after renumbering the outbox). */
export async function raiseSeq(user, min) {
  return withMeta('readwrite', async (kv) => {
    const value = (await req(kv.get(seqKey(user)))) || 0;
    if (min > value) kv.put(min, seqKey(user));
  });
}
