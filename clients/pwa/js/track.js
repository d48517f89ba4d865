/**
 * The compact form of a trip segment's GPS points (schema_version 2), the same codec as the
 * server's sync/core/track.py (docs/protocol.md, "GPS tracks"):
 *
 *   {v: 1, t: [t0, dt…], lat: [lat0, c…], lon: [lon0, c…], spd?: [s0, ds…], acc?: [a0, da…]}
 *
 * Integers: t in ms, lat/lon in 1e-6 degree, spd in km/h, acc in metres. `t`, `spd` and
 * `acc` hold their first value then differences; `lat` and `lon` hold second differences
 * (`step += c[i]; x[i] = x[i-1] + step`, step starting at 0). A null in `spd`/`acc` is a
 * point without that reading (the next difference is from the last reading present); a
 * column that is all null is left out. tests/track.test.mjs checks this encoder against
 * the Python one on the same points (tests/fixtures/track.json).
 *
 * Pure: no DOM, no IndexedDB.
 */

export const FORMAT_VERSION = 1;
const DEG = 1e6;
const SPD_UNIT = 1; // whole km/h: a phone's speed is good to about 0.5 km/h
const ACC_UNIT = 1; // whole metres: accuracy is an estimate

/** Python's round(): halves go to the even integer, so both codecs quantise alike. */
function roundEven(x) {
  const r = Math.round(x);
  return Math.abs(x % 1) === 0.5 ? 2 * Math.round(x / 2) : r;
}

const quantise = (x, scale) => (x === null || x === undefined ? null : roundEven(x * scale));

function differences(values) {
  const out = [];
  let prev = null;
  for (const v of values) {
    if (v === null) { out.push(null); continue; }
    out.push(prev === null ? v : v - prev);
    prev = v;
  }
  return out;
}

function secondDifferences(values) {
  const out = [];
  let prevStep = 0;
  values.forEach((v, i) => {
    if (i === 0) { out.push(v); return; }
    const step = v - values[i - 1];
    out.push(step - prevStep);
    prevStep = step;
  });
  return out;
}

/** Whether a segment's `points` are in the compact (object) form. */
export function isCompact(points) {
  return points !== null && typeof points === 'object' && !Array.isArray(points);
}

/** The compact form of list-form points [t_ms, lat, lon, speed_kmh?, accuracy_m?]. */
export function encode(points) {
  const col = (i, scale) => points.map((p) => quantise(p.length > i ? p[i] : null, scale));
  const track = {
    v: FORMAT_VERSION,
    t: differences(points.map((p) => Math.round(p[0]))),
    lat: secondDifferences(points.map((p) => roundEven(p[1] * DEG))),
    lon: secondDifferences(points.map((p) => roundEven(p[2] * DEG))),
  };
  const spd = col(3, SPD_UNIT);
  const acc = col(4, ACC_UNIT);
  if (spd.some((v) => v !== null)) track.spd = differences(spd);
  if (acc.some((v) => v !== null)) track.acc = differences(acc);
  return track;
}

function summed(col, second) {
  const out = [];
  let last = null;
  let step = 0;
  for (const d of col) {
    if (d === null) { out.push(null); continue; }
    if (last === null) last = d;
    else if (second) { step += d; last += step; } else last += d;
    out.push(last);
  }
  return out;
}

/** List-form points of a compact track. Throws on a track that is not one (a wrong
 * version, columns of unequal length): a route drawn from it would be wrong. */
export function decode(track) {
  if (!isCompact(track) || track.v !== FORMAT_VERSION) throw new Error('not a compact track of version 1');
  const n = Array.isArray(track.t) ? track.t.length : -1;
  for (const name of ['t', 'lat', 'lon', 'spd', 'acc']) {
    if (name in track && (!Array.isArray(track[name]) || track[name].length !== n)) throw new Error(`points.${name} has the wrong length`);
  }
  const t = summed(track.t, false);
  const lat = summed(track.lat, true);
  const lon = summed(track.lon, true);
  const spd = track.spd ? summed(track.spd, false) : null;
  const acc = track.acc ? summed(track.acc, false) : null;
  const scaled = (v, scale) => (v === null ? null : v / scale);
  return t.map((ti, i) => {
    const p = [ti, lat[i] / DEG, lon[i] / DEG];
    if (spd || acc) p.push(spd ? scaled(spd[i], SPD_UNIT) : null);
    if (acc) p.push(scaled(acc[i], ACC_UNIT));
    return p;
  });
}

/** List-form points of a segment's `points` in either form (a replica holds both). */
export function toPoints(points) {
  if (!points) return [];
  return isCompact(points) ? decode(points) : points;
}
