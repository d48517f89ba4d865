// The PWA's GPS codec (js/track.js) against the server's (sync/core/track.py): the same
// points give the same compact form, byte for byte, and decode to the same list form.
// The fixture is written by Python; tests/unit/sync/test_track.py checks it the other way.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';

import { decode, encode, isCompact, toPoints } from '../js/track.js';

const cases = JSON.parse(readFileSync(new URL('./fixtures/track.json', import.meta.url), 'utf8'));

test('the fixture has the cases the Python side wrote', () => {
  assert.ok(cases.length >= 5);
});

for (const c of cases) {
  test(`same compact form as Python: ${c.name}`, () => {
    assert.equal(JSON.stringify(encode(c.points)), JSON.stringify(c.compact));
    assert.deepEqual(decode(c.compact), c.decoded);
    // The compact form is a fixed point: decoding and encoding again changes nothing.
    assert.deepEqual(encode(decode(c.compact)), c.compact);
  });
}

test('a round trip keeps every value of points already on the wire grid', () => {
  const t0 = 1893492000000;
  const points = [];
  let lat = 51.5; let lon = -0.12;
  for (let i = 0; i < 300; i += 1) {
    lat = Math.round((lat + 0.000013 * Math.sin(i / 7)) * 1e6) / 1e6;
    lon = Math.round((lon + 0.000021 * Math.cos(i / 5)) * 1e6) / 1e6;
    points.push([t0 + 1000 * i, lat, lon, i % 5 ? Math.round(i * 0.17) : null, i % 7 ? 5 : null]);
  }
  const track = encode(points);
  for (const [k, col] of Object.entries(track)) {
    if (k !== 'v') assert.ok(col.every((v) => v === null || Number.isSafeInteger(v)), k);
  }
  assert.deepEqual(decode(track), points);
  assert.ok(JSON.stringify(track).length < JSON.stringify(points).length / 2);
});

test('either form reads as list points; a broken track throws', () => {
  const listed = [[1000, 1.5, 2.5]];
  assert.equal(isCompact(listed), false);
  assert.deepEqual(toPoints(listed), listed);
  assert.deepEqual(toPoints(encode(listed)), listed);
  assert.deepEqual(toPoints(undefined), []);
  assert.throws(() => decode({ v: 2, t: [1], lat: [1], lon: [1] }));
  assert.throws(() => decode({ v: 1, t: [1, 2], lat: [1], lon: [1, 1] }), /points.lat/);
});
