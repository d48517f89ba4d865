/**
 * Recording the route of a lesson with the Geolocation API, and drawing routes as SVG.
 *
 * GPS needs no network, so recording works with no signal: each fix becomes a point
 * [t_ms, lat, lon, speed_kmh, accuracy_m] kept in a draft in IndexedDB (a reload or a
 * crash mid-lesson resumes the recording), and every SEGMENT points become one
 * `trip_segment` in the outbox (≤ 500 points each, put once, index 0, 1, 2, …), its points
 * in the compact form (../track.js: 3-4 bytes a point on the wire instead of 11-12).
 *
 * Pulls leave trip segments out (a term of routes would dominate a first sync), so a route
 * this device did not record is fetched when it is shown (GET /v1/trips/{id}/route) and
 * kept in the `routes` store, so it still shows offline once seen (`routeView`).
 */

import { req, tx } from '../db.js';
import { encode, toPoints } from '../track.js';
import { h, s, fmt, plural } from './dom.js';

const SEGMENT = 120;       // points per segment (the protocol allows up to 500)
const MAX_ACCURACY_M = 100; // fixes worse than this are dropped: they make the route jump

export function haversine(a, b) {
  const R = 6371008.8;
  const rad = Math.PI / 180;
  const dLat = (b[1] - a[1]) * rad;
  const dLon = (b[2] - a[2]) * rad;
  const x = Math.sin(dLat / 2) ** 2 + Math.cos(a[1] * rad) * Math.cos(b[1] * rad) * Math.sin(dLon / 2) ** 2;
  return 2 * R * Math.asin(Math.min(1, Math.sqrt(x)));
}

export function distanceOf(points) {
  let total = 0;
  for (let i = 1; i < points.length; i += 1) total += haversine(points[i - 1], points[i]);
  return total;
}

const round = (x, n) => (x === null || x === undefined || Number.isNaN(x) ? null : Math.round(x * 10 ** n) / 10 ** n);

/** The one recorder of this page (a phone records one trip at a time). */
export const recorder = {
  app: null,
  state: null, // {tripId, lessonId, startedAt, points, flushed, segIndex, distance}
  watchId: null,
  ticker: null,
  error: null,
  listener: null,
  queue: Promise.resolve(),

  isRecording(lessonId) { return !!this.state && (!lessonId || this.state.lessonId === lessonId); },

  /** After a reload: carry on with a recording that was running. The draft holds only
   * the points not yet in a segment; the others come back from the segments queued. */
  async resume(app) {
    const draft = await app.draftGet('trip');
    if (!draft || this.state) return;
    const segments = (await app.all('trip_segment')).filter((x) => x.trip_id === draft.tripId)
      .sort((a, b) => a.index - b.index);
    const done = segments.flatMap((x) => toPoints(x.points));
    // A crash between queuing a segment and saving the draft leaves its points in both.
    const lastT = done.length ? done[done.length - 1][0] : -Infinity;
    const fresh = (draft.pending || []).filter((p) => p[0] > lastT);
    const segIndex = Math.max(draft.segIndex, segments.length ? segments[segments.length - 1].index + 1 : 0);
    this.app = app;
    this.state = { ...draft, segIndex, points: [...done, ...fresh], flushed: done.length };
    delete this.state.pending;
    this.watch();
  },

  /** Persist what a crash must not lose (small: at most one segment of points). */
  save() {
    const { points, flushed, ...rest } = this.state;
    return this.app.draftSet('trip', { ...rest, pending: points.slice(flushed) });
  },

  async start(app, lessonId) {
    if (this.state) return;
    if (!('geolocation' in navigator)) { this.error = 'This device has no location service.'; this.emit(); return; }
    this.app = app;
    const tripId = app.newId();
    const startedAt = new Date().toISOString();
    await app.mutate('trip', 'put', tripId, { lesson_id: lessonId, started_at: startedAt });
    this.state = { tripId, lessonId, startedAt, points: [], flushed: 0, segIndex: 0, distance: 0 };
    await this.save();
    this.watch();
    this.emit();
  },

  watch() {
    this.error = null;
    this.watchId = navigator.geolocation.watchPosition(
      (pos) => { this.queue = this.queue.then(() => this.add(pos)).catch((e) => console.error(e)); },
      (err) => { this.error = err.code === 1 ? 'Location permission denied: allow it to record the route.' : `No GPS fix yet (${err.message})`; this.emit(); },
      { enableHighAccuracy: true, maximumAge: 0, timeout: 60000 });
    this.ticker = setInterval(() => this.emit(), 1000);
  },

  async add(pos) {
    const st = this.state;
    if (!st) return;
    const c = pos.coords;
    if (c.accuracy && c.accuracy > MAX_ACCURACY_M) return;
    const point = [Math.round(pos.timestamp || Date.now()), round(c.latitude, 6), round(c.longitude, 6),
      c.speed === null || c.speed === undefined ? null : round(c.speed * 3.6, 1), round(c.accuracy, 1)];
    const last = st.points[st.points.length - 1];
    if (last && point[0] <= last[0]) point[0] = last[0] + 1; // keep time strictly increasing
    if (last) st.distance += haversine(last, point);
    st.points.push(point);
    this.error = null;
    if (st.points.length - st.flushed >= SEGMENT) await this.flushSegment();
    await this.save();
    this.emit();
  },

  async flushSegment() {
    const st = this.state;
    const chunk = st.points.slice(st.flushed);
    if (!chunk.length) return;
    await this.app.mutate('trip_segment', 'put', this.app.newId(), { trip_id: st.tripId, index: st.segIndex, points: encode(chunk) });
    st.flushed = st.points.length;
    st.segIndex += 1;
  },

  async stop() {
    if (!this.state) return;
    navigator.geolocation.clearWatch(this.watchId);
    clearInterval(this.ticker);
    await this.queue;
    const st = this.state;
    await this.flushSegment();
    await this.app.mutate('trip', 'patch', st.tripId, { ended_at: new Date().toISOString() });
    await this.app.draftSet('trip', undefined);
    this.state = null;
    this.emit();
    this.app.refresh();
  },

  emit() { if (this.listener) this.listener(this); },
};

/** The route as an SVG polyline (no map tiles): equirectangular, fitted to the box. */
export function routeSvg(points, { label = 'Route', width = 320, height = 200 } = {}) {
  const pts = (points || []).filter((p) => p && p[1] !== null && p[2] !== null);
  if (pts.length < 2) return h('p', { class: 'hint route-empty' }, pts.length ? 'One GPS point so far.' : 'No GPS points yet.');
  const midLat = pts.reduce((a, p) => a + p[1], 0) / pts.length;
  const k = Math.cos((midLat * Math.PI) / 180);
  const xy = pts.map((p) => [p[2] * k, -p[1]]);
  const xs = xy.map((p) => p[0]); const ys = xy.map((p) => p[1]);
  const minX = Math.min(...xs); const maxX = Math.max(...xs);
  const minY = Math.min(...ys); const maxY = Math.max(...ys);
  const pad = 12;
  const scale = Math.min((width - 2 * pad) / (maxX - minX || 1e-9), (height - 2 * pad) / (maxY - minY || 1e-9));
  const offX = (width - (maxX - minX) * scale) / 2;
  const offY = (height - (maxY - minY) * scale) / 2;
  const proj = xy.map(([x, y]) => [((x - minX) * scale + offX).toFixed(1), ((y - minY) * scale + offY).toFixed(1)]);
  const [sx, sy] = proj[0];
  const [ex, ey] = proj[proj.length - 1];
  return s('svg', { class: 'route', viewBox: `0 0 ${width} ${height}`, role: 'img', 'aria-label': `${label}: ${fmt.km(distanceOf(pts))}, ${plural(pts.length, 'point')}` },
    s('rect', { x: 0, y: 0, width, height, class: 'route-bg', rx: 8 }),
    s('polyline', { points: proj.map((p) => p.join(',')).join(' '), class: 'route-line' }),
    s('circle', { cx: sx, cy: sy, r: 5, class: 'route-start' }),
    s('circle', { cx: ex, cy: ey, r: 5, class: 'route-end' }));
}

/** Points of a trip from segments in either form, joined in index order. */
export function joinSegments(segments) {
  return [...segments].sort((a, b) => a.index - b.index).flatMap((x) => toPoints(x.points));
}

async function cachedRoute(db, tripId) {
  try { return await tx(db, 'routes', 'readonly', (st) => req(st.routes.get(tripId))); } catch { return undefined; }
}

/**
 * The segments to draw for `trip`: `{segments, source}`, source one of 'local' (recorded
 * here: the replica holds them), 'cached' (fetched before, the trip unchanged since),
 * 'fetched', 'stale' (an older cached copy: offline or the server unreachable) or
 * 'missing' (never fetched and no network; or not asked to fetch: `fetch: false`).
 */
export async function tripRoute(app, trip, replicaSegments, { fetch = true } = {}) {
  // Segments in the replica were recorded here (pulls leave them out): the whole route.
  const local = replicaSegments.filter((x) => x.trip_id === trip.id);
  if (local.length) return { segments: local, source: 'local' };
  const cached = await cachedRoute(app.db, trip.id);
  if (cached && cached.rev === trip.rev) return { segments: cached.segments, source: 'cached' };
  if (trip._pending && !trip.rev) return { segments: [], source: 'local' }; // not on the server yet
  if (fetch && navigator.onLine !== false) {
    try {
      const route = await app.api('GET', `/v1/trips/${trip.id}/route`);
      const entry = { trip_id: trip.id, rev: route.rev, segments: route.segments };
      await tx(app.db, 'routes', 'readwrite', (st) => { st.routes.put(entry); });
      return { segments: route.segments, source: 'fetched' };
    } catch (err) {
      if (err && err.status === 404) return { segments: [], source: 'fetched' };
      /* offline or unreachable: fall through to what this device has */
    }
  }
  if (cached) return { segments: cached.segments, source: 'stale' };
  return { segments: [], source: 'missing' };
}

/**
 * A trip's route for a view: drawn from the replica, the route cache or the server, filled
 * in when ready (the view does not wait for a slow link). The trip's totals come from its
 * record, so they show even while the route itself is not on the device.
 */
export function routeView(app, trip, replicaSegments, { label = 'Recorded route', fetch = true } = {}) {
  const box = h('div', { class: 'route-box', 'data-testid': 'route', 'data-route': 'loading' },
    h('p', { class: 'hint route-empty' }, 'Loading route…'));
  tripRoute(app, trip, replicaSegments, { fetch }).then(({ segments, source }) => {
    box.dataset.route = source;
    if (source === 'missing') {
      // A summary list (fetch: false) shows the totals alone; the lesson page says why.
      box.replaceChildren(fetch ? h('p', { class: 'hint route-missing', role: 'status' }, 'Route not downloaded yet — shown when online') : '');
      // Shown when online: draw the view again once the network is back (if still shown).
      if (fetch) addEventListener('online', () => { if (box.isConnected) app.refresh(); }, { once: true });
      return;
    }
    let points = [];
    try { points = joinSegments(segments); } catch (err) { console.error('unreadable route', err); }
    box.replaceChildren(...[routeSvg(points, { label }),
      source === 'stale' ? h('p', { class: 'hint' }, 'Route as last downloaded (the trip has changed since).') : null].filter(Boolean));
  }).catch((err) => { console.error(err); box.dataset.route = 'error'; });
  return box;
}
