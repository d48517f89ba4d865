/**
 * The sync engine (PROTOCOL.md): push the outbox, pull the replica, handle every answer.
 * It runs in the page and in the service worker (Background Sync), so it touches no DOM;
 * both flush under the Web Lock `outbox-flush` and pull under `replica-pull`, and the
 * server's exactly-once push makes a resend harmless.
 *
 *   push: pieces of ≤ 500 mutations and ≤ 32 KiB of JSON (gzip on the wire) in seq order
 *         from the oldest unacknowledged seq, each acknowledged before the next goes, so a
 *         dropped link costs one piece and a resend of a piece whose answer was lost gets
 *         the server's duplicate acknowledgements; the access token is refreshed first
 *         when it is about to expire; `409 seq_gap` → renumber from `details.expected`
 *         and resend; each result updates the replica (`record` when the server changed
 *         something, else the data we sent plus the fields it `filled`, at the result's rev), rejections and conflicts
 *         become problems shown to the user; everything ≤ `acked_seq` leaves the outbox in
 *         the same transaction.
 *   pull: from the stored cursor, page after page while `has_more`, every entity but
 *         trip_segment, leaving out our own writes once we have a cursor (`skip_own`);
 *         `410 reset_required` → clear the replica and cursor and pull from scratch (the
 *         outbox stays, and the replica's overlay re-applies it).
 *   426  → stop and ask for an update, keeping the outbox.
 */

import { call, ApiError } from './api.js';
import { tx, req } from './db.js';
import { pendingCount, renumberFrom, takeBatch } from './outbox.js';
import { acknowledged, applyChanges, checksum, metaGet, putRecord, problems } from './replica.js';
import { ENVELOPE_ROOM, PIECE_BYTES, REFRESH_MARGIN_S, pullQuery, streamKey, wireMutation } from './transport.js';
import { APP_VERSION, SCHEMA_VERSION } from './version.js';

const PULL_LIMIT = 1000;
/** Page size of pulls (tests lower it to exercise paging). */
const pullLimit = () => globalThis.__drivesyncPullLimit || PULL_LIMIT;
const MAX_BATCH = 500;

function withLock(name, fn) {
  if (globalThis.navigator && navigator.locks) return navigator.locks.request(name, fn);
  return fn();
}

function platform() {
  const nav = globalThis.navigator || {};
  const os = (nav.userAgentData && nav.userAgentData.platform) || nav.platform || 'web';
  return `pwa/${os}`.slice(0, 64);
}

export class SyncEngine {
  /**
   * @param {object} o
   * @param {IDBDatabase} o.db the user's database
   * @param {object} o.user the session's user
   * @param {string} o.clientId this installation's client_id
   * @param {(what: string) => void} [o.onChange] called after the replica or outbox changed
   */
  constructor({ db, user, clientId, onChange }) {
    this.db = db;
    this.user = user;
    this.clientId = clientId;
    this.onChange = onChange || (() => {});
    this.stopped = null; // 'upgrade_required' | 'signed_out' once syncing must stop
  }

  /** Push every pending mutation. Resolves with the number of mutations acknowledged. */
  async flush() {
    if (this.stopped) return 0;
    return withLock('outbox-flush', async () => {
      let max = MAX_BATCH;
      let acked = 0;
      for (let round = 0; round < 100; round += 1) {
        const batch = await takeBatch(this.db, max, PIECE_BYTES - ENVELOPE_ROOM);
        if (!batch.length) break;
        let body;
        try {
          body = await call('POST', '/v1/sync/push', await this.envelope(batch),
            { compress: true, refreshWithin: REFRESH_MARGIN_S });
        } catch (err) {
          if (err.code === 'seq_gap' && err.details && Number.isInteger(err.details.expected)) {
            if (await renumberFrom(this.db, this.user, err.details.expected)) continue;
          }
          if (err.status === 413 && batch.length > 1) { max = Math.max(1, Math.floor(batch.length / 2)); continue; }
          if (err.status === 413) { await this.dropTooLarge(batch[0], err); continue; }
          throw this.classify(err);
        }
        await this.applyResults(batch, body);
        acked += batch.length;
        this.onChange('push');
      }
      return acked;
    });
  }

  async envelope(batch) {
    return {
      client_id: this.clientId,
      schema_version: SCHEMA_VERSION,
      mutations: batch.map(wireMutation),
      device: {
        app_version: APP_VERSION,
        // What will still wait once this piece is acknowledged (every result, a rejection
        // too, takes its mutation out of the outbox): the admin's Devices table shows the
        // device's last report, and the count at the piece's start would stay there,
        // stale, after the device had sent everything.
        pending: Math.max(0, (await pendingCount(this.db)) - batch.length),
        last_pull_rev: (await metaGet(this.db, 'last_pull_rev')) ?? undefined,
        platform: platform(),
      },
    };
  }

  /** Apply a push response: replica, problems, rebase, and drop what was acknowledged. */
  async applyResults(batch, body) {
    const bySeq = new Map(batch.map((m) => [m.seq, m]));
    await tx(this.db, ['records', 'outbox', 'problems'], 'readwrite', async (s) => {
      for (const r of body.results) {
        const m = bySeq.get(r.seq) || (await req(s.outbox.get(r.seq)));
        if (!m) continue;
        if (r.record) await putRecord(s, m.entity, r.record);
        const base = { entity: m.entity, id: m.id, op: m.op, seq: m.seq, sent: m.data, at: Date.now() };
        if (r.status === 'rejected') {
          const e = r.error || {};
          s.problems.add({ ...base, kind: 'rejected', code: e.code, message: e.message,
            field: e.details && e.details.field, record: r.record || null });
          continue;
        }
        if (!r.record && r.status === 'applied') await this.applyOwn(s, m, r);
        if (r.status === 'conflict') {
          s.problems.add({ ...base, kind: 'conflict', conflict_id: r.conflict_id,
            record: r.record || null, loser: r.loser || m.data,
            message: 'Someone else changed the same words. The school kept the other version; yours is in the journal for an admin to resolve.' });
        } else if (r.status === 'merged' && r.lost && r.lost.length) {
          s.problems.add({ ...base, kind: 'overridden', record: r.record || null, fields: r.lost,
            message: `A newer edit won for: ${r.lost.join(', ')}` });
        }
        if (r.status === 'applied' && m.entity === 'lesson_note' && Number.isInteger(r.rev)) {
          // Our edit is now the server's text: later edits of the note started from it.
          const later = await req(s.outbox.index('record').getAll([m.entity, m.id]));
          for (const n of later) {
            if (n.seq > m.seq && (n.base_rev ?? -1) < r.rev) s.outbox.put({ ...n, base_rev: r.rev });
          }
        }
      }
      s.outbox.delete(IDBKeyRange.upperBound(body.acked_seq));
    });
  }

  /** An `applied` result without a record: what we sent is what the server holds. */
  async applyOwn(s, m, r) {
    const key = [m.entity, m.id];
    const current = await req(s.records.get(key));
    if (m.op === 'delete') {
      // A resent delete's answer may come after a newer version arrived: keep that one.
      if (!current || !Number.isInteger(r.rev) || (current.rev ?? -1) <= r.rev) s.records.delete(key);
      return;
    }
    const record = acknowledged(current, m, r);
    if (record) await putRecord(s, m.entity, record);
  }

  async dropTooLarge(m, err) {
    await tx(this.db, ['outbox', 'problems'], 'readwrite', (s) => {
      s.outbox.delete(m.seq);
      s.problems.add({ entity: m.entity, id: m.id, op: m.op, seq: m.seq, sent: null, at: Date.now(),
        kind: 'rejected', code: 'too_large', message: err.message, record: null });
    });
  }

  /** Pull until the replica is consistent with the server's latest rev. */
  async pull() {
    if (this.stopped) return false;
    return withLock('replica-pull', async () => {
      let cursor = await metaGet(this.db, 'cursor');
      let changed = false;
      // A poll leaves the filter and version to the cursor, so a cursor made for another
      // stream (an install from before the filter, or of another schema version) would be
      // followed for ever: start that replica again from scratch instead.
      const stream = streamKey(SCHEMA_VERSION);
      if (cursor && (await metaGet(this.db, 'cursor_stream')) !== stream) {
        await this.reset();
        cursor = null;
        changed = true;
      }
      let resets = 0;
      for (let page = 0; page < 10000; page += 1) {
        // client_id: the server records this device's progress (admins see its lag even
        // when it has nothing to push) and, with a cursor, leaves out our own writes.
        const q = pullQuery({ cursor, clientId: this.clientId, schemaVersion: SCHEMA_VERSION, limit: pullLimit(), defaultLimit: PULL_LIMIT });
        let body;
        try {
          body = await call('GET', `/v1/sync/pull?${q}`);
        } catch (err) {
          if (err.code === 'reset_required' && resets < 2) {
            resets += 1;
            await this.reset();
            cursor = null;
            changed = true;
            continue;
          }
          throw this.classify(err);
        }
        await tx(this.db, ['records', 'meta'], 'readwrite', async (s) => {
          await applyChanges(s, body.changes);
          s.meta.put(body.cursor, 'cursor');
          s.meta.put(stream, 'cursor_stream');
          if (!body.has_more) {
            s.meta.put(body.rev, 'last_pull_rev');
            s.meta.put(Date.now(), 'last_synced_at');
          }
        });
        cursor = body.cursor;
        if (body.changes.length) changed = true;
        if (!body.has_more) break;
      }
      if (changed) this.onChange('pull');
      return changed;
    });
  }

  /** Forget the replica and cursor (not the outbox): the next pull starts from scratch. */
  async reset() {
    await tx(this.db, ['records', 'meta'], 'readwrite', (s) => {
      s.records.clear();
      s.meta.delete('cursor');
      s.meta.delete('cursor_stream');
      s.meta.delete('last_pull_rev');
    });
  }

  /** Compare the replica with GET /v1/sync/checksum; reset and re-pull when they differ. */
  async verify() {
    const cursor = await metaGet(this.db, 'cursor');
    if (!cursor) return { ok: false, checked: 0 };
    const server = await call('GET', `/v1/sync/checksum?cursor=${encodeURIComponent(cursor)}`);
    const bad = [];
    for (const [entity, expected] of Object.entries(server.entities || {})) {
      const mine = await checksum(this.db, entity);
      if (mine.hash !== expected.hash || mine.count !== expected.count) bad.push(entity);
    }
    if (bad.length) { await this.reset(); await this.pull(); }
    return { ok: bad.length === 0, mismatched: bad, checked: Object.keys(server.entities || {}).length };
  }

  /** Errors that must stop syncing until the user acts. */
  classify(err) {
    if (err instanceof ApiError) {
      if (err.code === 'upgrade_required' || err.status === 426) this.stopped = 'upgrade_required';
      else if (err.code === 'session_expired' || err.status === 401) this.stopped = 'signed_out';
    }
    return err;
  }

  /** Numbers for the status bar. */
  async status() {
    const [pending, lastSyncedAt, lastPullRev, probs] = await Promise.all([
      pendingCount(this.db), metaGet(this.db, 'last_synced_at'), metaGet(this.db, 'last_pull_rev'),
      problems(this.db),
    ]);
    return { pending, lastSyncedAt, lastPullRev, problems: probs.length, stopped: this.stopped };
  }
}
