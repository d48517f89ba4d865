// The signature's strokes on the wire (docs/protocol.md, "Lesson sign-off"): `node --test`.
import assert from 'node:assert/strict';
import { test } from 'node:test';

import { decodeStrokes, encodeStrokes } from '../js/ui/signature.js';

test('strokes go out as a first point then deltas, and come back as points', () => {
  const drawn = [[[100, 500], [110, 495], [120, 490]], [[400, 520]]];
  const wire = encodeStrokes(drawn);
  assert.deepEqual(wire, [[100, 500, 10, -5, 10, -5], [400, 520]]);
  assert.deepEqual(decodeStrokes(wire), drawn);
});

test('empty strokes are dropped; no strokes is a typed-name sign-off', () => {
  assert.deepEqual(encodeStrokes([[], [[1, 2]], []]), [[1, 2]]);
  assert.deepEqual(encodeStrokes([]), []);
  assert.deepEqual(decodeStrokes(undefined), []);
});
