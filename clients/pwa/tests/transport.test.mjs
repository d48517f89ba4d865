// The PWA's request shapes on a poor link (js/transport.js): `node --test clients/pwa/tests/`.
import assert from 'node:assert/strict';
import { test } from 'node:test';

import { encodeBody } from '../js/api.js';
import {
  PULLED_ENTITIES, byteLength, gzip, pieceLength, pullQuery, secondsLeft, streamKey, wireMutation,
} from '../js/transport.js';

const seg = (seq, points) => ({
  seq, entity: 'trip_segment', id: `id-${seq}`, op: 'put', base_rev: null, hlc: 'h', sent: true, at: 1,
  data: { trip_id: 't', index: seq, points: Array.from({ length: points }, (_, i) => [i, 51.454512, -2.587912, 31.4, 4.5]) },
});

test('a pushed mutation carries no local bookkeeping, and a delete no data', () => {
  assert.deepEqual(Object.keys(wireMutation(seg(1, 1))), ['seq', 'entity', 'id', 'op', 'base_rev', 'hlc', 'data']);
  const del = wireMutation({ seq: 2, entity: 'lesson', id: 'x', op: 'delete', base_rev: 3, hlc: 'h', data: { a: 1 } });
  assert.equal('data' in del, false);
});

test('byteLength counts UTF-8 bytes, not characters', () => {
  assert.equal(byteLength('abc'), 3);
  assert.equal(byteLength('é'), 2);
  assert.equal(byteLength('🚗'), 4);
});

test('a piece holds whole mutations up to the byte bound, in order', () => {
  const list = [1, 2, 3, 4, 5].map((s) => seg(s, 100));
  const one = byteLength(JSON.stringify(wireMutation(list[0])));
  // Two fit (with brackets and a comma), three do not.
  assert.equal(pieceLength(list, { max: 500, maxBytes: 2 * one + 3 }), 2);
  assert.equal(pieceLength(list, { max: 500, maxBytes: 2 * one + 2 }), 1);
  assert.equal(pieceLength(list, { max: 3, maxBytes: Infinity }), 3);
  const many = Array.from({ length: 40 }, (_, i) => seg(i + 1, 100));
  const n = pieceLength(many, { max: 500, maxBytes: 32 * 1024 });
  assert.ok(n > 1 && n < many.length);
  const json = (k) => byteLength(JSON.stringify(many.slice(0, k).map(wireMutation)));
  assert.ok(json(n) <= 32 * 1024 && json(n + 1) > 32 * 1024); // as many as fit, no more
});

test('a mutation larger than the bound still goes, alone', () => {
  assert.equal(pieceLength([seg(1, 2000), seg(2, 1)], { max: 500, maxBytes: 1024 }), 1);
  assert.equal(pieceLength([], { max: 500, maxBytes: 1024 }), 0);
});

test('the pull query asks for our writes to be left out only with a cursor', () => {
  const first = pullQuery({ cursor: null, clientId: 'c-1', schemaVersion: 2, limit: 1000, defaultLimit: 1000 });
  assert.equal(first, `entities=${PULLED_ENTITIES.join(',')}&schema_version=2&client_id=c-1`);
  assert.equal(pullQuery({ cursor: null, clientId: 'c', schemaVersion: 1, limit: 1000 }),
    `entities=${PULLED_ENTITIES.join(',')}&client_id=c`); // 1 is the server's default
  const next = new URLSearchParams(pullQuery({ cursor: 'a+b/c', clientId: 'c-1', schemaVersion: 2, limit: 5, defaultLimit: 1000 }));
  assert.equal(next.get('cursor'), 'a+b/c'); // escaped on the wire, intact on arrival
  assert.equal(next.get('skip_own'), 'true');
  assert.equal(next.get('limit'), '5');
  // The cursor carries the filter and the version: a poll does not repeat them.
  assert.equal(next.get('schema_version'), null);
  assert.equal(next.get('entities'), null);
  assert.equal(next.get('client_id'), 'c-1');
});

test('routes stay out of the pull, and the filter is sorted like the cursor keeps it', () => {
  assert.ok(!PULLED_ENTITIES.includes('trip_segment'));
  assert.ok(PULLED_ENTITIES.includes('trip')); // the trip's derived totals are always there
  assert.deepEqual([...PULLED_ENTITIES].sort(), PULLED_ENTITIES);
});

test('secondsLeft reads exp from a JWT payload, and nothing from a malformed one', () => {
  const b64url = (o) => Buffer.from(JSON.stringify(o)).toString('base64url');
  const token = `${b64url({ alg: 'HS256' })}.${b64url({ sub: 'u', exp: 1000 })}.sig`;
  assert.equal(secondsLeft(token, 940_000), 60);
  assert.equal(secondsLeft(`${b64url({})}.${b64url({ sub: 'u' })}.s`, 0), null);
  assert.equal(secondsLeft('not a token', 0), null);
  assert.equal(secondsLeft(null, 0), null);
});

test('large bodies are gzipped and inflate back to the same JSON; small ones stay plain', async () => {
  const { gunzipSync } = await import('node:zlib');
  const big = { mutations: [seg(1, 200)] };
  const packed = await encodeBody(big, { compress: true });
  assert.equal(packed.headers['Content-Encoding'], 'gzip');
  assert.deepEqual(JSON.parse(gunzipSync(packed.data).toString()), big);
  assert.ok(packed.data.length < byteLength(JSON.stringify(big)) / 3);
  const small = await encodeBody({ a: 1 }, { compress: true });
  assert.equal(small.data, '{"a":1}');
  assert.equal(small.headers['Content-Encoding'], undefined);
  const plain = await encodeBody(big);
  assert.equal(typeof plain.data, 'string');
  assert.equal(await encodeBody(undefined), null);
  assert.ok(await gzip('x'));
});

test('an applied result without a record makes what we sent the record', async () => {
  const { acknowledged } = await import('../js/replica.js');
  const put = { op: 'put', id: 'n1', data: { lesson_id: 'l', body: 'hi' } };
  // A record made on this device (only in the outbox until now).
  assert.deepEqual(acknowledged(undefined, put, { rev: 7, updated_at: 'T' }),
    { lesson_id: 'l', body: 'hi', id: 'n1', rev: 7, updated_at: 'T' });
  const held = { _e: 'lesson_note', id: 'n1', rev: 5, body: 'old', private: true, student_id: 's' };
  const patch = { op: 'patch', id: 'n1', data: { body: 'new' } };
  assert.deepEqual(acknowledged(held, patch, { rev: 6 }),
    { id: 'n1', rev: 6, body: 'new', private: true, student_id: 's' });
  // A put on an existing record keeps the fields it did not send, as the server does.
  assert.equal(acknowledged(held, put, { rev: 6 }).student_id, 's');
  // Fields the server filled in come with the answer (a mock test's score).
  const mock = { op: 'put', id: 'm1', data: { started_at: 'a', finished_at: 'b', answers: [] } };
  assert.deepEqual(acknowledged(undefined, mock, { rev: 8, filled: { score: 41, total: 50, passed: false } }),
    { started_at: 'a', finished_at: 'b', answers: [], score: 41, total: 50, passed: false, id: 'm1', rev: 8 });
  assert.equal(acknowledged(undefined, patch, { rev: 6 }), null); // nothing to patch here
  assert.equal(acknowledged({ ...held, rev: 9 }, patch, { rev: 6 }), null); // a pull was first
  assert.equal(acknowledged(held, { op: 'delete', id: 'n1' }, { rev: 6 }), null);
  assert.equal(acknowledged(held, patch, {}), null);
});

test('a cursor belongs to one stream: schema version and entity filter', () => {
  assert.equal(streamKey(2), `2:${PULLED_ENTITIES.join(',')}`);
  assert.notEqual(streamKey(1), streamKey(2));
});
