/**
 * The app controller: service worker registration, sign-in and sign-out, the user's
 * replica and sync engine, the sync scheduler (backoff, online/offline, pokes, Background
 * Sync), the status bar, the hash router and the views' shared API (`app`).
 */

import { call } from './api.js';
import { deleteDb, openUserDb, userDbName } from './db.js';
import { Live } from './live.js';
import { enqueue, uuid7 } from './outbox.js';
import * as replica from './replica.js';
import { clearSession, clientId, getSession, setSession } from './session.js';
import { SyncEngine } from './sync.js';
import { h, fmt, clear } from './ui/dom.js';
import { ROUTES, NAV } from './ui/routes.js';
import { loginView } from './ui/login.js';
import { problemsDialog } from './ui/problems.js';
import { recorder } from './ui/trip.js';

const channel = 'BroadcastChannel' in self ? new BroadcastChannel('drivesync') : null;
const $ = (sel) => document.querySelector(sel);

/** What every view receives. */
export const app = {
  session: null,
  user: null,
  db: null,
  engine: null,
  live: null,
  clientId: null,
  syncing: false,
  lastError: null,
  initialSync: false,

  get role() { return this.user ? this.user.role : null; },
  get isAdmin() { return ['admin', 'owner'].includes(this.role); },
  all(entity) { return replica.all(this.db, entity); },
  get(entity, id) { return replica.get(this.db, entity, id); },
  draftGet(key) { return replica.draftGet(this.db, key); },
  draftSet(key, value) { return replica.draftSet(this.db, key, value); },
  api: call,
  newId: uuid7,
  syncNow() { scheduler.kick(0); },

  /** Record a change made by the user: outbox first, then push when we can. */
  async mutate(entity, op, id, data) {
    const m = await enqueue(this.db, this.user, this.clientId, { entity, id, op, data });
    scheduler.kick(250);
    requestBackgroundSync();
    updateStatus();
    return m;
  },

  navigate(hash) {
    if (location.hash === hash) render({ focus: true }); else location.hash = hash;
  },

  /** Re-render the current view from the replica (keeps focus where it can). */
  refresh() { return render({ focus: false }); },

  announce(text) {
    const el = $('#announcer');
    el.textContent = '';
    setTimeout(() => { el.textContent = text; }, 30);
  },
};

// For the browser tests and for debugging from the console.
globalThis.__drivesync = app;

// ---------------------------------------------------------------------------- scheduler
const scheduler = {
  timer: null,
  attempt: 0,
  running: false,
  again: false,
  // The highest rev a poke announced, and how often a pull has come back below it: with
  // several server processes, the process answering the pull may not have heard that
  // commit yet, so the pull is tried again shortly (a few times, then the next poke or
  // poll catches up).
  wantRev: -1,
  behind: 0,

  kick(delay = 0) {
    clearTimeout(this.timer);
    this.timer = setTimeout(() => this.run(), delay);
  },

  async run() {
    if (!app.engine) return;
    if (this.running) { this.again = true; return; }
    if (!navigator.onLine) { updateStatus(); return; }
    this.running = true;
    app.syncing = true;
    updateStatus();
    let delay = null;
    try {
      await app.engine.flush();
      await app.engine.pull();
      this.attempt = 0;
      app.lastError = null;
      const pulled = (await replica.metaGet(app.db, 'last_pull_rev')) ?? -1;
      if (pulled < this.wantRev && this.behind < 4) {
        this.behind += 1;
        delay = 100 * 2 ** this.behind;
      } else {
        this.behind = 0;
      }
    } catch (err) {
      app.lastError = err;
      if (!err.offline && !app.engine.stopped) {
        this.attempt += 1;
        const backoff = Math.min(60000, 1000 * 2 ** this.attempt);
        delay = Math.max(backoff / 2 + Math.random() * (backoff / 2), (err.retryAfter || 0) * 1000);
      }
      if (err.offline) requestBackgroundSync();
    } finally {
      this.running = false;
      app.syncing = false;
      app.initialSync = false;
      updateStatus();
      if (this.again) { this.again = false; this.kick(0); } else if (delay !== null) this.kick(delay);
    }
  },
};

async function requestBackgroundSync() {
  try {
    if (navigator.onLine) return;
    const reg = await navigator.serviceWorker.ready;
    if (reg.sync) await reg.sync.register('outbox');
  } catch { /* no Background Sync here: the `online` event flushes instead */ }
}

// ---------------------------------------------------------------------------- status bar
let statusTimer = null;
async function updateStatus() {
  clearTimeout(statusTimer);
  statusTimer = setTimeout(paintStatus, 30);
}

async function paintStatus() {
  const el = $('#sync-status');
  if (!el || !app.engine) return;
  const st = await app.engine.status();
  const online = navigator.onLine;
  const items = [];
  items.push(h('span', { class: `pill ${online ? 'ok' : 'off'}`, 'data-testid': 'net' },
    online ? (app.live && app.live.connected ? 'Online · live' : 'Online') : 'Offline'));
  if (st.stopped === 'upgrade_required') {
    items.push(h('span', { class: 'pill warn' }, 'Update required: reload to get the new version (your changes are kept)'));
  } else if (st.stopped === 'signed_out') {
    items.push(h('button', { class: 'pill warn', type: 'button', onclick: () => signOut({ keepData: true }) },
      'Session expired: sign in again'));
  }
  items.push(h('span', { class: `pill ${st.pending ? 'warn' : ''}`, 'data-testid': 'pending', 'data-count': st.pending },
    st.pending ? `${st.pending} to sync` : 'All saved'));
  items.push(h('span', { class: 'pill', 'data-testid': 'synced', 'data-at': st.lastSyncedAt || '' },
    app.syncing ? 'Syncing…' : `Synced ${fmt.ago(st.lastSyncedAt)}`));
  if (app.lastError && !app.lastError.offline && !st.stopped) {
    items.push(h('span', { class: 'pill warn' }, `Retrying: ${app.lastError.message}`));
  }
  if (st.problems) {
    items.push(h('button', { class: 'pill bad', type: 'button', 'data-testid': 'problems',
      onclick: () => problemsDialog(app) }, `${st.problems} problem${st.problems === 1 ? '' : 's'}`));
  }
  el.replaceChildren(...items);
}

// ---------------------------------------------------------------------------- rendering
let renderTimer = null;
let renderToken = 0;
let deferred = false;

/** True while the user types in the view (or a view holds still, like a running mock
 * test): a data-driven re-render then waits, so it never steals focus or text. */
function editing() {
  if ($('#main [data-hold]')) return true;
  const a = document.activeElement;
  return a && $('#main').contains(a) && (a.matches('input, textarea, select, [contenteditable]'));
}

function scheduleRender(delay = 80) {
  clearTimeout(renderTimer);
  renderTimer = setTimeout(() => {
    if (editing()) { deferred = true; return; }
    render({ focus: false });
  }, delay);
}

function currentRoute() {
  const parts = (location.hash || '').replace(/^#\/?/, '').split('/').filter(Boolean).map(decodeURIComponent);
  const routes = ROUTES[app.isAdmin ? 'admin' : app.role] || {};
  const name = parts[0] && routes[parts[0]] ? parts[0] : NAV[app.isAdmin ? 'admin' : app.role][0][0];
  return { name, view: routes[name], params: parts.slice(1) };
}

async function render({ focus }) {
  if (!app.engine) return;
  const token = ++renderToken;
  deferred = false;
  const { name, view, params } = currentRoute();
  paintNav(name);
  const main = $('#main');
  const activeId = document.activeElement && document.activeElement.id;
  const scroll = window.scrollY;
  let node;
  try {
    node = await view(app, ...params);
  } catch (err) {
    console.error(err);
    node = h('div', { class: 'card' }, h('h1', { tabindex: '-1' }, 'Something went wrong'), h('p', {}, String(err.message || err)));
  }
  if (token !== renderToken) return;
  main.replaceChildren(node);
  main.dataset.view = name;
  const heading = main.querySelector('h1');
  if (heading) heading.setAttribute('tabindex', '-1'); // focusable by script, not by Tab
  if (focus) {
    if (heading) heading.focus({ preventScroll: true });
    window.scrollTo(0, 0);
  } else {
    window.scrollTo(0, scroll);
    if (activeId) { const el = document.getElementById(activeId); if (el) el.focus({ preventScroll: true }); }
  }
}

function paintNav(active) {
  const nav = $('#nav');
  const items = NAV[app.isAdmin ? 'admin' : app.role] || [];
  nav.replaceChildren(h('ul', {}, items.map(([route, label]) => h('li', {},
    h('a', { href: `#/${route}`, 'aria-current': route === active ? 'page' : false }, label)))));
}

// ---------------------------------------------------------------------------- session
async function start(session) {
  app.session = session;
  app.user = session.user;
  app.clientId = await clientId();
  app.db = await openUserDb(session.user.tenant_id, session.user.id);
  app.engine = new SyncEngine({
    db: app.db, user: app.user, clientId: app.clientId,
    onChange: (what) => { scheduleRender(); updateStatus(); if (channel) channel.postMessage({ type: 'changed', what }); },
  });
  app.initialSync = !(await replica.metaGet(app.db, 'cursor'));
  document.body.dataset.role = app.role;
  $('#who').textContent = `${app.user.name || app.user.email || ''} · ${app.role}`;
  $('#signout').hidden = false;
  $('#signout').onclick = () => signOut({});
  app.live = new Live(async (rev) => {
    const last = (await replica.metaGet(app.db, 'last_pull_rev')) ?? -1;
    if (rev > last) {
      scheduler.wantRev = Math.max(scheduler.wantRev, rev);
      scheduler.behind = 0;
      scheduler.kick(30);
    }
  }, () => updateStatus());
  app.live.start();
  if (app.role === 'instructor') await recorder.resume(app).catch((err) => console.error(err));
  await render({ focus: false }); // on load, the skip link stays the first stop for Tab
  updateStatus();
  scheduler.kick(0);
}

async function signOut({ keepData = false }) {
  if (!app.engine) return;
  if (keepData) {
    // Expired session: sign in again as the same user; the outbox stays and is pushed then.
    stopSync();
    await clearSession();
    return showLogin('Your session expired. Sign in again: your unsynced changes are kept on this device.');
  }
  const st = await app.engine.status();
  if (st.pending && navigator.onLine) {
    try { await app.engine.flush(); } catch { /* counted below */ }
  }
  const left = (await app.engine.status()).pending;
  if (left && !confirm(`${left} change${left === 1 ? '' : 's'} have not reached the school yet and will be lost. Sign out anyway?`)) return;
  const session = app.session;
  stopSync();
  try { await call('POST', '/v1/auth/logout', { refresh_token: session.refresh_token }, { auth: false }); } catch { /* offline: the token expires */ }
  app.db.close();
  await deleteDb(userDbName(session.user.tenant_id, session.user.id)); // logout wipes the replica
  await clearSession();
  app.db = null;
  showLogin('Signed out. This device no longer holds your data.');
}

function stopSync() {
  if (app.live) app.live.stop();
  clearTimeout(scheduler.timer);
  app.engine = null;
  app.live = null;
}

function showLogin(message) {
  document.body.dataset.role = '';
  $('#who').textContent = '';
  $('#signout').hidden = true;
  $('#nav').replaceChildren();
  $('#sync-status').replaceChildren();
  $('#main').replaceChildren(loginView(async (body) => {
    const tokens = await call('POST', '/v1/auth/login', body, { auth: false });
    const session = { access_token: tokens.access_token, refresh_token: tokens.refresh_token, user: tokens.user, tenant: body.tenant, school: tokens.school };
    await setSession(session);
    await start(session);
  }, message));
  const heading = $('#main h1');
  if (heading) heading.focus();
}

// ---------------------------------------------------------------------------- boot
async function registerWorker() {
  if (!('serviceWorker' in navigator)) return;
  try {
    await navigator.serviceWorker.register('/sw.js', { type: 'module', scope: '/' });
    // A page that loaded while the worker was installing can miss its clients.claim():
    // ask the active worker to take it, so that this page's reloads work offline too.
    navigator.serviceWorker.ready.then((reg) => {
      if (!navigator.serviceWorker.controller && reg.active) reg.active.postMessage({ type: 'claim' });
    });
    let shown = false;
    const hadController = !!navigator.serviceWorker.controller;
    navigator.serviceWorker.addEventListener('controllerchange', () => {
      if (!hadController || shown) return; // the first claim is not an update
      shown = true;
      const bar = $('#update');
      bar.hidden = false;
    });
  } catch (err) {
    console.warn('service worker not registered', err);
  }
}

async function boot() {
  registerWorker();
  addEventListener('hashchange', () => render({ focus: true }));
  addEventListener('online', () => {
    scheduler.attempt = 0; scheduler.kick(0); updateStatus();
    if (app.engine) app.announce('Back online: syncing your changes');
  });
  addEventListener('offline', () => {
    updateStatus();
    if (app.engine) app.announce('You are offline. Changes are saved on this device and sent when you are back online.');
  });
  $('#skip').onclick = (event) => { event.preventDefault(); $('#main').focus(); };
  document.addEventListener('focusout', () => {
    if (deferred) setTimeout(() => { if (!editing() && deferred) { deferred = false; render({ focus: false }); } }, 50);
  });
  if (channel) channel.onmessage = (e) => { if (e.data && e.data.type === 'changed') { scheduleRender(); updateStatus(); } };
  setInterval(() => { updateStatus(); if (navigator.onLine && !(app.live && app.live.connected)) scheduler.kick(0); }, 30000);
  $('#update-reload').onclick = () => location.reload();
  const session = await getSession();
  if (session) await start(session); else showLogin();
  document.documentElement.dataset.ready = '1';
}

boot();
