/**
 * The local replica: records as the server last sent them (store `records`, keyed by
 * [entity, id]) and, on read, the pending outbox mutations applied on top, so every view
 * shows the user's own unsynced changes. After a reset the replica is rebuilt from scratch
 * and the overlay is simply applied again: pending changes are never lost.
 */

import { req, tx } from './db.js';

function strip(row) {
  if (!row) return row;
  const { _e, ...rec } = row;
  return rec;
}

/** Apply pending mutations (in seq order) to `base` (a map id → record). */
function overlay(entity, base, mutations) {
  for (const m of mutations) {
    if (m.entity !== entity) continue;
    const current = base.get(m.id);
    if (m.op === 'delete') { base.delete(m.id); continue; }
    if (m.op === 'patch' && !current) continue; // patching something we cannot see
    base.set(m.id, { ...(current || {}), ...m.data, id: m.id, _pending: true });
  }
  return base;
}

/** Every record of `entity` as the user should see it. */
export async function all(db, entity) {
  const [rows, pending] = await tx(db, ['records', 'outbox'], 'readonly', (s) => Promise.all([
    req(s.records.index('entity').getAll(entity)),
    req(s.outbox.getAll()),
  ]));
  const base = new Map(rows.map((r) => [r.id, strip(r)]));
  return [...overlay(entity, base, pending).values()];
}

/** One record as the user should see it, or undefined. */
export async function get(db, entity, id) {
  const [row, pending] = await tx(db, ['records', 'outbox'], 'readonly', (s) => Promise.all([
    req(s.records.get([entity, id])),
    req(s.outbox.index('record').getAll([entity, id])),
  ]));
  const base = new Map(row ? [[id, strip(row)]] : []);
  pending.sort((a, b) => a.seq - b.seq);
  return overlay(entity, base, pending).get(id);
}

/** The record as the server last sent it (no overlay). */
export async function serverCopy(db, entity, id) {
  return strip(await tx(db, 'records', 'readonly', (s) => req(s.records.get([entity, id]))));
}

/** Store a committed record unless we already hold a newer revision of it. */
export async function putRecord(stores, entity, record) {
  const key = [entity, record.id];
  const current = await req(stores.records.get(key));
  if (current && current.rev > record.rev) return;
  stores.records.put({ ...record, _e: entity });
}

/**
 * The record to keep after an `applied` result without `record` (the server holds what we
 * sent, at `result.rev`): for a put, the data sent plus the fields the server filled in
 * (`result.filled`: defaults, copied or derived fields such as a mock test's score) with
 * its id, rev and updated_at, on top of our copy when there is one; for a patch, our copy
 * with the data merged in. Null when there is nothing to keep: a delete, a result without
 * a rev, a patch of a record we do not hold (a pull brings it), or our copy is already
 * newer (a pull got there first).
 */
export function acknowledged(current, m, result) {
  if (m.op === 'delete' || !Number.isInteger(result.rev)) return null;
  if (m.op === 'patch' && !current) return null;
  if (current && current.rev > result.rev) return null;
  const { _e, _pending, ...base } = current || {};
  const record = { ...base, ...m.data, ...(result.filled || {}), id: m.id, rev: result.rev };
  if (result.updated_at) record.updated_at = result.updated_at;
  return record;
}

/** Apply one pull page's changes. */
export async function applyChanges(stores, changes) {
  for (const c of changes) {
    if (c.op === 'delete') stores.records.delete([c.entity, c.id]);
    else await putRecord(stores, c.entity, { ...c.record, id: c.id, rev: c.rev });
  }
}

/** A problem for the user to see: a rejection, a conflict or an overridden field. */
export async function addProblem(db, problem) {
  return tx(db, 'problems', 'readwrite', (s) => { s.problems.add({ ...problem, at: Date.now() }); });
}

export async function problems(db) {
  return tx(db, 'problems', 'readonly', (s) => req(s.problems.getAll()));
}

export async function dismissProblem(db, key) {
  return tx(db, 'problems', 'readwrite', (s) => {
    if (key === undefined) s.problems.clear(); else s.problems.delete(key);
  });
}

export async function metaGet(db, key) {
  return tx(db, 'meta', 'readonly', (s) => req(s.meta.get(key)));
}

export async function metaSet(db, key, value) {
  return tx(db, 'meta', 'readwrite', (s) => { s.meta.put(value, key); });
}

export async function draftGet(db, key) {
  return tx(db, 'drafts', 'readonly', (s) => req(s.drafts.get(key)));
}

export async function draftSet(db, key, value) {
  return tx(db, 'drafts', 'readwrite', (s) => {
    if (value === undefined) s.drafts.delete(key); else s.drafts.put(value, key);
  });
}

/** Lowercase hex SHA-256 of `id:rev\n` lines sorted by id, as GET /v1/sync/checksum has it. */
export async function checksum(db, entity) {
  const rows = await tx(db, 'records', 'readonly', (s) => req(s.records.index('entity').getAll(entity)));
  rows.sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
  const text = rows.map((r) => `${r.id}:${r.rev}\n`).join('');
  const digest = await crypto.subtle.digest('SHA-256', new TextEncoder().encode(text));
  const hash = [...new Uint8Array(digest)].map((b) => b.toString(16).padStart(2, '0')).join('');
  return { count: rows.length, hash };
}
